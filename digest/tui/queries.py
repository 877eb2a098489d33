"""The TUI's story-list rows: what one line shows, built from Store.list_rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digest.core.store import Store
from digest.core.textclean import terminal_safe


@dataclass(slots=True, frozen=True)
class ListRow:
    """What one line of the story list shows: no content or summary, so a page of 200 rows is a few KB."""

    id: int
    feed_id: int
    title: str
    feed_title: str
    published_at: float
    read: bool
    flagged: bool
    headline: str | None


def list_rows(store: Store, ids: Sequence[int]) -> dict[int, ListRow]:
    """The list rows for the given story ids (a page of the list), by id. Primary-key lookups: ~1 ms per
    200 ids on a 100k-story store, cheap enough for the event loop (Store.list_rows says why it reads
    them as one row of JSON)."""
    # titles through terminal_safe: a row stored before ingestion cleaned controls cannot reach the screen
    return {r[0]: ListRow(r[0], r[1], terminal_safe(r[2] or ""), terminal_safe(r[3] or ""), float(r[4]), bool(r[5]),
                          bool(r[6]), terminal_safe(r[7]) if r[7] else r[7])
            for r in store.list_rows(ids)}
