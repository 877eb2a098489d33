"""Pilot tests of the TUI flows: each asserts on the store (the state) and on what the user is told."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from feedserver import Response, simple_rss
from helpers_tui import (
    FROZEN_NOW,
    SIZE,
    add_stories,
    list_ready,
    new_app,
    notes,
    open_digest_screen,
    screen_is,
    search_settled,
    story_list,
    wait_for,
)
from textual.events import MouseDown, MouseEvent, MouseMove, MouseUp
from textual.widgets import DataTable, Input, TextArea

from digest.core.config import Config
from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.app import DigestApp
from digest.tui.htmltext import html_to_markdown
from digest.tui.views import ALL, FLAGGED, TRENDING, UNREAD, View
from digest.tui.widgets.draft_table import item_key
from digest.tui.widgets.story_list import StoryList

# -- first run -----------------------------------------------------------------------------------


async def test_first_run_loads_sample_feeds_and_says_so(digest_home: Paths, store: Store) -> None:
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("sample feeds" in n for n in notes(app)), 20, "sample notice")
        stories = await list_ready(pilot, app)
        assert store.feed_count() >= 4
        # the sample feeds are read in parallel: the list catches up with the last of them
        await wait_for(pilot, lambda: len(stories.ids) == store.counts()["all"] > 0, what="every sample story")
        notice = next(n for n in notes(app) if "sample feeds" in n)
        assert "digest feeds add URL" in notice and " a" in notice
        sidebar = app.screen.query_one("#sidebar")
        # the sidebar fills from its own worker, apart from the story list
        await wait_for(pilot, lambda: any(k and k.kind == "feed" for k in sidebar.keys), what="sidebar")
        keys = sidebar.keys
        assert keys[:4] == [ALL, UNREAD, FLAGGED, TRENDING]
        assert any(k and k.kind == "section" for k in keys) and any(k and k.kind == "feed" for k in keys)


async def test_no_samples_when_feeds_exist(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Mine", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        assert store.feed_count() == 1
        assert not any("sample" in n for n in notes(app))


# -- reading and search ----------------------------------------------------------------------------


async def test_move_open_marks_read_and_reader_shows_story(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", ["Alpha launch", "Beta funding", "Gamma hires"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 3)
        assert stories.ids == ids  # newest first
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: store.get_story(ids[1]).read, what="marked read")
        reader = app.screen.query_one("#reader")
        assert reader.story.id == ids[1]
        assert app.screen.focused is reader
        await pilot.press("tab")  # back to... any pane; u toggles on the list only
        stories.focus()
        await pilot.press("u")
        assert not store.get_story(ids[1]).read


async def test_search_as_you_type_and_escape_clears(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", ["Kelp farm opens", "Seaplane startup", "Kelpie robots", "Ferry news"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 4)
        await pilot.press("slash", "k", "e", "l")
        await wait_for(pilot, lambda: len(stories.ids) == 2, what="prefix search")
        assert stories.ids == [ids[0], ids[2]]
        await pilot.press("p", "i", "e")
        await wait_for(pilot, lambda: stories.ids == [ids[2]], what="narrower search")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(stories.ids) == 4 and not app.screen.query_one("#search").display,
                       what="cleared search")
        # FTS syntax characters do not raise; a word that matches nothing says so
        await pilot.press("slash", *'"(* zzz', "enter")
        await wait_for(pilot, lambda: stories.ids == [] and "No story matches" in stories.empty_text,
                       what="no match")


async def test_a_search_opens_at_its_newest_hit(digest_home: Paths, store: Store) -> None:
    # the cursor's story may be among the hits, far down: a new search still starts at the top
    ids = add_stories(store, "Wire", [f"{'kelp' if i % 2 else 'ferry'} story {i}" for i in range(40)])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 40)
        await pilot.press("G")
        await wait_for(pilot, lambda: stories.current_id == ids[-1], what="the oldest story")  # "kelp story 39"
        await pilot.press("slash", *"kelp")
        await search_settled(pilot, app, "kelp")
        await wait_for(pilot, lambda: len(stories.ids) == 20, what="the hits")
        await wait_for(pilot, lambda: stories.cursor == 0 and stories.current_id == ids[1], what="the newest hit")
        await pilot.press("enter", "j")
        await wait_for(pilot, lambda: stories.current_id == ids[3], what="the next hit")
        await pilot.press("escape")  # out of the search: the list keeps the story last read
        await wait_for(pilot, lambda: len(stories.ids) == 40 and stories.current_id == ids[3], what="cleared")


async def test_sidebar_filters_by_feed_and_shows_failure(digest_home: Paths, store: Store) -> None:
    a = add_stories(store, "Alpha", ["A1", "A2"])
    add_stories(store, "Beta", ["B1"], section="Engineering")
    store.update_feed(store.get_story(a[0]).feed_id, consecutive_failures=2, last_status="error",
                      last_error="HTTP 500 Internal Server Error")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        sidebar = app.screen.query_one("#sidebar")
        key = View.of_feed(store.get_story(a[0]).feed_id)
        # the sidebar fills apart from the story list: select_key ignores a key it does not hold yet
        await wait_for(pilot, lambda: key in sidebar.keys, what="the feed in the sidebar")
        sidebar.select_key(key)
        await wait_for(pilot, lambda: len(story_list(app).ids) == 2, what="feed filter")
        assert any("HTTP 500" in n for n in notes(app))
        assert "HTTP 500" in app.screen.query_one("#status").markup


# -- flag, arrange, build --------------------------------------------------------------------------


async def test_flag_reorder_build(digest_home: Paths, store: Store) -> None:
    titles = ["First story", "Second story", "Third story"]
    ids = add_stories(store, "Ledger", titles, section="Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        for row, _ in enumerate(titles):
            await pilot.press("f")
            # the modal offers the feed's section first
            assert (await screen_is(pilot, app, "ChoiceModal")).default == "Startups"
            await pilot.press("enter")
            await wait_for(pilot, lambda row=row: story_list(app).row(row).flagged, what="flag shown")
            await pilot.press("j")
        assert store.counts()["flagged"] == 3
        assert all(story_list(app).row(i).flagged for i in range(3))
        await open_digest_screen(pilot, app)
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_story_id == ids[0], what="the first item selected")
        # Third story to the top: select it, move it up twice
        await pilot.press("down", "down")
        assert screen.current_story_id == ids[2]
        await pilot.press("K", "K")
        order = [i.story.id for i in store.digest_items()]
        assert order == [ids[2], ids[0], ids[1]]
        # and one to another section and back, with the keys
        await pilot.press("right_square_bracket")
        assert store.get_story(ids[2]).draft_section == "Engineering"
        await pilot.press("left_square_bracket")
        assert store.get_story(ids[2]).draft_section == "Startups"
        await pilot.press("K", "K")  # it went to the end of Startups; back to the top
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.last_build is not None, 20, "build")
        result = screen.last_build
        for path in (result.html_path, result.text_path, result.eml_path):
            assert Path(path).exists()
        text = Path(result.text_path).read_text()
        positions = [text.index(titles[i]) for i in (2, 0, 1)]
        assert positions == sorted(positions)
        html = Path(result.html_path).read_text()
        assert html.index(titles[2]) < html.index(titles[0]) < html.index(titles[1])
        assert str(result.html_path) in str(screen.query_one("#draft-info").render())
        await pilot.press("p")
        await pilot.pause()


async def test_the_built_block_says_out_of_date_once_the_draft_changes(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two"])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await open_digest_screen(pilot, app)
        screen: Any = app.screen

        def info() -> str:
            return info_text(app)

        builds = 0

        async def build() -> None:
            nonlocal builds
            builds += 1
            await pilot.press("b")
            await wait_for(pilot, lambda: sum("Built: " in n for n in notes(app)) == builds, 30, "the build")
            await wait_for(pilot, lambda: "Built " in info() and "Out of date" not in info(), what="built, current")

        await build()
        html = str(screen.last_build.html_path)
        await pilot.press("J")  # a story moved: the files no longer show the draft
        await wait_for(pilot, lambda: [i.story.id for i in store.digest_items()] == [ids[1], ids[0]])
        await wait_for(pilot, lambda: "Out of date" in info(), what="the block marked out of date")
        assert "Built " not in info() and html in info()  # the old files are named, not passed off as current
        await pilot.press("p")  # opening them says so
        await wait_for(pilot, lambda: any("before your latest changes" in n for n in notes(app)))
        await build()
        await pilot.press("x")  # removing one, and putting it back as it was, is the built draft again
        await wait_for(pilot, lambda: "Out of date" in info(), what="out of date after a removal")
        assert "· 1 story ·" in info(), info()  # not "1 stories"
        await pilot.press("U")
        await wait_for(pilot, lambda: "Built " in info() and "Out of date" not in info(), what="current again")


async def test_digest_screen_mouse_buttons_and_remove(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two"])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await open_digest_screen(pilot, app)
        await pilot.press("down")
        assert app.screen.current_story_id == ids[1]
        await pilot.click("#btn-up")
        assert [i.story.id for i in store.digest_items()] == [ids[1], ids[0]]
        await pilot.click("#btn-remove")
        assert [i.story.id for i in store.digest_items()] == [ids[0]]
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: "Flagged (1)" in sidebar.label_of(FLAGGED))


async def test_edit_blurb_and_headline(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["Plain title"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        # the original headline is in the field to edit, not a placeholder to type over
        assert app.screen.query_one("#headline", Input).value == "Plain title"
        await pilot.press("end", *", better")
        await pilot.press("enter")  # to the blurb
        await pilot.press(*"Why it matters.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: store.get_story(ids[0]).blurb, what="blurb saved")
        s = store.get_story(ids[0])
        assert (s.flagged, s.headline, s.blurb) == (True, "Plain title, better", "Why it matters.")
        assert s.draft_section == "Startups"
        assert story_list(app).row(0).headline == "Plain title, better"


async def test_edit_dialog_asks_before_esc_throws_typing_away(digest_home: Paths, store: Store) -> None:
    """Esc in the edit dialog closes it at once when nothing changed; with a blurb typed it asks, and
    'n' goes back to the dialog with the text still there. Saving the original headline unchanged stores
    no override."""
    ids = add_stories(store, "Ledger", ["Plain title"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.press("enter", *"A blurb I wrote.")
        await pilot.press("escape")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("n")
        await screen_is(pilot, app, "EditModal")
        assert app.screen.query_one("#blurb", TextArea).text == "A blurb I wrote."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: store.get_story(ids[0]).blurb, what="blurb saved")
        assert (store.get_story(ids[0]).headline, store.get_story(ids[0]).blurb) == (None, "A blurb I wrote.")
        # and discarding, once confirmed, keeps what was stored
        await screen_is(pilot, app, "MainScreen")
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.press("enter", "end", *" More.")
        await pilot.press("escape")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await screen_is(pilot, app, "MainScreen")
        assert store.get_story(ids[0]).blurb == "A blurb I wrote."


async def test_send_without_smtp_says_what_is_missing(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One"])
    store.flag(ids[0], "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await open_digest_screen(pilot, app)
        await pilot.press("s")
        await wait_for(pilot, lambda: any("not set up" in n for n in notes(app)), what="smtp notice")
        assert type(app.screen).__name__ == "DigestScreen"  # no confirmation modal


# -- feeds -----------------------------------------------------------------------------------------


async def test_add_bad_feed_url_changes_nothing(digest_home: Paths, store: Store, feed_server: Any) -> None:
    add_stories(store, "Existing", ["Kept"])
    feed_server.route("/missing.xml", Response(404, body=b"not here"))
    feed_server.route("/page.html", Response(200, {"Content-Type": "text/html"}, b"<html><body>hi</body></html>"))
    before = (store.feed_count(), store.counts())
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("a")
        await screen_is(pilot, app, "AddFeedModal")
        modal = app.screen
        await pilot.press(*"not a url", "enter")
        assert "not a URL" in str(modal.query_one("#error").render())
        for bad in ("/missing.xml", "/page.html"):
            modal.query_one("#url").value = feed_server.url(bad)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "✗" in str(modal.query_one("#error").render()), what="add error")
            error = str(modal.query_one("#error").render())
            assert "127.0.0.1" in error, error
            assert app.screen is modal  # still open for another try
            modal.query_one("#error").update("")
        await pilot.press("escape")
        assert (store.feed_count(), store.counts()) == before


async def test_add_good_feed(digest_home: Paths, store: Store, feed_server: Any) -> None:
    add_stories(store, "Existing", ["Kept"])
    feed_server.feed("/good.xml", simple_rss("good"))
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("a")
        await screen_is(pilot, app, "AddFeedModal")
        app.screen.query_one("#url").value = feed_server.url("/good.xml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.feed_count() == 2, what="feed added")
        await wait_for(pilot, lambda: any("Added" in n for n in notes(app)), what="added notice")


async def test_refresh_with_failing_feed(digest_home: Paths, store: Store, feed_server: Any) -> None:
    feed_server.feed("/good.xml", simple_rss("good", 3))
    feed_server.route("/bad.xml", Response(500, body=b"boom"))
    store.add_feed(feed_server.url("/good.xml"), title="Good Feed", section="Startups")
    store.add_feed(feed_server.url("/bad.xml"), title="Broken Feed", section="Startups")
    app = new_app(store, digest_home, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(StoryList), what="main screen")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.last_refresh_report is not None, 30, "refresh")
        await wait_for(pilot, lambda: len(story_list(app).ids) == 3, what="list updated")
        failed = [n for n in notes(app) if "Broken Feed" in n]
        assert failed and "500" in failed[0]
        assert store.feed_by_url(feed_server.url("/bad.xml")).consecutive_failures == 1
        assert not app.refreshing
        assert not app.screen.query_one("#refresh-bar").has_class("-active")
        bad_id = store.feed_by_url(feed_server.url("/bad.xml")).id
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: sidebar.label_of(View.of_feed(bad_id)).startswith("! "), what="failure mark")


async def test_feeds_screen_change_section_and_remove(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Alpha", ["A1"])
    add_stories(store, "Beta", ["B1", "B2"], section="Jobs")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        screen = app.screen
        assert [f.title for f in screen.feeds] == ["Beta", "Alpha"]  # by section name: Jobs < Startups
        await pilot.press("s")
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.press("home", "enter")  # first section: Top Stories
        await wait_for(pilot, lambda: store.feed_by_url("https://beta.example/feed").section == "Top Stories")
        await wait_for(pilot, lambda: app.screen is screen and any(
            f.title == "Beta" and f.section == "Top Stories" for f in screen.feeds), what="feeds table reloaded")
        beta_row = next(i for i, f in enumerate(screen.feeds) if f.title == "Beta")
        screen.query_one("#feeds-table").move_cursor(row=beta_row)
        await pilot.press("x")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await wait_for(pilot, lambda: store.feed_count() == 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(story_list(app).ids) == 1, what="list after removal")


async def test_export_and_import_opml(digest_home: Paths, store: Store, tmp_path: Path) -> None:
    add_stories(store, "Alpha", ["A1"])
    target = tmp_path / "out.opml"
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("F")
        await screen_is(pilot, app, "FeedsScreen")
        await pilot.press("E")
        await screen_is(pilot, app, "PromptModal")
        app.screen.query_one("#value").value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, what="export")
        assert "alpha.example" in target.read_text()
        store.remove_feed(store.list_feeds()[0].id)
        await pilot.press("i")
        await screen_is(pilot, app, "PromptModal")
        app.screen.query_one("#value").value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.feed_count() == 1, what="import")


# -- state survives, keys remap, palette ----------------------------------------------------------


async def test_quit_and_reopen_keeps_flags(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["Keep me", "Not me"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("space")
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="flagged")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None, what="quit")
        assert app.return_code == 0  # q quit the app
    store.close()
    reopened = Store(digest_home.db_file)
    try:
        app2 = new_app(reopened, digest_home)
        async with app2.run_test(size=SIZE) as pilot:
            stories = await list_ready(pilot, app2, 2)
            assert stories.row(0).flagged and not stories.row(1).flagged
            assert reopened.get_story(ids[0]).draft_section == "Startups"
    finally:
        reopened.close()


async def test_keys_remapped_from_config(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One"])
    config = Config(keys={"flag": "x", "digest": "ctrl+d"})
    app = new_app(store, digest_home, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("f")
        await pilot.pause()
        assert type(app.screen).__name__ == "MainScreen"  # f no longer flags
        await pilot.press("x")
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="flagged with x")
        assert store.get_story(ids[0]).flagged
        await pilot.press("ctrl+d")
        await screen_is(pilot, app, "DigestScreen")


async def test_check_action_hides_story_actions_on_empty_list(digest_home: Paths, store: Store) -> None:
    store.add_feed("https://empty.example/feed", title="Empty")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(StoryList) and story_list(app).empty_text != "Loading…")
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "flag" not in actions and "edit" not in actions and "open_link" not in actions
        assert "refresh_all" in actions and "digest" in actions


async def test_command_palette_offers_screen_actions(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Ledger", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("ctrl+p")
        palette = await screen_is(pilot, app, "CommandPalette")
        await pilot.press(*"Feeds")
        await wait_for(pilot, lambda: any("Feeds" in str(o.prompt) for o in _palette_options(palette)),
                       what="the palette's Feeds hit")
        await pilot.press("enter")
        await screen_is(pilot, app, "FeedsScreen")


def _palette_options(palette: Any) -> list[Any]:
    """The command palette's current hits (its OptionList of commands)."""
    from textual.command import CommandList

    hits = palette.query(CommandList)
    return [hits.first().get_option_at_index(i) for i in range(hits.first().option_count)] if hits else []


