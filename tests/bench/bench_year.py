"""A year of cron, as curves (issue 16): store size, run time and story count over 365 simulated days.

The simulation of tests/test_year.py (tests/yearsim.py: 300 generated feeds and an SMTP server on
127.0.0.1 in a child process, the clock injected, one run_once a simulated day, retention at its
defaults), with every day's figures written to tests/bench/out/year.csv and plotted to year.png. The
figures are printed, never asserted; the test asserts the behaviour.

Run: python tests/bench/bench_year.py [--days 365] [--feeds 300] [--workdir DIR] [--record DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))


def plot(rows: list[dict[str, float]], title: str, out: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return None
    days = [r["day"] + 1 for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    panels = [
        ("store on disk (MB)", [("db_mb", "digest.db"), ("wal_mb", "WAL")]),
        ("`digest run` wall time (s)", [("run_s", "one run")]),
        ("stories in the store", [("stories", "stories")]),
    ]
    for ax, (label, keys) in zip(axes, panels, strict=True):
        for key, name in keys:
            ax.plot(days, [r[key] for r in rows], label=name, linewidth=1)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("simulated day")
        ax.set_ylim(bottom=0)
        ax.axvline(90, color="grey", linestyle=":", linewidth=1)
        ax.axvline(180, color="grey", linestyle=":", linewidth=1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "year.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--feeds", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "digest-bench-year")
    ap.add_argument("--record", type=Path, default=None, help="also copy year.csv and year.png into this folder")
    args = ap.parse_args()

    home = args.workdir
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ["DIGEST_HOME"] = str(home)
    from yearsim import WorldProcess, Year, config_toml, run_year

    started = time.monotonic()

    def progress(day: int, year: Year) -> None:
        d = year.days[-1]
        if day % 30 == 29 or day == args.days - 1:
            print(f"  day {day + 1:3d}: {d.stories:6,} stories, db {d.db_bytes / 1e6:6.1f} MB + WAL "
                  f"{d.wal_bytes / 1e6:5.1f} MB, run {d.run_s:.2f} s ({time.monotonic() - started:.0f} s so far)",
                  flush=True)

    with WorldProcess(home, n_feeds=args.feeds) as world:
        (home / "config.toml").write_text(config_toml(world.smtp_port))
        year = run_year(home, world, args.days, every_day=progress)
    rows = [{"day": d.day, "code": d.code, "run_s": d.run_s, "stories": d.stories, "db_mb": d.db_bytes / 1e6,
             "wal_mb": d.wal_bytes / 1e6} for d in year.days]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "year.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    late = [r["run_s"] for r in rows[-30:]]
    early = [r["run_s"] for r in rows[30:60]]
    print(f"{args.days} days, {args.feeds} feeds: {len(year.pruned):,} stories pruned, {len(year.returned)} came back; "
          f"run time days 31-60 median {statistics.median(early):.2f} s, last 30 days "
          f"{statistics.median(late):.2f} s (ratio {statistics.median(late) / statistics.median(early):.2f})")
    print(f"store: day 200 {rows[min(199, len(rows) - 1)]['db_mb']:.1f} MB, last day {rows[-1]['db_mb']:.1f} MB")
    path = plot(rows, f"digest, a simulated year of daily `digest run`: {args.feeds} feeds, retention at its "
                      f"defaults (keep_days 90, keep_unread_days 180, keep_min_per_feed 20)", OUT)
    if args.record and path:
        args.record.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, args.record / "year.png")
        shutil.copy(OUT / "year.csv", args.record / "year.csv")


if __name__ == "__main__":
    main()
