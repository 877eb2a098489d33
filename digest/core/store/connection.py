"""The store's connection: opening the file, migrations, and `tx`, the one way to write.

WAL lets readers work while a writer commits; the busy timeout makes a second writer wait instead of
failing with "database is locked"; every write is one short transaction, so a process killed half-way
leaves the last committed state. The schema is versioned with PRAGMA user_version (store/schema.py).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self
from urllib.parse import quote

from digest.core.fsutil import private_store_files
from digest.core.store.body import register
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


class StoreDamagedError(StoreError):
    """The file is not a SQLite database, SQLite found a page it cannot read, or the schema version is
    one digest never writes. Reported as one line; the store refuses every write from then on."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"the store {path} is damaged: {reason}; run `digest store check` or restore a backup")

    def __reduce__(self) -> tuple[type[StoreDamagedError], tuple[Path, str]]:  # crosses from parse workers
        return type(self), (self.path, self.reason)


_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class NewerStoreError(StoreError):
    """The store was written by a newer digest: refused as it is, never touched (the CLI exits 2)."""


def is_damage(e: BaseException) -> bool:
    """An SQLite error that says the file itself is bad (not a lock, a full disk or a read-only file)."""
    if not isinstance(e, sqlite3.DatabaseError):
        return False
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return "malformed" in str(e) or "not a database" in str(e)


def writable(path: Path) -> bool:
    """Whether SQLite can write this store: the file (or, for a new one, the nearest existing folder) is
    writable, and so is its folder unless the WAL's -wal and -shm files are already there. False on
    read-only media (access(2) answers EROFS there, for root too)."""
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        return os.access(parent, os.W_OK)
    if not os.access(path, os.W_OK):
        return False
    return os.access(path.parent, os.W_OK) or all(
        os.access(f"{path}{suffix}", os.W_OK) for suffix in ("-wal", "-shm"))