async def test_help_lists_keys_with_ids(digest_home: Paths, store: Store) -> None:
    app = new_app(store, digest_home, config=Config(keys={"flag": "x"}), load_samples_when_empty=False)
    async with app.run_test(size=SIZE) as pilot:
        await screen_is(pilot, app, "MainScreen")
        await pilot.press("question_mark")
        await screen_is(pilot, app, "HelpScreen")
        text = app.screen._text()
        flag_line = next(line for line in text.splitlines() if line.rstrip().endswith(" flag"))
        assert flag_line.split()[0] == "x"  # the remapped key
        assert "digest.build" in text and "feeds.import" in text
        await pilot.press("escape")
        assert type(app.screen).__name__ == "MainScreen"


async def test_narrow_terminal_folds_the_sidebar_and_b_brings_it_back(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Ledger", ["A rather long headline that will need to be cut somewhere"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 1)
        screen = app.screen
        assert screen.has_class("-fold") and not screen.query_one("#sidebar").display
        for sel in ("#stories", "#reader"):
            assert screen.query_one(sel).region.width >= 36, sel
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.query_one("#sidebar").region.width >= 18, what="sidebar shown")
        assert screen.query_one("#stories").region.width >= 20
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.query_one("#sidebar").region.width == 0, what="sidebar folded")
    app = new_app(store, digest_home)
    async with app.run_test(size=(95, 30)) as pilot:
        await list_ready(pilot, app, 1)
        assert app.screen.has_class("-narrow")
        for sel in ("#sidebar", "#stories", "#reader"):
            assert app.screen.query_one(sel).region.width >= 18, sel


