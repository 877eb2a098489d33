"""Scale benchmark (issue 6, "Scale"): how digest grows from 100 to 2,000 feeds / 200k stories.

For each size a fresh store is built by a real `digest refresh` against generated feeds (feedgen.make_feed
with 100 items each, ~250 KB) served on 127.0.0.1 from another process, then this measures:
- refresh: cold (empty store) and steady (every feed answers 304), wall time and peak RSS of the tree;
- search: Store.stories(StoryQuery(search=...)) in this process and `digest stories --search` as a command,
  for a first page (one word, --limit 50) and for all matches of three words (the generated vocabulary is
  small, so half the stories match: a worst case, the count is printed); plus Store.story_ids with a limit,
  the path the TUI pages its list with;
- selection: auto_select on a fresh (empty) draft with a window covering every stored story (worst case),
  and trending() over the last week of the data and over the whole store;
- the store on disk: digest.db + digest.db-wal;
- the TUI's first frame, through tests/bench/bench_tui.py's run_child (a fresh process on this store).
Timings done in this process are the median of --repeat runs. The curve is the point: the figures are
printed and written to tests/bench/out/scale.csv and scale.png, never asserted.

Run: python tests/bench/bench_scale.py [--sizes 100,500,1000,2000] [--items 100] [--workdir DIR] [--no-tui]
     [--record tests/bench/compare/results]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from bench_refresh import peak_of_tree  # noqa: E402
from feedgen import FeedServer, make_feed  # noqa: E402

FIRST_PAGE = "quantum"  # one word, first 50 hits: what a person typing in the TUI or `--limit 50` sees
ALL_MATCHES = "satellite kernel launch"  # every word must match; all hits returned (the CLI's default)
CLI_TIMEOUT_S = 600


def write_feeds(folder: Path, n: int, items: int) -> None:
    """feedgen.write_feeds with more items per feed (it is fixed at 30); kept between runs."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = folder / f"feed{i}.xml"
        if not p.exists():
            p.write_bytes(make_feed(i, items=items))


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def cli_seconds(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=CLI_TIMEOUT_S)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def in_process(home: Path, repeat: int) -> dict[str, Any]:
    """Search, selection and trending on the store just built, in this process (no start-up cost)."""
    from digest.core.config import Config, SelectConfig
    from digest.core.select import auto_select, trending
    from digest.core.store import Store, StoryQuery

    store = Store(home / "data" / "digest.db")
    try:
        out: dict[str, Any] = {}
        out["search_first50_ms"], _ = median_ms(
            lambda: store.stories(StoryQuery(search=FIRST_PAGE, limit=50)), repeat)
        # the TUI's path: ids only, first page walked along the date index (Store.story_ids)
        out["search_ids_first50_ms"], _ = median_ms(
            lambda: store.story_ids(StoryQuery(search=FIRST_PAGE), limit=50), repeat)
        out["search_all_ms"], hits = median_ms(lambda: store.stories(StoryQuery(search=ALL_MATCHES)), repeat)
        out["search_all_hits"] = len(hits)
        newest, oldest = store.db.execute("SELECT max(published_at), min(published_at) FROM stories").fetchone()
        # the window covers every stored story whatever today's date: the most candidates auto_select can get
        config = Config(select=SelectConfig(max_age_hours=int((newest - oldest) / 3600) + 48))
        now = newest + 60
        if store.draft() is not None and store.digest_items():
            raise SystemExit(f"{home}: the draft is not empty; selection needs a fresh draft")
        picks: list[float] = []
        for _ in range(repeat):
            t = time.perf_counter()
            added = auto_select(store, config, now=now)
            picks.append((time.perf_counter() - t) * 1000)
            for item in store.digest_items():  # back to a fresh draft for the next repeat
                store.unflag(item.story.id)
        out["select_ms"], out["selected"] = statistics.median(picks), added
        picks = []
        for _ in range(repeat):  # the default [select] window (72 h before the newest story): the usual case
            t = time.perf_counter()
            auto_select(store, Config(), now=now)
            picks.append((time.perf_counter() - t) * 1000)
            for item in store.digest_items():
                store.unflag(item.story.id)
        out["select_default_ms"] = statistics.median(picks)
        out["trending_week_ms"], week = median_ms(lambda: trending(store, since=newest - 7 * 86_400), repeat)
        out["trending_all_ms"], _ = median_ms(lambda: trending(store, since=0), repeat)
        out["trending_clusters"] = len(week)
        store.db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as a long-running reader would leave it
    finally:
        store.close()
    return out


