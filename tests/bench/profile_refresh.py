"""Where a cold refresh spends its CPU, per stored story, for the whole process tree (issue 21).

Serves N generated feeds (tests/bench/feedgen.py: ~75 KB, 30 items each) on 127.0.0.1, imports them into a
fresh DIGEST_HOME and runs one cold `digest refresh` under py-spy (`--subprocesses`, so the forked parse
workers are sampled too). The total CPU of the tree comes from getrusage(RUSAGE_CHILDREN), as /usr/bin/time
counts it; py-spy's on-CPU samples split it between the refreshing process and the workers, and between
the kinds of work (a sample counts for the innermost frame that names one). Prints a table of µs per
stored story and the top frames by own samples; `--raw FILE` keeps py-spy's collapsed stacks.

Run: pip install py-spy && python tests/bench/profile_refresh.py [--feeds 100] [--rate 500] [--native]
(py-spy attaches with ptrace: as root, or with kernel.yama.ptrace_scope = 0.)

Without py-spy: `--split-only ROUNDS` splits each of ROUNDS cold refreshes exactly (getrusage) and samples
the tree's peak RSS / PSS; `--trees OLD,NEW` interleaves two code trees for an A/B comparison, e.g.
    git worktree add /tmp/old HEAD~1 && python -m compileall -q /tmp/old/digest
    python tests/bench/profile_refresh.py --feeds 500 --split-only 8 --trees /tmp/old,.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from feedgen import FeedServer, write_feeds  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent

# (kind, what a frame's text contains). The innermost frame of a sample that matches one names its kind.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("imports (start-up)", ("<frozen importlib", "_find_and_load")),
    ("HTML sanitising (nh3) and plain text", ("sanitize.py",)),
    ("fast lxml parse", ("fastparse.py",)),
    ("feedparser", ("feedparser/",)),
    ("dates", ("feeddates.py",)),
    ("URL rules", ("links.py",)),
    ("reading a feed into stories", ("parse.py", "models.py")),
    ("SQLite: insert, indexes, FTS5, commit", ("store/", "sqlite3")),
    ("WAL checkpoints", ("checkpoint",)),
    ("ingest (worker side)", ("ingest.py",)),
    ("hand-over to workers (pickling, pipes)", ("multiprocessing/", "pickle", "connection.py")),
    ("fetching (libcurl)", ("fetch.py", "pycurl")),
    ("refresh orchestration", ("refresh", "pool.py")),
    ("CLI, config, paths", ("digest/cli/", "config.py", "paths.py", "argparse")),
]
DIGEST = [sys.executable, "-m", "digest"]
# `digest refresh` run so that it reports its own CPU on the way out: getrusage(RUSAGE_SELF) is the
# refreshing process (all its threads: fetching, hand-over, checkpoints), RUSAGE_CHILDREN the parse
# workers it forked and reaped. An exact split, where py-spy's samples count a thread blocked in a pipe
# write or a select as on-CPU.
# (An atexit handler: console() ends the process itself once its atexit handlers have run.)
_SPLIT = """
import atexit, json, os, resource, sys
from digest.cli import console

def report():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["DIGEST_PROFILE_SPLIT"], "w") as out:
        json.dump({"self": me.ru_utime + me.ru_stime, "workers": kids.ru_utime + kids.ru_stime}, out)

