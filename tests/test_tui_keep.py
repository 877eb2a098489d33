"""Nothing lost by one key (issue 17 part 2): unflagging a story with a blurb or an edited headline asks
first, every unflag can be undone, and removing from the digest screen can be undone in place."""

from __future__ import annotations

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

from digest.core.paths import Paths
from digest.core.store import Store


def item_state(store: Store) -> list[tuple[int, str, int, str | None, str | None]]:
    return [(i.story.id, i.section, i.position, i.headline, i.blurb) for i in store.digest_items()]


async def test_unflag_with_a_blurb_asks_first_and_undo_brings_it_back(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["Worth it", "Plain"])
    store.flag(ids[1], "Startups")
    store.flag(ids[0], "Startups", blurb="Why it matters.", headline="Sharper")
    before = item_state(store)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("f")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("n")  # no: nothing changes
        await screen_is(pilot, app, "MainScreen")
        assert item_state(store) == before
        await pilot.press("space")  # the other flag key asks too
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await wait_for(pilot, lambda: not store.get_story(ids[0]).flagged, what="unflagged")
        assert any("U undoes" in n for n in notes(app))
        await pilot.press("U")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="flagged again")
        assert item_state(store) == before  # same section, place, headline and blurb


async def test_unflag_without_a_blurb_is_one_key_and_undoable(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["Plain"])
    store.flag(ids[0], "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("f")
        await wait_for(pilot, lambda: not store.get_story(ids[0]).flagged, what="unflagged at once")
        assert type(app.screen).__name__ == "MainScreen"
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="undone")


async def test_digest_screen_remove_has_undo(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Ledger", ["One", "Two", "Three"])
    for i in ids:
        store.flag(i, "Startups")
    store.flag(ids[1], "Startups", blurb="The middle one.")
    before = item_state(store)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        await open_digest_screen(pilot, app)
        screen = app.screen
        await wait_for(pilot, lambda: screen.current_story_id is not None, what="a draft row")
        await pilot.press("j")  # the first row is the section heading, or the first story
        await wait_for(pilot, lambda: screen.current_story_id == ids[1] or screen.current_story_id == ids[0])
        if screen.current_story_id == ids[0]:
            await pilot.press("j")
        await wait_for(pilot, lambda: screen.current_story_id == ids[1], what="the middle story")
        await pilot.press("x")
        await wait_for(pilot, lambda: len(store.digest_items()) == 2, what="removed")
        await pilot.press("U")
        await wait_for(pilot, lambda: item_state(store) == before, what="back in its place with its blurb")
        await pilot.press("U")
        await wait_for(pilot, lambda: any("Nothing to undo" in n for n in notes(app)))


async def test_flagging_a_story_an_issue_carried_asks_first(digest_home: Paths, store: Store) -> None:
    # digest sends a story once: flagging it again is the user's choice, never one key press
    ids = add_stories(store, "Ledger", ["Sent last week", "Never sent"])
    store.flag(ids[0], "Startups")
    draft = store.draft()
    assert draft is not None
    store.mark_sent(draft.id)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("f")
        confirm = await screen_is(pilot, app, "ConfirmModal")
        assert confirm.title_text == "This story went out in digest #1"
        await pilot.press("n")
        await screen_is(pilot, app, "MainScreen")
        await pilot.press("e")  # a blurb would flag it too: the same question
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        assert not store.get_story(ids[0]).flagged
        await pilot.press("f")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await screen_is(pilot, app, "ChoiceModal")  # then the section, as for any story
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="flagged again")
        await pilot.press("j", "f")  # a story never sent: straight to the section
        await screen_is(pilot, app, "ChoiceModal")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[1]).flagged, what="flagged")


async def test_undoing_an_unflag_in_the_flagged_view_lists_the_story_again(digest_home: Paths, store: Store) -> None:
    from digest.tui.views import FLAGGED

    ids = add_stories(store, "Ledger", ["Worth it", "Also good"])
    store.flag(ids[0], "Startups", blurb="Why it matters.")
    store.flag(ids[1], "Startups")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: FLAGGED in sidebar.keys, what="the sidebar's entries")  # loaded apart
        sidebar.select_key(FLAGGED)
        await wait_for(pilot, lambda: app.screen.view == FLAGGED, what="the Flagged view")
        await list_ready(pilot, app, 2)
        await pilot.press("f")
        await screen_is(pilot, app, "ConfirmModal")
        await pilot.press("y")
        await wait_for(pilot, lambda: not store.get_story(ids[0]).flagged, what="unflagged")
        await list_ready(pilot, app, 1)  # out of the Flagged view
        await pilot.press("U")
        await wait_for(pilot, lambda: store.get_story(ids[0]).flagged, what="flagged again")
        await list_ready(pilot, app, 2)  # and back in it
        assert ids[0] in story_list(app).ids


async def test_j_and_k_move_in_the_section_chooser(digest_home: Paths, store: Store) -> None:
    # as in every list of the app: "j Enter" filed the story in the first section without a word
    ids = add_stories(store, "Ledger", ["Worth it"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        sections = app.screen.section_names()
        await pilot.press("f")
        chooser = await screen_is(pilot, app, "ChoiceModal")
        start = chooser.query_one("#choices").highlighted
        await pilot.press("j", "j", "k")
        await wait_for(pilot, lambda: chooser.query_one("#choices").highlighted == start + 1, what="one down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_story(ids[0]).draft_section == sections[start + 1], what="filed")
