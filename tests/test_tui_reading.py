"""Pilot tests of moving and catching up on the main screen (issue 17 part 1): n/p, J/K, j past the end,
Esc back, A/C with undo, hide read, sort, Trending's source counts, the view and cursor kept over a restart.
Each asserts on the store (the state) and on what is on screen."""

from __future__ import annotations

from typing import Any

from helpers_tui import FROZEN_NOW, SIZE, add_stories, list_ready, new_app, notes, story_list, wait_for

from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.views import TRENDING, View
from digest.tui.widgets.reader import Reader


def reader(app: Any) -> Reader:
    return app.screen.query_one(Reader)


def shown(app: Any) -> int | None:
    story = reader(app).story
    return story.id if story is not None else None


def line(app: Any, y: int) -> str:
    return story_list(app).render_line(y).text


async def test_n_reads_the_unread_stories_in_a_row_from_the_reader(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", [f"Story {i}" for i in range(12)])
    store.set_read([ids[3], ids[4]], True)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 12)
        await pilot.press("enter")  # reads the first, the reader has the focus
        await wait_for(pilot, lambda: isinstance(app.focused, Reader) and shown(app) == ids[0])
        seen = [ids[0]]
        for _ in range(9):
            await pilot.press("n")
            await wait_for(pilot, lambda: shown(app) != seen[-1], what="the next unread story")
            seen.append(shown(app))
        # the two read ones are skipped; every story read so far is marked read in the store
        assert seen == [ids[0], ids[1], ids[2], *ids[5:12]]
        assert all(s.read for s in store.stories_by_ids(seen))
        assert isinstance(app.focused, Reader)
        await pilot.press("n")  # nothing unread after the last one: said, and nothing moves
        await wait_for(pilot, lambda: any("No unread story after" in n for n in notes(app)))
        assert shown(app) == ids[11]
        await pilot.press("p")  # previous unread: all read now, so nothing
        assert shown(app) == ids[11]
        await pilot.press("K")  # previous story, read or not
        await wait_for(pilot, lambda: shown(app) == ids[10])
        await pilot.press("J")
        await wait_for(pilot, lambda: shown(app) == ids[11])
        await pilot.press("escape")  # back to the list, on the story just read
        await wait_for(pilot, lambda: app.focused is story_list(app))
        assert story_list(app).current_id == ids[11]


async def test_p_goes_back_to_the_previous_unread(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", ["One", "Two", "Three", "Four"])
    store.set_read([ids[1], ids[2]], True)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        await pilot.press("G")
        await wait_for(pilot, lambda: story_list(app).current_id == ids[3])
        await pilot.press("p")
        await wait_for(pilot, lambda: shown(app) == ids[0], what="the previous unread")
        assert story_list(app).cursor == 0


async def test_j_past_the_end_of_a_story_moves_to_the_next(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", ["Short one", "Short two"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown(app) == ids[0] and isinstance(app.focused, Reader))
        await wait_for(pilot, lambda: reader(app).max_scroll_y == 0, what="a story that fits")
        await pilot.press("j")
        await wait_for(pilot, lambda: shown(app) == ids[1], what="the next story")
        assert store.get_story(ids[1]).read


async def test_pagedown_stops_at_the_end_of_a_story_and_space_moves_on(digest_home: Paths, store: Store) -> None:
    # PageDown and the arrows scroll only: one press too many at the end must not open (and mark read)
    # the next story. j and space, the reading keys, go on to it.
    from digest.core.models import ParsedStory

    feed = store.add_feed("https://wire.example/feed", title="Wire", section="News")
    body = "".join(f"<p>Paragraph {i} of a long story, long enough to need several pages.</p>" for i in range(40))
    store.save_stories(feed.id, [
        ParsedStory(guid="long", link="https://wire.example/long", canonical_link="https://wire.example/long",
                    title="Long read", content=body,
                    published_at=FROZEN_NOW - 60),
        ParsedStory(guid="next", link="https://wire.example/next", canonical_link="https://wire.example/next",
                    title="Next story", summary="Short.",
                    published_at=FROZEN_NOW - 120),
    ], now=FROZEN_NOW)
    long_id, next_id = story_list_ids = store.story_ids()
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 2)
        assert list(story_list(app).ids) == story_list_ids
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown(app) == long_id and isinstance(app.focused, Reader))
        await wait_for(pilot, lambda: reader(app).max_scroll_y > 2 * reader(app).size.height, what="a long body")
        presses = 0
        while reader(app).scroll_y < reader(app).max_scroll_y:
            await pilot.press("pagedown")
            presses += 1
            assert presses < 100, "PageDown never reached the end"
            await wait_for(pilot, lambda: not app.animator.is_being_animated(reader(app), "scroll_y"),
                           what="the page scrolled")
        assert presses > 1
        for key in ("pagedown", "pagedown", "down", "end"):  # at the end: nothing moves on
            await pilot.press(key)
        await pilot.pause()
        await wait_for(pilot, lambda: not app.animator.is_being_animated(reader(app), "scroll_y"))
        assert shown(app) == long_id and story_list(app).current_id == long_id
        assert not store.get_story(next_id).read
        await pilot.press("space")  # the reading key goes on, and reads the next story
        await wait_for(pilot, lambda: shown(app) == next_id, what="the next story")
        assert store.get_story(next_id).read


