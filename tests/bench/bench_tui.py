"""TUI benchmark (issue 4): a store with 100k stories over 500 feeds.

Measures, in a fresh process each time (the process is started by this script, so Python start-up and
imports count):
- process start -> first painted frame, and -> story list filled (the 100k ids queried and painted);
- search-as-you-type: from a query string to the list showing its result (debounce excluded; the SQL
  part is printed too), for a run of growing prefixes as a typist makes them;
- the largest event-loop gap (= the longest a frame could wait) while a 500-feed refresh runs against
  generated feeds served on 127.0.0.1 from another process.
Baseline, same run: the same start-up measured on a 500-story store, so the ratio shows what the 200x
bigger store costs; targets from the issue are printed next to each figure.

--only-rules (issue 17): reader rules on the same store, in this process: four rules applied to every stored
story (digest.core.rules.apply_rules: read, match, write the changed marks), first on a store with no marks
and again unchanged, and the first rule alone; then "would hide N" as a rule is typed (RuleIndex.count, one
keystroke each) after the index is loaded once.
Baseline: the same on the 500-story store. Targets: apply < 1 s, a count < 100 ms.

Run: python tests/bench/bench_tui.py [--stories 100000] [--feeds 500] [--workdir DIR] [--no-refresh]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

# A vocabulary with a news-like spread: a few words in most headlines, most words rare (Zipf, s=1). With
# 40 equally likely words every search would match half the store, which no real archive does.
COMMON = ["seattle", "startup", "cloud", "funding", "climate", "ferry", "battery", "data", "launch", "kelp"]


def vocabulary(rng: random.Random, n: int = 4000) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ru", "sta", "tor", "vin", "qua", "ber", "dex", "pol", "zan", "fy", "gro"]
    words = set(COMMON)
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return COMMON + sorted(words - set(COMMON))


SEARCHES = ["k", "ke", "kel", "kelp", "kelp f", "kelp fe", "kelp ferry", "seattle battery", "quaber", "zzzz"]


# -- store generation -----------------------------------------------------------------------------


def build_store(home: Path, stories: int, feeds: int) -> None:
    """Direct SQL inserts (one transaction): 100k stories take ~10 s, FTS index included."""
    from digest.core.store import Store, title_key
    from digest.core.store.body import pack

    marker = home / f".built-{stories}-{feeds}"
    if marker.exists():
        return
    shutil.rmtree(home, ignore_errors=True)
    (home / "data").mkdir(parents=True)
    store = Store(home / "data" / "digest.db")
    rng = random.Random(4)
    words = vocabulary(rng)
    weights = [1 / (i + 1) for i in range(len(words))]
    sections = ["Top Stories", "Startups", "Engineering", "Jobs", "Events"]
    now = time.time()
    with store.tx() as db:
        db.executemany(
            "INSERT INTO feeds(id, url, title, section, added_at, last_status, last_success_at) "
            "VALUES (?, ?, ?, ?, ?, 'ok', ?)",
            [(i + 1, f"http://bench.invalid/feed{i}.xml", f"Bench feed {i}", sections[i % 5], now, now)
             for i in range(feeds)],
        )
        rows = []
        for n in range(stories):
            title = " ".join(rng.choices(words, weights, k=rng.randint(5, 10))).capitalize()
            summary = " ".join(rng.choices(words, weights, k=40))
            fid = n % feeds + 1
            rows.append((fid, f"g{n}", f"https://bench.example/{n}", f"https://bench.example/{n}", title,
                         title_key(title), "Bench Author", pack(summary, f"<p>{summary}</p><p>{summary}</p>"),
                         "[\"Bench\"]", "{}", now - n * 30, now, int(rng.random() < 0.6)))
        db.executemany(
            "INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, author, body,"
            " categories, extra, published_at, fetched_at, read) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    store.db.execute("ANALYZE")
    store.close()
    marker.touch()


# -- the measured child process -------------------------------------------------------------------


def hello_child(t0: float) -> None:
    """The baseline: the smallest Textual app with a footer, same terminal size, same measurement."""
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Static

    out: dict[str, object] = {}

    class Hello(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("hello")
            yield Footer()

    app = Hello()

    async def pilot_main(pilot: object) -> None:
        done = asyncio.Event()
        app.screen.call_after_refresh(done.set)
        await done.wait()
        out["first_frame_s"] = time.time() - t0
        app.exit()

    app.run(headless=True, size=(120, 40), auto_pilot=pilot_main)
    print("BENCH " + json.dumps(out))


class GapMeter:
    """Ticks every 5 ms on the app's event loop; the gaps between ticks are the longest a frame could wait."""

    def __init__(self, app: Any) -> None:
        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = app.set_interval(0.005, self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        self.last = now

    def stop(self) -> dict[str, object]:
        self.timer.stop()
        gaps = sorted(self.gaps)
        return {"gap_max_ms": gaps[-1] if gaps else None, "gap_p99_ms": gaps[int(len(gaps) * 0.99)] if gaps else None,
                "ticks": len(gaps), "gap_top5_ms": [round(g, 1) for g in gaps[-5:]]}


def child(home: Path, mode: str, t0: float) -> None:
    if mode == "hello":
        hello_child(t0)
        return
    from digest.core.config import load_config
    from digest.core.paths import get_paths
    from digest.core.store import Store
    from digest.tui.app import make_app
    from digest.tui.widgets.story_list import StoryList

    paths = get_paths()
    config = load_config(paths)
    store = Store(paths.db_file)
    app = make_app(config, store, paths, load_samples_when_empty=False)
    out: dict[str, object] = {}

    async def painted(widget: object) -> None:
        """Wait for the next refresh of the screen (the frame that shows the latest change)."""
        done = asyncio.Event()
        widget.call_after_refresh(done.set)  # type: ignore[attr-defined]
        await done.wait()

    async def pilot_main(pilot: object) -> None:
        while type(app.screen).__name__ != "MainScreen":
            await asyncio.sleep(0.001)
        screen = app.screen
        while screen.first_paint_time is None:
            await asyncio.sleep(0.001)
        out["first_frame_s"] = screen.first_paint_time - t0
        while not (screen.query(StoryList) and screen.query_one(StoryList).ids):
            await asyncio.sleep(0.001)
        await painted(screen)
        out["list_filled_s"] = time.time() - t0
        while screen.loaded_generation != screen._generation:
            await asyncio.sleep(0.001)
        await painted(screen)
        out["all_ids_s"] = time.time() - t0
        out["first_page_ms"] = screen.first_page_ms or screen.last_ids_ms
        out["ids_query_ms"] = screen.last_ids_ms
        out["stories"] = len(screen.query_one(StoryList).ids)
        if mode == "startup":
            timings, sql = [], []
            for text in SEARCHES:
                screen.first_page_ms = None
                start = time.perf_counter()
                gen = screen._generation
                screen._run_search(text)
                if screen._generation == gen:  # a one-letter last word: no query is run (MIN_PREFIX)
                    timings.append(None)
                    sql.append(None)
                    out.setdefault("search_hits", []).append(len(screen.query_one(StoryList).ids))  # type: ignore[union-attr]
                    continue
                # on screen = the first page (or the whole, short, result) painted
                while screen.loaded_generation != screen._generation and screen.first_page_ms is None:
                    await asyncio.sleep(0.001)
                await painted(screen)
                timings.append((time.perf_counter() - start) * 1000)
                while screen.loaded_generation != screen._generation:
                    await asyncio.sleep(0.001)
                sql.append(screen.first_page_ms or screen.last_ids_ms)
                out.setdefault("search_hits", []).append(len(screen.query_one(StoryList).ids))  # type: ignore[union-attr]
            out["search_ms"] = timings
            out["search_sql_ms"] = sql
            # scrolling: a page down repaints a page that is not cached yet
            stories = screen.query_one(StoryList)
            screen._run_search("")
            while screen.loaded_generation != screen._generation:
                await asyncio.sleep(0.001)
            start = time.perf_counter()
            for _ in range(20):
                stories.action_page_down()
                await painted(stories)
            out["page_down_ms"] = (time.perf_counter() - start) * 1000 / 20
        elif mode == "refresh":
            gaps = GapMeter(app)
            start = time.perf_counter()
            app.start_refresh(None)
            while app.refreshing:
                await asyncio.sleep(0.01)
            out["refresh_s"] = time.perf_counter() - start
            out.update(gaps.stop())
            report = app.last_refresh_report
            out["refresh_summary"] = report.summary_line() if report else ""
            out["stories_after"] = store.counts()["all"]
            out["notes"] = [f"{n.title}: {n.message}" for n in app._notifications][-5:]
        elif mode == "prune":
            # `digest store prune` in another process (as cron's refresh or run prunes) while the TUI is
            # open: the longest the event loop waited is the longest a frame could
            gaps = GapMeter(app)
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "digest", "store", "prune"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            pout, perr = await asyncio.to_thread(proc.communicate)
            out["prune_s"] = time.perf_counter() - start
            out.update(gaps.stop())
            out["prune_output"] = (pout.strip() or perr.strip())[-300:]
            out["stories_after"] = store.counts()["all"]
        app.exit()

    app.run(headless=True, size=(120, 40), auto_pilot=pilot_main)
    store.close()
    print("BENCH " + json.dumps(out))


def run_child(home: Path, mode: str) -> dict[str, object]:
    env = dict(os.environ, DIGEST_HOME=str(home), BENCH_T0=repr(time.time()), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, __file__, "--child", str(home), "--mode", mode], env=env,
                          capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def med(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]


def prune_gaps(big: Path, args: argparse.Namespace) -> None:
    """Event-loop gaps of an open TUI while another process prunes a fifth of the stories (made older than
    keep_days and read), 50 a transaction, with the search-index merges and incremental vacuum after."""
    from digest.core.store import Store

    runs = []
    for _ in range(args.runs):
        work = args.workdir / "prune-home"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(big, work)
        with Store(work / "data" / "digest.db") as store, store.tx() as db:
            db.execute("UPDATE stories SET fetched_at = fetched_at - 200 * 86400, read = 1 WHERE id % 5 = 0")
        runs.append(run_child(work, "prune"))
    print(f"\nprune while the TUI is open ({args.stories:,} stories, a fifth of them old and read), "
          f"{args.runs} runs:")
    for x in runs:
        print(f"  {x['prune_output']!r}: {float(x['prune_s']):.1f} s, {x['stories_after']:,} stories left; "  # type: ignore[arg-type]
              f"event-loop gaps max {float(x['gap_max_ms']):.1f} ms, p99 {float(x['gap_p99_ms']):.1f} ms, "  # type: ignore[arg-type]
              f"five largest {x['gap_top5_ms']}")
    print("  target: max < 100 ms")


# Four rules as a reader writes them: two hide (words on title+summary, a regex on titles), a keep limited
# to some feeds, a boost on one feed. {rare*} are words of the generated vocabulary (bench stories are made of
# it), so each rule matches a few percent of the store as noise rules do.
def bench_rules(words: list[str]) -> list[dict[str, Any]]:
    return [
        {"action": "hide", "words": ["sponsored", "advertorial", words[300], words[900]]},
        {"action": "hide", "fields": ["title"], "regex": rf"\b(?:{words[150]}|{words[400]})\s+\w+"},
        {"action": "keep", "fields": ["title"], "words": [words[150]], "feeds": ["Bench feed 1", "Bench feed 2"]},
        {"action": "boost", "boost": 5, "fields": ["feed"], "words": ["feed 7"]},
    ]


def typed(word: str) -> list[str]:
    return [word[:i] for i in range(1, len(word) + 1)]


def rules_figures(home: Path, runs: int, words: list[str]) -> dict[str, Any]:
    from digest.core.rules import RuleIndex, apply_rules, parse_rules
    from digest.core.store import Store

    rules = parse_rules(bench_rules(words))
    out: dict[str, Any] = {"first": [], "again": [], "load": [], "loaded": [], "cpu": [], "one": [], "keys": {}}
    with Store(home / "data" / "digest.db") as store:
        for _ in range(runs):  # the first rule alone: words hidden in titles and summaries (the common rule)
            store.clear_rule_marks()
            out["one"].append(apply_rules(store, rules[:1]).seconds)
        for _ in range(runs):
            store.clear_rule_marks()
            cpu = time.process_time()
            first = apply_rules(store, rules)
            out["cpu"].append(time.process_time() - cpu)
            again = apply_rules(store, rules)
            out["first"].append(first.seconds)
            out["again"].append(again.seconds)
            out["result"] = first
        store.clear_rule_marks()
        for _ in range(runs):
            t = time.perf_counter()
            index = RuleIndex.load(store)
            out["load"].append(time.perf_counter() - t)
            store.clear_rule_marks()
            index.stored = {}
            out["loaded"].append(apply_rules(store, rules, index=index).seconds)
        # keystrokes: a word rule on the default fields (title, summary), then a regex on titles
        sequences = [("words", w, {"action": "hide", "words": [w]}) for w in typed(words[300])]
        sequences += [("regex", r, {"action": "hide", "fields": ["title"], "regex": r})
                      for r in typed(f"{words[150]}\\s+{words[2]}")]
        for kind, text, table in sequences:
            try:
                [rule] = parse_rules([table])
            except Exception:  # a regex half typed ("ab\\") does not compile: the form shows why, no count
                continue
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                n = index.count(rule)
                times.append(time.perf_counter() - t)
            out["keys"][(kind, text)] = (statistics.median(times), n)
    return out


def rules_bench(big: Path, small: Path, args: argparse.Namespace) -> None:
    """Reader rules (issue 17) on copies of the two stores (marks are written)."""
    words = vocabulary(random.Random(4))  # the vocabulary build_store made the stories of
    figures = {}
    for name, src, n in (("big", big, args.stories), ("small", small, 500)):
        work = args.workdir / f"rules-{name}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src, work)
        figures[name] = rules_figures(work, args.runs, words)
        figures[name]["n"] = n
    big_f, small_f = figures["big"], figures["small"]
    r = big_f["result"]
    print(f"\nreader rules, {len(bench_rules(words))} rules ({args.runs} runs, medians; "
          "baseline: the 500-story store):")
    print(f"  on {args.stories:,} stories: {r.hidden:,} hidden, {r.kept:,} kept, {r.boosted:,} boosted "
          f"({r.changed:,} marks written the first time)")
    print(f"{'':<44}{args.stories:>10,}  {500:>8,}   ratio   target   of target")
    for key, label, target in (("one", "apply one rule (4 words, title+summary) (s)", 1.0),
                               ("first", "apply to every story, marks written (s)", 1.0),
                               ("cpu", "  its CPU time (s)", 1.0),
                               ("again", "apply again, nothing changes (s)", 1.0),
                               ("load", "RuleIndex.load, all 7 fields (s)", None),
                               ("loaded", "apply with that index loaded (TUI) (s)", 1.0)):
        b, s = statistics.median(big_f[key]), statistics.median(small_f[key])
        tail = f"< {target:.0f} s    {b / target:.2f}" if target else ""
        print(f"  {label:<42}{b:>10.3f}  {s:>8.3f}  {b / s if s else 0:>6.0f}x   {tail}")
    print(f"  machine load average during the run: {os.getloadavg()[0]:.1f} (2 cores)")
    print("  'would hide N' as the rule is typed (RuleIndex.count, ms; target < 100):")
    for (kind, text), (sec, hits) in big_f["keys"].items():
        base = small_f["keys"].get((kind, text), (0.0, 0))[0]
        print(f"    {kind:<6} {text!r:<22} {sec * 1000:7.1f} ms  ({hits:,} stories)   "
              f"500-story store {base * 1000:5.2f} ms   {sec * 1000 / 100:.2f} of target")
    worst = max(sec for sec, _ in big_f["keys"].values())
    print(f"  slowest keystroke: {worst * 1000:.1f} ms = {worst * 1000 / 100:.2f} of the 100 ms target")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "digest-bench-tui")
    ap.add_argument("--no-refresh", action="store_true")
    ap.add_argument("--only-refresh", action="store_true")
    ap.add_argument("--only-prune", action="store_true",
                    help="only the event-loop gaps while `digest store prune` removes old stories (issue 16)")
    ap.add_argument("--only-rules", action="store_true",
                    help="only the reader rules: apply 4 rules to every stored story, 'would hide N' per keystroke")
    ap.add_argument("--child", type=Path)
    ap.add_argument("--mode", default="startup")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.mode, float(os.environ["BENCH_T0"]))
        return

    big, small = args.workdir / "big", args.workdir / "small"
    t = time.perf_counter()
    build_store(big, args.stories, args.feeds)
    build_store(small, 500, 5)
    print(f"stores ready in {time.perf_counter() - t:.1f} s ({args.stories:,} stories / {args.feeds} feeds; "
          f"baseline 500 / 5)")

    if args.only_prune:
        prune_gaps(big, args)
        return
    if args.only_rules:
        rules_bench(big, small, args)
        return
    if not args.only_refresh:
        hello = [run_child(small, "hello") for _ in range(args.runs)]
        base = [run_child(small, "startup") for _ in range(args.runs)]
        runs = [run_child(big, "startup") for _ in range(args.runs)]
        print(f"baseline: a minimal Textual app (Static + Footer) paints its first frame at "
              f"{med(hello, 'first_frame_s'):.3f} s after process start (Python start-up + Textual import)")
        print(f"\nmedian of {args.runs} runs            {args.stories:>9,}   {500:>9,}   ratio   target")
        for key, label, target in (("first_frame_s", "first frame (s)", "< 0.5"),
                                   ("list_filled_s", "list filled (s)", ""),
                                   ("all_ids_s", "all ids in (s)", ""),
                                   ("first_page_ms", "first page SQL (ms)", ""),
                                   ("ids_query_ms", "all ids SQL (ms)", ""),
                                   ("page_down_ms", "page down (ms)", "")):
            b, r = med(base, key), med(runs, key)
            print(f"{label:<32}{r:>10.3f}  {b:>9.3f}  {r / b if b else 0:>6.2f}   {target}")
        print("\nsearch as you type (100k store, median of runs; debounce of 120 ms not included):")
        for i, text in enumerate(SEARCHES):
            if runs[0]["search_ms"][i] is None:  # type: ignore[index]
                print(f"  {text!r:<18}    no query: the last word has one letter (MIN_PREFIX), the list stays")
                continue
            ms = statistics.median(r["search_ms"][i] for r in runs)  # type: ignore[index]
            sql = statistics.median(r["search_sql_ms"][i] for r in runs)  # type: ignore[index]
            hits = runs[0]["search_hits"][i]  # type: ignore[index]
            print(f"  {text!r:<18} {ms:7.1f} ms on screen  ({sql:6.1f} ms SQL first page, {hits:,} hits)   target < 50")

    if args.no_refresh:
        return
    from feedgen import FeedServer, write_feeds

    feeds_dir = args.workdir / "feeds"
    write_feeds(feeds_dir, args.feeds)
    work = args.workdir / "refresh-home"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(big, work)
    with FeedServer(feeds_dir) as base_url:
        import sqlite3

        db = sqlite3.connect(work / "data" / "digest.db")
        db.executemany("UPDATE feeds SET url = ? WHERE id = ?",
                       [(f"{base_url}/feed{i}.xml", i + 1) for i in range(args.feeds)])
        db.commit()
        db.close()
        r = run_child(work, "refresh")
    for note in r.get("notes", []):  # type: ignore[union-attr]
        print("  note:", note)
    print(f"\nrefresh of {args.feeds} feeds while the app runs: {r['refresh_s']:.1f} s, {r['refresh_summary']}")
    print(f"  event-loop gaps (5 ms ticks, {r['ticks']} samples): max {r['gap_max_ms']:.1f} ms, "
          f"p99 {r['gap_p99_ms']:.1f} ms   target: max < 100 ms")
    print(f"  five largest gaps (ms): {r['gap_top5_ms']}")


if __name__ == "__main__":
    main()
