"""Instructions of an all-304 refresh, start-up included, counted by valgrind (issue 21's 0.25 ms a feed).

An all-304 refresh is one process: start-up (the interpreter, imports, the config, the store) and then a
request a feed that the server answers 304, and a status row a feed. Timings of it drift with the host's
load by more than the cuts worth making (2-5 %); callgrind's instruction counts do not (two runs of one
tree agree to ~0.2 %). Each tree runs `digest refresh` under callgrind at two sizes on feeds already
fetched once; the difference per feed is a request's cost, and what is left at zero feeds is start-up.
Instructions are not time (cache misses, the kernel's work: not counted): time a kept cut afterwards with
interleaved runs on a quiet machine.

    python tests/bench/steady_instructions.py                       # this checkout, 100 and 500 feeds
    python tests/bench/steady_instructions.py --trees OLD,NEW       # folders holding digest/
    python tests/bench/steady_instructions.py --sizes 500           # one size: the total only

Needs valgrind (Debian's package). Each tree's bytecode is compiled first (compileall), as an installed
digest has it. ~10 s a run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from feedgen import FeedServer, write_feeds  # noqa: E402
from profile_refresh import DIGEST, cold_home, env_for  # noqa: E402


def count(tree: Path, home: Path, n: int, out: Path) -> int:
    """Instructions of one `digest refresh` of home's n feeds, run from tree."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *DIGEST, "refresh"],
        env={**env_for(home, tree), "PYTHONHASHSEED": "0"}, capture_output=True, text=True, cwd=out.parent,
    )
    collected = [line for line in proc.stderr.splitlines() if "Collected :" in line]
    if proc.returncode != 0 or not collected or f" 0 ok, {n} not modified, 0 failed" not in proc.stdout:
        raise SystemExit(f"{tree}: no count ({proc.returncode}):\n{proc.stdout[-500:]}\n{proc.stderr[-1500:]}")
    return int(collected[-1].split(":")[-1].strip().replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", default=str(ROOT),
                    help="comma-separated folders holding digest/ (default: this checkout)")
    ap.add_argument("--sizes", default="100,500", help="feeds: two sizes split start-up from the cost a feed")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    for tree in trees:
        if not (tree / "digest").is_dir():
            raise SystemExit(f"{tree}: no digest/ folder")
        # bytecode, as an installed digest has it (without it every run compiles digest's modules again)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "digest")], check=True)
    results: dict[Path, dict[int, int]] = {tree: {} for tree in trees}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_feeds(tmp / "feeds", max(sizes))
        with FeedServer(tmp / "feeds") as base:
            for n in sizes:
                home = cold_home(tmp / f"home-{n}", base, n)
                # the first refresh fetches every feed and stores its validators: the next ones are all 304
                subprocess.run([*DIGEST, "refresh"], env=env_for(home), check=True, capture_output=True, cwd=tmp)
                for tree in trees:  # one after the other on the same store: the status rows are rewritten alike
                    results[tree][n] = count(tree, home, n, tmp / "callgrind.out")
    for tree in trees:
        by_size = results[tree]
        line = ", ".join(f"{n} feeds {by_size[n] / 1e6:.1f}M ({by_size[n] / n / 1e3:.0f}k a feed)" for n in sizes)
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[-1]
            per_feed = (by_size[large] - by_size[small]) / (large - small)
            line += f"; a feed {per_feed / 1e3:.0f}k, start-up {(by_size[small] - small * per_feed) / 1e6:.0f}M"
        print(f"{tree}: {line}")
    for tree in trees[1:]:
        print(f"{tree} / {trees[0]}: " + ", ".join(
            f"{n} feeds {results[tree][n] / results[trees[0]][n]:.3f}" for n in sizes))


if __name__ == "__main__":
    main()