async def test_A_marks_the_feed_read_and_U_undoes_it(digest_home: Paths, store: Store) -> None:
    noisy = add_stories(store, "Noisy", [f"Ad {i}" for i in range(5)])
    quiet = add_stories(store, "Quiet", ["Keep me unread"], section="Engineering")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 6)
        sidebar = app.screen.query_one("#sidebar")
        feed = View.of_feed(store.get_story(noisy[0]).feed_id)
        await wait_for(pilot, lambda: feed in sidebar.keys, what="the feed in the sidebar")
        sidebar.select_key(feed)
        await list_ready(pilot, app, 5)
        await pilot.press("A")
        await wait_for(pilot, lambda: all(s.read for s in store.stories_by_ids(noisy)), what="feed marked read")
        assert not store.get_story(quiet[0]).read
        await wait_for(pilot, lambda: any("Marked 5 stories read in Noisy" in n for n in notes(app)))
        await wait_for(pilot, lambda: sidebar.label_of(feed) == "Noisy", what="no unread count left")
        await pilot.press("U")
        await wait_for(pilot, lambda: not any(s.read for s in store.stories_by_ids(noisy)), what="undone")
        await wait_for(pilot, lambda: sidebar.label_of(feed) == "Noisy 5", what="the count back")
        await pilot.press("U")  # one step only
        await wait_for(pilot, lambda: any("Nothing to undo" in n for n in notes(app)))
        await pilot.press("C")  # everything
        await wait_for(pilot, lambda: store.counts()["unread"] == 0, what="all read")
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: store.counts()["unread"] == 6, what="all unread again")


async def test_H_hides_read_stories_in_any_view(digest_home: Paths, store: Store) -> None:
    ids = add_stories(store, "Wire", ["One", "Two", "Three"])
    store.set_read([ids[1]], True)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        await pilot.press("H")
        await list_ready(pilot, app, 2)
        assert story_list(app).ids == [ids[0], ids[2]]
        assert "unread only" in app.screen.query_one("#status").markup
        await pilot.press("H")
        await list_ready(pilot, app, 3)
        # every story read and hidden: the empty list says why, not "no stories here yet"
        store.set_read(ids, True)
        await pilot.press("H")
        await list_ready(pilot, app, 0)
        assert story_list(app).empty_text == "No unread stories here: H shows the read ones again."


async def test_s_sorts_newest_oldest_feed_and_score(digest_home: Paths, store: Store) -> None:
    zeta = add_stories(store, "Zeta", ["Z new", "Z old"], start=FROZEN_NOW - 60)
    alpha = add_stories(store, "Alpha", ["A new", "Big news from the port"], start=FROZEN_NOW - 90)
    beta = add_stories(store, "Beta", ["Big news from the port"], start=FROZEN_NOW - 7200)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        stories = await list_ready(pilot, app, 5)
        newest = list(stories.ids)
        assert newest[0] == zeta[0]

        async def sorted_as(label: str) -> list[int]:
            await pilot.press("s")
            await wait_for(pilot, lambda: label in app.screen.query_one("#status").markup, what=label)
            await wait_for(pilot, lambda: app.screen.loaded_generation == app.screen._generation)
            return list(story_list(app).ids)

        assert await sorted_as("oldest first") == newest[::-1]
        assert await sorted_as("by feed") == [*alpha, *beta, *zeta]
        by_score = await sorted_as("by Trending score")
        assert set(by_score[:2]) == {alpha[1], beta[0]}  # carried by two feeds: first
        assert "2 sources" in line(app, 0)
        await pilot.press("s")  # back to newest
        await wait_for(pilot, lambda: list(story_list(app).ids) == newest)


async def test_trending_lists_its_source_count(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Alpha", ["Big news from the port", "Alpha only"])
    add_stories(store, "Beta", ["Big news from the port", "Beta only"], section="Engineering")
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: TRENDING in sidebar.keys)
        sidebar.select_key(TRENDING)
        await list_ready(pilot, app, 1)
        assert "Big news from the port" in line(app, 0) and "2 sources" in line(app, 0)


