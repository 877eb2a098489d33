"""Shared helpers of the TUI tests (Pilot flows, snapshots, the run tests that drive the TUI).

Waits are on conditions, never on fixed pauses: `wait_for` polls a condition between Textual's message
processing, with a generous timeout that only matters when the test fails (a loaded 2-core machine is slow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from digest.core.config import Config
from digest.core.models import ParsedStory
from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.app import DigestApp, make_app
from digest.tui.widgets.story_list import StoryList

# Thursday 26 Nov 2026 06:00 UTC: after every sample story, so ages read "1d", "3h"...
FROZEN_NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC).timestamp()


def add_stories(store: Store, feed_title: str, titles: list[str], *, section: str = "Startups",
                url: str | None = None, start: float = FROZEN_NOW - 3600) -> list[int]:
    """A feed with one story per title, newest first in the given order; returns the story ids."""
    feed = store.add_feed(url or f"https://{feed_title.lower().replace(' ', '-')}.example/feed",
                          title=feed_title, section=section)
    stories = [
        ParsedStory(guid=f"{feed_title}-{i}", link=f"https://example.com/{feed.id}/{i}",
                    canonical_link=f"https://example.com/{feed.id}/{i}", title=t,
                    summary=f"Summary of {t}.", content=f"<p>Body of <b>{t}</b>.</p>",
                    published_at=start - i * 60, categories=["News"])
        for i, t in enumerate(titles)
    ]
    store.save_stories(feed.id, stories, now=FROZEN_NOW)
    ids = store.story_ids()
    by_title = {s.title: s.id for s in store.stories_by_ids(ids)}
    return [by_title[t] for t in titles]


def new_app(store: Store, paths: Paths, config: Config | None = None, **kw: Any) -> DigestApp:
    kw.setdefault("now", lambda: FROZEN_NOW)
    kw.setdefault("open_url", lambda url: True)
    return make_app(config or Config(), store, paths, **kw)


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.05)


async def screen_is(pilot: Any, app: DigestApp, name: str) -> Any:
    """Wait until the screen on top is of the named class (a modal pushed, or popped back) and has run its
    on_mount, and return it. A key pressed before that goes where the screen has not yet put the focus or
    the highlight (a dialog's default choice): on a busy machine the gap is long enough for a test's key."""
    await wait_for(pilot, lambda: type(app.screen).__name__ == name and app.screen.is_mounted, what=f"the {name}")
    return app.screen


SIZE = (120, 40)


def story_list(app: DigestApp) -> StoryList:
    return app.screen.query_one(StoryList)


def notes(app: DigestApp) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


async def list_ready(pilot: Any, app: DigestApp, count: int | None = None) -> StoryList:
    await wait_for(pilot, lambda: app.screen.query(StoryList) and (
        story_list(app).ids if count is None else len(story_list(app).ids) == count), what="story list")
    await wait_for(pilot, lambda: app.screen.focused is story_list(app), what="the story list's focus")
    return story_list(app)


async def search_settled(pilot: Any, app: DigestApp, text: str) -> None:
    """Wait until the main screen searches for `text` and the list holds that search's result. Typed a key
    at a time, a shorter prefix may be searched on the way (the debounce runs out on a busy machine): its
    hits can look like the final ones, and the final load, landing later, would move the cursor."""
    screen = app.screen
    await wait_for(pilot, lambda: screen.search_text == text and screen.loaded_generation == screen._generation,
                   what=f"the search for {text!r}")


async def open_digest_screen(pilot: Any, app: DigestApp) -> None:
    """Press d on the main screen and wait for the digest screen."""
    await pilot.press("d")
    await screen_is(pilot, app, "DigestScreen")
