"""The story list's orders other than newest first, and the Trending view's ids: run in the list's worker,
on the worker's own Store. Only public Store queries: the SQL stays in the store."""

from __future__ import annotations

import dataclasses
from typing import Any

from digest.core.store import StoryQuery


def trending_ids(store: Any, q: StoryQuery, now: float) -> tuple[list[int], dict[int, int]]:
    """The Trending view's ids and how many sources carry each."""
    from digest.core.select import TRENDING_WINDOW_S, trending

    # clusters are in "carried by most feeds" order; keep it, and apply a search (or hide-read) on top.
    # The window ends at the app's clock (frozen in tests), not at the wall clock.
    clusters = trending(store, since=now - TRENDING_WINDOW_S, limit=50)
    ids = [c.story.id for c in clusters]
    sources = {c.story.id: c.count for c in clusters}
    if q.search or q.unread:
        q.trending_ids = ids
        allowed = set(store.story_ids(q))
        ids = [i for i in ids if i in allowed]
    return ids, sources


def sorted_ids(store: Any, q: StoryQuery, sort: str, now: float) -> tuple[list[int], dict[int, int]]:
    """The ids of q in a sort other than newest first (in a worker, on its own store), and the
    Trending source counts when sorting by them."""
    if sort == "feed" and q.feed_id is None:
        ids: list[int] = []
        feeds = sorted(store.list_feeds(counts=False), key=lambda f: (f.name.casefold(), f.id))
        for feed in feeds:
            ids += store.story_ids(dataclasses.replace(q, feed_id=feed.id))
        return ids, {}
    ids = store.story_ids(q)
    if sort == "oldest":
        ids.reverse()
    elif sort == "score":
        from digest.core.select import TRENDING_WINDOW_S, trending_counts

        counts = trending_counts(store, since=now - TRENDING_WINDOW_S)
        ids.sort(key=lambda i: -counts.get(i, 0))  # stable: newest first among equals
        return ids, counts
    return ids, {}