# -- HTML -> Markdown ------------------------------------------------------------------------------


@pytest.mark.parametrize(("html", "expected"), [
    ("<p>Hello <b>world</b>.</p><p>Two</p>", "Hello **world**.\n\nTwo"),
    ('<p>A <a href="https://x.example/">link</a></p>', "A [link](https://x.example/)"),
    ('<a href="javascript:alert(1)">bad</a>', "bad"),
    ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
    ("<blockquote><p>quoted</p></blockquote>", "> quoted"),
    ("<h2>Head</h2><p>x</p>", "## Head\n\nx"),
    ("plain *text*\n\nsecond", "plain \\*text\\*\n\nsecond"),
    ("", ""),
])
def test_html_to_markdown(html: str, expected: str) -> None:
    assert html_to_markdown(html) == expected


def test_lean_id_queries_match_the_full_story_query(store: Store) -> None:
    """Store.story_ids (only the joins a filter needs, an index walk for a search's first page) returns
    what Store.stories (every join) returns: same rows, same order."""
    from digest.core.store import StoryQuery

    a = add_stories(store, "Alpha", ["kelp farm", "ferry kelp", "other news"], section="Startups")
    add_stories(store, "Beta", ["kelp jobs", "more jobs"], section="Jobs", start=FROZEN_NOW - 30)
    store.set_read(a[:1], True)
    store.flag(a[1], "Startups")
    feed_id = store.get_story(a[0]).feed_id
    for q in (StoryQuery(), StoryQuery(unread=True), StoryQuery(flagged=True), StoryQuery(section="jobs"),
              StoryQuery(feed_id=feed_id), StoryQuery(search="kel"), StoryQuery(search="kelp", section="Startups"),
              StoryQuery(search="zzz"), StoryQuery(since=FROZEN_NOW - 3600 - 61)):
        expected = [s.id for s in store.stories(q)]
        assert store.story_ids(q) == expected, q
        assert store.story_ids(q, limit=2) == expected[:2], q
        assert store.count_stories(q) == len(expected), q
        assert [s.id for s in store.stories(dataclasses.replace(q, limit=2, offset=1))] == expected[1:3], q


