"""Build benchmark (issue 3): render + CSS inlining + text + .eml for 50- and 300-story digests, and
Trending over a generated store of 100k stories.

Targets from the issue: 50 stories under 50 ms after warm-up; Trending over 100k stories under 200 ms.
Absolute times depend on the machine, so each figure is also printed as a ratio against a baseline
measured in the same run:
- build: the same Jinja2 template rendered without inlining, text part or .eml (the floor any theme
  engine pays), so the ratio is what email-safety costs;
- trending: a plain `count(*)` over the same 7-day window (the floor for touching the window at all).

Run: python tests/bench/bench_build.py [--stories 100000] [--repeat 20]
Not collected by pytest (tests/bench is in norecursedirs).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers_digest import NOW, fill_store, make_config, make_paths  # noqa: E402

from digest.core.build import build_digest  # noqa: E402
from digest.core.message import build_message  # noqa: E402
from digest.core.render import _assemble, _material, render_digest  # noqa: E402
from digest.core.select import auto_select, draft_sections, trending  # noqa: E402
from digest.core.store import Store, title_key  # noqa: E402
from digest.core.themes import environment, list_themes, theme_chain  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time in ms after one warm-up call (compiled templates, SQLite page cache)."""
    result = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def bench_build(tmp: Path, n: int, repeat: int) -> None:
    paths = make_paths(tmp / f"b{n}")
    cfg = make_config()
    with Store(paths.db_file) as store:
        fill_store(store, n)
        draft = store.draft()
        assert draft is not None
        chain = theme_chain("geekwire", {t.name: t for t in list_themes(paths)})
        env = environment(paths.user_themes_dir)
        template = env.get_template(f"builtin/{chain[0].name}/email.html.j2")

        def baseline() -> str:
            m = _material(store, cfg, draft, draft_sections(store, cfg, draft.id), NOW)
            return template.render({**_assemble(m, cfg, draft), "text": ""})

        def in_memory() -> bytes:  # what the target covers: render + inline + text + eml
            r = render_digest(store, cfg, paths, draft, theme="geekwire", now=NOW)
            return build_message(cfg.newsletter, subject=r.subject, html=r.html, text=r.text,
                                 to=cfg.newsletter.to).as_bytes()

        def full():  # plus three atomic, fsynced file writes and the store update
            return build_digest(store, cfg, paths, theme="geekwire", out_dir=tmp / f"out{n}", now=NOW)

        base_ms, raw = timed(baseline, repeat)
        mem_ms, _ = timed(in_memory, repeat)
        ms, result = timed(full, repeat)
        eml = result.eml_path.stat().st_size
        print(f"build {n:>3} stories: render+inline+text+eml {mem_ms:6.1f} ms, with atomic writes {ms:6.1f} ms; "
              f"html {result.html_bytes} B, text {result.text_path.stat().st_size} B, eml {eml} B "
              f"(baseline: template only {base_ms:.1f} ms, {len(raw.encode())} B; ratio {mem_ms / base_ms:.1f}x)")
        for note in result.notes:
            print(f"    note: {note}")


def bench_sandbox(tmp: Path, n: int, repeat: int) -> None:
    """The theme sandbox (issue 20 item 9): the geekwire HTML template rendered from the same context by
    a SandboxedEnvironment and by a plain Environment, alternately, so both see the same machine load."""
    paths = make_paths(tmp / f"s{n}")
    cfg = make_config()
    with Store(paths.db_file) as store:
        fill_store(store, n)
        draft = store.draft()
        assert draft is not None
        m = _material(store, cfg, draft, draft_sections(store, cfg, draft.id), NOW)
        ctx = {**_assemble(m, cfg, draft), "text": ""}
        name = "builtin/geekwire/email.html.j2"
        sandboxed = environment(paths.user_themes_dir).get_template(name)
        plain = environment(paths.user_themes_dir, False).get_template(name)
        assert sandboxed.render(ctx) == plain.render(ctx)
        times: dict[str, list[float]] = {"sandboxed": [], "plain": []}
        for _ in range(repeat):
            for label, template in (("sandboxed", sandboxed), ("plain", plain)):
                t = time.perf_counter()
                template.render(ctx)
                times[label].append((time.perf_counter() - t) * 1000)
        sb, pl = statistics.median(times["sandboxed"]), statistics.median(times["plain"])
        print(f"sandbox {n:>3} stories: geekwire html template {sb:.2f} ms sandboxed, {pl:.2f} ms plain "
              f"(baseline); ratio {sb / pl:.2f}x")


def bench_trending(tmp: Path, total: int, repeat: int) -> None:
    """`total` stories over 30 days from 200 feeds; about 3% are re-reports of another feed's story
    (same link) and 1% share a headline, which is in line with the sample feeds' overlap."""
    paths = make_paths(tmp / "t")
    rng = random.Random(42)
    now = NOW.timestamp()
    with Store(paths.db_file) as store:
        feeds = [store.add_feed(f"https://f{i}.example.com/feed", title=f"Feed {i}").id for i in range(200)]
        rows, titles = [], []
        for i in range(total):
            link = f"https://news.example.com/{i}"
            title = f"Story {i} about {rng.choice(['rust', 'cloud', 'seattle', 'ai', 'chips'])} things"
            r = rng.random()
            if r < 0.03 and i > 100:
                link = f"https://news.example.com/{rng.randrange(max(1, i - 500), i)}"
            elif r < 0.04 and i > 100:
                title = titles[rng.randrange(max(1, i - 500), i)]
            titles.append(title)
            pub = now - rng.random() * 30 * 86400
            rows.append((rng.choice(feeds), f"g{i}", link, link, title, title_key(title), pub, now))
        t = time.perf_counter()
        with store.tx() as db:
            db.executemany(
                "INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, published_at,"
                " fetched_at) VALUES (?,?,?,?,?,?,?,?)", rows)
        store.db.execute("ANALYZE")
        print(f"generated {total} stories in {time.perf_counter() - t:.1f} s")
        since = now - 7 * 86400

        def base() -> int:
            return store.db.execute("SELECT count(*) FROM stories WHERE published_at >= ?", (since,)).fetchone()[0]

        base_ms, in_window = timed(base, repeat)
        ms, clusters = timed(lambda: trending(store, since=since, limit=10), repeat)
        ms_all, all_clusters = timed(lambda: trending(store, since=since, limit=0), max(3, repeat // 4))
        print(f"trending over {total} stories ({in_window} in the 7-day window): {ms:.1f} ms for the top 10, "
              f"{ms_all:.1f} ms for all {len(all_clusters)} clusters (window count(*) {base_ms:.1f} ms; "
              f"ratio {ms / base_ms:.1f}x)")
        assert clusters and clusters[0].count >= 2
        cfg = make_config()
        cfg.select.since_last_digest = False
        t = time.perf_counter()
        added = auto_select(store, cfg, now=now)
        print(f"auto_select over the same store (72 h window): {(time.perf_counter() - t) * 1000:.1f} ms, "
              f"{added} stories flagged")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"digest build benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_build(tmp, 50, args.repeat)
        bench_build(tmp, 300, max(3, args.repeat // 4))
        bench_sandbox(tmp, 50, args.repeat * 5)
        bench_trending(tmp, args.stories, args.repeat)


if __name__ == "__main__":
    main()
