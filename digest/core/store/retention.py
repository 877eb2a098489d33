"""Retention: old stories leave the store in small batches; what a person chose never does.

A story is removed when digest first saw it (fetched_at) more than keep_days ago if read, keep_unread_days
if unread, and it is none of: in a digest (the draft's flags, a built or sent issue), among its feed's
newest keep_min_per_feed by date, kept by a reader rule (stories.kept, digest.core.rules). Its guid goes
into seen_ids first, so the feed carrying it tomorrow does not bring it back as new and unread
(save_stories skips seen guids); a seen record is forgotten once its feed has not carried the guid for
keep_unread_days. sent_links is never pruned: a story that went out is never sent again, even as a new
story with the same link.

Each batch is its own short write transaction (BATCH stories), so a TUI flagging a story or a refresh
storing a feed waits at most one batch, never the whole prune. The FTS index follows by
the stories_ad trigger. Freed pages go back to the file system by incremental vacuum (auto_vacuum is
INCREMENTAL on stores made since schema 4; `digest store vacuum` converts an older one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from digest.core import clock
from digest.core.record import record
from digest.core.store.connection import Connection
from digest.core.wording import count

DAY = 86_400
# Stories a transaction. Most of a batch's time is the search index's delete trigger: 50 stories took a
# median 15-30 ms (p90 ~40 ms) on the 100-feed corpus with the 2-core machine at a load of 12-16, against
# 1-6 ms without the trigger; 200 took a median 100 ms there. A TUI only waits for a batch when it writes
# (a flag, a read mark); its reads never wait (WAL).
BATCH = 50
VACUUM_PAGES = 2_000  # pages given back to the file system per step (8 MB at 4 KB pages)
# Search-index pages one merge step writes (FTS5 pages of ~4 KB), and stories pruned per step owed.
MERGE_PAGES = 16
MERGE_PER_STORIES = 20


def guid_hash(guid: str) -> int:
    """64 bits of BLAKE2b, as SQLite's signed INTEGER: a collision between two guids of one feed is
    about 1 in 10^17 for a feed of a million items."""
    import hashlib  # here: it loads OpenSSL's libcrypto (~2.5 ms), which a refresh with nothing to store never needs

    return int.from_bytes(hashlib.blake2b(guid.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big", signed=True)


@record
class Retention:
    """How long stories are kept (the [store] settings)."""

    keep_days: int = 90
    keep_unread_days: int = 180
    keep_min_per_feed: int = 20

    @classmethod
    def of(cls, cfg: object) -> Retention:
        """From a config.StoreConfig (or anything with the same three attributes)."""
        return cls(int(getattr(cfg, "keep_days")), int(getattr(cfg, "keep_unread_days")),  # noqa: B009
                   int(getattr(cfg, "keep_min_per_feed")))  # noqa: B009


@record
class PruneReport:
    """What a prune removed."""

    stories: int = 0
    seen_forgotten: int = 0
    pages_freed: int = 0
    dry_run: bool = False

    def summary_line(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        line = f"{verb} {count(self.stories, 'old story', 'old stories')}"
        if self.seen_forgotten:
            line += f", forgot {self.seen_forgotten} seen id(s) no feed carries any more"
        if self.pages_freed:
            line += f", gave {self.pages_freed} page(s) back to the file system"
        return line


# Old enough, not kept by a rule, not in any digest, not among the feed's newest N. The OFFSET walk reads N entries of
# stories_feed_published per candidate; a story dated like the Nth newest is kept (strict <).
_PRUNABLE = (
    "SELECT s.id FROM stories s WHERE s.fetched_at < ? AND s.kept = 0 "
    "AND (s.read = 0 AND s.fetched_at < ? OR s.read = 1 AND s.fetched_at < ?) "
    "AND NOT EXISTS (SELECT 1 FROM digest_items di WHERE di.story_id = s.id) "
    "AND (? = 0 OR s.published_at < (SELECT n.published_at FROM stories n WHERE n.feed_id = s.feed_id "
    "ORDER BY n.published_at DESC LIMIT 1 OFFSET ? - 1)) "
    "ORDER BY s.fetched_at, s.id"
)


def seen_guids(db: sqlite3.Connection, feed_id: int, guids: Iterable[str], today: int) -> set[str]:
    """Of these guids (not stored as stories), those whose stories retention removed from this feed;
    their seen records are stamped today, since the feed still carries them. Runs inside the caller's
    transaction (save_stories)."""
    seen = {r[0] for r in db.execute("SELECT guid_hash FROM seen_ids WHERE feed_id = ?", (feed_id,))}
    if not seen:  # most feeds: nothing pruned yet, so no guid need be hashed (~1 us each)
        return set()
    by_hash = {guid_hash(g): g for g in guids}
    hits = [h for h in by_hash if h in seen]
    if hits:
        db.executemany("UPDATE seen_ids SET last_seen = ? WHERE feed_id = ? AND guid_hash = ? AND last_seen < ?",
                       [(today, feed_id, h, today) for h in hits])
    return {by_hash[h] for h in hits}


# FTS5 keeps the shape of its index (segments per level) in row 10 of its data table: a merge step that
# changes nothing leaves it as it was
_FTS_STRUCTURE = "SELECT block FROM stories_fts_data WHERE id = 10"


class RetentionMixin(Connection):
    def prunable_ids(self, policy: Retention, *, now: float | None = None, limit: int | None = None) -> list[int]:
        """The ids retention would remove now, oldest first (a read: no lock taken)."""
        now = clock.now() if now is None else now
        if policy.keep_days <= 0 and policy.keep_unread_days <= 0:
            return []
        far = float("-inf")
        read_cut = now - policy.keep_days * DAY if policy.keep_days > 0 else far
        unread_cut = now - policy.keep_unread_days * DAY if policy.keep_unread_days > 0 else far
        n = policy.keep_min_per_feed
        sql = _PRUNABLE + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [r[0] for r in self.db.execute(sql, (max(read_cut, unread_cut), unread_cut, read_cut, n, n))]

    def prune(self, policy: Retention, *, now: float | None = None, dry_run: bool = False,
              max_stories: int | None = None) -> PruneReport:
        """Remove what retention allows, BATCH stories a transaction; then forget stale seen ids and give
        free pages back. max_stories bounds one call's work (the rest waits for the next refresh)."""
        now = clock.now() if now is None else now
        report = PruneReport(dry_run=dry_run)
        ids = self.prunable_ids(policy, now=now, limit=max_stories)
        if dry_run:
            report.stories = len(ids)
            return report
        today = int(now // DAY)
        for i in range(0, len(ids), BATCH):
            report.stories += self._prune_batch(ids[i:i + BATCH], today)
        forget_before = today - max(policy.keep_unread_days, policy.keep_days)
        if policy.keep_unread_days > 0 and policy.keep_days > 0:
            with self.tx() as db:
                report.seen_forgotten = db.execute("DELETE FROM seen_ids WHERE last_seen < ?",
                                                   (forget_before,)).rowcount
        if report.stories:
            self.merge_search_index(2 + report.stories // MERGE_PER_STORIES)
        report.pages_freed = self.incremental_vacuum()
        return report

    def merge_search_index(self, steps: int) -> int:
        """Up to `steps` steps of FTS5's incremental optimize, each its own short transaction; returns the
        steps that merged something. A deleted story leaves delete markers in the index until the segment
        holding its entries is merged with them, which FTS5's automerge rarely does for the oldest, largest
        segment: over the simulated year the index grew from 1.2 to 1.7 MB at a steady story count, and
        these steps brought it back to 0.9 MB (at 20-130 ms a step with the machine at a load of ~12)."""
        done = 0
        for _ in range(steps):
            with self.tx() as db:
                before = db.execute(_FTS_STRUCTURE).fetchone()
                db.execute("INSERT INTO stories_fts(stories_fts, rank) VALUES ('merge', ?)", (-MERGE_PAGES,))
                after = db.execute(_FTS_STRUCTURE).fetchone()
            if before == after:  # one segment left: nothing to merge until new stories come
                break
            done += 1
        return done

    def _prune_batch(self, ids: list[int], today: int) -> int:
        marks = ",".join("?" * len(ids))
        with self.tx() as db:
            # checked again inside the write lock: a story flagged since prunable_ids read it stays
            rows = db.execute(
                f"SELECT id, feed_id, guid FROM stories WHERE id IN ({marks}) "
                "AND NOT EXISTS (SELECT 1 FROM digest_items di WHERE di.story_id = stories.id)", ids).fetchall()
            db.executemany(
                "INSERT INTO seen_ids(feed_id, guid_hash, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT(feed_id, guid_hash) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
                [(r[1], guid_hash(r[2]), today) for r in rows])
            gone = [r[0] for r in rows]
            db.execute(f"DELETE FROM stories WHERE id IN ({','.join('?' * len(gone))})", gone)
        return len(gone)

    def incremental_vacuum(self, pages: int = VACUUM_PAGES) -> int:
        """Give up to `pages` free pages back to the file system (auto_vacuum = INCREMENTAL stores only);
        returns how many went. Outside a transaction each step commits on its own, briefly."""
        if int(self.db.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
            return 0
        before = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        if before == 0:
            return 0
        try:
            # executescript steps the pragma to its end (execute frees one page a step: only the first)
            self.db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        except Exception:  # noqa: BLE001 - busy with another writer: the next prune gives them back
            return 0
        return before - int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