atexit.register(report)
sys.argv = ["digest", "refresh"]
raise SystemExit(console())
"""


def env_for(home: Path, tree: Path = REPO) -> dict[str, str]:
    """The environment of a digest run on home, with digest imported from the code tree `tree`."""
    return {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(tree)}


def cold_home(home: Path, base: str, n: int, tree: Path = REPO) -> Path:
    """A fresh DIGEST_HOME with the n served feeds imported (nothing fetched yet)."""
    home.mkdir(parents=True)
    (home / "feeds.opml").write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
        f'<outline type="rss" text="f{i}" xmlUrl="{base}/feed{i}.xml"/>' for i in range(n)) + "</body></opml>")
    subprocess.run([*DIGEST, "feeds", "import", str(home / "feeds.opml")], env=env_for(home, tree), check=True,
                   capture_output=True)
    return home


def _tree_memory(root: int) -> tuple[int, int]:
    """RSS and PSS (kB) of a process and its descendants now, from /proc (0, 0 where it cannot be read)."""
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, ValueError):  # the process ended meanwhile
            continue
    return rss, pss


def split_run(home: Path, tree: Path = REPO) -> tuple[float, float, float, float, float, float]:
    """One cold refresh of home: CPU seconds of the whole tree, of the refreshing process and of its parse
    workers; wall seconds; the tree's peak RSS and PSS in MB (sampled every 10 ms)."""
    out, err = home / "split.json", home / "stderr.txt"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _SPLIT], stdout=subprocess.DEVNULL, stderr=stderr,
                                env={**env_for(home, tree), "DIGEST_PROFILE_SPLIT": str(out)})
        peak = (0, 0)
        while True:  # a sample every 10 ms until the refresh ends (the wait returns the moment it does)
            now = _tree_memory(proc.pid)
            if now[0] > peak[0]:
                peak = now
            try:
                proc.wait(timeout=0.01)
                break
            except subprocess.TimeoutExpired:
                pass
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"digest refresh failed ({proc.returncode}): {err.read_text()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    got = json.loads(out.read_text())
    return cpu, got["self"], got["workers"], wall, peak[0] / 1024, peak[1] / 1024


def kind_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for kind, needles in KINDS:
            if any(n in frame for n in needles):
                return kind
    return "other"


