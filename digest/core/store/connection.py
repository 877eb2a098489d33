"""The store's connection: opening the file, migrations, and `tx`, the one way to write.

WAL lets readers work while a writer commits; the busy timeout makes a second writer wait instead of
failing with "database is locked"; every write is one short transaction, so a process killed half-way
leaves the last committed state. The schema is versioned with PRAGMA user_version (store/schema.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from digest.core.fsutil import private_store_files
from digest.core.store.schema import MIGRATIONS

# Long enough for a cron run's refresh commit to finish while the TUI writes a flag (commits here take
# milliseconds); short enough that a stuck process is reported rather than hanging cron for ever.
BUSY_TIMEOUT_MS = 15_000


class StoreError(Exception):
    pass


class FeedExistsError(StoreError):
    pass


class NotFoundError(StoreError):
    pass


class Connection:
    """The connection and its plumbing; the table modules (feeds, stories, drafts, ...) are mixins on it
    and `Store` (store/__init__.py) puts them together."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if not readonly:
            private_store_files(self.path)  # 0600 / 0700 whatever the umask; an older store tightened
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                for stmt in split_sql(MIGRATIONS[i]):
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version = {i + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- WAL and change tracking (used by the refresh's checkpointer and the render cache) -------------

    def disable_autocheckpoint(self) -> None:
        """Leave checkpoints to someone else (refresh.Checkpointer): SQLite's own runs inside the COMMIT
        that crosses 1,000 pages, under the lock the other parse workers wait on."""
        self.db.execute("PRAGMA wal_autocheckpoint = 0")

    def wal_checkpoint(self) -> int:
        """A PASSIVE checkpoint (copies what is committed, takes no write lock); returns the WAL's size in
        frames as it was."""
        _, frames, _ = self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)

    def change_key(self) -> tuple[int, int]:
        """Changes as seen by this connection: (data_version, total_changes). data_version moves on
        another connection's commit, total_changes on this one's: equal keys mean unchanged data."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0]), self.db.total_changes


def split_sql(script: str) -> list[str]:
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
