"""The run lock: one `digest run` at a time per data dir.

fcntl.flock on a file that is never deleted (deleting a lock file lets a third process lock a fresh inode
while the second still holds the old one). The kernel drops the lock when the holder exits, even after
SIGKILL, so a crashed run never leaves a stale lock. The holder writes its PID into the file so the
refused run can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from digest.core.fsutil import PRIVATE_FILE, private_dir, tighten


class LockHeld(Exception):
    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"another digest run is in progress ({who} holds {path})")
        self.path = path
        self.pid = pid


class RunLock:
    """Re-entrant within a process: `digest run` holds it and the send it calls takes it again; two
    processes (cron's run, a `digest send` by hand, the TUI's send) never deliver the same issue at once."""

    _held: dict[Path, list[int]] = {}  # resolved path -> [fd, depth], this process's holdings

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock at once or raise LockHeld; never waits (cron starts the next run anyway)."""
        private_dir(self.path.parent)
        key = self.path.resolve()
        if key in RunLock._held:
            RunLock._held[key][1] += 1
            self._fd = RunLock._held[key][0]
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        tighten(self.path)  # made 0644 by an older digest
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LockHeld(self.path, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        RunLock._held[key] = [fd, 1]
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        key = self.path.resolve()
        held = RunLock._held.get(key)
        if held is not None:
            held[1] -= 1
            if held[1] > 0:
                return
            del RunLock._held[key]
        try:
            os.ftruncate(fd, 0)  # a reader between unlock and the next holder's write sees no stale PID
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(raw) if raw.isdigit() else None
    except OSError:
        return None