def read_raw(path: Path) -> tuple[dict[str, collections.Counter[str]], collections.Counter[str]]:
    """Samples per process role and kind, and own samples per innermost frame. The role comes from the
    stack, not from py-spy's process label (it labels the forked workers' samples with the parent's pid):
    a parse worker's stacks start in multiprocessing's process bootstrap."""
    per_role: dict[str, collections.Counter[str]] = {"refreshing process": collections.Counter(),
                                                     "parse workers": collections.Counter()}
    own: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";")[1:] if not f.startswith("thread ")]
        role = "parse workers" if any("multiprocessing/process.py" in f for f in frames) else "refreshing process"
        per_role[role][kind_of(frames)] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    return per_role, own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=100)
    ap.add_argument("--rate", type=int, default=500, help="py-spy samples per second (default 500)")
    ap.add_argument("--native", action="store_true", help="py-spy --native: C frames too (slower to sample)")
    ap.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    ap.add_argument("--top", type=int, default=15, help="frames to list by own samples")
    ap.add_argument("--split-only", type=int, metavar="ROUNDS", default=0,
                    help="no py-spy: ROUNDS cold refreshes, each split exactly into the refreshing process and "
                         "its workers by getrusage; prints the medians")
    ap.add_argument("--trees", default="", metavar="DIR,DIR",
                    help="with --split-only: interleaved A/B runs of these code trees (folders holding digest/, "
                         "bytecode compiled: python -m compileall DIR/digest); default this checkout")
    args = ap.parse_args()
    if args.split_only:
        trees = [Path(t).resolve() for t in args.trees.split(",") if t]
        for tree in trees:
            if not (tree / "digest" / "__init__.py").is_file():
                raise SystemExit(f"--trees: no digest package in {tree}")
        split_only(args.feeds, args.split_only, trees)
        return
    if args.trees:
        raise SystemExit("--trees needs --split-only ROUNDS")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    work = Path(tempfile.mkdtemp(prefix="digest-profile-"))
    try:
        files = write_feeds(work / "feeds", args.feeds)
        with FeedServer(work / "feeds") as base:
            # one plain cold refresh for the CPU total (py-spy's own CPU would count in a profiled run),
            # then the same cold refresh on a second fresh store under py-spy, for the split
            plain = cold_home(work / "plain", base, args.feeds)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([*DIGEST, "refresh"], env=env_for(plain), check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            profiled = cold_home(work / "profiled", base, args.feeds)
            raw = args.raw or work / "raw.txt"
            cmd = [spy, "record", "--subprocesses", "--rate", str(args.rate), "--format", "raw", "-o", str(raw),
                   *(["--native"] if args.native else []), "--", *DIGEST, "refresh"]
            subprocess.run(cmd, env=env_for(profiled), check=True, capture_output=True)
        db = sqlite3.connect(plain / "data" / "digest.db")
        stories = int(db.execute("SELECT count(*) FROM stories").fetchone()[0])
        db.close()
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        user = after.ru_utime - before.ru_utime
        roles, own = read_raw(raw)
        total = sum(sum(c.values()) for c in roles.values())
        per_story = cpu / stories * 1e6

        def us(samples: int) -> float:  # the plain run's CPU per story, split by the profile's samples
            return per_story * samples / max(total, 1)

        print(f"{args.feeds} feeds, {len(files)} files, {stories} stories stored; {os.cpu_count()} cores")
        print(f"CPU of the whole tree, plain cold refresh: {cpu:.2f} s (user {user:.2f} s, sys {cpu - user:.2f} s)"
              f" = {per_story:.0f} µs per stored story")
        print(f"profile: {total} samples at {args.rate}/s; the µs below split the plain run's CPU by the "
              "profile's share")
        for role, kinds in roles.items():
            n = sum(kinds.values())
            print(f"\n{role}: {us(n):.0f} µs per story ({100 * n / max(total, 1):.0f}% of samples)")
            for kind, c in kinds.most_common():
                print(f"  {us(c):7.1f} µs  {100 * c / max(total, 1):5.1f}%  {kind}")
        print(f"\ntop {args.top} frames by own samples (all processes):")
        for frame, c in own.most_common(args.top):
            print(f"  {us(c):7.1f} µs  {frame[:110]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def split_only(feeds: int, rounds: int, trees: list[Path] | None = None) -> None:
    """ROUNDS cold refreshes of `feeds` generated feeds, each on a fresh store, split exactly (getrusage).
    With several code trees (checkouts, or copies of digest/ with their bytecode compiled), the rounds
    interleave them (A B, B A, A B ...) so that a drift in the machine's speed falls on each alike; each
    tree's median and fastest run are printed side by side."""
    trees = trees or [REPO]
    work = Path(tempfile.mkdtemp(prefix="digest-profile-"))
    try:
        write_feeds(work / "feeds", feeds)
        runs: dict[Path, list[tuple[float, ...]]] = {tree: [] for tree in trees}
        stories = 0
        with FeedServer(work / "feeds") as base:
            for r in range(rounds):
                for t, tree in enumerate(trees if r % 2 == 0 else trees[::-1]):
                    home = cold_home(work / f"r{r}-{t}", base, feeds, tree)
                    run = split_run(home, tree)
                    db = sqlite3.connect(home / "data" / "digest.db")
                    stories = int(db.execute("SELECT count(*) FROM stories").fetchone()[0])
                    db.close()
                    runs[tree].append(tuple(v / stories * 1e6 if i < 3 else v for i, v in enumerate(run)))
                    shutil.rmtree(home, ignore_errors=True)
        print(f"{feeds} feeds, {stories} stories stored, {rounds} cold refreshes{' a tree' if len(trees) > 1 else ''}; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        for tree, values in runs.items():
            if len(trees) > 1:
                print(tree)
            cols = list(zip(*values, strict=True))
            for i, label in enumerate(("whole tree", "refreshing process", "parse workers")):
                med = statistics.median(cols[i])
                print(f"  {label:20} median {med:6.0f} µs per story, fastest {min(cols[i]):4.0f} "
                      f"({', '.join(f'{v:.0f}' for v in cols[i])}); {med * stories / feeds / 1000:.2f} ms per feed")
            print(f"  {'wall':20} median {statistics.median(cols[3]):6.2f} s; peak RSS / PSS of the tree "
                  f"{statistics.median(cols[4]):.0f} / {statistics.median(cols[5]):.0f} MB (median)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
