"""Keys that behave the same everywhere (issue 17 part 4): j/k/g/G in every list and the help, [keys]
problems reported by the app and by `digest config check` (exit 2, naming the key)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_tui import (
    SIZE,
    add_stories,
    list_ready,
    new_app,
    notes,
    open_digest_screen,
    screen_is,
    story_list,
    wait_for,
)

from digest.cli import main
from digest.core.config import Config
from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.keys import binding_ids, check_keymap


def test_check_keymap_names_unknown_ids_and_keys_that_would_leave_a_binding_dead() -> None:
    assert check_keymap({}) == []
    assert check_keymap({"flag": "f,space", "refresh": "ctrl+r", "next_unread": "N"}) == []
    problems = check_keymap({"flag": "j", "no_such_binding": "x"})
    assert problems[0].startswith("keys.no_such_binding: no binding has this id")
    assert problems[1].startswith("keys.flag: 'j' is already list.down (Down) in the story list")
    assert "reader.down" in problems[1] and len(problems) == 2
    # "?" and "question_mark" are one key
    assert "keys.search: '?' is already help" in check_keymap({"search": "question_mark"})[0]
    assert {"next_unread", "mark_read", "undo", "hide_read", "sort", "reader.back", "table.down"} <= binding_ids()


def test_config_check_exits_2_naming_the_key(digest_home: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    digest_home.config_file.parent.mkdir(parents=True, exist_ok=True)
    digest_home.config_file.write_text('[keys]\nflag = "j"\n', encoding="utf-8")
    code = main(["config", "check"])
    out, err = capsys.readouterr()
    assert code == 2 and "keys.flag: 'j' is already list.down" in err and "config ok" not in out
    digest_home.config_file.write_text('[keys]\nflag = "f"\nsort = "S"\n', encoding="utf-8")
    assert main(["config", "check"]) == 0


async def test_the_app_reports_key_problems_at_start(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Wire", ["One"])
    app = new_app(store, digest_home, config=Config(keys={"flag": "j", "bogus": "x"}))
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await wait_for(pilot, lambda: any("keys.flag: 'j'" in n and "keys.bogus" in n for n in notes(app)))


async def test_remapped_search_key_still_opens_search(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Wire", ["Kelp farming", "Other"])
    app = new_app(store, digest_home, config=Config(keys={"search": "ctrl+f"}))
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("ctrl+f", *"kelp", "enter")
        await list_ready(pilot, app, 1)


async def test_j_k_g_G_in_the_feeds_digest_help_and_sidebar(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Alpha", ["One", "Two"])
    add_stories(store, "Beta", ["Three"], section="Engineering")
    add_stories(store, "Gamma", ["Four"], section="Engineering")
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        await pilot.press("F")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "FeedsScreen" and app.screen.feeds)
        table: Any = app.screen.query_one("#feeds-table")
        await pilot.press("j")
        await wait_for(pilot, lambda: table.cursor_row == 1)
        await pilot.press("G")
        await wait_for(pilot, lambda: table.cursor_row == 2)
        await pilot.press("k")
        await wait_for(pilot, lambda: table.cursor_row == 1)
        await pilot.press("g")
        await wait_for(pilot, lambda: table.cursor_row == 0)
        await pilot.press("escape")
        await open_digest_screen(pilot, app)
        draft: Any = app.screen.query_one("#draft")
        start = draft.cursor_row
        await pilot.press("G")
        await wait_for(pilot, lambda: draft.cursor_row == draft.row_count - 1)
        await pilot.press("g")
        await wait_for(pilot, lambda: draft.cursor_row == 0)
        await pilot.press("j")
        await wait_for(pilot, lambda: draft.cursor_row == 1)
        assert start is not None
        await pilot.press("escape", "question_mark")
        await screen_is(pilot, app, "HelpScreen")
        help_pane: Any = app.screen.query_one("#help")
        await wait_for(pilot, lambda: help_pane.max_scroll_y > 0, what="a help longer than the screen")
        await pilot.press("G")
        await wait_for(pilot, lambda: help_pane.scroll_y == help_pane.max_scroll_y)
        await pilot.press("k")
        await wait_for(pilot, lambda: help_pane.scroll_y < help_pane.max_scroll_y)
        await pilot.press("g")
        await wait_for(pilot, lambda: help_pane.scroll_y == 0)
        await pilot.press("j")
        await wait_for(pilot, lambda: help_pane.scroll_y > 0)
        text = app.screen._text()
        for binding_id in ("next_unread", "mark_read", "undo", "hide_read", "sort", "reader.back", "table.first"):
            assert binding_id in text
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        sidebar: Any = app.screen.query_one("#sidebar")
        sidebar.focus()
        await pilot.press("G")
        await wait_for(pilot, lambda: sidebar.cursor == len(sidebar.entries) - 1)
        await wait_for(pilot, lambda: len(story_list(app).ids) == 1, what="the last feed's one story")
        await pilot.press("g")
        await wait_for(pilot, lambda: sidebar.cursor == 0)
        await wait_for(pilot, lambda: len(story_list(app).ids) == 4, what="All again")


async def test_palette_lists_our_actions_first_and_names_textuals_theme_apart(digest_home: Paths,
                                                                               store: Store) -> None:
    from textual.command import CommandList

    add_stories(store, "Wire", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: app.screen.query(CommandList) and app.screen.query_one(CommandList).option_count)
        listing: Any = app.screen.query_one(CommandList)

        def titles() -> list[str]:
            return [str(listing.get_option_at_index(i).prompt).split("\n")[0] for i in range(listing.option_count)]

        await wait_for(pilot, lambda: any("App colours" in t for t in titles()), what="Textual's commands")
        names = titles()
        ours = [i for i, t in enumerate(names) if t.startswith(("Flag", "Next unread", "Search", "Refresh"))]
        colours = next(i for i, t in enumerate(names) if "App colours (Textual theme)" in t)
        assert ours and max(ours) < colours
        assert not any(t.strip() == "Theme" for t in names)
        # Textual's own Quit, Keys, Maximize ... repeated our q, ? and z: only ours are offered, once each
        assert [t.strip() for t in names].count("Quit") == 1
        assert not {"Keys", "Maximize", "Minimize", "Screenshot"} & {t.strip() for t in names}
        assert "Help" in {t.strip() for t in names}