def tui_first_frame(home: Path) -> dict[str, Any]:
    """bench_tui.run_child starts the app on DIGEST_HOME=home in a fresh process and reports when the first
    frame was painted and when the story list was filled (Python start-up and imports included)."""
    try:
        import bench_tui

        r = bench_tui.run_child(home, "startup")
    except (Exception, SystemExit) as e:  # the TUI bench is optional here: say why and go on
        print(f"  TUI first frame: not measured ({type(e).__name__}: {str(e)[:300]})")
        return {}
    return {"tui_first_frame_s": r.get("first_frame_s"), "tui_list_filled_s": r.get("list_filled_s")}


def size_of(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def bench_size(n: int, items: int, base: str, work: Path, repeat: int, tui: bool) -> dict[str, Any]:
    home = work / f"home{n}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    opml = home / "feeds.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
        f'<outline type="rss" text="f{i}" xmlUrl="{base}/feed{i}.xml"/>' for i in range(n)) + "</body></opml>")
    env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(REPO)}
    digest = [sys.executable, "-m", "digest"]
    subprocess.run([*digest, "feeds", "import", str(opml)], env=env, check=True, capture_output=True)
    row: dict[str, Any] = {"feeds": n}
    cold, _main, tree = peak_of_tree([*digest, "refresh"], env)
    row["refresh_cold_s"], row["refresh_cold_peak_mb"] = cold, tree / 1024
    steady, _main, tree = peak_of_tree([*digest, "refresh"], env)
    row["refresh_steady_s"], row["refresh_steady_peak_mb"] = steady, tree / 1024
    import sqlite3

    db = sqlite3.connect(home / "data" / "digest.db")
    row["stories"] = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    db.close()
    print(f"  refresh: cold {cold:.1f} s ({row['stories'] / cold:,.0f} stories/s, "
          f"peak {row['refresh_cold_peak_mb']:.0f} MB), "
          f"steady {steady:.2f} s (peak {row['refresh_steady_peak_mb']:.0f} MB); "
          f"{row['stories']:,} stories (expected {n * items:,})", flush=True)
    row["db_mb"] = size_of(home / "data" / "digest.db")
    row["wal_mb"] = size_of(home / "data" / "digest.db-wal")
    row.update(in_process(home, repeat))
    print(f"  search in process: {FIRST_PAGE!r} first 50 stories {row['search_first50_ms']:.1f} ms (ids, as the "
          f"TUI pages them: {row['search_ids_first50_ms']:.1f} ms); {ALL_MATCHES!r} all "
          f"{row['search_all_hits']:,} hits {row['search_all_ms']:.0f} ms", flush=True)
    row["cli_search_first50_s"] = cli_seconds([*digest, "stories", "--search", FIRST_PAGE, "--limit", "50"], env,
                                              repeat)
    row["cli_search_all_s"] = cli_seconds([*digest, "stories", "--search", ALL_MATCHES], env, 1)
    print(f"  `digest stories --search`: first 50 {row['cli_search_first50_s']:.2f} s; all hits "
          f"{row['cli_search_all_s']:.2f} s (process start-up included)")
    print(f"  auto_select on a fresh draft: {row['select_ms']:.0f} ms with every story a candidate "
          f"({row['selected']} picked), {row['select_default_ms']:.0f} ms with the default 72 h window; trending: last "
          f"week {row['trending_week_ms']:.0f} ms ({row['trending_clusters']} clusters), whole store "
          f"{row['trending_all_ms']:.0f} ms")
    print(f"  store on disk: db {row['db_mb']:.0f} MB + wal {row['wal_mb']:.0f} MB "
          f"({(row['db_mb'] + row['wal_mb']) * 1e6 / max(row['stories'], 1) / 1024:.1f} KB per story)", flush=True)
    if tui:
        row.update(tui_first_frame(home))
        if row.get("tui_first_frame_s") is not None:
            print(f"  TUI: first frame {row['tui_first_frame_s']:.2f} s, story list filled "
                  f"{row['tui_list_filled_s']:.2f} s after process start")
    return row


COLUMNS = ["feeds", "stories", "refresh_cold_s", "refresh_cold_peak_mb", "refresh_steady_s", "refresh_steady_peak_mb",
           "search_first50_ms", "search_ids_first50_ms", "search_all_ms", "search_all_hits", "cli_search_first50_s",
           "cli_search_all_s",
           "select_ms", "select_default_ms", "selected", "trending_week_ms", "trending_all_ms", "trending_clusters",
           "db_mb", "wal_mb",
           "tui_first_frame_s", "tui_list_filled_s"]


