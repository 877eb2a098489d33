"""The WAL checkpointer of a refresh: a thread of the refreshing process that copies what the parse
workers committed back into the database file while they go on writing."""

from __future__ import annotations

import contextlib
import sqlite3
import threading

from digest.core.ingest import WriterLock
from digest.core.store import Store

# New stories the parse workers store between two checkpoints of the WAL, and the WAL's length (4 KB
# pages) at which it is made to start over (see Checkpointer).
CHECKPOINT_STORIES = 500
WAL_RESTART_FRAMES = 2000


class Checkpointer:
    """Copies the WAL back into the database while parse workers write, on a thread of the refreshing
    process.

    SQLite's own checkpoint runs inside the COMMIT that crosses 1,000 pages: inside a parse worker, under
    the WriterLock the other workers wait on. What is left at the end is copied when the last connection
    closes, after the refresh. So the workers turn theirs off (ingest._worker_store), and this thread
    runs a PASSIVE checkpoint (it takes no write lock: it copies what is committed while the workers go
    on appending) every CHECKPOINT_STORIES new stories, and once more beside the last jobs, so the close
    has little left to copy. Measured on 100 feeds: the close took 22-25 ms after the workers' own
    checkpoints, 5-9 ms after this thread's."""

    def __init__(self, db_path: str) -> None:
        self._store = Store(db_path)  # its own connection: the thread checkpoints while the refresh reads
        self._writer_lock = WriterLock(db_path)
        self._pending = 0  # new stories not yet checkpointed
        self._due = False
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="digest-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, stories: int, *, last: bool = False) -> None:
        """The workers committed this many new stories; `last`: nothing more will be handed to them, so
        copy what there is now rather than at the close."""
        with self._wake:
            self._pending += stories
            if self._pending >= CHECKPOINT_STORIES or (last and self._pending):
                self._due = True
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due and not self._closed:
                    self._wake.wait()
                if not self._due:
                    return
                self._due = False
                self._pending = 0
            # only an early copy: should it fail, the next checkpoint or the close copies the same pages
            with contextlib.suppress(sqlite3.Error):
                self._checkpoint()

    def _checkpoint(self) -> None:
        if self._store.wal_checkpoint() >= WAL_RESTART_FRAMES:
            # Workers commit while a checkpoint copies, so one rarely ends with every frame copied, and the
            # WAL only starts over (from its first frame) when one does: it grew to 150 MB over 500 feeds.
            # Under the workers' writer lock nothing is committed meanwhile, and what the copy above left
            # is soon copied: the next commit then starts the WAL over.
            with self._writer_lock:
                self._store.wal_checkpoint()

    def close(self) -> None:
        """Ends the thread once a checkpoint already asked for is done."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        self._store.close()
        self._writer_lock.close()
