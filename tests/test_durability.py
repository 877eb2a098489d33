"""Concurrency and durability (issue 6): real `digest` processes on one DIGEST_HOME, killed with SIGKILL.

- two `digest refresh` at once: both finish, neither sees "database is locked", every story stored once;
- SIGKILL at random points of a refresh (several rounds, fixed seed), with this process flagging stories
  meanwhile as the TUI would: the store opens, integrity_check passes, no flag is lost, each feed's
  stories of a round are all there or none, and a rerun completes the work without duplicates;
- SIGKILL of the refresh process alone: its parse workers exit with it;
- SIGKILL at random points of `digest build`: the final file names hold complete files (the old build or
  the new one), never half of one; only the atomic writer's temp files may be left over.

Kills during sending belong to tests/test_mail.py. Each process runs in its own session and the whole
group is killed (the refresh's parse workers with it), as an OOM kill or a power cut would stop them.
"""

from __future__ import annotations

import contextlib
import email.policy
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import pytest
from feedserver import FeedServer, Request, Response, rss
from helpers_smtp import wait_for

from digest.core.feeds import import_opml
from digest.core.pool import POOL_THRESHOLD
from digest.core.store import Store, StoryQuery

pytestmark = pytest.mark.slow  # SIGKILL and concurrency rounds of whole `digest` processes

REPO = Path(__file__).resolve().parent.parent
SEED = 20261126  # fixed: the same kill points on every run, so a failure can be replayed
SAMPLE_STORIES = 60  # the six sample feeds


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(REPO)}


# `python -m digest`, with every os.fsync made slow when DIGEST_TEST_SLOW_FSYNC is set: the atomic
# writer's temp file is then on disk, unrenamed, for a while, so random kills land inside writes and
# not only in the interpreter's start-up (a build otherwise writes its files in a few milliseconds).
LAUNCHER = """
import os, runpy, sys, time
slow = float(os.environ.get("DIGEST_TEST_SLOW_FSYNC") or 0)
if slow:
    real_fsync = os.fsync
    def fsync(fd):
        time.sleep(slow)
        return real_fsync(fd)
    os.fsync = fsync
sys.argv[0] = "digest"
runpy.run_module("digest", run_name="__main__", alter_sys=True)
"""


def start(home: Path, *argv: str, slow_fsync: float = 0.0) -> subprocess.Popen[bytes]:
    env = {**_env(home), "DIGEST_TEST_SLOW_FSYNC": str(slow_fsync) if slow_fsync else ""}
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, *argv], env=env, cwd=home,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own process group: killed with its workers


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


def _live_processes() -> Iterator[tuple[Path, int, int]]:
    """(/proc entry, parent pid, process group) of every live process. Zombies do not count: an orphaned
    worker is reparented to this container's PID 1, which may never reap it, yet it holds nothing (no
    files, no locks)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    yield d, int(fields[1]), int(fields[2])


def _group_members(pgid: int) -> list[str]:
    """Live processes of a process group."""
    out = []
    for d, _, group in _live_processes():
        if group == pgid:
            with contextlib.suppress(OSError):
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                out.append(f"{d.name}: {cmd[:150]}")
    return out


def _children(pid: int) -> list[int]:
    return [int(d.name) for d, parent, _ in _live_processes() if parent == pid]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every process it started (parse workers, the forkserver)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # the kernel reaps them shortly
        time.sleep(0.01)


def kill_main_only(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the digest process alone (`kill -9 PID`, systemd's KillMode=process): its parse workers
    are orphaned and must go by themselves, never linger holding the store and their memory."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait(timeout=30)  # not communicate(): orphans hold its stdout and stderr open
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    members = _group_members(proc.pid)
    if members:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not members, f"processes of a killed refresh still running 10 s later: {members}"


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    # the group too: no worker may outlive its command (the forkserver notices its parent's exit and
    # goes within moments; 30 s is a bound for a loaded machine, the wait ends as soon as they are gone)
    deadline = time.monotonic() + 30.0
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _group_alive(proc.pid):
        members = _group_members(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"processes of a finished `digest` command still running 30 s later: {members}")
    return proc.returncode, out.decode(), err.decode()


def write_config(home: Path, **refresh: object) -> None:
    lines = ["[refresh]"] + [f"{k} = {v!r}" for k, v in refresh.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def integrity(db_file: Path) -> str:
    db = sqlite3.connect(db_file)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The DIGEST_HOME every process in a test shares (the autouse fixture points this process there too)."""
    return tmp_path


