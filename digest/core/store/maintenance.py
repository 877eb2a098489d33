"""`digest store stats | check | vacuum | backup | restore`: looking after the store file itself.

backup uses SQLite's online backup API in one step: one read transaction copies every page, so the copy
is the store as of one commit even while the TUI flags stories or a refresh writes (WAL lets that writer
go on; it never waits for the copy). restore swaps a checked copy in only when no other connection has the
store open, and keeps the file it replaces beside it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import field
from pathlib import Path
from typing import Any

from digest.core import clock
from digest.core.record import record
from digest.core.store.connection import Connection, StoreError, is_damage

# what `stats` counts, by state; "issued" is in a built or sent digest, "flagged" in the draft
_STATE_SQL = (
    "SELECT count(*), coalesce(sum(read = 0), 0), coalesce(sum(read = 1), 0), "
    "(SELECT count(DISTINCT story_id) FROM digest_items di JOIN digests d ON d.id = di.digest_id "
    " WHERE d.status = 'draft'), "
    "(SELECT count(DISTINCT story_id) FROM digest_items di JOIN digests d ON d.id = di.digest_id "
    " WHERE d.status != 'draft'), "
    "min(fetched_at), min(published_at) FROM stories"
)


@record
class CheckResult:
    """What a check of the store found wrong (nothing: ok)."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class MaintenanceMixin(Connection):
    def stats(self) -> dict[str, Any]:
        """What the store holds and what it costs on disk (the --json of `digest store stats`)."""
        row = self.db.execute(_STATE_SQL).fetchone()
        page_size = int(self.db.execute("PRAGMA page_size").fetchone()[0])
        pages = int(self.db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        wal = self.path.with_name(self.path.name + "-wal")
        tables: dict[str, int] = {}
        try:
            for name, size in self.db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                # an index and the FTS index's shadow tables count with the table they serve
                owner = self._owner(name)
                tables[owner] = tables.get(owner, 0) + int(size)
        except sqlite3.OperationalError:  # an SQLite built without dbstat: the totals still stand
            tables = {}
        return {
            "path": str(self.path),
            "schema": self.schema_version,
            "stories": {"all": row[0], "unread": row[1], "read": row[2], "flagged": row[3], "issued": row[4]},
            "oldest_seen_at": row[5], "oldest_published_at": row[6],
            "feeds": int(self.db.execute("SELECT count(*) FROM feeds").fetchone()[0]),
            "digests": int(self.db.execute("SELECT count(*) FROM digests").fetchone()[0]),
            "seen_ids": int(self.db.execute("SELECT count(*) FROM seen_ids").fetchone()[0]),
            "sent_links": int(self.db.execute("SELECT count(*) FROM sent_links").fetchone()[0]),
            "articles": dict(zip(("ok", "failed"), self.db.execute(
                "SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'error') "
                "FROM articles").fetchone(), strict=True)),
            "file_bytes": pages * page_size,
            "free_bytes": free * page_size,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "bytes_per_story": round(pages * page_size / row[0]) if row[0] else None,
            "tables": dict(sorted(tables.items(), key=lambda kv: -kv[1])),
            "auto_vacuum": {0: "none", 1: "full", 2: "incremental"}.get(
                int(self.db.execute("PRAGMA auto_vacuum").fetchone()[0]), "?"),
        }

    def _owner(self, name: str) -> str:
        if name.startswith("stories_fts"):
            return "stories_fts"
        if name.startswith("sqlite_autoindex_"):
            return name.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0]
        row = self.db.execute("SELECT tbl_name FROM sqlite_schema WHERE name = ? AND type = 'index'",
                              (name,)).fetchone()
        return str(row[0]) if row else name

    def check_store(self) -> CheckResult:
        """SQLite's integrity check, the foreign keys, and the FTS index against the stories it indexes."""
        result = CheckResult()
        try:
            for (msg,) in self.db.execute("PRAGMA integrity_check"):
                if msg != "ok":
                    result.problems.append(f"integrity: {msg}")
        except sqlite3.DatabaseError as e:  # a file too damaged to walk: that is the finding
            result.problems.append(f"integrity: {e}")
            return result
        for table, rowid, parent, _ in self.db.execute("PRAGMA foreign_key_check"):
            result.problems.append(f"foreign key: {table} row {rowid} points to a missing {parent} row")
        try:
            # rank = 1: compare the index with the content it was built from (the stories_text view)
            self.db.execute("INSERT INTO stories_fts(stories_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as e:
            result.problems.append(f"search index: does not match the stories ({e}); `digest store vacuum` "
                                   "rebuilds it")
        indexed = self.db.execute("SELECT count(*) FROM stories_fts_docsize").fetchone()[0]
        stories = self.db.execute("SELECT count(*) FROM stories").fetchone()[0]
        if indexed != stories:
            result.problems.append(f"search index: {indexed} entries for {stories} stories")
        return result

    def vacuum(self) -> tuple[int, int]:
        """Rebuild the file (and the search index) compactly, with auto_vacuum = INCREMENTAL from then on;
        returns (bytes before, bytes after). Holds the write lock while it runs: an explicit command."""
        before = self._file_bytes()
        self.db.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")
        self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        try:
            self.db.execute("VACUUM")
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path}: vacuum: {e}") from None
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self._file_bytes()

    def _file_bytes(self) -> int:
        return int(self.db.execute("PRAGMA page_count").fetchone()[0]) * int(
            self.db.execute("PRAGMA page_size").fetchone()[0])

    def backup(self, target: Path) -> int:
        """A consistent copy of the store at `target` (written beside it, then renamed into place; readable
        by the owner only: it holds subscriber addresses). Returns its size in bytes."""
        target = Path(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:  # a folder that does not exist or may not be written: named as the backup,
            # not as the hidden temporary file the user never asked for
            raise StoreError(f"cannot write the backup {target}: {e.strerror or e}") from None
        os.close(fd)
        try:
            dest = sqlite3.connect(tmp)
            try:
                # pages=-1: every page in one step, one read transaction: a consistent snapshot that a
                # concurrent writer never restarts (a stepped copy starts over at each foreign commit)
                self.db.backup(dest, pages=-1)
                dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            except sqlite3.DatabaseError as e:
                if is_damage(e):  # the store's own pages (the copy is new): the CLI says the store is damaged
                    raise
                # a full disk or an I/O error is the copy's: without this the CLI named the store, whose
                # disk may have room ("store error: .../digest.db: database or disk is full")
                raise StoreError(f"cannot write the backup {target}: {e}") from None
            finally:
                dest.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target.stat().st_size


def check_backup(path: Path, known_schema: int) -> list[str]:
    """Problems that make `path` unfit to restore: not an SQLite digest store, damaged, or too new."""
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
            if "stories" not in tables or "feeds" not in tables:
                return [f"{path}: not a digest store (no stories or feeds table)"]
            if version > known_schema:
                return [f"{path} was written by a newer digest (schema {version}, this one knows {known_schema})"]
            bad = [r[0] for r in db.execute("PRAGMA quick_check") if r[0] != "ok"]
            return [f"{path}: {m}" for m in bad[:5]]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return [f"{path}: not a readable SQLite file ({e})"]


def backup_last_issue(path: Path) -> int:
    """The highest issue number a backup knows was frozen or sent (0: none), to compare with the archive
    before it is restored. The file has passed check_backup."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT coalesce(max(number), 0) FROM digests WHERE status != 'draft'").fetchone()
        return int(row[0])
    finally:
        db.close()


def restore(store_path: Path, backup: Path, known_schema: int) -> Path:
    """Put `backup` in place of the store; returns where the old store was kept. Refuses (StoreError) if
    the backup is unfit or another connection has the store open: leaving WAL mode needs the only
    connection, which makes it the test (and checkpoints the old store into one file to keep aside)."""
    problems = check_backup(backup, known_schema)
    if problems:
        raise StoreError("; ".join(problems))
    staged = store_path.with_name(f".{store_path.name}.restore.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(backup, "rb") as src:
            while chunk := src.read(1 << 20):
                os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    aside = store_path.with_name(
        f"{store_path.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(clock.now()))}")
    if not store_path.exists():
        os.replace(staged, store_path)
        return aside
    db = sqlite3.connect(store_path, timeout=0, isolation_level=None)
    try:
        try:
            mode = db.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            mode = "busy"
        if str(mode).lower() != "delete":
            staged.unlink(missing_ok=True)
            raise StoreError(f"{store_path} is open in another digest process (the TUI, a refresh or a run); "
                             "close it and restore again")
        # the exclusive lock keeps anyone from opening the old store between the check and the swap
        db.execute("BEGIN EXCLUSIVE")
        os.replace(store_path, aside)
        os.replace(staged, store_path)
        db.execute("ROLLBACK")
    finally:
        db.close()
    return aside
