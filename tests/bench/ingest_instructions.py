"""Instructions a story for the parse workers' work (parse, clean, store), counted by valgrind (issue 21).

Timings on this 2-core host drift by a third from one run to the next, and by more when anything else
runs; an A/B of a cut worth 2-5 % cannot be read from them. callgrind counts instructions, which do not
depend on the load: two copies of one tree counted 0.2 % apart (their paths differ), with the other core
busy.
Instructions are not time (cache misses and branch mispredictions are not in them), so a cut seen here
is then timed with `profile_refresh.py --split-only N --trees OLD,NEW` on a quiet machine.

What is counted: `ingest.ingest_jobs`, in one process, on generated feeds (feedgen.py) in jobs of 8 feeds,
into a fresh store: what a parse worker does, without the hand-over and the write lock. Each tree is run
at two sizes; the difference, divided by the stories it adds, leaves out start-up and imports.

    python tests/bench/ingest_instructions.py                      # this checkout
    python tests/bench/ingest_instructions.py --trees OLD,NEW      # folders holding digest/

Needs valgrind (Debian's package). Each run takes ~30 s (valgrind runs Python ~50 times slower).
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SMALL, LARGE = 20, 50  # feeds; 30 stories each

# Run in the child under valgrind: argv = tree, feeds.
CHILD = r"""
import os, pickle, sys, tempfile
tree, n = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [tree]
from digest.core import ingest
from digest.core.models import FetchResult
from digest.core.store import Store
with open(sys.argv[3], "rb") as f:
    bodies = pickle.load(f)[:n]  # made by the parent: generating them is not what is counted
db = os.path.join(tempfile.mkdtemp(), "s.db")
store = Store(db)
for i in range(n):
    store.add_feed(f"http://127.0.0.1:9/f{i}.xml")
feeds = store.list_feeds(counts=False)
store.close()
jobs = [(f, FetchResult("ok", body=b, content_type="application/rss+xml", http_status=200, final_url=f.url))
        for f, b in zip(feeds, bodies)]
new = sum(r.new for i in range(0, n, 8) for r, _ in ingest.ingest_jobs(db, jobs[i:i + 8], 1_796_000_000.0))
print("stories", new)
"""


def count(tree: Path, feeds: int, bodies: Path) -> tuple[int, int]:
    """(instructions of the whole run, stories stored)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script),
             str(tree), str(feeds), str(bodies)],
            capture_output=True, text=True, check=True, cwd=tmp,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"},
        )
    collected = [line for line in proc.stderr.splitlines() if "Collected :" in line]
    stories = [line for line in proc.stdout.splitlines() if line.startswith("stories ")]
    if not collected or not stories:
        raise SystemExit(f"valgrind gave no count for {tree}:\n{proc.stderr[-2000:]}")
    return int(collected[-1].split(":")[-1].strip().replace(",", "")), int(stories[-1].split()[1])


def per_story(tree: Path, bodies: Path) -> tuple[float, int]:
    small, n_small = count(tree, SMALL, bodies)
    large, n_large = count(tree, LARGE, bodies)
    return (large - small) / (n_large - n_small), n_large - n_small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", default=str(ROOT),
                    help="comma-separated folders holding digest/ (default: this checkout)")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    sys.path.insert(0, str(HERE))
    from feedgen import make_feed

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.pickle"
        bodies.write_bytes(pickle.dumps([make_feed(i) for i in range(LARGE)]))
        for tree in trees:
            if not (tree / "digest").is_dir():
                raise SystemExit(f"{tree}: no digest/ folder")
            results.append(per_story(tree, bodies))
    for tree, (instructions, stories) in zip(trees, results, strict=True):
        print(f"{tree}: {instructions:,.0f} instructions a story (ingest of {stories} stories in one process)")
    for tree, (instructions, _) in zip(trees[1:], results[1:], strict=True):
        print(f"{tree} / {trees[0]}: {instructions / results[0][0]:.3f}")


if __name__ == "__main__":
    main()
