"""Refresh benchmark (issue 2): N generated feeds (~75 KB, 30 items each) served on 127.0.0.1.

Times `digest refresh` cold (empty store) and in steady state (every feed answers 304), prints feeds/s,
stories/s and peak RSS, and compares against baselines measured in the same run:
- feedparser with its defaults parsing the same files (what a naive reader pays just to parse);
- newsboat `-x reload` on the same server, if installed (reload-threads 1 and 8; the better is the
  baseline; both tools get one unmeasured reload before the steady-state run, because newsboat keeps
  Last-Modified only from its second reload).

Run: python tests/bench/bench_refresh.py [--feeds 500] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from feedgen import FeedServer, write_feeds  # noqa: E402

# Runs a command and prints its wall time and the peak RSS of it and of its largest child process.
_MEASURE = r"""
import resource, subprocess, sys, time, json
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc.returncode, "wall": wall, "peak_kb": ru.ru_maxrss, "stderr": rc.stderr.decode()[-500:]}))
"""


def measure(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, cwd=cwd, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def peak_of_tree(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall time, the main process's peak RSS, and the sum of peak RSS over the process tree (KB),
    sampled from /proc every 20 ms (the parse workers are children of digest)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    main_peak, tree_peak = 0, 0
    while proc.poll() is None:
        pids = [proc.pid] + _children(proc.pid)
        rss = {p: _rss_kb(p) for p in pids}
        main_peak = max(main_peak, rss.get(proc.pid, 0))
        tree_peak = max(tree_peak, sum(rss.values()))
        time.sleep(0.02)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
    return wall, main_peak, tree_peak


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids = (task / "children").read_text().split()
            for k in kids:
                out.append(int(k))
                out.extend(_children(int(k)))
    except OSError:
        pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """The process's proportional set size: each page it shares with n processes counts 1/n, so a tree's
    sum counts the pages forked workers share with their parent once (RSS counts them in every process)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_feedparser(files: list[Path]) -> float:
    import feedparser

    t = time.perf_counter()
    for f in files:
        feedparser.parse(f.read_bytes())
    return time.perf_counter() - t


def bench_newsboat(base: str, n: int, work: Path) -> dict[str, float] | None:
    exe = shutil.which("newsboat")
    if not exe:
        print("newsboat: not installed (apt-get install newsboat) - skipping that baseline")
        return None
    urls = work / "nb-urls"
    urls.write_text("".join(f"{base}/feed{i}.xml\n" for i in range(n)))
    results: dict[str, float] = {}
    for threads in (1, 8):
        d = work / f"nb{threads}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        conf = d / "config"
        conf.write_text(f"reload-threads {threads}\nshow-read-feeds yes\n")
        env = {**os.environ, "HOME": str(d), "XDG_CONFIG_HOME": str(d), "XDG_DATA_HOME": str(d)}
        cmd = [exe, "-x", "reload", "-u", str(urls), "-c", str(d / "cache.db"), "-C", str(conf)]
        cold = measure(cmd, env)
        measure(cmd, env)  # newsboat keeps Last-Modified from its second reload on
        steady = measure(cmd, env)
        results[f"cold_t{threads}"] = cold["wall"]
        results[f"steady_t{threads}"] = steady["wall"]
        results[f"peak_mb_t{threads}"] = max(cold["peak_kb"], steady["peak_kb"]) / 1024
        print(f"newsboat reload-threads {threads}: cold {cold['wall']:.2f}s, steady {steady['wall']:.2f}s, "
              f"peak RSS {results[f'peak_mb_t{threads}']:.0f} MB")
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--no-newsboat", action="store_true", help="skip the newsboat baseline (quick iterations)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.feeds
    files = write_feeds(work / f"feeds{n}", n)
    size_kb = sum(f.stat().st_size for f in files) / n / 1024
    print(f"{n} feeds, {size_kb:.0f} KB each on average, 30 items each; {os.cpu_count()} cores")
    fp = bench_feedparser(files)
    print(f"feedparser with defaults, parse only: {fp:.2f}s ({n / fp:.0f} feeds/s)")
    with FeedServer(work / f"feeds{n}") as base:
        home = work / "digest-home"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        opml = home / "feeds.opml"
        opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
            f'<outline type="rss" text="f{i}" xmlUrl="{base}/feed{i}.xml"/>' for i in range(n)) + "</body></opml>")
        env = {**os.environ, "DIGEST_HOME": str(home)}
        digest = [sys.executable, "-m", "digest"]
        subprocess.run([*digest, "feeds", "import", str(opml)], env=env, check=True, capture_output=True)
        cold, cold_main, cold_tree = peak_of_tree([*digest, "refresh"], env)
        out = subprocess.run([*digest, "stories", "--json"], env=env, check=True, capture_output=True)
        stories = len(json.loads(out.stdout))
        steady, st_main, st_tree = peak_of_tree([*digest, "refresh"], env)
        print(f"digest refresh cold:   {cold:.2f}s ({n / cold:.0f} feeds/s, {stories / cold:.0f} stories/s), "
              f"peak RSS main {cold_main / 1024:.0f} MB, whole tree {cold_tree / 1024:.0f} MB")
        print(f"digest refresh steady: {steady:.2f}s ({n / steady:.0f} feeds/s), peak RSS main "
              f"{st_main / 1024:.0f} MB, whole tree {st_tree / 1024:.0f} MB")
        print(f"stored stories: {stories} (expected {n * 30})")
        print(f"ratio digest cold / feedparser-defaults parse only: {cold / fp:.2f}")
        nb = None if args.no_newsboat else bench_newsboat(base, n, work)
        if nb:
            best_cold = min(nb["cold_t1"], nb["cold_t8"])
            best_steady = min(nb["steady_t1"], nb["steady_t8"])
            print(f"ratio digest/newsboat cold:   {cold / best_cold:.2f} (target <= 0.50)")
            print(f"ratio digest/newsboat steady: {steady / best_steady:.2f} (target <= 0.50)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