class Rounds:
    """Slow feeds whose content changes each round: round r serves items k{j}-r{r}-{i} (new stories), so
    a store can be checked for 'this round's stories of this feed: all or none'."""

    def __init__(self, server: FeedServer, feeds: int, items: int, delay: float) -> None:
        self.server, self.feeds, self.items, self.delay = server, feeds, items, delay
        self.round = 0
        for j in range(feeds):
            server.route(f"/k{j}.xml", self._handler(j))

    def _handler(self, j: int):
        def handler(req: Request) -> Response:
            r = self.round
            body = rss(f"slow {j}", [
                {"title": f"Slow {j} round {r} item {i}", "link": f"https://slow.example/{j}/{r}/{i}",
                 "guid": f"k{j}-r{r}-{i}", "date": f"Wed, 25 Nov 2026 {10 + i % 10}:{r % 60:02d}:00 GMT",
                 "description": f"<p>Story {i} of feed {j}, round {r}.</p>"}
                for i in range(self.items)
            ])
            return Response(200, {"Content-Type": "application/rss+xml"}, body, delay=self.delay)
        return handler

    def urls(self) -> list[str]:
        return [self.server.url(f"/k{j}.xml") for j in range(self.feeds)]

    def per_feed(self, store: Store, r: int) -> dict[str, int]:
        """Stories of round r per slow feed."""
        rows = store.db.execute(
            "SELECT f.url, count(s.id) FROM feeds f LEFT JOIN stories s ON s.feed_id = f.id AND s.guid LIKE ? "
            "WHERE f.url LIKE '%/k%.xml' GROUP BY f.id", (f"k%-r{r}-%",))
        return {url: n for url, n in rows}


def _no_duplicates(store: Store) -> None:
    dup = store.db.execute(
        "SELECT feed_id, canonical_link, count(*) FROM stories WHERE canonical_link != '' "
        "GROUP BY feed_id, canonical_link HAVING count(*) > 1").fetchall()
    assert dup == [], f"stories stored twice: {[tuple(r) for r in dup][:5]}"


# -- two refreshes at once --------------------------------------------------------------------------------


def test_two_refreshes_at_once(home: Path, feed_server: FeedServer, sample_feeds_dir: Path) -> None:
    """Cron's refresh and the user's, started together: both exit 0 with no lock errors, and between
    them each story is stored (and counted as new) exactly once. Twenty HTTP feeds put both processes'
    parse pools to work, so four workers and two event loops write the same file."""
    write_config(home, timeout_s=10)
    rounds = Rounds(feed_server, feeds=20, items=5, delay=0.05)
    with Store(home / "data" / "digest.db") as store:
        import_opml(store, sample_feeds_dir / "feeds.opml", allow_files=True)
        for url in rounds.urls():
            store.add_feed(url)

    for r in range(3):
        rounds.round = r
        procs = [start(home, "refresh", "--json") for _ in range(2)]
        results = [finish(p) for p in procs]
        for code, out, err in results:
            assert code == 0, err
            assert "locked" not in err.lower() and "Traceback" not in err, err
            report = json.loads(out)
            assert report["failed"] == 0, [x for x in report["results"] if x["status"] != "ok"]
        new = sum(json.loads(out)["new_stories"] for _, out, _ in results)
        with Store(home / "data" / "digest.db") as store:
            expected = SAMPLE_STORIES * (r == 0) + 20 * 5
            total_expected = SAMPLE_STORIES + 20 * 5 * (r + 1)
            assert new == expected, f"round {r}: {new} stories reported new, {expected} expected"
            assert store.count_stories() == total_expected
            assert set(rounds.per_feed(store, r).values()) == {5}
            _no_duplicates(store)
    assert integrity(home / "data" / "digest.db") == "ok"