async def test_trending_shows_stories_carried_by_several_feeds(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Alpha", ["Big news from the port", "Alpha only"])
    add_stories(store, "Beta", ["Big news from the port", "Beta only"], section="Engineering")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: TRENDING in sidebar.keys, what="Trending in the sidebar")
        sidebar.select_key(TRENDING)
        await wait_for(pilot, lambda: len(story_list(app).ids) == 1, what="trending")
        assert story_list(app).row(0).title == "Big news from the port"


async def test_splitter_drag_resizes_the_sidebar(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Alpha", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        sidebar = app.screen.query_one("#sidebar")
        before = sidebar.region.width
        await pilot.mouse_down("#split-left")
        await pilot.hover("#split-left", offset=(10, 5))
        await pilot.mouse_up("#split-left", offset=(10, 5))
        await wait_for(pilot, lambda: sidebar.region.width > before, what="the sidebar wider")


async def test_fast_typing_after_slash_goes_into_the_search(digest_home: Paths, store: Store) -> None:
    """Keys sent in one burst (a fast typist, a paste, tmux send-keys) must not run as commands before the
    search box has focus: "/kelp" once opened the edit dialog on its "e"."""
    from textual import events

    add_stories(store, "Wire", ["Kelp farm opens", "Ferry news"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 2)
        for key, char in [("slash", "/"), ("k", "k"), ("e", "e"), ("l", "l"), ("p", "p")]:
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: len(stories.ids) == 1, what="burst search")
        assert type(app.screen).__name__ == "MainScreen"
        assert app.screen.query_one("#search").value == "kelp"


async def test_digest_screen_theme_pick_is_saved(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One"])
    store.flag(ids[0], "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await open_digest_screen(pilot, app)
        screen = app.screen
        await wait_for(pilot, lambda: "One" in screen.query_one("#preview").text, what="preview")
        await pilot.press("t")
        await screen_is(pilot, app, "ChoiceModal")
        choices = app.screen.choices
        assert {"geekwire", "minimal", "plain"} <= set(choices)
        app.screen.query_one("#choices").highlighted = choices.index("plain")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.draft().theme == "plain", what="theme saved")
        assert screen.theme_name == "plain"


async def test_feeds_screen_refresh_one(digest_home: Paths, store: Store, feed_server: Any) -> None:
    feed_server.feed("/one.xml", simple_rss("one", 2))
    feed_server.feed("/two.xml", simple_rss("two", 2))
    store.add_feed(feed_server.url("/one.xml"), title="One", section="Startups")
    store.add_feed(feed_server.url("/two.xml"), title="Two", section="Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query(StoryList), what="main screen")
        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        assert app.screen.current_feed.title == "One"
        await pilot.press("R")
        await wait_for(pilot, lambda: app.last_refresh_report is not None, 30, "refresh one")
        assert feed_server.requests_for("/one.xml") and not feed_server.requests_for("/two.xml")
        await wait_for(pilot, lambda: app.screen.feeds and app.screen.feeds[0].story_count == 2, what="counts")


async def built_digest_screen(pilot: Any, app: DigestApp, stories: int) -> Any:
    """The digest screen, once the draft of `stories` stories is built there (b)."""
    await list_ready(pilot, app, stories)
    await open_digest_screen(pilot, app)
    digest_screen = app.screen
    await pilot.press("b")
    await wait_for(pilot, lambda: digest_screen.last_build is not None, 20, "build")
    return digest_screen


async def test_build_then_send_after_confirming_the_recipients(digest_home: Paths, store: Store) -> None:
    """s with SMTP configured: a confirmation naming the recipients (newsletter.to and the subscribers),
    then send_digest in a worker against a real SMTP server on 127.0.0.1."""
    from helpers_smtp import make_config, make_draft, smtp_server

    from digest.core.subscribers import add

    make_draft(store, 2)
    add(store, digest_home, [("cara@example.org", "Cara")], "cli")
    with smtp_server() as (ctl, recorder):
        config = make_config(ctl.port, ["ann@example.org", "bob@example.org"])
        app = new_app(store, digest_home, config=config)
        async with app.run_test(size=SIZE) as pilot:
            await built_digest_screen(pilot, app, 2)
            await pilot.press("s")
            await screen_is(pilot, app, "ConfirmModal")
            body = app.screen.body
            assert "ann@example.org" in body and "bob@example.org" in body and "cara@example.org" in body
            assert not recorder.received  # nothing goes out before the confirmation
            await pilot.press("y")
            await wait_for(pilot, lambda: any("sent to 3 recipient(s)" in n for n in notes(app)), 30, "sent notice")
        assert sorted(r for m in recorder.received for r in m.rcpt_tos) == [
            "ann@example.org", "bob@example.org", "cara@example.org"]


async def test_the_send_confirmation_says_what_goes_out(digest_home: Paths, store: Store) -> None:
    """A send renders the draft as it is then: a build is a preview. The confirmation said "Send the built
    digest", and after no build "the last built digest is sent": neither is what goes out."""
    from helpers_smtp import make_config, make_draft, smtp_server

    make_draft(store, 2)
    with smtp_server() as (ctl, recorder):
        app = new_app(store, digest_home, config=make_config(ctl.port, ["ann@example.org"]))
        async with app.run_test(size=SIZE) as pilot:
            await list_ready(pilot, app, 2)
            await open_digest_screen(pilot, app)
            digest_screen = app.screen
            await pilot.press("s")
            await screen_is(pilot, app, "ConfirmModal")
            body = app.screen.body
            assert "Send the draft as it is now (2 stories) to:" in body and "Not previewed" in body
            await pilot.press("n")
            await screen_is(pilot, app, "DigestScreen")
            await pilot.press("b")
            await wait_for(pilot, lambda: digest_screen.last_build is not None, 20, "build")
            make_draft(store, 1, prefix="Late")  # flagged meanwhile (another process: `digest flag`)
            await wait_for(pilot, lambda: len(digest_screen.items) == 3, what="the draft followed")
            await pilot.press("s")
            await screen_is(pilot, app, "ConfirmModal")
            body = app.screen.body
            assert "(3 stories)" in body and "changed after your last build" in body
            await pilot.press("n")
        assert not recorder.received


async def test_after_a_send_the_digest_screen_shows_the_new_empty_draft(digest_home: Paths, store: Store) -> None:
    """The sent stories left the draft: the screen showed them (and "Built", and s asked to send them
    again, then failed with "NothingToSend: ..."). A recipient the server refused is named with the
    reason, as `digest send` names it (the screen said "sent 1, failed 1")."""
    from helpers_smtp import Recorder, make_config, make_draft, smtp_server

    make_draft(store, 2)
    with smtp_server(Recorder(reject={"bob@example.org": "550 5.1.1 no such mailbox"})) as (ctl, recorder):
        config = make_config(ctl.port, ["ann@example.org", "bob@example.org"])
        app = new_app(store, digest_home, config=config)
        async with app.run_test(size=SIZE) as pilot:
            digest_screen = await built_digest_screen(pilot, app, 2)
            await pilot.press("s")
            await screen_is(pilot, app, "ConfirmModal")
            await pilot.press("y")
            await wait_for(pilot, lambda: any("Sent with problems" in n for n in notes(app)), 30, "sent notice")
            line = next(n for n in notes(app) if "Sent with problems" in n)
            assert "bob@example.org (" in line and "no such mailbox" in line
            await wait_for(pilot, lambda: not digest_screen.items, what="the new draft")
            assert digest_screen.last_build is None
            info = str(digest_screen.query_one("#draft-info").render())
            assert "Digest (new) · 0 stories" in info and "Built" not in info
            recorder.reject.clear()  # the issue waits for bob: s finishes it, sending to him alone
            await pilot.press("s")
            await screen_is(pilot, app, "ConfirmModal")
            assert "Finish sending digest #1" in app.screen.body
            await pilot.press("y")
            await wait_for(pilot, lambda: any("(1 already had it)" in n for n in notes(app)), 30, "the rest sent")
            app.clear_notifications()
            await pilot.press("s")  # nothing left to send: said at once, no confirmation
            await wait_for(pilot, lambda: any("Nothing to send" in n for n in notes(app)), what="nothing to send")
            assert type(app.screen).__name__ == "DigestScreen"
            assert not any("NothingToSend" in n for n in notes(app))
        assert [r for m in recorder.received for r in m.rcpt_tos] == ["ann@example.org", "bob@example.org"]


async def test_long_list_scrolls_to_the_end_after_a_narrower_search(digest_home: Paths, store: Store) -> None:
    titles = [f"{'kelp' if i % 3 else 'ferry'} story {i}" for i in range(150)]
    add_stories(store, "Wire", titles)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 150)
        # the rows are laid out after the ids arrive: End before that would clamp to a shorter list
        await wait_for(pilot, lambda: stories.virtual_size.height == 150, what="the rows laid out")
        await pilot.press("end")
        await wait_for(pilot, lambda: stories.cursor == 149 and
                       stories.scroll_offset.y + stories.scrollable_content_region.height >= 150, what="the end")
        await pilot.press("slash", *"kelp", "enter")
        # the ids change first; the virtual size follows at the next layout
        await search_settled(pilot, app, "kelp")
        await wait_for(pilot, lambda: len(stories.ids) == 100 and stories.virtual_size.height == 100, what="search")
        height = stories.scrollable_content_region.height
        assert stories.max_scroll_y == 100 - height
        await pilot.press("end")
        await wait_for(pilot, lambda: stories.cursor == 99 and stories.scroll_offset.y == stories.max_scroll_y,
                       what="the end of the list")
        last = stories.render_line(stories.scrollable_content_region.height - 1).text
        assert stories.row(99).title[:10] in last


# -- dragging stories in the digest screen ---------------------------------------------------------


def draft_order(store: Store) -> dict[str, list[int]]:
    """The draft's story ids by section, in order: what a drop must change (or leave alone)."""
    order: dict[str, list[int]] = {}
    for item in sorted(store.digest_items(), key=lambda i: (i.section, i.position)):
        order.setdefault(item.section, []).append(item.story.id)
    return order


async def open_draft(pilot: Any, app: DigestApp, stories: int) -> DataTable[Any]:
    await list_ready(pilot, app, stories)
    await pilot.press("d")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "DigestScreen"
                   and app.screen.query_one("#draft", DataTable).row_count, what="draft table")
    await pilot.pause()
    return app.screen.query_one("#draft", DataTable)


def row_offset(app: DigestApp, key: str) -> tuple[int, int]:
    """Where the draft table painted row `key`, relative to the table. Read back from the row index DataTable
    puts in each cell's style, so the test does not share the widget's own arithmetic."""
    table = app.screen.query_one("#draft", DataTable)
    index = table.get_row_index(key)
    x = 6  # in the Story column
    for y in range(table.region.height):
        if app.screen.get_style_at(table.region.x + x, table.region.y + y).meta.get("row") == index:
            return x, y
    raise AssertionError(f"row {key!r} is not on screen")


def info_text(app: DigestApp) -> str:
    return str(app.screen.query_one("#draft-info").render())


async def drag(pilot: Any, app: DigestApp, source: str, target: str) -> None:
    """Press on row `source`, move over row `target` and release there, with Pilot's mouse events."""
    await pilot.mouse_down("#draft", offset=row_offset(app, source))
    await pilot.hover("#draft", offset=row_offset(app, target))
    await pilot.mouse_up("#draft", offset=row_offset(app, target))
    await pilot.pause()


async def test_digest_screen_drag_within_a_section(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two", "Three", "Four"])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_draft(pilot, app, 4)
        await pilot.mouse_down("#draft", offset=row_offset(app, item_key(ids[0])))
        await pilot.hover("#draft", offset=row_offset(app, item_key(ids[2])))
        assert "Moving “One”" in info_text(app) and table.has_class("-dragging")
        assert app.mouse_captured is table
        assert draft_order(store) == {"Startups": ids}  # nothing is written before the drop
        await pilot.mouse_up("#draft", offset=row_offset(app, item_key(ids[2])))
        await pilot.pause()
        # dragged down, One takes Three's place: the stories it passed move up
        assert draft_order(store) == {"Startups": [ids[1], ids[2], ids[0], ids[3]]}
        assert app.screen.current_story_id == ids[0]
        assert "Moving" not in info_text(app) and "4 stories" in info_text(app)
        assert not table.has_class("-dragging") and app.mouse_captured is None

        await drag(pilot, app, item_key(ids[3]), item_key(ids[1]))  # dragged up: the rest shift down
        assert draft_order(store) == {"Startups": [ids[3], ids[1], ids[2], ids[0]]}
        assert app.screen.current_story_id == ids[3]
        await drag(pilot, app, item_key(ids[3]), item_key(ids[0]))  # onto the last: to the end
        assert draft_order(store) == {"Startups": [ids[1], ids[2], ids[0], ids[3]]}


async def test_digest_screen_drag_to_another_section(digest_home: Paths, store: Store) -> None:
    top = add_stories(store, "Wire", ["Top one", "Top two"], section="Top Stories")
    startups = add_stories(store, "Ledger", ["Seed round", "Exit"])
    for i in top:
        store.flag(i, "Top Stories")
    for i in startups:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await open_draft(pilot, app, 4)
        await drag(pilot, app, item_key(startups[1]), "sec:Top Stories")  # on a header: the top of it
        assert draft_order(store) == {"Top Stories": [startups[1], *top], "Startups": [startups[0]]}
        assert app.screen.current_story_id == startups[1]
        await drag(pilot, app, item_key(top[1]), item_key(startups[0]))  # on a story of another section
        assert draft_order(store) == {"Top Stories": [startups[1], top[0]], "Startups": [top[1], startups[0]]}
        assert app.screen.current_story_id == top[1]
        await drag(pilot, app, item_key(top[0]), "sec:Engineering")  # a section with nothing in it yet
        assert draft_order(store)["Engineering"] == [top[0]]
        assert "Engineering (1)" in str(app.screen.query_one("#draft", DataTable).get_row("sec:Engineering")[1])


async def test_digest_screen_drag_in_a_scrolled_table(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", [f"Story {n}" for n in range(60)])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_draft(pilot, app, 60)
        await pilot.press("ctrl+end")  # DataTable's "to the last row"
        await pilot.pause()
        assert table.scroll_offset.y > 0
        await drag(pilot, app, item_key(ids[-1]), item_key(ids[-4]))
        assert draft_order(store) == {"Startups": [*ids[:-4], ids[-1], *ids[-4:-1]]}
        assert app.screen.current_story_id == ids[-1]


async def test_digest_screen_click_and_cancelled_drags_change_nothing(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two", "Three"])
    for i in ids:
        store.flag(i, "Startups")
    before = draft_order(store)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_draft(pilot, app, 3)
        info = info_text(app)
        await pilot.click("#draft", offset=row_offset(app, item_key(ids[2])))  # a click only moves the cursor
        assert app.screen.current_story_id == ids[2] and draft_order(store) == before

        releases = [
            ("#preview", (5, 5)),  # off the table
            ("#draft", row_offset(app, item_key(ids[0]))),  # back on its own row
            ("#draft", (6, 0)),  # on the column header
        ]
        for where, offset in releases:
            await pilot.mouse_down("#draft", offset=row_offset(app, item_key(ids[0])))
            await pilot.hover("#draft", offset=row_offset(app, item_key(ids[1])))
            assert "Moving “One”" in info_text(app)
            await pilot.hover(where, offset=offset)
            await pilot.mouse_up(where, offset=offset)
            await pilot.pause()
            assert draft_order(store) == before, where
            assert info_text(app) == info and app.mouse_captured is None and not table.has_class("-dragging")
            assert app.screen.current_story_id == ids[2]


async def test_digest_screen_drag_is_not_also_a_click(digest_home: Paths, store: Store) -> None:
    """From a terminal, Textual turns a press and a release on the same widget into a Click as well (Pilot's
    mouse helpers skip that step, so this test posts the events as the driver does). A drag is not a click:
    cancelled on its own row it leaves the cursor where it was; the next plain click is a click again."""
    ids = add_stories(store, "Ledger", ["One", "Two", "Three"])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_draft(pilot, app, 3)

        async def terminal(kind: type[MouseEvent], key: str) -> None:
            x, y = row_offset(app, key)
            x, y = table.region.x + x, table.region.y + y
            app.post_message(kind(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y))
            await pilot.pause()

        await pilot.press("down", "down")
        assert app.screen.current_story_id == ids[2]
        await terminal(MouseDown, item_key(ids[0]))
        await terminal(MouseMove, item_key(ids[1]))
        await terminal(MouseMove, item_key(ids[0]))
        await terminal(MouseUp, item_key(ids[0]))
        assert draft_order(store) == {"Startups": ids} and app.screen.current_story_id == ids[2]

        await terminal(MouseDown, item_key(ids[0]))
        await terminal(MouseMove, item_key(ids[2]))
        await terminal(MouseUp, item_key(ids[2]))
        await pilot.pause()
        assert draft_order(store) == {"Startups": [ids[1], ids[2], ids[0]]}
        assert app.screen.current_story_id == ids[0]

        await terminal(MouseDown, item_key(ids[1]))
        await terminal(MouseUp, item_key(ids[1]))
        assert app.screen.current_story_id == ids[1] and draft_order(store) == {"Startups": [ids[1], ids[2], ids[0]]}


def test_the_refresh_runner_reports_a_store_error_in_one_line(tmp_path) -> None:
    """The app shows the runner's last stderr line when a refresh fails: a store it cannot use (here a
    file that is not a database, the damaged-store line; a full disk is a store error) is that one line,
    not a traceback."""
    import json
    import subprocess
    import sys

    bad = tmp_path / "digest.db"
    bad.write_bytes(b"this is not a database" * 100)
    proc = subprocess.run([sys.executable, "-m", "digest.tui.refresh_runner"], capture_output=True, text=True,
                          input=json.dumps({"config": {}, "db": str(bad), "feed_ids": None}), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"the store {bad} is damaged: file is not a database; run `digest store check` or restore a backup"]


async def test_article_key_shows_the_full_article_in_a_worker(digest_home: Paths, store: Store,
                                                              feed_server: Any) -> None:
    from articlepages import PARAGRAPHS, article_page, html_response

    from digest.core.models import ParsedStory

    feed_server.route("/a/ok", html_response(article_page("Forkyard raises $12M", site_name="Example News")))
    feed = store.add_feed(feed_server.url("/feed.xml"), title="Teasers", section="Startups")
    store.save_stories(feed.id, [
        ParsedStory(guid=f"t-{i}", link=feed_server.url(path), canonical_link=feed_server.url(path),
                    title=title, summary="A teaser. Read more…", published_at=FROZEN_NOW - 60 * (i + 1))
        for i, (title, path) in enumerate([("Works", "/a/ok"), ("Broken link", "/a/missing")])
    ], now=FROZEN_NOW)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        reader = app.screen.query_one("#reader")
        await pilot.press("enter")
        await wait_for(pilot, lambda: reader.story is not None, what="reader")
        await pilot.press("t")
        await wait_for(pilot, lambda: reader.article is not None, what="article shown")
        body = app.screen.query_one("#reader-body")
        assert PARAGRAPHS[0][:60] in body.source
        assert not reader.loading
        await pilot.press("t")  # again: back to the feed's text
        await wait_for(pilot, lambda: reader.article is None, what="feed text again")
        assert "A teaser" in body.source
        story_list(app).focus()
        await pilot.press("j")
        await wait_for(pilot, lambda: reader.story is not None and reader.story.title == "Broken link", what="2nd")
        await pilot.press("t")
        await wait_for(pilot, lambda: "HTTP 404" in reader.article_note, what="one-line error")
        assert reader.article_note.count("\n") == 0 and not reader.loading
        note = app.screen.query_one("#reader-article-error")
        await wait_for(pilot, lambda: note.region.height == 1, what="the error's line laid out")
        # the URL that failed is the link shown above it: not repeated
        assert note.render_line(0).text.strip() == "article: HTTP 404 Not Found"
        await pilot.press("t")  # the failure is recorded: answered again without a request
        await wait_for(pilot, lambda: not reader.loading and "HTTP 404" in reader.article_note, what="again")
        assert len(feed_server.requests_for("/a/missing")) == 1


def test_the_article_error_line_puts_the_reason_first_and_crops_to_one_line() -> None:
    from digest.tui.widgets.url_line import NoteLine

    line = NoteLine()
    url = "https://news.example.com/2026/11/26/a-very-long-slug-for-a-story-about-ferries-and-kelp/"
    line.label, line.reason, line.url = "article:", "HTTP 404", url
    reason, short = line.line(38)  # the reader's width at 80 columns
    assert reason == "HTTP 404" and "…" in short and short.endswith("kelp/")
    assert len("article: HTTP 404 · ") + len(short) == 38
    assert line.line(200) == ("HTTP 404", url)
    assert line.line(24) == ("HTTP 404", "")  # too little room for a URL that tells anything: left out
    line.reason = "a placeholder domain (RFC 2606): not fetched"
    reason, short = line.line(38)
    assert short == "" and reason.endswith("…") and len("article: " + reason) == 38


async def test_feeds_screen_toggles_full_text(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Alpha", ["A1"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        await pilot.press("t")
        await wait_for(pilot, lambda: store.feed_by_url("https://alpha.example/feed").full_text, what="on")
        await wait_for(pilot, lambda: app.screen.feeds and app.screen.feeds[0].full_text, what="reloaded")
        await pilot.press("t")
        await wait_for(pilot, lambda: not store.feed_by_url("https://alpha.example/feed").full_text, what="off")


async def test_removing_a_feed_leaves_the_cursor_on_the_next_one(digest_home: Paths, store: Store) -> None:
    for name in ("Alpha", "Beta", "Gamma", "Delta"):
        add_stories(store, name, [f"{name} 1"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        screen: Any = app.screen
        names = [f.title for f in screen.feeds]
        screen.query_one("#feeds-table").move_cursor(row=2)
        await pilot.press("x")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.feeds) == 3, what="the feed gone")
        await wait_for(pilot, lambda: screen.current_feed is not None and screen.current_feed.title == names[3],
                       what="the cursor on the feed that took its row")
        screen.query_one("#feeds-table").move_cursor(row=2)
        await pilot.press("x")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")  # the last row: the cursor goes to the new last one
        await wait_for(pilot, lambda: len(screen.feeds) == 2 and screen.current_feed is not None
                       and screen.current_feed.title == names[1], what="the new last feed")


async def test_a_story_moved_out_of_a_section_the_config_lacks_can_be_moved_back(digest_home: Paths,
                                                                                  store: Store) -> None:
    # "Dispatches" is an OPML folder (a feed's section, not the config's); "Side projects" only the draft
    # knows (`digest flag --section`). Moving each story out with [ used to drop its section from the
    # screen, so ] could not take it back.
    opml = add_stories(store, "Folder feed", ["From the folder"], section="Dispatches")
    side, other = add_stories(store, "Wire", ["A side project", "Not flagged"], section="Startups")
    store.flag(opml[0], "Dispatches")
    store.flag(side, "Side projects")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        await open_digest_screen(pilot, app)
        screen: Any = app.screen
        table = screen.query_one("#draft", DataTable)

        def headers() -> list[str]:
            return [str(r.key.value) for r in table.ordered_rows if str(r.key.value).startswith("sec:")]

        for sid, section in ((opml[0], "Dispatches"), (side, "Side projects")):
            table.move_cursor(row=table.get_row_index(item_key(sid)))
            await wait_for(pilot, lambda sid=sid: screen.current_story_id == sid, what="the story selected")
            before = screen.sections.index(section)
            await pilot.press("left_square_bracket")
            await wait_for(pilot, lambda sid=sid, section=section: store.get_story(sid).draft_section != section)
            assert store.get_story(sid).draft_section == screen.sections[before - 1]
            assert f"sec:{section}" in headers()  # still listed, empty: a place to drop it back
            await pilot.press("right_square_bracket")
            await wait_for(pilot, lambda sid=sid, section=section: store.get_story(sid).draft_section == section,
                           what=f"back in {section}")
        # the config's sections, then the feeds' folder, then the draft's own
        assert screen.sections[-2:] == ["Dispatches", "Side projects"]
        await pilot.press("escape")
        await list_ready(pilot, app, 3)
        # the flag dialog offers the draft's own section too
        stories = story_list(app)
        stories.move_to(stories.ids.index(other))
        await wait_for(pilot, lambda: stories.current_id == other)
        await pilot.press("f")
        choice: Any = await screen_is(pilot, app, "ChoiceModal")
        assert choice.choices[-2:] == ["Dispatches", "Side projects"]
        choice.query_one("#choices").highlighted = len(choice.choices) - 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(other).draft_section == "Side projects", what="flagged there")


async def test_the_digest_screen_follows_a_draft_changed_by_another_process(digest_home: Paths,
                                                                             store: Store) -> None:
    """`digest flag` adds a story, then cron's `digest run` freezes the draft into an issue, while the
    digest screen is open: it shows each change within seconds. It kept showing the draft it opened with,
    the issue that had gone out included, and offered to build and send it again."""
    from helpers_smtp import make_draft

    from digest.core.archive import freeze_draft

    ids = make_draft(store, 2)
    extra = make_draft(store, 1, prefix="Late")  # in the store, then unflagged: the CLI flags it below
    store.unflag(extra[0])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app)
        await open_digest_screen(pilot, app)
        screen: Any = app.screen
        await wait_for(pilot, lambda: len(screen.items) == 2, what="the draft")
        with Store(digest_home.db_file) as other:  # another connection: the CLI, cron
            other.flag(extra[0], "Top Stories")
        await wait_for(pilot, lambda: len(screen.items) == 3, what="the story flagged by the CLI")
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.last_build is not None, 20, "build")
        with Store(digest_home.db_file) as other:
            assert freeze_draft(other, ["ann@example.org"], "Digest <d@example.org>") is not None
        await wait_for(pilot, lambda: not screen.items, what="the frozen draft gone")
        assert screen.last_build is None
        assert "Digest (new) · 0 stories" in str(screen.query_one("#draft-info").render())
    assert sorted(ids + extra) == sorted(store.item_story_ids(store.list_digests()[0].id))
