"""Small read queries the TUI needs that the Store does not offer (yet), run on store.db.

They read only; every write goes through Store methods so the core keeps its invariants.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from digest.core.store import Store


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
    200 ids on a 100k-story store, cheap enough for the event loop.

    The page comes back as ONE row of JSON. The sqlite3 module drops and retakes the GIL around every
    row it steps; while a worker thread runs Python (turning 100k ids into ints during a refresh) each
    retake can wait a whole switch interval, and a 200-row page took 109 ms on the UI thread
    (tests/bench/bench_tui.py, event-loop gaps). One step means one wait at most."""
    out: dict[int, ListRow] = {}
    ids = list(ids)
    for start in range(0, len(ids), 500):  # SQLite's default host-parameter limit is 999
        chunk = ids[start:start + 500]
        sql = (
            "SELECT json_group_array(json_array(s.id, s.feed_id, s.title, coalesce(nullif(f.title, ''), f.url), "
            "s.published_at, s.read, di.story_id IS NOT NULL, di.headline)) "
            "FROM stories s JOIN feeds f ON f.id = s.feed_id "
            "LEFT JOIN digest_items di ON di.story_id = s.id "
            "AND di.digest_id = (SELECT id FROM digests WHERE status = 'draft') "
            f"WHERE s.id IN ({','.join('?' * len(chunk))})"
        )
        row = store.db.execute(sql, chunk).fetchone()
        for r in json.loads(row[0]) if row and row[0] else []:
            out[r[0]] = ListRow(r[0], r[1], r[2], r[3], float(r[4]), bool(r[5]), bool(r[6]), r[7])
    return out
