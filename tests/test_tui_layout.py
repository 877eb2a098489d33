"""Fits 80x24 and degrades to 60x20 (issue 17 part 3): the dialogs' buttons and hints on screen, toasts
never over a dialog and gone with Esc, one message per build, the reader full width with z."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_tui import SIZE, add_stories, list_ready, new_app, notes, open_digest_screen, screen_is, wait_for
from textual.geometry import Region
from textual.widgets import Button, Static

from digest.core.paths import Paths
from digest.core.store import Store

SMALL = [(80, 24), (60, 20)]


def on_screen(app: Any, widget: Any) -> bool:
    """Wholly visible: inside the screen and inside the dialog's visible part (not scrolled away)."""
    screen = Region(0, 0, *app.size)
    region = widget.region
    dialog = app.screen.query_one(".dialog")
    return bool(region.area) and screen.contains_region(region) and dialog.region.contains_region(region)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
async def test_edit_dialog_shows_save_and_its_hint(digest_home: Paths, store: Store, size: tuple[int, int]) -> None:
    ids = add_stories(store, "Ledger", ["A story with a long enough headline to wrap at sixty columns"])
    store.flag(ids[0], "Startups", blurb="A blurb.\nOn two lines.")
    app = new_app(store, digest_home)
    async with app.run_test(size=size) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.pause()
        assert on_screen(app, app.screen.query_one("#save", Button))
        hint = app.screen.query_one(".dialog-help", Static)
        assert on_screen(app, hint) and "Ctrl+S save" in str(hint.render())
        # the blurb box shows four lines of text (it showed two at 80x24), wholly on screen
        blurb = app.screen.query_one("#blurb")
        assert blurb.scrollable_content_region.height >= 4 and on_screen(app, blurb)
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, "MainScreen")


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
async def test_add_dialog_shows_add_and_its_hint(digest_home: Paths, store: Store, size: tuple[int, int]) -> None:
    add_stories(store, "Ledger", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=size) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("a")
        await screen_is(pilot, app, "AddFeedModal")
        await pilot.pause()
        assert on_screen(app, app.screen.query_one("#add", Button))
        assert on_screen(app, app.screen.query_one(".dialog-help", Static))
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")


async def test_toasts_wait_for_a_dialog_and_esc_dismisses_them(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Ledger", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 1)
        app.notify("Before the dialog", timeout=60)
        await wait_for(pilot, lambda: notes(app), what="the toast")
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        assert notes(app) == []  # what was up is gone: it would sit over the dialog
        app.notify("While the dialog is open", timeout=60)
        await pilot.pause()
        assert notes(app) == []
        await pilot.press("escape")  # the dialog's Esc, not the toasts'
        await screen_is(pilot, app, "MainScreen")
        await wait_for(pilot, lambda: any("While the dialog is open" in n for n in notes(app)), what="held toast")
        await pilot.press("/")
        await pilot.press(*"zz")
        await pilot.press("escape")  # the toasts go, and Esc still does its job here: the search closes
        await wait_for(pilot, lambda: notes(app) == [])
        await wait_for(pilot, lambda: not app.screen.query_one("#search").display)


async def test_help_is_not_covered_by_toasts(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Ledger", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("question_mark")
        await screen_is(pilot, app, "HelpScreen")
        app.notify("Refresh done", timeout=60)
        await pilot.pause()
        assert notes(app) == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: any("Refresh done" in n for n in notes(app)))


async def test_build_reports_in_one_message(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two"])
    for i in ids:
        store.flag(i, "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await open_digest_screen(pilot, app)
        app.action_dismiss_notes()
        await pilot.press("b")
        await wait_for(pilot, lambda: app.screen.last_build is not None, 30, "the build")
        await pilot.pause()
        built = [n for n in notes(app)]
        assert len(built) == 1 and built[0].startswith("Built: ") and "2 stories" in built[0]


async def test_z_gives_the_reader_the_full_width_and_esc_brings_the_list_back(digest_home: Paths,
                                                                            store: Store) -> None:
    add_stories(store, "Ledger", ["One", "Two"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("z")
        reader = app.screen.query_one("#reader")
        await wait_for(pilot, lambda: reader.region.width == 80, what="the reader full width")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.query_one("#stories").region.width > 20, what="the list back")
        assert app.focused is app.screen.query_one("#stories")
        # with the sidebar shown (b) too: its rules under 90 columns weigh more than the zoom's did
        await pilot.press("b")
        await wait_for(pilot, lambda: app.screen.query_one("#sidebar").region.width > 0, what="the sidebar")
        await pilot.press("z")
        await wait_for(pilot, lambda: reader.region.width == 80 and app.screen.query_one("#sidebar").region.width == 0,
                       what="the reader full width over the sidebar")


async def test_toasts_keep_off_the_reader_while_it_has_the_focus(digest_home: Paths, store: Store) -> None:
    # at 80x24 the reader is the right half of the screen, where Textual puts toasts: reading, a toast
    # goes over the list instead; browsing the list, it goes over the reader (not over the cursor)
    from textual.widgets._toast import Toast

    from digest.tui.widgets.reader import Reader

    ids = add_stories(store, "Ledger", ["One", "Two"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn
        stories = await list_ready(pilot, app, 2)
        reader = app.screen.query_one(Reader)

        async def toast_region(text: str) -> Region:
            app.notify(text, timeout=30)
            await wait_for(pilot, lambda: any(t.region.area for t in app.screen.query(Toast)), what="the toast")
            await pilot.pause()
            toast = app.screen.query(Toast).last()
            assert toast.region.height == 1  # under 30 rows: no blank lines around a one-line message
            return toast.region

        await pilot.press("enter")
        await wait_for(pilot, lambda: app.focused is reader and reader.story is not None
                       and reader.story.id == ids[0], what="the story read")
        region = await toast_region("Reading")
        middle = app.screen.query_one("#middle").region  # the list and its status line
        assert not region.overlaps(reader.region) and middle.contains_region(region)
        app.action_dismiss_notes()
        await pilot.press("escape")  # back to the list
        await wait_for(pilot, lambda: app.focused is stories, what="the list's focus")
        region = await toast_region("Browsing")
        assert region.overlaps(reader.region) and not region.overlaps(middle)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
async def test_a_very_long_headline_leaves_the_dialogs_choices_and_hints_on_screen(
        digest_home: Paths, store: Store, size: tuple[int, int]) -> None:
    """A feed's 1,300-character title filled the flag dialog: its hint (at 60x20 its last choice too) was
    scrolled off screen, and the edit dialog's Save with it. The title is named, cut with "…"."""
    title = "Huge " + "word " * 250 + "END"
    add_stories(store, "Ledger", [title])
    app = new_app(store, digest_home)
    async with app.run_test(size=size) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("f")
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.pause()
        note = str(app.screen.query_one(".dialog-note", Static).render())
        assert note.startswith("Huge word") and note.endswith("…") and len(note) <= 161
        choices = app.screen.query_one("#choices")
        assert on_screen(app, choices) and on_screen(app, app.screen.query_one(".dialog-help", Static))
        await pilot.press("enter")
        await screen_is(pilot, app, "MainScreen")
        assert store.digest_items()[0].story.title == title  # only the dialog's quote is cut
        await pilot.press("e")
        await screen_is(pilot, app, "EditModal")
        await pilot.pause()
        assert on_screen(app, app.screen.query_one("#save", Button))
        assert on_screen(app, app.screen.query_one(".dialog-help", Static))