def plot(rows: list[dict[str, Any]], title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return None
    xs = [r["feeds"] for r in rows]
    for r in rows:
        r["cold_stories_per_s"] = r["stories"] / r["refresh_cold_s"]
    panels = [
        ("refresh (s)", [("refresh_cold_s", "cold"), ("refresh_steady_s", "all 304")]),
        ("refresh throughput, cold (stories/s)", [("cold_stories_per_s", "stories/s")]),
        ("peak RSS of refresh, process tree (MB)", [("refresh_cold_peak_mb", "cold"),
                                                    ("refresh_steady_peak_mb", "all 304")]),
        ("store on disk (MB)", [("db_mb", "digest.db"), ("wal_mb", "WAL")]),
        ("search, in process (ms)", [("search_first50_ms", f"{FIRST_PAGE!r} first 50 (Store.stories)"),
                                     ("search_ids_first50_ms", f"{FIRST_PAGE!r} first 50 ids (TUI)"),
                                     ("search_all_ms", "3 words, all hits")]),
        ("`digest stories --search` (s)", [("cli_search_first50_s", "--limit 50"), ("cli_search_all_s", "all hits")]),
        ("selection (ms)", [("select_ms", "auto_select, every story a candidate"),
                            ("select_default_ms", "auto_select, default 72 h window"),
                            ("trending_week_ms", "trending, last week"),
                            ("trending_all_ms", "trending, whole store")]),
        ("TUI, from process start (s)", [("tui_first_frame_s", "first frame"), ("tui_list_filled_s", "list filled")]),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(19, 8))
    for ax, (label, keys) in zip(axes.flat, panels, strict=True):
        for key, name in keys:
            pts = [(r["feeds"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                px, py = zip(*pts, strict=True)
                ax.plot(px, py, "-o", label=name)
        if not ax.lines:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("feeds (100 stories each)")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_ylim(bottom=0)  # from zero, so a flat curve looks flat
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "scale.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,500,1000,2000")
    ap.add_argument("--items", type=int, default=100, help="items per feed (default 100: 200k stories at 2,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per in-process timing (the median is kept)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "digest-bench-scale")
    ap.add_argument("--no-tui", action="store_true", help="leave out the TUI first-frame timing")
    ap.add_argument("--record", type=Path, default=None,
                    help="also copy the CSV and plot here (the README shows tests/bench/compare/results/)")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    work = args.workdir
    feeds_dir = work / f"feeds-{args.items}"
    t = time.perf_counter()
    write_feeds(feeds_dir, max(sizes), args.items)
    mb = sum(p.stat().st_size for p in feeds_dir.glob("*.xml")) / 1e6
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    from digest import __version__

    machine = f"{os.cpu_count()} cores, {cpu}; digest {__version__}, Python {sys.version.split()[0]}"
    print(f"{machine}\nfeeds ready in {time.perf_counter() - t:.1f} s ({max(sizes)} x {args.items} items, {mb:.0f} MB)")
    rows = []
    with FeedServer(feeds_dir) as base:
        for n in sizes:
            print(f"\n{n} feeds x {args.items} items:", flush=True)
            rows.append(bench_size(n, args.items, base, work, args.repeat, not args.no_tui))
    print(f"\n{'feeds':>6} {'stories':>8} {'cold s':>7} {'304 s':>6} {'srch50 ms':>9} {'srchall ms':>10} "
          f"{'cli50 s':>7} {'select ms':>9} {'trend ms':>8} {'db+wal MB':>9} {'TUI s':>6}")
    for r in rows:
        tui = f"{r['tui_first_frame_s']:6.2f}" if r.get("tui_first_frame_s") is not None else f"{'-':>6}"
        print(f"{r['feeds']:>6} {r['stories']:>8,} {r['refresh_cold_s']:>7.1f} {r['refresh_steady_s']:>6.2f} "
              f"{r['search_first50_ms']:>9.1f} {r['search_all_ms']:>10.0f} {r['cli_search_first50_s']:>7.2f} "
              f"{r['select_ms']:>9.0f} {r['trending_week_ms']:>8.0f} {r['db_mb'] + r['wal_mb']:>9.0f} {tui}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        k = b["feeds"] / a["feeds"]
        print(f"\ngrowth from {a['feeds']} to {b['feeds']} feeds ({k:.0f}x the stories): " + ", ".join(
            f"{name} {b[key] / a[key]:.1f}x" for key, name in (
                ("refresh_cold_s", "cold refresh"), ("refresh_steady_s", "304 refresh"),
                ("search_first50_ms", "first-page search"), ("select_ms", "selection"),
                ("trending_week_ms", "trending"), ("db_mb", "db size")) if a.get(key)))
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / "scale.csv"
    with csv_path.open("w", newline="") as f:
        f.write(f"# {machine}\n")
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})
    png = plot(rows, machine)
    print(f"\nwrote {csv_path}" + (f" and {png}" if png else ""))
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        for path in (csv_path, png):
            if path:
                shutil.copy2(path, args.record / Path(path).name)
        print(f"recorded in {args.record}")


if __name__ == "__main__":
    main()
