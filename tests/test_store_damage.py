"""A damaged store, a read-only one: every command ends with one line and never writes to the file.

Real files throughout: a store built by digest, then 8 KB of random bytes written into the middle of it
(or its schema version set to -5), and every CLI command the parser knows run against it as cron would,
in a subprocess; a read-only store is served from a read-only bind mount when the machine allows mount
namespaces, and opened read-only by hand otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_digest import fill_store

from digest.cli import build_parser
from digest.core.paths import Paths
from digest.core.store import Store, StoreDamagedError, StoreError, StoryQuery

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_feeds"
# arguments for the commands that need some; any other command runs bare (a usage error is fine too)
ARGS: dict[tuple[str, ...], list[str]] = {
    ("feeds", "add"): [str(SAMPLES / "jobs.xml")],
    ("feeds", "remove"): ["1"],
    ("feeds", "import"): [str(SAMPLES / "feeds.opml")],
    ("flag",): ["1"],
    ("unflag",): ["2"],
    ("archive", "show"): ["1"],
    ("archive", "open"): ["1"],
    ("themes", "preview"): ["classic", "--no-open"],
    ("run",): ["--dry-run"],
}
# commands that write the store: the whole file is checked before they start, so they all stop
WRITERS = {("feeds", "add"), ("feeds", "remove"), ("feeds", "import"), ("flag",), ("unflag",), ("build",),
           ("send",), ("run",)}
READERS = {("stories",), ("feeds", "list"), ("feeds", "export")}
# refresh checks only the feeds table first (cron runs it hourly; reading a large store whole would cost
# more than the refresh): it stops at damage it meets, and otherwise writes only pages that are sound
REFRESH = ("refresh",)


def commands() -> Iterator[tuple[str, ...]]:
    def leaves(p: argparse.ArgumentParser, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix
            return
        for name, sp in subs[0].choices.items():
            yield from leaves(sp, (*prefix, name))

    found = list(leaves(build_parser(), ()))
    yield from sorted(found, key=lambda c: c == REFRESH)  # refresh last: it may write (see REFRESH)


def digest(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(REPO), "BROWSER": "true"}
    return subprocess.run([sys.executable, "-m", "digest", *argv], capture_output=True, text=True, env=env,
                          cwd=home, timeout=120)


def fingerprint(db: Path) -> tuple[str, list[str]]:
    """The file's bytes, and which of its -wal/-shm companions hold anything."""
    extra = [s for s in ("-wal", "-shm") if Path(f"{db}{s}").exists() and Path(f"{db}{s}").stat().st_size]
    return hashlib.sha256(db.read_bytes()).hexdigest(), extra


def build_store(paths: Paths) -> None:
    """A store with every page in use (VACUUM: no free page for the garbage to land on unnoticed)."""
    with Store(paths.db_file) as store:
        fill_store(store, 120, flag=False, summary_words=120)
        store.flag(2, "Startups")
        # local files: a refresh reads them (and stores their stories) without any network
        for feed, name in zip(store.list_feeds(counts=False), ("seattle-news.xml", "startups.xml", "devlog.atom"),
                              strict=True):
            store.update_feed(feed.id, url=str(SAMPLES / name))
    db = sqlite3.connect(paths.db_file)
    db.execute("VACUUM")
    db.close()


