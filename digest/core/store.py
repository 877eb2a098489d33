"""The SQLite store: one file, shared safely by the TUI and cron.

WAL lets readers work while a writer commits; the busy timeout makes a second writer wait instead of
failing with "database is locked"; every write is one short transaction, so a process killed half-way
leaves the last committed state. The schema is versioned with PRAGMA user_version.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.core.models import Digest, DigestItem, Feed, Image, ParsedStory, Story
from digest.core.schema import MIGRATIONS

# Long enough for a cron run's refresh commit to finish while the TUI writes a flag (commits here take
# milliseconds); short enough that a stuck process is reported rather than hanging cron for ever.
BUSY_TIMEOUT_MS = 15_000


class StoreError(Exception):
    pass


class FeedExistsError(StoreError):
    pass


class NotFoundError(StoreError):
    pass


_DRAFT_ID = "(SELECT id FROM digests WHERE status = 'draft')"

STORY_COLUMNS = (
    "s.id, s.feed_id, s.guid, s.link, s.canonical_link, s.title, s.author, s.summary, s.content, "
    "s.image_url, s.image_width, s.image_height, s.image_alt, s.categories, s.published_at, s.fetched_at, "
    "s.read, s.extra, f.title AS feed_title, f.section AS feed_section, "
    "di.section AS draft_section, di.headline, di.blurb, di.digest_id AS draft_id"
)


@dataclass(slots=True)
class StoryQuery:
    """Filters for listing stories; every field narrows the result."""

    since: float | None = None
    feed_id: int | None = None
    section: str | None = None  # the feed's section
    search: str | None = None
    flagged: bool = False
    unread: bool = False
    trending_ids: Sequence[int] | None = None
    limit: int | None = None
    offset: int = 0


def fts_query(text: str) -> str:
    """Turn what a person types into a safe FTS5 query: every word must match, the last as a prefix
    (search-as-you-type). Quoting each term keeps FTS5 syntax characters from raising errors."""
    # Split the way FTS5's unicode61 tokenizer does (letters and digits; everything else separates), so
    # each quoted term is one token: "AT&T" becomes AT + T, never a phrase (the index keeps no positions).
    words = [w for w in re.split(r"[\W_]+", text) if w]
    if not words:
        return ""
    terms = [f'"{w}"' for w in words]
    terms[-1] += "*"
    return " ".join(terms)


_INSERT_STORIES = (
    "INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, author, summary, content,"
    " image_url, image_width, image_height, image_alt, categories, extra, published_at, fetched_at) VALUES "
)
_STORY_MARKS = "(" + ",".join("?" * 17) + ")"
# 50 rows of 17 values stay under 999, the bound-parameter limit of SQLite builds before 3.32
_ROWS_PER_INSERT = 50


class Store:
    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps it consistent
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot open the store: {e}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction. BEGIN IMMEDIATE takes the write lock up front, so two writers
        queue on the busy timeout instead of deadlocking on a read-to-write upgrade.

        Inside another tx() this joins the enclosing transaction: its COMMIT or ROLLBACK covers both
        (a refresh stores a feed's stories and its new status at once).

        A write SQLite cannot make (a full disk, a read-only file, a lock held past the busy timeout)
        rolls back and raises StoreError naming the store: what was committed before stays."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path}: {e}") from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as e:
            if self.db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL, I/O errors)
                self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                raise StoreError(f"{self.path}: {e}") from None
            raise

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"the store is from a newer digest (schema {version}); upgrade digest")
        for i in range(version, len(MIGRATIONS)):
            with self.tx() as db:
                # executescript would COMMIT our transaction; run statement by statement instead
                for stmt in _split_sql(MIGRATIONS[i]):
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version = {i + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- feeds ------------------------------------------------------------------------------------

    def add_feed(self, url: str, *, title: str = "", section: str = "", site_url: str = "") -> Feed:
        try:
            with self.tx() as db:
                cur = db.execute(
                    "INSERT INTO feeds(url, title, section, site_url, added_at) VALUES (?, ?, ?, ?, ?)",
                    (url, title, section, site_url, time.time()),
                )
        except sqlite3.IntegrityError:
            existing = self.feed_by_url(url)
            raise FeedExistsError(f"feed already added: {url} (id {existing.id if existing else '?'})") from None
        return self.get_feed(int(cur.lastrowid or 0))

    def get_feed(self, feed_id: int) -> Feed:
        row = self.db.execute(_FEED_SELECT + " WHERE f.id = ? GROUP BY f.id", (feed_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no feed with id {feed_id}")
        return _feed(row)

    def feed_by_url(self, url: str) -> Feed | None:
        row = self.db.execute(_FEED_SELECT + " WHERE f.url = ? GROUP BY f.id", (url,)).fetchone()
        return _feed(row) if row else None

    def list_feeds(self, *, counts: bool = True) -> list[Feed]:
        """Every feed, by section and title. counts=False leaves story_count and unread_count at 0 and
        skips reading the stories (a refresh needs none: 63 -> 9 ms at 2,000 feeds / 200k stories)."""
        order = " ORDER BY f.section COLLATE NOCASE, f.title COLLATE NOCASE, f.id"
        if not counts:
            return [_feed(r) for r in self.db.execute("SELECT f.*, 0 AS story_count, 0 AS unread_count FROM feeds f"
                                                       + order)]
        rows = self.db.execute(_FEED_SELECT + " GROUP BY f.id" + order)
        return [_feed(r) for r in rows]

    def feed_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM feeds").fetchone()[0])

    def remove_feed(self, feed_id: int) -> Feed:
        feed = self.get_feed(feed_id)
        with self.tx() as db:
            db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))
        return feed

    def update_feed(self, feed_id: int, **fields: Any) -> None:
        allowed = {
            "url", "title", "site_url", "section", "etag", "last_modified", "last_status", "last_error",
            "consecutive_failures", "last_success_at", "last_fetch_at", "retry_after", "disabled",
        }
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown feed fields: {', '.join(sorted(bad))}")
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        try:
            with self.tx() as db:
                db.execute(f"UPDATE feeds SET {sets} WHERE id = ?", (*fields.values(), feed_id))
        except sqlite3.IntegrityError as e:
            raise StoreError(f"feed {feed_id}: {e}") from None

    # -- stories ----------------------------------------------------------------------------------

    def save_stories(self, feed_id: int, stories: Iterable[ParsedStory], *, now: float | None = None) -> int:
        """Insert new stories and update changed ones in one transaction; returns how many are new.

        The read flag and the first-seen time of a known story are kept; a story without a date keeps
        the time it was first seen, so it does not jump to the top on every refresh."""
        now = time.time() if now is None else now
        stories = list(stories)
        if not stories:
            return 0
        with self.tx() as db:
            known = {
                r[0]: (r[1], r[2], r[3], r[4])
                for r in db.execute(
                    "SELECT guid, title, summary, content, link FROM stories WHERE feed_id = ?", (feed_id,)
                )
            }
            new_rows, changed_rows, seen = [], [], set()
            for s in stories:
                if s.guid in seen:  # a feed that repeats an entry: keep the first
                    continue
                seen.add(s.guid)
                img = s.image
                if s.guid not in known:
                    new_rows.append((
                        feed_id, s.guid, s.link, s.canonical_link, s.title, title_key(s.title), s.author,
                        s.summary, s.content, img.url if img else None, img.width if img else None,
                        img.height if img else None, img.alt if img else "", json.dumps(s.categories),
                        json.dumps(s.extra) if s.extra else "{}",
                        s.published_at if s.published_at is not None else now, now,
                    ))
                elif known[s.guid] != (s.title, s.summary, s.content, s.link):
                    changed_rows.append((
                        s.link, s.canonical_link, s.title, title_key(s.title), s.author, s.summary, s.content,
                        img.url if img else None, img.width if img else None, img.height if img else None,
                        img.alt if img else "", json.dumps(s.categories), json.dumps(s.extra),
                        feed_id, s.guid,
                    ))
            # Many rows per INSERT, not executemany: each statement opens a savepoint, and FTS5 writes
            # out its pending index data at every savepoint, so row-by-row inserts left one tiny index
            # segment per story to merge later. Measured on the refresh benchmark's 3,000 stories:
            # 71-87 us of CPU a story row by row, 41-55 in statements of up to 50 rows.
            for i in range(0, len(new_rows), _ROWS_PER_INSERT):
                chunk = new_rows[i:i + _ROWS_PER_INSERT]
                db.execute(_INSERT_STORIES + ",".join([_STORY_MARKS] * len(chunk)),
                           [v for row in chunk for v in row])
            db.executemany(
                "UPDATE stories SET link=?, canonical_link=?, title=?, title_key=?, author=?, summary=?,"
                " content=?, image_url=?, image_width=?, image_height=?, image_alt=?, categories=?, extra=?"
                " WHERE feed_id=? AND guid=?",
                changed_rows,
            )
        return len(new_rows)

    def get_story(self, story_id: int) -> Story:
        row = self.db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories s JOIN feeds f ON f.id = s.feed_id "
            f"LEFT JOIN digest_items di ON di.story_id = s.id AND di.digest_id = {_DRAFT_ID} "
            "WHERE s.id = ?",
            (story_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no story with id {story_id}")
        return _story(row)

    @staticmethod
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
            clauses.append(f"s.id IN (SELECT story_id FROM digest_items WHERE digest_id = {_DRAFT_ID})")
        if q.trending_ids is not None:
            ids = list(q.trending_ids) or [-1]
            clauses.append(f"s.id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        if q.search:
            match = fts_query(q.search)
            if match:
                clauses.append("s.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?)")
                args.append(match)
        return q.section is not None, (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    _FROM = (
        "FROM stories s JOIN feeds f ON f.id = s.feed_id "
        f"LEFT JOIN digest_items di ON di.story_id = s.id AND di.digest_id = {_DRAFT_ID}"
    )

    def stories(self, q: StoryQuery | None = None) -> list[Story]:
        """Newest first; all matches unless q.limit is set."""
        q = q or StoryQuery()
        if q.search and q.limit is not None:
            # a page of search results: the ids come from the date-index walk (see story_ids), which on
            # 200k stories is ~20 ms against ~330 ms for sorting every hit with all the joins
            ids = self.story_ids(q, limit=q.offset + q.limit)[q.offset:]
            return self.stories_by_ids(ids)
        _, where, args = self._where(q)
        sql = f"SELECT {STORY_COLUMNS} {self._FROM}{where} ORDER BY s.published_at DESC, s.id DESC"
        if q.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [q.limit, q.offset]
        return [_story(r) for r in self.db.execute(sql, args)]

    def story_ids(self, q: StoryQuery | None = None, *, limit: int | None = None) -> list[int]:
        """Only the ids, newest first, with only the joins a filter needs (on 100k stories ~55 ms against
        ~160 ms joining feeds and the draft for every row; tests/bench/bench_tui.py). `limit` gives a
        first page, so a list can paint before the whole id list is in."""
        q = q or StoryQuery()
        needs_feeds, where, args = self._where(q)
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
            sql = (f"SELECT {STORY_COLUMNS} {self._FROM} "
                   f"WHERE s.id IN ({','.join('?' * len(chunk))})")
            for r in self.db.execute(sql, chunk):
                out[r["id"]] = _story(r)
        return [out[i] for i in ids if i in out]

    def count_stories(self, q: StoryQuery | None = None) -> int:
        q = q or StoryQuery()
        needs_feeds, where, args = self._where(q)
        joins = " JOIN feeds f ON f.id = s.feed_id" if needs_feeds else ""
        return int(self.db.execute(f"SELECT count(*) FROM stories s{joins}{where}", args).fetchone()[0])

    def set_read(self, story_ids: Iterable[int], read: bool = True) -> None:
        ids = list(story_ids)
        with self.tx() as db:
            db.executemany("UPDATE stories SET read = ? WHERE id = ?", [(int(read), i) for i in ids])

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(read = 0), 0) FROM stories"
        ).fetchone()
        flagged = self.db.execute(
            f"SELECT count(*) FROM digest_items WHERE digest_id = {_DRAFT_ID}"
        ).fetchone()[0]
        return {"all": int(row[0]), "unread": int(row[1]), "flagged": int(flagged)}

    # -- the draft and digests --------------------------------------------------------------------

    def draft(self, *, create: bool = False, title: str = "") -> Digest | None:
        row = self.db.execute("SELECT * FROM digests WHERE status = 'draft'").fetchone()
        if row is None and create:
            with self.tx() as db:
                _draft_id_in_tx(db, create=True, title=title)
            row = self.db.execute("SELECT * FROM digests WHERE status = 'draft'").fetchone()
        return _digest(row) if row else None

    def flag(self, story_id: int, section: str, *, blurb: str | None = None, headline: str | None = None,
             position: int | None = None) -> None:
        """Put a story in the draft (or update its section/blurb/headline if it is there already).
        A new item goes to the end of its section unless a position is given."""
        self.get_story(story_id)  # raises NotFoundError with the id
        with self.tx() as db:
            # the draft is looked up inside the write transaction: a cron run that freezes the draft at
            # the same moment either sees this flag in its issue or leaves it for the next draft
            draft_id = _draft_id_in_tx(db, create=True)
            assert draft_id is not None  # create=True always gives one
            row = db.execute(
                "SELECT section, position, headline, blurb FROM digest_items WHERE digest_id = ? AND story_id = ?",
                (draft_id, story_id),
            ).fetchone()
            if row is None or row["section"] != section:
                if position is None:
                    position = db.execute(
                        "SELECT coalesce(max(position), -1) + 1 FROM digest_items WHERE digest_id = ? AND section = ?",
                        (draft_id, section),
                    ).fetchone()[0]
            else:
                position = row["position"] if position is None else position
            db.execute(
                "INSERT INTO digest_items(digest_id, story_id, section, position, headline, blurb) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest_id, story_id) DO UPDATE SET "
                "section = excluded.section, position = excluded.position, "
                "headline = coalesce(?, digest_items.headline), blurb = coalesce(?, digest_items.blurb)",
                (draft_id, story_id, section, position, headline, blurb, headline, blurb),
            )
            # a blurb or headline set to "" means "clear it"
            if headline == "" or blurb == "":
                db.execute(
                    "UPDATE digest_items SET headline = nullif(headline, ''), blurb = nullif(blurb, '') "
                    "WHERE digest_id = ? AND story_id = ?",
                    (draft_id, story_id),
                )
            _renumber(db, draft_id)

    def unflag(self, story_id: int) -> bool:
        with self.tx() as db:
            draft_id = _draft_id_in_tx(db)
            if draft_id is None:
                return False
            cur = db.execute("DELETE FROM digest_items WHERE digest_id = ? AND story_id = ?", (draft_id, story_id))
            _renumber(db, draft_id)
        return cur.rowcount > 0

    def move_item(self, story_id: int, *, section: str | None = None, delta: int = 0,
                  position: int | None = None) -> None:
        """Move a draft item within its section or to another, in one transaction.

        With `position`, the item goes to that index of `section` (default: its own), counted with the item
        itself taken out: 0 is the top, past the end is the end. Passing another item's position therefore
        puts this one in its place, whether it comes from above or below (a drop in the digest screen).
        Without `position`, another `section` means the end of that section and `delta` moves the item up or
        down within its section, clamped at either end."""
        with self.tx() as db:
            draft_id = _draft_id_in_tx(db)
            if draft_id is None:
                raise NotFoundError("there is no draft")
            row = db.execute(
                "SELECT section FROM digest_items WHERE digest_id = ? AND story_id = ?",
                (draft_id, story_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"story {story_id} is not in the draft")
            target = row["section"] if section is None else section
            if position is None and target != row["section"]:
                end = db.execute(
                    "SELECT coalesce(max(position), -1) + 1 FROM digest_items WHERE digest_id = ? AND section = ?",
                    (draft_id, target),
                ).fetchone()[0]
                db.execute(
                    "UPDATE digest_items SET section = ?, position = ? WHERE digest_id = ? AND story_id = ?",
                    (target, end, draft_id, story_id),
                )
            elif position is not None or delta:
                ids = [r[0] for r in db.execute(
                    "SELECT story_id FROM digest_items WHERE digest_id = ? AND section = ? ORDER BY position",
                    (draft_id, target),
                )]
                if position is None:  # a delta moves within the item's own section, so the item is in ids
                    position = ids.index(story_id) + delta
                if story_id in ids:
                    ids.remove(story_id)
                ids.insert(max(0, position), story_id)  # list.insert clamps past the end
                db.executemany(
                    "UPDATE digest_items SET section = ?, position = ? WHERE digest_id = ? AND story_id = ?",
                    [(target, p, draft_id, sid) for p, sid in enumerate(ids)],
                )
            _renumber(db, draft_id)

    def digest_items(self, digest_id: int | None = None) -> list[DigestItem]:
        """The items of a digest (default: the draft), ordered by section name then position; callers
        order sections by the config."""
        if digest_id is None:
            draft = self.draft()
            if draft is None:
                return []
            digest_id = draft.id
        rows = self.db.execute(
            f"SELECT {STORY_COLUMNS.replace('di.digest_id AS draft_id', 'di.position, di.digest_id AS draft_id')} "
            "FROM digest_items di JOIN stories s ON s.id = di.story_id JOIN feeds f ON f.id = s.feed_id "
            "WHERE di.digest_id = ? ORDER BY di.section, di.position",
            (digest_id,),
        ).fetchall()
        return [
            DigestItem(_story(r), r["draft_section"], r["position"], r["headline"], r["blurb"]) for r in rows
        ]

    def get_digest(self, *, number: int | None = None, digest_id: int | None = None) -> Digest:
        if number is not None:
            row = self.db.execute("SELECT * FROM digests WHERE number = ?", (number,)).fetchone()
        else:
            row = self.db.execute("SELECT * FROM digests WHERE id = ?", (digest_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no digest number {number}" if number is not None else f"no digest id {digest_id}")
        return _digest(row)

    def list_digests(self) -> list[Digest]:
        return [_digest(r) for r in self.db.execute("SELECT * FROM digests ORDER BY number DESC")]

    def update_digest(self, digest_id: int, **fields: Any) -> None:
        allowed = {"title", "status", "theme", "paths", "built_at", "sent_at"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown digest fields: {', '.join(sorted(bad))}")
        if "paths" in fields:
            fields["paths"] = json.dumps(fields["paths"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE digests SET {sets} WHERE id = ?", (*fields.values(), digest_id))

    def sent_story_filter_sql(self) -> str:
        """SQL condition (on alias s) that is true for stories never sent in an earlier digest."""
        return (
            "NOT EXISTS (SELECT 1 FROM digest_items x JOIN digests d ON d.id = x.digest_id "
            "WHERE x.story_id = s.id AND d.status = 'sent') "
            "AND NOT EXISTS (SELECT 1 FROM sent_links sl WHERE sl.canonical_link = s.canonical_link "
            "AND s.canonical_link != '')"
        )

    def mark_sent(self, digest_id: int, *, at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self.tx() as db:
            db.execute("UPDATE digests SET status = 'sent', sent_at = ? WHERE id = ?", (at, digest_id))
            db.execute(
                "INSERT OR IGNORE INTO sent_links(canonical_link, digest_id, at) "
                "SELECT s.canonical_link, ?, ? FROM digest_items di JOIN stories s ON s.id = di.story_id "
                "WHERE di.digest_id = ? AND s.canonical_link != ''",
                (digest_id, at, digest_id),
            )
            db.execute(
                "UPDATE stories SET read = 1 WHERE id IN (SELECT story_id FROM digest_items WHERE digest_id = ?)",
                (digest_id,),
            )

    def last_sent_at(self) -> float | None:
        row = self.db.execute("SELECT max(sent_at) FROM digests WHERE status = 'sent'").fetchone()
        return row[0]


_FEED_SELECT = (
    "SELECT f.*, count(s.id) AS story_count, coalesce(sum(s.read = 0), 0) AS unread_count "
    "FROM feeds f LEFT JOIN stories s ON s.feed_id = f.id"
)


_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_", so this is "not isalnum"


def title_key(title: str) -> str:
    """A headline reduced to lower-case words, so "Why We Moved!" and "why we moved" cluster."""
    return _NOT_ALNUM.sub(" ", title.casefold()).strip()


def _draft_id_in_tx(db: sqlite3.Connection, *, create: bool = False, title: str = "") -> int | None:
    """The draft's id, read (and if asked, created) inside the caller's write transaction."""
    row = db.execute("SELECT id FROM digests WHERE status = 'draft'").fetchone()
    if row is None and create:
        number = db.execute("SELECT coalesce(max(number), 0) + 1 FROM digests").fetchone()[0]
        cur = db.execute(
            "INSERT INTO digests(number, title, created_at, status) VALUES (?, ?, ?, 'draft')",
            (number, title, time.time()),
        )
        return int(cur.lastrowid or 0)
    return int(row[0]) if row else None


def _renumber(db: sqlite3.Connection, digest_id: int) -> None:
    rows = db.execute(
        "SELECT story_id, section FROM digest_items WHERE digest_id = ? ORDER BY section, position, story_id",
        (digest_id,),
    ).fetchall()
    pos: dict[str, int] = {}
    updates = []
    for r in rows:
        p = pos.get(r["section"], 0)
        pos[r["section"]] = p + 1
        updates.append((p, digest_id, r["story_id"]))
    db.executemany("UPDATE digest_items SET position = ? WHERE digest_id = ? AND story_id = ?", updates)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; sqlite3.complete_statement keeps trigger bodies whole."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _feed(r: sqlite3.Row) -> Feed:
    return Feed(
        id=r["id"], url=r["url"], title=r["title"], site_url=r["site_url"], section=r["section"],
        etag=r["etag"], last_modified=r["last_modified"], last_status=r["last_status"],
        last_error=r["last_error"], consecutive_failures=r["consecutive_failures"],
        last_success_at=r["last_success_at"], last_fetch_at=r["last_fetch_at"], retry_after=r["retry_after"],
        disabled=bool(r["disabled"]), added_at=r["added_at"], story_count=r["story_count"],
        unread_count=r["unread_count"],
    )


def _story(r: sqlite3.Row) -> Story:
    image = (
        Image(r["image_url"], r["image_width"], r["image_height"], r["image_alt"]) if r["image_url"] else None
    )
    return Story(
        id=r["id"], feed_id=r["feed_id"], guid=r["guid"], link=r["link"], canonical_link=r["canonical_link"],
        title=r["title"], author=r["author"], summary=r["summary"], content=r["content"], image=image,
        categories=json.loads(r["categories"]), published_at=r["published_at"], fetched_at=r["fetched_at"],
        read=bool(r["read"]), extra=json.loads(r["extra"]), feed_title=r["feed_title"],
        feed_section=r["feed_section"], flagged=r["draft_id"] is not None, draft_section=r["draft_section"],
        headline=r["headline"], blurb=r["blurb"],
    )


def _digest(r: sqlite3.Row) -> Digest:
    return Digest(
        id=r["id"], number=r["number"], title=r["title"], created_at=r["created_at"], status=r["status"],
        theme=r["theme"], paths=json.loads(r["paths"]), built_at=r["built_at"], sent_at=r["sent_at"],
    )