async def test_view_and_cursor_come_back_after_a_restart(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Other", ["Elsewhere"])
    ids = add_stories(store, "Wire", ["One", "Two", "Three"], section="Engineering")
    feed = View.of_feed(store.get_story(ids[0]).feed_id)
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: feed in sidebar.keys)
        sidebar.select_key(feed)
        await list_ready(pilot, app, 3)
        await pilot.press("j", "j", "H")
        await list_ready(pilot, app, 3)
        await wait_for(pilot, lambda: story_list(app).current_id == ids[2])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 3)
        screen: Any = app.screen
        assert screen.view == feed and screen.hide_read
        await wait_for(pilot, lambda: story_list(app).current_id == ids[2], what="the cursor restored")
        await wait_for(pilot, lambda: screen.query_one("#sidebar").current_key == feed, what="sidebar entry")


async def test_a_reload_keeps_the_story_being_read_far_down_the_list(digest_home: Paths, store: Store) -> None:
    # past the first page of ids (painted before the whole list): a refresh or another process's write
    # reloads the list, and the cursor and the reader must stay on the story being read
    from digest.tui.screens.main import FIRST_PAGE

    n = FIRST_PAGE + 60
    ids = add_stories(store, "Wire", [f"Story {i}" for i in range(n)])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, n)
        await pilot.press("G")
        await wait_for(pilot, lambda: story_list(app).current_id == ids[-1], what="the last story")
        def reading() -> int | None:
            return getattr(app.screen.query_one(Reader).story, "id", None)

        await wait_for(pilot, lambda: reading() == ids[-1], what="it in the reader")
        add_stories(store, "Other", ["Fresh news"], start=FROZEN_NOW)  # a new story at the top
        screen: Any = app.screen
        screen.reload()
        await list_ready(pilot, app, n + 1)
        await wait_for(pilot, lambda: screen.loaded_generation == screen._generation, what="the reload")
        assert story_list(app).current_id == ids[-1] and story_list(app).cursor == n
        assert reading() == ids[-1]


# -- long URLs in the reader's head ---------------------------------------------------------------

LONG = "https://news.digest-sample.example/2026/11/harbor-lift-electric-seaplane-victoria-passenger-trial/"


def test_shorten_url_keeps_host_and_slug_and_never_exceeds_the_width() -> None:
    from digest.tui.widgets.url_line import shorten_url

    assert shorten_url("https://a.example/x", 40) == "https://a.example/x"
    assert shorten_url(LONG, 95) == (
        "https://news.digest-sample.example/…/harbor-lift-electric-seaplane-victoria-passenger-trial/")
    assert shorten_url("https://example.com/2026/11/26/slug?utm_source=x", 30) == "https://example.com/…/slug?…"
    # host + slug do not fit either: the middle of the URL goes, its start and end stay
    short = shorten_url(LONG, 38)
    assert len(short) == 38 and short.startswith("https://news.") and short.endswith("-trial/")
    assert "…" in short
    for width in range(0, len(LONG) + 2):
        assert len(shorten_url(LONG, width)) <= width


async def test_a_long_link_stays_on_one_line_at_80_columns_and_o_opens_it_whole(
        digest_home: Paths, store: Store) -> None:
    from digest.core.models import ParsedStory
    from digest.tui.widgets.url_line import UrlLine

    feed = store.add_feed("https://wire.example/feed", title="Wire", section="News")
    store.save_stories(feed.id, [ParsedStory(guid="g", link=LONG, canonical_link=LONG, title="Seaplane",
                                             summary="s", published_at=FROZEN_NOW - 60)], now=FROZEN_NOW)
    opened: list[str] = []
    app = new_app(store, digest_home, open_url=lambda url: opened.append(url) or True)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown(app) is not None, what="the story in the reader")
        link = app.screen.query_one("#reader-link", UrlLine)
        await wait_for(pilot, lambda: link.region.width > 0, what="the link laid out")
        width = link.content_size.width
        assert width < len(LONG)  # the reader is ~38 columns at 80: the URL cannot fit
        text = link.render_line(0).text.rstrip()
        assert link.region.height == 1 and len(text) <= width
        assert text.startswith("https://news.digest-sample.example") or text.startswith("https://news.")
        assert "…" in text and text.endswith("trial/")
        await pilot.press("z")  # the reader full width: the line is made again for the new width
        await wait_for(pilot, lambda: len(link.render_line(0).text.rstrip()) > len(text), what="a longer line")
        wide = link.render_line(0).text.rstrip()
        assert len(wide) <= link.content_size.width < len(LONG) and wide.endswith("trial/")
        await pilot.press("o")
        await wait_for(pilot, lambda: opened == [LONG], what="o opens the whole URL")