# -- SIGKILL during refresh ---------------------------------------------------------------------------------


def test_sigkill_at_random_points_of_a_refresh(home: Path, feed_server: FeedServer, sample_feeds_dir: Path) -> None:
    rng = random.Random(SEED)
    write_config(home, timeout_s=10)
    rounds = Rounds(feed_server, feeds=POOL_THRESHOLD, items=5, delay=0.25)  # parsed in worker processes
    db_file = home / "data" / "digest.db"
    with Store(db_file) as store:
        import_opml(store, sample_feeds_dir / "feeds.opml", allow_files=True)
        for url in rounds.urls():
            store.add_feed(url)
    code, _, err = finish(start(home, "refresh"))
    assert code == 0, err
    with Store(db_file) as store:
        samples = store.stories(StoryQuery(limit=40))
        store.flag(samples[0].id, "Top Stories", blurb="set before any kill", headline="Kept headline")
        store.set_read([samples[1].id])
    flags = {samples[0].id: "set before any kill"}
    next_flag = itertools.cycle(samples[2:])

    outcomes = []
    for r in range(1, 7):
        rounds.round = r
        delay = rng.uniform(0.1, 3.0)
        proc = start(home, "refresh")
        t0 = time.monotonic()
        # meanwhile, as the TUI would: flag stories in the same store (each flag is committed or raises).
        # Round 1 is killed as soon as the refresh has stored its first feed of the round (the feeds are
        # served 0.25 s apart, so the rest are still to come): a kill mid-refresh whatever the machine's
        # speed. The other rounds are killed at a random time, before, during or after the storing.
        with Store(db_file) as tui:
            def due(r: int = r, t0: float = t0, delay: float = delay, proc: subprocess.Popen[bytes] = proc) -> bool:
                if r == 1:
                    assert proc.poll() is None, "round 1: the refresh ended before it was killed"
                    return any(rounds.per_feed(tui, r).values())
                return time.monotonic() - t0 >= delay
            while not due():
                s = next(next_flag)
                tui.flag(s.id, "Startups", blurb=f"flagged during round {r}")
                flags[s.id] = f"flagged during round {r}"
                time.sleep(0.01 if r == 1 else min(0.3, max(0.0, delay - (time.monotonic() - t0))))
        kill_group(proc)

        assert integrity(db_file) == "ok", f"round {r}: integrity check failed after SIGKILL at {delay:.2f}s"
        with Store(db_file) as store:
            items = {i.story.id: i for i in store.digest_items()}
            assert {sid: items[sid].blurb for sid in flags if sid in items} == flags, f"round {r}: a flag was lost"
            assert items[samples[0].id].headline == "Kept headline"
            assert store.get_story(samples[1].id).read
            counts = rounds.per_feed(store, r)
            assert set(counts.values()) <= {0, 5}, f"round {r}: a feed half-stored: {counts}"
            outcomes.append(sum(n == 5 for n in counts.values()))

        # the rerun finishes the round: everything stored, nothing twice, the flags still there
        code, _, err = finish(start(home, "refresh"))
        assert code == 0 and "locked" not in err.lower(), err
        with Store(db_file) as store:
            assert set(rounds.per_feed(store, r).values()) == {5}
            assert store.count_stories() == SAMPLE_STORIES + POOL_THRESHOLD * 5 * (r + 1)
            _no_duplicates(store)
            items = {i.story.id: i for i in store.digest_items()}
            assert {sid: items[sid].blurb for sid in flags} == flags

    # round 1 was killed on purpose after its first stored feed: the test saw a refresh killed part-way
    assert 0 < outcomes[0] < POOL_THRESHOLD, f"round 1 was not killed mid-refresh (feeds stored: {outcomes})"
    print(f"\nfeeds stored per killed round: {outcomes}")


