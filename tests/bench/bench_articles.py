"""Articles benchmark (issue 15): the pages behind 50 flagged teaser stories on 10 hosts, fetched and
extracted at build, against a sequential urllib + trafilatura loop over the same pages in the same run.

Targets from the issue: digest's fetch+extract at build takes at most 0.3 of the loop's time; a build
whose 50 articles are all stored already adds under 20 ms to a build that does not look at articles.

The 10 hosts are 10 HTTP servers on 127.0.0.1 (each its own port, so libcurl's per-host limit applies
to each). Every page answers after --latency seconds (default 0.15 s: a news site's time to first byte
seen from a home connection is 0.1-0.5 s), which a sequential loop pays 50 times and digest, with the
refresh's limits (16 at once, 2 per host), pays about three times. The pages are written for the test,
~8 KB of article with header, navigation and footer, and every tenth is the real FiveThirtyEight page
in tests/pages/ (~110 KB, scripts and ads included).

Run: python tests/bench/bench_articles.py [--latency 0.15] [--repeat 15]
Not collected by pytest (tests/bench is in norecursedirs).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from articlepages import PARAGRAPHS, article_page, real_page  # noqa: E402
from feedserver import FeedServer, Response  # noqa: E402
from helpers_digest import NOW, make_config, make_paths  # noqa: E402

from digest.core.articles import fetch_for_digest  # noqa: E402
from digest.core.build import build_digest  # noqa: E402
from digest.core.models import Image, ParsedStory  # noqa: E402
from digest.core.store import Store  # noqa: E402

HOSTS = 10
STORIES = 50


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page(i: int) -> bytes:
    if i % 10 == 9:
        return real_page("fivethirtyeight-manchin.html.gz")
    paras = PARAGRAPHS * 3  # ~1,300 words: a long read
    return article_page(f"Story {i}: Forkyard raises $12M", paragraphs=paras,
                        image=f"https://img.example.com/{i}.jpg", description=f"Story {i} in the site's words.")


def fill(store: Store, servers: list[FeedServer], *, rich: bool = False) -> list[str]:
    """One feed per host, 5 teaser stories each (no picture, a one-line summary), all flagged. `rich`: the
    feed gives the picture and a summary as long as the article's description instead (what today's build
    renders for a feed that carries both: the email has the same size, so only the article code differs)."""
    urls = []
    for h, srv in enumerate(servers):
        feed = store.add_feed(srv.url("/feed.xml"), title=f"Host {h}", section="Top Stories")
        stories = []
        for k in range(STORIES // HOSTS):
            i = h * (STORIES // HOSTS) + k
            url = srv.url(f"/a/{i}")
            urls.append(url)
            summary = "A teaser. Read more…"
            image = None
            if rich:
                summary = f"Story {i} in the site's words. " + PARAGRAPHS[0]
                image = Image(f"https://img.example.com/{i}.jpg", 1200, 800)
            stories.append(ParsedStory(guid=f"s{i}", link=url, canonical_link=url, image=image,
                                       title=f"Story {i} about Seattle startups and their money",
                                       summary=summary, published_at=NOW.timestamp() - i * 60))
        store.save_stories(feed.id, stories, now=NOW.timestamp())
    for sid in store.story_ids():
        store.flag(sid, "Top Stories")
    return urls


def baseline(urls: list[str]) -> float:
    """What a script would do: fetch each page with urllib, extract it with trafilatura, one after the
    other."""
    import trafilatura

    t = time.perf_counter()
    for url in urls:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
        assert trafilatura.extract(body, url=url, with_metadata=True, include_images=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.15, help="seconds each page waits before answering")
    ap.add_argument("--repeat", type=int, default=15, help="builds timed for the stored-articles figure")
    args = ap.parse_args()
    print(f"digest articles benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}; "
          f"{STORIES} teaser stories on {HOSTS} hosts, {args.latency * 1000:.0f} ms per page before the answer")
    import trafilatura  # noqa: F401 - imported before either side is timed: both pay it once

    servers = [FeedServer().start() for _ in range(HOSTS)]
    try:
        for h, srv in enumerate(servers):
            for k in range(STORIES // HOSTS):
                i = h * (STORIES // HOSTS) + k
                srv.route(f"/a/{i}", Response(200, {"Content-Type": "text/html; charset=utf-8"}, page(i),
                                              delay=args.latency))
        with tempfile.TemporaryDirectory() as d:
            paths = make_paths(Path(d))
            cfg = make_config(web_url="")  # pictures stay where they are: this measures the articles
            with Store(paths.db_file) as store:
                urls = fill(store, servers)
                draft = store.draft()
                assert draft is not None
                rss_before = rss_mb()
                t = time.perf_counter()
                notes = fetch_for_digest(store, cfg, draft.id)
                ours = time.perf_counter() - t
                rss_after = rss_mb()
                ok = sum(1 for a in store.articles_for(store.story_ids()).values() if a.ok)
                assert ok == STORIES and not notes, (ok, notes)
                t = time.perf_counter()
                build_digest(store, cfg, paths, out_dir=Path(d) / "out", now=NOW)
                first_build = time.perf_counter() - t
                print(f"fetch + extract at build: {ours:.2f} s for {ok} articles "
                      f"(the whole first build {first_build:.2f} s); peak RSS {rss_after:.0f} MB "
                      f"({rss_before:.0f} MB before the articles)")
                base = baseline(urls)
                print(f"sequential urllib + trafilatura: {base:.2f} s; ratio {ours / base:.2f} (target <= 0.30)")

                served = sum(len(s.requests) for s in servers)
                # today's build: the same 50 stories, the feed giving the pictures and blurbs, no articles.
                # The two builds alternate, so a busy moment of the host falls on both.
                with Store(Path(d) / "plain.db") as plain:
                    fill(plain, servers, rich=True)
                    today: list[float] = []
                    with_articles: list[float] = []
                    check: list[float] = []
                    rows: list[float] = []
                    def build(st: Store, at_build: bool, out: str) -> float:
                        cfg.articles.at_build = at_build
                        t = time.perf_counter()
                        build_digest(st, cfg, paths, out_dir=Path(d) / out, now=NOW)
                        return (time.perf_counter() - t) * 1000

                    for i in range(args.repeat + 1):
                        # the order alternates: the second build of a pair waits on the first one's fsyncs
                        if i % 2:
                            a_ms, b_ms = build(store, True, "out"), build(plain, False, "plain")
                        else:
                            b_ms, a_ms = build(plain, False, "plain"), build(store, True, "out")
                        t2 = time.perf_counter()
                        fetch_for_digest(store, cfg, draft.id)
                        t3 = time.perf_counter()
                        store.articles_for(store.story_ids(), brief=True)  # what render reads of them
                        t4 = time.perf_counter()
                        if i:  # the first round warms up (templates compiled, pages cached)
                            today.append(b_ms)
                            with_articles.append(a_ms)
                            check.append((t3 - t2) * 1000)
                            rows.append((t4 - t3) * 1000)
                assert sum(len(s.requests) for s in servers) == served  # all stored: nothing fetched
                a, b = statistics.median(with_articles), statistics.median(today)
                print(f"build, all {STORIES} articles stored (checked, then their pictures and blurbs used): "
                      f"{a:.1f} ms; the same stories with the feed giving pictures and blurbs, no articles, "
                      f"at_build off: {b:.1f} ms; +{a - b:.1f} ms (target < 20 ms); the check that finds "
                      f"nothing to fetch alone: {statistics.median(check):.1f} ms, reading the 50 rows for the "
                      f"render {statistics.median(rows):.1f} ms (medians of {args.repeat}, interleaved)")
    finally:
        for srv in servers:
            srv.stop()


if __name__ == "__main__":
    main()
