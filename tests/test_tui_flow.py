"""Small breaks in the flow (issue 17 part 6): a feed added in the TUI is fetched and shown at once, OPML
folders are offered as sections, the export goes next to the data, a missing file is one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedserver import simple_rss
from helpers_tui import SIZE, add_stories, list_ready, new_app, notes, screen_is, story_list, wait_for

from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.views import View


async def test_a_feed_added_in_the_tui_is_fetched_and_selected(digest_home: Paths, store: Store,
                                                                feed_server: Any) -> None:
    add_stories(store, "Existing", ["Kept"])
    feed_server.feed("/good.xml", simple_rss("good", 3))
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("a")
        await screen_is(pilot, app, "AddFeedModal")
        app.screen.query_one("#url").value = feed_server.url("/good.xml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.feed_count() == 2, what="feed added")
        feed = store.feed_by_url(feed_server.url("/good.xml"))
        assert feed is not None
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.view == View.of_feed(feed.id), what="the new feed shown")
        await list_ready(pilot, app, 3)
        # fetched by a refresh right away: a status and a time, not "new · never"
        await wait_for(pilot, lambda: store.get_feed(feed.id).last_status == "ok", 30, "the feed fetched")
        assert store.get_feed(feed.id).last_success_at
        await wait_for(pilot, lambda: screen.query_one("#sidebar").current_key == View.of_feed(feed.id))
        assert all(story_list(app).row(i).feed_id == feed.id for i in range(3))


async def test_sections_of_imported_feeds_are_offered_when_flagging(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Kelp Weekly", ["Kelp story"], section="Ocean Farming")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await wait_for(pilot, lambda: app.screen.query_one("#sidebar").feeds, what="the sidebar")
        await pilot.press("f")
        await screen_is(pilot, app, "ChoiceModal")
        modal: Any = app.screen
        assert "Ocean Farming" in modal.choices
        assert modal.choices[modal.query_one("#choices").highlighted] == "Ocean Farming"  # its own section
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).draft_section == "Ocean Farming")


async def test_a_story_flagged_before_the_sidebar_has_loaded_is_offered_its_feeds_section(
        digest_home: Paths, store: Store, monkeypatch: Any) -> None:
    # The sections a story can be flagged into (and a new feed put in) came from the sidebar's feeds: f
    # pressed before the sidebar's first load (the first frames, a busy machine) offered "Top Stories" first
    # and not the feed's own OPML folder at all. The sidebar's load is held back here, as a slow machine
    # holds it back.
    from digest.tui.screens.main import MainScreen

    monkeypatch.setattr(MainScreen, "load_sidebar", lambda self: None)
    ids = add_stories(store, "Kelp Weekly", ["Kelp story", "Kelp story two"], section="Ocean Farming")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 2)
        assert not app.screen.query_one("#sidebar").feeds
        # the add-feed dialog offers the feeds' sections (asked before any story is in the draft, whose
        # sections are offered too)
        await pilot.press("a")
        adding: Any = await screen_is(pilot, app, "AddFeedModal")
        assert "Ocean Farming" in adding.sections
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        first = stories.current_id
        await pilot.press("f")
        modal: Any = await screen_is(pilot, app, "ChoiceModal")
        assert modal.choices[modal.query_one("#choices").highlighted] == "Ocean Farming"
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(first).draft_section == "Ocean Farming")
        # e (headline and blurb) on an unflagged story files it in the feed's section too
        await pilot.press("down")
        await wait_for(pilot, lambda: stories.current_id != first, what="the next story")
        second = stories.current_id
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: store.get_story(second).draft_section == "Ocean Farming")
        assert sorted(ids) == sorted([first, second])


async def test_export_defaults_next_to_the_data_and_a_missing_file_is_one_line(digest_home: Paths,
                                                                              store: Store,
                                                                              tmp_path: Path) -> None:
    add_stories(store, "Alpha", ["A1"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("F")
        await screen_is(pilot, app, "FeedsScreen")
        await pilot.press("E")
        await screen_is(pilot, app, "PromptModal")
        box: Any = app.screen.query_one("#value")
        assert box.value == str(digest_home.data_dir / "feeds.opml")
        await pilot.press("enter")
        await wait_for(pilot, (digest_home.data_dir / "feeds.opml").exists, what="export")
        await pilot.press("i")
        await screen_is(pilot, app, "PromptModal")
        missing = tmp_path / "nope.opml"
        app.screen.query_one("#value").value = str(missing)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Import failed" in n for n in notes(app)), what="the error")
        [error] = [n for n in notes(app) if "Import failed" in n]
        assert error == f"Import failed {missing}: No such file or directory"
        assert store.feed_count() == 1


async def test_a_feed_added_by_the_cli_shows_up_in_a_running_tui(digest_home: Paths, store: Store) -> None:
    from digest.core.store import Store as OtherConnection

    add_stories(store, "Existing", ["Kept"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        other = OtherConnection(store.path)  # what `digest feeds add` in another terminal does
        try:
            add_stories(other, "From the CLI", ["Arrived meanwhile"])
        finally:
            other.close()
        # no key pressed: the app notices the commit by itself
        await wait_for(pilot, lambda: len(story_list(app).ids) == 2, what="the CLI's story in the list")
        sidebar: Any = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: any(f.name == "From the CLI" for f in sidebar.feeds.values()))


async def test_the_reader_shows_a_flag_changed_by_the_cli(digest_home: Paths, store: Store) -> None:
    """`digest unflag` in another terminal: the reader's story (its star, section and blurb) changes within
    seconds without a key, as the list does."""
    from digest.core.store import Store as OtherConnection
    from digest.tui.widgets.reader import Reader

    [sid] = add_stories(store, "Existing", ["Kept"])
    store.flag(sid, "Startups", blurb="My own blurb.")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        reader = app.screen.query_one(Reader)
        await wait_for(pilot, lambda: reader.story is not None and reader.story.blurb == "My own blurb.",
                       what="the flagged story in the reader")
        other = OtherConnection(store.path)
        try:
            other.unflag(sid)
        finally:
            other.close()
        await wait_for(pilot, lambda: reader.story is not None and reader.story.blurb is None
                       and reader.story.draft_section is None, what="the reader without the flag")


async def test_down_from_the_search_box_goes_to_the_hits_and_enter_reads_the_first(digest_home: Paths,
                                                                                   store: Store) -> None:
    ids = add_stories(store, "Wire", ["Kelp one", "Kelp two", "Other"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        await pilot.press("slash", *"kelp")
        await pilot.press("down")
        await list_ready(pilot, app, 2)  # the list has the focus and the hits
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).read, what="the first hit read")
        reader: Any = app.screen.query_one("#reader")
        assert reader.story is not None and reader.story.id == ids[0] and app.focused is reader


async def test_long_feed_names_that_start_alike_stay_apart_in_the_sidebar(digest_home: Paths, store: Store) -> None:
    # cut at their end both read "Cascadia Startup Ledg…": the sidebar cuts such names in the middle, so
    # the end that tells them apart shows; a long name no other feed shares keeps its start whole
    names = ["Cascadia Startup Ledger: Funding Rounds", "Cascadia Startup Ledger: Exits",
             "Puget Sound Tech Wire and Marine Gazette"]
    feed_ids = []
    for name in names:
        (sid,) = add_stories(store, name, [f"A story from {name}"], url=f"https://{len(feed_ids)}.example/feed")
        feed_ids.append(store.get_story(sid).feed_id)
    app = new_app(store, digest_home)
    async with app.run_test(size=(120, 40)) as pilot:
        await list_ready(pilot, app, 3)
        sidebar: Any = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: all(View.of_feed(f) in sidebar.keys for f in feed_ids), what="the feeds")
        await pilot.pause()

        def shown(feed_id: int) -> str:
            return sidebar.render_line(sidebar.keys.index(View.of_feed(feed_id))).text.strip()

        funding, exits, wire = (shown(f) for f in feed_ids)
        assert funding != exits and "…" in funding and "…" in exits
        assert funding.startswith("Cascad") and "Rounds" in funding
        assert exits.startswith("Cascad") and "Exits" in exits
        assert wire.startswith("Puget Sound Tech") and "…" in wire  # unique start: cut at its end as before


async def test_a_quoted_phrase_in_the_search_box_finds_the_phrase_only(digest_home: Paths, store: Store) -> None:
    # "series a" found "Series B ... a ..." too: the quotes were dropped and "a" matched any word's start
    ids = add_stories(store, "Ledger", ["Mossgate raises Series A", "Driftwood closes Series B as a pivot",
                                        "Rust meetup", "Rust in production"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        await pilot.press("slash", *'"series a"', "enter")
        await list_ready(pilot, app, 1)
        assert story_list(app).row(0).id == ids[0]
        await pilot.press("escape")
        await list_ready(pilot, app, 4)
        await pilot.press("slash", *"rust -meetup", "enter")
        await list_ready(pilot, app, 1)
        assert story_list(app).row(0).id == ids[3]


async def test_brackets_in_headlines_feed_names_and_typed_urls_are_shown_as_written(digest_home: Paths,
                                                                                     store: Store) -> None:
    """Toasts were drawn as markup: flagging "Fix for [/b] in the parser" raised MarkupError while the
    "Flagged for ..." toast was drawn and the app ended; "[Video]" vanished from a message. A value typed
    into the add-feed dialog and a feed's section on the feeds screen are quoted as typed too."""
    from textual.widgets import DataTable
    from textual.widgets._toast import Toast

    title = "Fix for [/b] in the parser [Video]"
    add_stories(store, "Wire", [title], section="[/i] Odd [Folder]")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts drawn, as in a terminal
        await list_ready(pilot, app, 1)
        await pilot.press("f")
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query(Toast), what="the toast drawn")
        await pilot.pause()
        shown = [str(t.render()) for t in app.screen.query(Toast)]
        assert any(f"Flagged for [/i] Odd [Folder]: {title}" in s for s in shown), shown
        assert store.digest_items()[0].story.title == title

        await pilot.press("a")
        await screen_is(pilot, app, "AddFeedModal")
        app.screen.query_one("#url").value = "ftp://host/[/b]feed"
        await pilot.press("enter")
        error = app.screen.query_one("#error")
        await wait_for(pilot, lambda: "ftp://host/[/b]feed" in str(error.render()), what="the typed URL quoted")
        await pilot.press("escape")

        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert str(table.get_row_at(0)[1]) == "[/i] Odd [Folder]"
        assert app.is_running
