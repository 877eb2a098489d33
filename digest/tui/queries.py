"""Small read queries the TUI needs that the Store does not offer (yet), run on store.db.

They read only; every write goes through Store methods so the core keeps its invariants.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from digest.core.store import Store, StoryQuery, fts_query


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
    200 ids on a 100k-story store, cheap enough for the event loop."""
    out: dict[int, ListRow] = {}
    ids = list(ids)
    for start in range(0, len(ids), 500):  # SQLite's default host-parameter limit is 999
        chunk = ids[start:start + 500]
        sql = (
            "SELECT s.id, s.feed_id, s.title, coalesce(nullif(f.title, ''), f.url), s.published_at, s.read, "
            "di.story_id IS NOT NULL, di.headline "
            "FROM stories s JOIN feeds f ON f.id = s.feed_id "
            "LEFT JOIN digest_items di ON di.story_id = s.id "
            "AND di.digest_id = (SELECT id FROM digests WHERE status = 'draft') "
            f"WHERE s.id IN ({','.join('?' * len(chunk))})"
        )
        for r in store.db.execute(sql, chunk):
            out[r[0]] = ListRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), r[7])
    return out


_DRAFT = "(SELECT id FROM digests WHERE status = 'draft')"


def story_ids(store: Store, q: StoryQuery, limit: int | None = None) -> list[int]:
    """Store.story_ids' result (same filters, same order) with only the joins a filter needs.

    Store.story_ids joins feeds and the draft for every row, which on 100k stories costs ~160 ms against
    ~55 ms without them (measured in tests/bench/bench_tui.py). `limit` gives the first page, so the
    list can paint before the full id list is in.
    """
    joins = ""
    clauses: list[str] = []
    args: list[Any] = []
    if q.section is not None:
        joins = " JOIN feeds f ON f.id = s.feed_id"
        clauses.append("f.section = ? COLLATE NOCASE")
        args.append(q.section)
    if q.feed_id is not None:
        clauses.append("s.feed_id = ?")
        args.append(q.feed_id)
    if q.since is not None:
        clauses.append("s.published_at >= ?")
        args.append(q.since)
    if q.unread:
        clauses.append("s.read = 0")
    if q.flagged:
        clauses.append(f"s.id IN (SELECT story_id FROM digest_items WHERE digest_id = {_DRAFT})")
    if q.trending_ids is not None:
        ids = list(q.trending_ids) or [-1]
        clauses.append(f"s.id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if q.search:
        match = fts_query(q.search)
        if match:
            clauses.append("s.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?)")
            args.append(match)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    order = " ORDER BY s.published_at DESC, s.id DESC"
    if limit is not None:
        order += f" LIMIT {int(limit)}"
        if q.search and q.feed_id is None:
            # The first page of a search: walk the date index newest first and keep the rows in the FTS hit
            # set, stopping at `limit`. SQLite's own plan looks up and sorts every hit instead: 65-125 ms for a
            # common word on 100k stories against 3-33 ms this way (bench_tui.py). Rare words cost a full
            # index walk (~5 ms), still well under the 50 ms target.
            try:
                sql = f"SELECT s.id FROM stories s INDEXED BY stories_published{joins}{where}{order}"
                return [r[0] for r in store.db.execute(sql, args)]
            except sqlite3.OperationalError:  # the index was renamed by a later schema: the plain plan
                pass
    sql = f"SELECT s.id FROM stories s{joins}{where}{order}"
    if limit is not None:
        return [r[0] for r in store.db.execute(sql, args)]
    # The whole list as one string: SQLite builds it in C with the GIL released (the sqlite3 module drops it
    # around each step), where 100k Python rows would hold the GIL ~100k times and stutter the UI thread
    # that paints meanwhile. group_concat over an ordered subquery keeps that order (SQLite's documented
    # behaviour for a subquery with ORDER BY feeding an aggregate in a plain SELECT).
    row = store.db.execute(f"SELECT group_concat(id) FROM ({sql})", args).fetchone()
    return list(map(int, row[0].split(","))) if row and row[0] else []
