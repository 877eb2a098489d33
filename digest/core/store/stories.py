"""The stories table: saving what a refresh parsed, and reading it back for the list, the reader and the
CLI (filters in StoryQuery, full-text search through stories_fts)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from digest.core import clock
from digest.core.models import ParsedStory, Story
from digest.core.record import record
from digest.core.store.body import known_summaries, pack, unpack
from digest.core.store.connection import Connection, NotFoundError
from digest.core.store.retention import seen_guids
from digest.core.store.rows import DRAFT_ID, HIDDEN_IDS, STORY_COLUMNS, STORY_FROM, marks, real_or_none, story_row
from digest.core.store.rules import note_changed
from digest.core.store.search import search_clauses


@record
class StoryQuery:
    """Filters for listing stories; every field narrows the result."""

    since: float | None = None
    feed_id: int | None = None
    section: str | None = None  # the feed's section
    search: str | None = None
    flagged: bool = False
    unread: bool = False
    trending_ids: Sequence[int] | None = None
    # reader rules (digest.core.rules): False leaves hidden stories out (except with `flagged`: a flagged
    # story stays in the digest), True lists only them, None both
    hidden: bool | None = False
    limit: int | None = None
    offset: int = 0


_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_", so this is "not isalnum"


def title_key(title: str) -> str:
    """A headline reduced to lower-case words, so "Why We Moved!" and "why we moved" cluster."""
    return _NOT_ALNUM.sub(" ", title.casefold()).strip()


def json_strings(items: list[str]) -> str:
    """json.dumps(items) for a list of strings, which a story's categories are: ~0.5 us instead of ~2 where
    every string is printable ASCII without a quote or backslash (json.dumps writes those as they are)."""
    if not items:
        return "[]"
    flat = "".join(items)
    if flat.isascii() and flat.isprintable() and '"' not in flat and "\\" not in flat:
        return '["' + '", "'.join(items) + '"]'
    return json.dumps(items)


_INSERT_STORIES = (
    "INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, author, body,"
    " image_url, image_width, image_height, image_alt, categories, extra, published_at, fetched_at) VALUES "
)
_STORY_MARKS = "(" + marks(16) + ")"
# 50 rows of 16 values stay under 999, the bound-parameter limit of SQLite builds before 3.32
_ROWS_PER_INSERT = 50


def _where(q: StoryQuery) -> tuple[bool, str, list[Any]]:
    """(needs the feeds join, WHERE clause, args) for a query on stories aliased s."""
    clauses: list[str] = []
    args: list[Any] = []
    if q.since is not None:
        clauses.append("s.published_at >= ?")
        args.append(q.since)
    if q.feed_id is not None:
        clauses.append("s.feed_id = ?")
        args.append(q.feed_id)
    if q.section is not None:
        clauses.append("f.section = ? COLLATE NOCASE")
        args.append(q.section)
    if q.unread:
        clauses.append("s.read = 0")
    if q.flagged:
        clauses.append(f"s.id IN (SELECT story_id FROM digest_items WHERE digest_id = {DRAFT_ID})")
    if q.hidden:
        clauses.append(f"s.id IN ({HIDDEN_IDS})")
    elif q.hidden is not None and not q.flagged:
        clauses.append(f"s.id NOT IN ({HIDDEN_IDS})")
    if q.trending_ids is not None:
        ids = list(q.trending_ids) or [-1]
        clauses.append(f"s.id IN ({marks(len(ids))})")
        args.extend(ids)
    if q.search:
        found, found_args = search_clauses(q.search)
        clauses.extend(found)
        args.extend(found_args)
    return q.section is not None, (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class StoriesMixin(Connection):
    def save_stories(self, feed_id: int, stories: Iterable[ParsedStory], *, now: float | None = None) -> int:
        """Insert new stories and update changed ones in one transaction; returns how many are new.

        The read flag and the first-seen time of a known story are kept; a story without a date keeps
        the time it was first seen, so it does not jump to the top on every refresh."""
        now = clock.now() if now is None else now
        stories = list(stories)
        if not stories:
            return 0
        with self.tx() as db:
            known = {
                r[0]: (r[1], r[2], r[3], r[4])
                for r in db.execute("SELECT guid, title, body, link, id FROM stories WHERE feed_id = ?", (feed_id,))
            }
            fresh = {s.guid for s in stories} - known.keys()
            # guids of stories retention removed: the feed still carries them, they are not news
            pruned = seen_guids(db, feed_id, fresh, int(now // 86_400)) if fresh else set()
            new_rows, changed_rows, seen, changed_ids = [], [], set(), []
            summaries: dict[bytes, str] = {}  # each blob written, with its summary, for the FTS triggers
            for s in stories:
                if s.guid in seen or s.guid in pruned:  # a repeated entry: keep the first; a pruned one: none
                    continue
                seen.add(s.guid)
                img = s.image
                if s.guid not in known:
                    body = pack(s.summary, s.content)
                    summaries[body] = s.summary
                    new_rows.append((
                        feed_id, s.guid, s.link, s.canonical_link, s.title, title_key(s.title), s.author,
                        body, img.url if img else None, img.width if img else None,
                        img.height if img else None, img.alt if img else "", json_strings(s.categories),
                        json.dumps(s.extra) if s.extra else "{}",
                        s.published_at if s.published_at is not None else now, now,
                    ))
                    continue
                title, body, link, story_id = known[s.guid]
                # the cheap columns first: a story's text is unpacked only when its title and link match
                if (title, link) != (s.title, s.link) or unpack(body) != (s.summary, s.content):
                    body = pack(s.summary, s.content)
                    summaries[body] = s.summary
                    changed_rows.append((
                        s.link, s.canonical_link, s.title, title_key(s.title), s.author, body,
                        img.url if img else None, img.width if img else None, img.height if img else None,
                        img.alt if img else "", json_strings(s.categories), json.dumps(s.extra),
                        feed_id, s.guid,
                    ))
                    changed_ids.append(story_id)
            # Many rows per INSERT, not executemany: each statement opens a savepoint, and FTS5 writes
            # out its pending index data at every savepoint, so row-by-row inserts left one tiny index
            # segment per story to merge later. Measured on the refresh benchmark's 3,000 stories:
            # 71-87 us of CPU a story row by row, 41-55 in statements of up to 50 rows.
            with known_summaries(summaries):
                for i in range(0, len(new_rows), _ROWS_PER_INSERT):
                    chunk = new_rows[i:i + _ROWS_PER_INSERT]
                    db.execute(_INSERT_STORIES + ",".join([_STORY_MARKS] * len(chunk)),
                               [v for row in chunk for v in row])
                db.executemany(
                    "UPDATE stories SET link=?, canonical_link=?, title=?, title_key=?, author=?, body=?,"
                    " image_url=?, image_width=?, image_height=?, image_alt=?, categories=?, extra=?"
                    " WHERE feed_id=? AND guid=?",
                    changed_rows,
                )
            note_changed(db, changed_ids)  # the reader rules see their new text at the next sync
        return len(new_rows)

    def get_story(self, story_id: int) -> Story:
        row = self.db.execute(f"SELECT {STORY_COLUMNS} {STORY_FROM} WHERE s.id = ?", (story_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no story with id {story_id}")
        return story_row(row)

    def stories(self, q: StoryQuery | None = None) -> list[Story]:
        """Newest first; all matches unless q.limit is set."""
        q = q or StoryQuery()
        if q.search and q.limit is not None:
            # a page of search results: the ids come from the date-index walk (see story_ids), which on
            # 200k stories is ~20 ms against ~330 ms for sorting every hit with all the joins
            ids = self.story_ids(q, limit=q.offset + q.limit)[q.offset:]
            return self.stories_by_ids(ids)
        _, where, args = _where(q)
        sql = f"SELECT {STORY_COLUMNS} {STORY_FROM}{where} ORDER BY s.published_at DESC, s.id DESC"
        if q.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [q.limit, q.offset]
        return [story_row(r) for r in self.db.execute(sql, args)]

    def story_ids(self, q: StoryQuery | None = None, *, limit: int | None = None) -> list[int]:
        """Only the ids, newest first, with only the joins a filter needs (on 100k stories ~55 ms against
        ~160 ms joining feeds and the draft for every row; tests/bench/bench_tui.py). `limit` gives a
        first page, so a list can paint before the whole id list is in."""
        q = q or StoryQuery()
        needs_feeds, where, args = _where(q)
        joins = " JOIN feeds f ON f.id = s.feed_id" if needs_feeds else ""
        order = " ORDER BY s.published_at DESC, s.id DESC"
        if limit is not None:
            order += f" LIMIT {int(limit)}"
            if q.search and q.feed_id is None:
                # The first page of a search: walk the date index newest first keeping rows in the FTS hit
                # set, stopping at `limit`. SQLite's own plan looks up and sorts every hit: 65-125 ms for a
                # common word on 100k stories against 3-33 ms this way; a rare word costs a full index walk
                # (~5 ms).
                sql = f"SELECT s.id FROM stories s INDEXED BY stories_published{joins}{where}{order}"
                return [r[0] for r in self.db.execute(sql, args)]
            return [r[0] for r in self.db.execute(f"SELECT s.id FROM stories s{joins}{where}{order}", args)]
        sql = f"SELECT s.id FROM stories s{joins}{where}{order}"
        # The whole list as one string: SQLite builds it in C with the GIL released, where 100k Python rows
        # would take the GIL 100k times and stutter a UI thread painting meanwhile. group_concat over an
        # ordered subquery keeps that order (SQLite's behaviour for an ORDER BY subquery feeding an
        # aggregate in a plain SELECT).
        row = self.db.execute(f"SELECT group_concat(id) FROM ({sql})", args).fetchone()
        return list(map(int, row[0].split(","))) if row and row[0] else []

    def stories_by_ids(self, ids: Sequence[int]) -> list[Story]:
        """The stories for the given ids, in the order given (missing ids are skipped)."""
        if not ids:
            return []
        out: dict[int, Story] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = list(ids[chunk_start:chunk_start + 500])
            sql = f"SELECT {STORY_COLUMNS} {STORY_FROM} WHERE s.id IN ({marks(len(chunk))})"
            for r in self.db.execute(sql, chunk):
                out[r["id"]] = story_row(r)
        return [out[i] for i in ids if i in out]

    def count_stories(self, q: StoryQuery | None = None) -> int:
        q = q or StoryQuery()
        needs_feeds, where, args = _where(q)
        joins = " JOIN feeds f ON f.id = s.feed_id" if needs_feeds else ""
        return int(self.db.execute(f"SELECT count(*) FROM stories s{joins}{where}", args).fetchone()[0])

    def set_read(self, story_ids: Iterable[int], read: bool = True) -> None:
        ids = list(story_ids)
        with self.tx() as db:
            db.executemany("UPDATE stories SET read = ? WHERE id = ?", [(int(read), i) for i in ids])

    def counts(self) -> dict[str, int]:
        """Stories in the lists (hidden ones left out: subtracted through the stories_hidden index, so
        the count itself still reads no table row), unread among them, and flagged."""
        row = self.db.execute("SELECT count(*), coalesce(sum(read = 0), 0) FROM stories").fetchone()
        hidden = self.db.execute(f"SELECT count(*), coalesce(sum(read = 0), 0) FROM stories "
                                 f"WHERE id IN ({HIDDEN_IDS})").fetchone()
        flagged = self.db.execute(f"SELECT count(*) FROM digest_items WHERE digest_id = {DRAFT_ID}").fetchone()[0]
        return {"all": int(row[0]) - int(hidden[0]), "unread": int(row[1]) - int(hidden[1]), "flagged": int(flagged),
                "hidden": int(hidden[0])}

    def newest_published(self, feed_ids: Sequence[int] | None = None) -> float | None:
        """The newest story's date, of all stories or of these feeds' (None when there is none)."""
        if feed_ids is None:
            return real_or_none(self.db.execute("SELECT max(published_at) FROM stories").fetchone()[0])
        ids = list(feed_ids)
        row = self.db.execute(f"SELECT max(published_at) FROM stories WHERE feed_id IN ({marks(len(ids))})", ids)
        return real_or_none(row.fetchone()[0])

    def shift_published(self, feed_ids: Sequence[int], seconds: float) -> None:
        """Move these feeds' story dates by `seconds` (the bundled samples are made recent this way)."""
        ids = list(feed_ids)
        with self.tx() as db:
            db.execute(f"UPDATE stories SET published_at = published_at + ? WHERE feed_id IN ({marks(len(ids))})",
                       (seconds, *ids))