def _refresh_parsing(home: Path, feed_server: FeedServer, feeds: int) -> tuple[Rounds, subprocess.Popen[bytes]]:
    """A `digest refresh` of slow feeds (parsed in worker processes), once its workers store stories."""
    write_config(home, timeout_s=10)
    rounds = Rounds(feed_server, feeds=feeds, items=5, delay=0.25)
    with Store(home / "data" / "digest.db") as store:
        for url in rounds.urls():
            store.add_feed(url)
    proc = start(home, "refresh")
    with Store(home / "data" / "digest.db") as watcher:
        deadline = time.monotonic() + 20
        while not any(rounds.per_feed(watcher, 0).values()):
            assert proc.poll() is None and time.monotonic() < deadline, "the refresh ended or stored nothing"
            time.sleep(0.01)
    return rounds, proc


def test_workers_of_a_killed_refresh_exit_with_it(home: Path, feed_server: FeedServer) -> None:
    """`kill -9 PID`, timeout(1)'s SIGTERM or the OOM killer stop the digest process alone. Its parse
    workers are children of multiprocessing's forkserver, so nothing tells them: they must notice and
    exit (bug: they waited for work for ever, and kept the forkserver and resource tracker alive, about
    200 MB per killed cron run). The store stays consistent either way."""
    rounds, proc = _refresh_parsing(home, feed_server, POOL_THRESHOLD)
    kill_main_only(proc)
    assert integrity(home / "data" / "digest.db") == "ok"
    with Store(home / "data" / "digest.db") as store:
        assert set(rounds.per_feed(store, 0).values()) <= {0, 5}
    code, _, err = finish(start(home, "refresh"))
    assert code == 0, err
    with Store(home / "data" / "digest.db") as store:
        assert set(rounds.per_feed(store, 0).values()) == {5}


def test_a_parse_worker_killed_mid_refresh_costs_no_feed(home: Path, feed_server: FeedServer) -> None:
    """The OOM killer picks the biggest process, which in a refresh is a parse worker. That ended the
    refresh with a BrokenProcessPool traceback, and the feeds not yet stored stayed unrefreshed. Now the
    feeds under way are parsed again in a new pool: every feed is stored, the exit is 0, no traceback."""
    rounds, proc = _refresh_parsing(home, feed_server, 2 * POOL_THRESHOLD)
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers  # the pool was forked from the digest process
    os.kill(workers[0], signal.SIGKILL)
    code, out, err = finish(proc)
    assert code == 0, err
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    assert f"{2 * POOL_THRESHOLD} ok" in out, out
    assert integrity(home / "data" / "digest.db") == "ok"
    with Store(home / "data" / "digest.db") as store:
        assert set(rounds.per_feed(store, 0).values()) == {5}


# -- SIGKILL during build -----------------------------------------------------------------------------------


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.closed_html = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "html":
            self.closed_html = True


def assert_complete_build(out: Path, number: int = 1) -> None:
    """Each final file is whole: a complete HTML document, a non-empty text part, an .eml that parses
    as multipart/alternative with both parts and its closing boundary."""
    html_path, txt_path, eml_path = (out / f"digest-{number}.{ext}" for ext in ("html", "txt", "eml"))
    for p in (html_path, txt_path, eml_path):
        assert p.exists(), f"{p.name} missing after a finished build"
    html = html_path.read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.closed_html and html.rstrip().lower().endswith("</html>"), f"{html_path.name} is cut short"
    text = txt_path.read_text(encoding="utf-8")
    # the text part ends with the footer (themes/plain/email.txt.j2, shared by the built-in themes)
    assert "You're getting this email because" in text[-400:], f"{txt_path.name} is cut short"
    raw = eml_path.read_bytes()
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert msg.get_content_type() == "multipart/alternative" and not msg.defects, msg.defects
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[1].get_content().rstrip().lower().endswith("</html>")
    boundary = msg.get_boundary()
    assert boundary and f"--{boundary}--".encode() in raw, f"{eml_path.name} has no closing boundary"


