"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write(path: Path | str, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write to a temp file in the same folder, fsync, then os.replace over the target (as rss2email
    does with its state file). The folder is fsynced too so the rename survives a power cut."""
    path = Path(path)
    if not path.parent.is_dir():
        private_dir(path.parent)  # like the file itself (mkstemp makes it 0600): owner-only
    raw = data.encode(encoding) if isinstance(data, str) else data
    import tempfile  # here: with shutil and random it cost every command's start ~4 ms

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


# Owner-only, whatever the umask: the store holds subscriber addresses (deliveries, subscribers), the
# log names recipients on failure lines, and the archive holds every issue's .eml (issue 16 #5, 20 #5).
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path | str) -> Path:
    """Make the folder (and any missing parents) owner-only; an existing one of ours is tightened. A
    folder we do not own (/tmp, a shared mount) is left as it is: its mode is not ours to change."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            d.mkdir(PRIVATE_DIR)
    tighten(path, PRIVATE_DIR)
    return path


def tighten(path: Path | str, mode: int = PRIVATE_FILE) -> None:
    """chmod to `mode` a file or folder we own that is open to group or others; silent where it does not
    exist or the file system has no modes to change."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        with contextlib.suppress(PermissionError, OSError):
            os.chmod(path, mode)


def tighten_tree(root: Path | str) -> None:
    """An archive or output folder that an older digest made open to others: the folder and everything
    in it made owner-only, once (a folder already 0700 is taken as done, so this costs one stat a run)."""
    root = Path(root)
    try:
        if not root.is_dir() or not root.stat().st_mode & 0o077:
            return
    except OSError:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            tighten(os.path.join(dirpath, name))
        for name in dirnames:
            tighten(os.path.join(dirpath, name), PRIVATE_DIR)
    tighten(root, PRIVATE_DIR)


def private_store_files(db_path: Path | str) -> None:
    """Before the store is opened: its folder owner-only, the database file created 0600 if it is new
    (SQLite gives its -wal, -shm and -journal the database file's mode, so they follow), and the files of
    an existing store tightened."""
    db_path = Path(db_path)
    private_dir(db_path.parent)
    if not db_path.exists():
        # FileExistsError: made by another process meanwhile; other OSErrors (a read-only folder) are
        # left for SQLite to report as it opens the store
        with contextlib.suppress(OSError):
            os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))
    for suffix in ("", "-wal", "-shm", "-journal", "-writer.lock"):
        tighten(f"{db_path}{suffix}")