class Connection:
    """The connection and its plumbing; the table modules (feeds, stories, drafts, ...) are mixins on it
    and `Store` (store/__init__.py) puts them together."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        """Open (creating if needed) the store at `path`. With `readonly`, or when the file or its folder
        cannot be written (read-only media, another user's file), it is opened read-only: reading works,
        every write raises StoreError, and nothing is migrated.

        Raises StoreDamagedError when the file is not a database SQLite can read, StoreError otherwise."""
        self.path = Path(path)
        self.readonly = readonly or not writable(self.path)
        self.damaged: StoreDamagedError | None = None
        if not self.readonly:
            private_store_files(self.path)  # 0600 / 0700 whatever the umask; an older store tightened
        try:
            self.db = self._connect()
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            register(self.db)  # the schema's SQL functions (the FTS view and triggers need them)
            self._refuse_newer()  # before anything below writes to the file
            if not self.readonly and self.schema_version == 0 and not self._has_tables():
                # a new store gives pages that retention frees back to the file system (store/retention.py);
                # only possible before the first table exists (`digest store vacuum` converts older stores)
                self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            if not self.readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps it consistent
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            with contextlib.suppress(AttributeError, sqlite3.Error):
                self.db.close()
            if is_damage(e):
                raise StoreDamagedError(self.path, str(e)) from None
            raise StoreError(f"{self.path}: cannot open the store: {e}") from None
        except StoreError:
            self.db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        def connect(target: str, uri: bool = False) -> sqlite3.Connection:
            return sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False, uri=uri)

        if not self.readonly:
            return connect(str(self.path))
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        db = connect(uri, uri=True)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # A WAL store in a folder nobody may write: SQLite cannot make the -shm file a reader needs.
            # immutable=1 reads the file as it is (on read-only media nothing can change it meanwhile).
            db.close()
            return connect(uri + "&immutable=1", uri=True)

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
        if self.damaged is not None:
            raise self.damaged
        if self.readonly:
            raise StoreError(f"{self.path}: the store is read-only here (the file, its folder or the medium "
                             "cannot be written); nothing was changed")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as e:
            if self.db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL, I/O errors)
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.DatabaseError) and (isinstance(e, sqlite3.OperationalError) or is_damage(e)):
                raise self._error(e) from None
            raise

    def _error(self, e: sqlite3.DatabaseError) -> StoreError:
        """The StoreError for an SQLite error; damage is remembered, so no later write is tried."""
        if is_damage(e):
            self.damaged = StoreDamagedError(self.path, str(e))
            return self.damaged
        return StoreError(f"{self.path}: {e}")

    def verify(self, tables: Sequence[str] | None = None) -> None:
        """Raise StoreDamagedError unless PRAGMA quick_check finds every page readable and every b-tree
        well formed (only those of `tables` and their indexes, if given). The CLI runs it before a command
        that writes, so a damaged store is not written to; the whole file is read (~0.7 s for 220 MB,
        100k stories; a few ms for a few thousand), one small table in well under a millisecond."""
        problems = [p for t in tables for p in self.check(table=t)] if tables is not None else self.check()
        lines = [line.strip() for p in problems for line in p.splitlines() if line.strip()]
        if lines:  # one line for the user: the first problem, and how many more `digest store check` lists
            more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
            self.damaged = StoreDamagedError(self.path, lines[0] + more)
            raise self.damaged

    def check(self, max_problems: int = 10, *, table: str | None = None) -> list[str]:
        """What PRAGMA quick_check finds wrong (in one table and its indexes, if given), at most
        `max_problems` lines: [] for a sound store."""
        if table is not None and not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        try:
            rows = [str(r[0]) for r in self.db.execute(f"PRAGMA quick_check({table or int(max_problems)})")]
        except sqlite3.DatabaseError as e:
            if is_damage(e):
                return [str(e)]
            raise
        if rows == ["ok"]:
            return []
        # SQLite may put several problems in one row, under a "*** in database main ***" header: one line
        # each, so every message that names a problem stays one line
        lines = [line.strip() for row in rows for line in row.splitlines()]
        return [line for line in lines if line and not line.startswith("*** in database")][:max_problems]

    def _refuse_newer(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise NewerStoreError(f"the store {self.path} was written by a newer digest (schema {version}, "
                                  f"this one knows {len(MIGRATIONS)})")

    def _has_tables(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchone() is not None

    def _migrate(self) -> None:
        """Every missing migration in ONE transaction: a failure anywhere rolls all of them back, so the
        store is left exactly as it was (and still opens with the digest that wrote it). Foreign keys are
        off meanwhile (a migration that rebuilds a table must not cascade its DROP into the tables that
        point at it) and checked before the COMMIT."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version < 0:
            raise StoreDamagedError(self.path, f"schema version {version} is not one digest writes")
        if version < len(MIGRATIONS) and self.readonly:
            if version == 0 and not self.db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                raise StoreError(f"{self.path}: there is no store here yet, and it cannot be created read-only")
            raise StoreError(f"{self.path}: the store needs an upgrade (schema {version} to {len(MIGRATIONS)}) "
                             "and is read-only here; run digest once where it can be written")
        if version == len(MIGRATIONS):
            return
        self.db.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            with self.tx() as db:
                for i in range(version, len(MIGRATIONS)):
                    # executescript would COMMIT our transaction; run statement by statement instead
                    for stmt in split_sql(MIGRATIONS[i]):
                        db.execute(stmt)
                broken = db.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise sqlite3.IntegrityError(f"{len(broken)} row(s) of {broken[0][0]} lost their {broken[0][2]}")
                db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        except StoreDamagedError:
            raise
        except (sqlite3.DatabaseError, StoreError) as e:
            raise StoreError(f"{self.path}: could not upgrade the store from schema {version} to "
                             f"{len(MIGRATIONS)} ({e}); it was left as it was") from None
        finally:
            self.db.execute("PRAGMA foreign_keys = ON")

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