def proc_wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Let the process run for the given time (a random kill point), or until it ends."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)


def _leftovers(out: Path) -> Iterator[Path]:
    for p in out.iterdir():
        if p.name.startswith(".digest-") and p.name.endswith(".tmp"):
            yield p


def test_sigkill_at_random_points_of_a_build(home: Path, sample_feeds_dir: Path) -> None:
    rng = random.Random(SEED)
    db_file = home / "data" / "digest.db"
    code, _, err = finish(start(home, "feeds", "import", "--allow-files", str(sample_feeds_dir / "feeds.opml")))
    assert code == 0, err
    code, _, err = finish(start(home, "refresh"))
    assert code == 0, err
    with Store(db_file) as store:
        ids = [s.id for s in store.stories()]
        for sid in ids[:40]:  # a long digest: more time spent writing
            store.flag(sid, "Top Stories", blurb="first build " * 10)

    out = home / "data" / "out"
    slow = 0.08  # per fsync; a build fsyncs each of its three files and the folder after each
    t0 = time.monotonic()
    code, _, err = finish(start(home, "build", slow_fsync=slow))
    took = time.monotonic() - t0
    assert code == 0, err
    assert_complete_build(out)
    first = {p.name: p.read_bytes() for p in out.glob("digest-1.*")}

    versions = {name: {data} for name, data in first.items()}
    mid_write = 0
    for r in range(10):
        with Store(db_file) as store:  # change the draft so each build writes different files
            store.flag(ids[r], "Top Stories", blurb=f"round {r} " * 20)
        delay = rng.uniform(took - 8 * slow, took * 1.1)  # from a little before the first write
        html_before = (out / "digest-1.html").read_bytes()
        proc = start(home, "build", slow_fsync=slow)
        # Two rounds are killed at a moment the test sees, whatever the machine's speed: round 0 while a
        # file is being written (its temp file is there), round 1 once the HTML has been replaced (the
        # rest still to come). The others at a random time, from a little before the first write.
        moment = {0: lambda: any(_leftovers(out)),
                  1: lambda before=html_before: (out / "digest-1.html").read_bytes() != before}.get(r)
        if moment is None:
            proc_wait(proc, max(0.0, delay))
        else:
            assert wait_for(lambda m=moment, p=proc: m() or p.poll() is not None, 120), f"round {r}: build hung"
            assert proc.poll() is None, f"round {r}: the build finished before the moment to kill it"
        kill_group(proc)
        assert_complete_build(out)  # the old files or the new ones: never a torn one
        for p in out.glob("digest-1.*"):
            versions[p.name].add(p.read_bytes())
        left = list(_leftovers(out))
        mid_write += bool(left)
        for tmp in left:
            tmp.unlink()  # a killed writer's temp file: allowed, and cleaned for the next round
        assert integrity(db_file) == "ok"
        with Store(db_file) as store:
            draft = store.draft()
            assert draft is not None and draft.status == "draft"
            assert len(store.digest_items(draft.id)) == 40

    code, _, err = finish(start(home, "build"))
    assert code == 0, err
    assert_complete_build(out)
    assert not list(_leftovers(out))
    # the seed must have landed kills inside the writes and after some of them, or nothing was tested
    assert mid_write >= 1, "none of 10 kills landed while a file was being written"
    assert len(versions["digest-1.html"]) >= 2, "no killed build got as far as replacing the HTML"
    print(f"\nbuild took {took:.2f}s; {mid_write}/10 kills mid-write; "
          f"versions seen: html {len(versions['digest-1.html'])}, eml {len(versions['digest-1.eml'])}")