def garbage_mid_file(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.seek(size // 2 - 4096)
        f.write(random.Random(20).randbytes(8192))


def schema_version(db: Path, version: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("damage", ["garbage", "user_version"])
def test_every_command_on_a_damaged_store_says_one_line_and_writes_nothing(
        damage: str, digest_home: Paths) -> None:
    build_store(digest_home)
    (garbage_mid_file if damage == "garbage" else lambda db: schema_version(db, -5))(digest_home.db_file)
    before = fingerprint(digest_home.db_file)
    line = f"the store {digest_home.db_file} is damaged: "
    tail = "; run `digest store check` or restore a backup"
    seen = set()
    for cmd in commands():
        seen.add(cmd)
        r = digest(digest_home.config_dir, *cmd, *ARGS.get(cmd, []))
        said = r.stdout + r.stderr
        assert "Traceback" not in said, (cmd, said)
        if cmd == REFRESH and damage == "garbage":
            assert r.returncode == 0 or (r.returncode == 1 and r.stderr.startswith(f"digest: {line}")), said
            assert r.returncode == 0 or fingerprint(digest_home.db_file) == before, said
            continue
        assert fingerprint(digest_home.db_file) == before, (cmd, said)  # not one byte written
        if cmd in WRITERS or (cmd in READERS | {REFRESH} and damage == "user_version"):
            assert r.returncode == 1, (cmd, said)
            # run's result line, a failure, goes to stderr as "digest run: ..."
            assert r.stderr.strip().splitlines()[-1].startswith((f"digest: {line}", f"digest run: {line}")), \
                (cmd, said)
            assert r.stderr.strip().endswith(tail), (cmd, said)
            if cmd != ("run",):
                assert r.stderr.strip().splitlines() == [f"digest: {line}{r.stderr.split(line)[1].strip()}"]
        elif cmd in READERS and r.returncode != 0:  # a read that reached a damaged page
            assert r.returncode == 1 and r.stderr.startswith(f"digest: {line}"), (cmd, said)
            assert len(r.stderr.strip().splitlines()) == 1
    assert seen >= WRITERS | READERS | {REFRESH}


def test_garbage_mid_file_is_found_by_the_check_and_stops_writes(digest_home: Paths) -> None:
    build_store(digest_home)
    with Store(digest_home.db_file) as store:
        assert store.check() == []
        store.verify()
    garbage_mid_file(digest_home.db_file)
    store = Store(digest_home.db_file)  # the header is intact: it opens
    try:
        assert store.check()
        with pytest.raises(StoreDamagedError, match="is damaged: .*digest store check") as caught:
            store.verify()
        assert "\n" not in str(caught.value)  # quick_check may report several problems in one row
        # once damage is known, no write is even begun
        with pytest.raises(StoreDamagedError):
            store.flag(3, "Startups")
        assert not store.db.in_transaction
    finally:
        store.close()


def test_damage_met_inside_a_write_rolls_it_back_and_stops_the_next(digest_home: Paths) -> None:
    """Without a check first (the TUI, a worker): the write that reads a damaged page is rolled back, and
    the store refuses the writes after it."""
    with Store(digest_home.db_file) as store:
        fill_store(store, 300, flag=False, summary_words=200)
    sqlite3.connect(digest_home.db_file).execute("VACUUM").connection.close()
    garbage_mid_file(digest_home.db_file)
    store = Store(digest_home.db_file)
    try:
        # the update touches every story page: it must meet the garbage
        with pytest.raises(StoreDamagedError), store.tx() as db:
            db.execute("UPDATE stories SET read = 1")
        assert store.damaged is not None and not store.db.in_transaction
        with pytest.raises(StoreDamagedError):
            store.set_read([1])
    finally:
        store.close()


def test_a_negative_schema_version_is_damage_not_an_index_error(digest_home: Paths) -> None:
    build_store(digest_home)
    schema_version(digest_home.db_file, -5)
    with pytest.raises(StoreDamagedError, match="schema version -5"):
        Store(digest_home.db_file)


def test_a_read_only_store_reads_and_refuses_writes(digest_home: Paths) -> None:
    build_store(digest_home)
    before = fingerprint(digest_home.db_file)
    with Store(digest_home.db_file, readonly=True) as store:
        assert store.readonly and len(store.stories(StoryQuery(limit=5))) == 5
        with pytest.raises(StoreError, match="read-only here"):
            store.flag(3, "Startups")
    assert fingerprint(digest_home.db_file)[0] == before[0]  # a reader may leave its -shm index; no data


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp / "probe"
    probe.mkdir()
    r = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {probe} {probe} && "
                        f"mount -o remount,ro,bind {probe} {probe} && ! touch {probe}/x"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


def test_reading_commands_work_on_read_only_media(digest_home: Paths, tmp_path: Path) -> None:
    """The data folder on a read-only mount (a bind mount in a private mount namespace): `stories`,
    `feeds list` and `feeds export` work; a write says the store is read-only, in one line."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("this machine does not allow a private mount namespace (unshare -m)")
    build_store(digest_home)
    with Store(digest_home.db_file) as store:
        titles = [s.title for s in store.stories(StoryQuery(limit=3))]
    env = {**os.environ, "DIGEST_HOME": str(digest_home.config_dir), "PYTHONPATH": str(REPO)}
    root = digest_home.config_dir
    script = (f"mount --bind {root} {root} && mount -o remount,ro,bind {root} {root} && "
              f"for c in stories 'feeds list' 'feeds export' 'flag 3'; do "
              f"{sys.executable} -m digest $c; echo \"== $c rc=$?\"; done")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env,
                       cwd=root, timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    for c in ("stories", "feeds list", "feeds export"):
        assert f"== {c} rc=0" in r.stdout, r.stdout + r.stderr
    assert all(t[:30] in r.stdout for t in titles)
    assert "seattle-news.xml" in r.stdout
    assert "== flag 3 rc=1" in r.stdout
    assert r.stderr.strip().splitlines() == [
        f"digest: store error: {digest_home.db_file}: the store is read-only here (the file, its folder or "
        "the medium cannot be written); nothing was changed"]
