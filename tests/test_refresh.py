"""Refresh against a real HTTP server on 127.0.0.1: every case checks the stored feed row and stories, and
that the other feeds in the same refresh still succeed."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from feedserver import (
    FeedServer,
    Response,
    SlowFeed,
    atom,
    endless,
    gzip_bomb,
    http_date,
    rss,
    simple_rss,
    trickle,
)

from digest.core.config import Config, RefreshConfig
from digest.core.models import Feed
from digest.core.parse import parse_feed
from digest.core.refresh import RefreshReport, refresh
from digest.core.store import Store, StoryQuery

ETAG = 'W/"5f2b-19a8c3e7\'odd" value"'  # weak, with quotes and an apostrophe: stored byte for byte
LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"


def cfg(**refresh: object) -> Config:
    base = RefreshConfig(timeout_s=2.0)
    return Config(refresh=replace(base, **refresh))  # type: ignore[arg-type]


class Case:
    """One feed under test plus two neighbours (an HTTP feed on the same server and a local sample file)."""

    def __init__(self, store: Store, server: FeedServer, sample_feeds_dir: Path, path: str = "/case.xml") -> None:
        self.store, self.server = store, server
        server.feed("/neighbour.xml", simple_rss("neighbour", 4), etag='"n1"')
        self.neighbours = [
            store.add_feed(server.url("/neighbour.xml"), title="Neighbour"),
            store.add_feed(str(sample_feeds_dir / "devlog.atom"), title="Devlog"),
        ]
        self.feed = store.add_feed(server.url(path), title="Case")

    def refresh(self, config: Config | None = None, *, now: float | None = None,
                check_neighbours: bool = True) -> RefreshReport:
        report = refresh(self.store, config or cfg(), now=now)
        if check_neighbours:
            by_id = {r.feed_id: r for r in report.results}
            for n in self.neighbours:
                r = by_id[n.id]
                assert r.status in ("ok", "not_modified"), (r.status, r.error)
                row = self.store.get_feed(n.id)
                assert row.last_status in ("ok", "not_modified")
                assert row.consecutive_failures == 0 and row.last_error == ""
                assert row.story_count > 0
        return report

    def row(self) -> Feed:
        return self.store.get_feed(self.feed.id)

    def result(self, report: RefreshReport):
        return next(r for r in report.results if r.feed_id == self.feed.id)

    def stories(self) -> list:
        return self.store.stories(StoryQuery(feed_id=self.feed.id))

    def snapshot(self) -> list[tuple]:
        return [tuple(r) for r in self.store.db.execute(
            "SELECT * FROM stories WHERE feed_id = ? ORDER BY id", (self.feed.id,))]


@pytest.fixture
def case(store: Store, feed_server: FeedServer, sample_feeds_dir: Path) -> Case:
    return Case(store, feed_server, sample_feeds_dir)


def assert_error(case: Case, report: RefreshReport, *needles: str, failures: int = 1) -> Feed:
    row = case.row()
    res = case.result(report)
    assert res.status == "error", (res.status, res.error)
    assert row.last_status == "error"
    for needle in needles:
        assert needle.lower() in row.last_error.lower(), row.last_error
    assert row.last_error == res.error
    assert row.consecutive_failures == failures
    assert row.last_success_at is None or failures == 0 or row.last_success_at < (row.last_fetch_at or 0) + 1
    return row


# -- conditional GET --------------------------------------------------------------------------------


def test_etag_and_last_modified_stored_exactly_and_sent_back(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case", 5), etag=ETAG, last_modified=LAST_MODIFIED)
    report = case.refresh()
    assert case.result(report).status == "ok" and case.result(report).new == 5
    row = case.row()
    assert row.etag == ETAG
    assert row.last_modified == LAST_MODIFIED
    assert row.last_status == "ok" and row.last_error == "" and row.consecutive_failures == 0
    assert row.last_success_at is not None
    assert len(case.stories()) == 5
    before = case.snapshot()

    report = case.refresh()
    second = case.server.requests_for("/case.xml")[-1]
    assert second.header("If-None-Match") == ETAG
    assert second.header("If-Modified-Since") == LAST_MODIFIED
    assert case.result(report).status == "not_modified"
    assert report.not_modified >= 1
    row = case.row()
    assert row.last_status == "not_modified" and row.etag == ETAG and row.last_modified == LAST_MODIFIED
    assert case.snapshot() == before  # 304: no story writes at all


@pytest.mark.parametrize(("etag", "last_modified"), [
    ('"caf\u00e9-v1"', None),
    (None, "Wed, 25 Nov 2026 10:00:00 GMT \u00b1"),
])
def test_non_ascii_validators_go_back_byte_for_byte(case: Case, etag: str | None, last_modified: str | None) -> None:
    """HTTP header values are bytes; servers do send Latin-1 in ETags. Regression: a stored str sent back
    through httpx is encoded as ASCII (UnicodeEncodeError), which killed the whole refresh."""
    case.server.feed("/case.xml", simple_rss("case"), etag=etag, last_modified=last_modified)
    case.refresh()
    row = case.row()
    assert (row.etag, row.last_modified) == (etag, last_modified)
    report = case.refresh()
    req = case.server.requests_for("/case.xml")[-1]
    assert req.header("If-None-Match") == etag and req.header("If-Modified-Since") == last_modified
    assert case.result(report).status == "not_modified"


def test_first_request_sends_no_validators_and_a_descriptive_user_agent(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case"), etag='"x"')
    case.refresh()
    first = case.server.requests_for("/case.xml")[0]
    assert first.header("If-None-Match") is None and first.header("If-Modified-Since") is None
    ua = first.header("User-Agent") or ""
    assert ua.startswith("digest/") and "python-httpx" not in ua.split()[0]
    assert "gzip" in (first.header("Accept-Encoding") or "")


def test_last_modified_only(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case"), last_modified=LAST_MODIFIED)
    case.refresh()
    assert case.row().etag is None and case.row().last_modified == LAST_MODIFIED
    report = case.refresh()
    req = case.server.requests_for("/case.xml")[-1]
    assert req.header("If-Modified-Since") == LAST_MODIFIED and req.header("If-None-Match") is None
    assert case.result(report).status == "not_modified"


def test_304_with_a_fresh_etag_keeps_the_new_validator(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case"), etag='"v1"')
    case.refresh()
    case.server.route("/case.xml", Response(304, {"ETag": '"v2"'}))
    report = case.refresh()
    assert case.result(report).status == "not_modified"
    assert case.row().etag == '"v2"'
    assert len(case.stories()) == 3


def test_304_after_failures_clears_them_and_keeps_the_validator_it_does_not_carry(case: Case) -> None:
    """The 304s of a refresh are written in one statement (Store.mark_not_modified): the same row as a
    304 written alone: errors and backoff cleared, each validator replaced only when the 304 has one."""
    case.server.feed("/case.xml", simple_rss("case"), etag='"v1"', last_modified=LAST_MODIFIED)
    case.refresh()
    case.server.route("/case.xml", Response(503, {"Retry-After": "1"}))
    case.refresh()
    failed = case.row()
    assert failed.consecutive_failures == 1 and failed.last_error and failed.retry_after
    case.store.update_feed(failed.id, retry_after=None)  # its wait is over
    case.server.route("/case.xml", Response(304, {"ETag": '"v2"'}))
    report = case.refresh()
    assert case.result(report).status == "not_modified"
    row = case.row()
    assert (row.last_status, row.last_error, row.consecutive_failures, row.retry_after, row.disabled) == (
        "not_modified", "", 0, None, False)
    assert (row.etag, row.last_modified) == ('"v2"', LAST_MODIFIED)
    assert row.last_success_at == row.last_fetch_at and row.last_fetch_at > failed.last_fetch_at


def test_changed_body_without_validators_updates_without_duplicates(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case", 3))
    case.refresh()
    case.server.feed("/case.xml", simple_rss("case", 5))
    report = case.refresh()
    assert case.result(report).new == 2
    assert len(case.stories()) == 5


# -- bodies -----------------------------------------------------------------------------------------


def test_gzip_body(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case", 4), gzip=True, etag='"gz"')
    report = case.refresh()
    assert case.result(report).status == "ok"
    assert case.result(report).new == 4
    assert {s.title for s in case.stories()} == {f"case story {i}" for i in range(4)}
    assert case.row().etag == '"gz"'


def test_large_gzip_body_arrives_whole(case: Case) -> None:
    """~1.5 MB inflated, compressed well: the bounded decoder must not lose the tail of the stream."""
    items = [{"title": f"Story {i}", "guid": f"g{i}", "link": f"https://site.example/{i}",
              "description": "<p>" + ("word " * 300) + f"{i}</p>"} for i in range(1000)]
    case.server.feed("/case.xml", rss("big", items), gzip=True)
    report = case.refresh()
    assert case.result(report).status == "ok", case.result(report).error
    assert case.result(report).new == 1000


def test_corrupt_gzip_is_a_per_feed_error(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
                                            b"\x1f\x8b\x08\x00garbage-not-deflate" * 10))
    report = case.refresh()
    assert_error(case, report)
    assert case.stories() == []


# -- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_updates_the_stored_url(case: Case, code: int) -> None:
    case.server.redirect("/case.xml", "/moved.xml", code)
    case.server.feed("/moved.xml", simple_rss("moved"), etag='"m"')
    report = case.refresh()
    assert case.result(report).status == "ok"
    row = case.row()
    assert row.url == case.server.url("/moved.xml")
    assert row.etag == '"m"'
    assert len(case.stories()) == 3
    case.refresh()
    assert len(case.server.requests_for("/case.xml")) == 1  # the old URL is not asked again
    assert case.server.requests_for("/moved.xml")[-1].header("If-None-Match") == '"m"'


@pytest.mark.parametrize("code", [302, 307, 303])
def test_temporary_redirect_keeps_the_stored_url(case: Case, code: int) -> None:
    case.server.redirect("/case.xml", "/today.xml", code)
    case.server.feed("/today.xml", simple_rss("today"))
    report = case.refresh()
    assert case.result(report).status == "ok"
    assert case.row().url == case.server.url("/case.xml")
    assert len(case.stories()) == 3


def test_permanent_then_temporary_hop_keeps_the_stored_url(case: Case) -> None:
    case.server.redirect("/case.xml", "/hop.xml", 301)
    case.server.redirect("/hop.xml", "/final.xml", 302)
    case.server.feed("/final.xml", simple_rss("final"))
    case.refresh()
    assert case.row().url == case.server.url("/case.xml")
    assert case.row().last_status == "ok"


def test_permanent_redirect_onto_another_feeds_url_does_not_break(case: Case) -> None:
    case.server.redirect("/case.xml", "/neighbour.xml", 301)
    report = case.refresh()
    assert case.result(report).status == "ok"
    assert case.row().url == case.server.url("/case.xml")  # the URL is taken by the neighbour


def test_redirect_loop_is_an_error(case: Case) -> None:
    case.server.redirect("/case.xml", "/b.xml", 302)
    case.server.redirect("/b.xml", "/case.xml", 301)
    report = case.refresh()
    assert_error(case, report, "loop")
    assert case.stories() == []
    assert case.row().url == case.server.url("/case.xml")


def test_endless_redirect_chain_is_an_error(case: Case) -> None:
    for i in range(30):
        case.server.redirect(f"/r{i}", f"/r{i + 1}", 302)
    case.server.redirect("/case.xml", "/r0", 302)
    report = case.refresh()
    assert_error(case, report, "redirect")


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/feed.xml", "file:///etc/passwd", "javascript:alert(1)",
                                    "http://[::1/feed"])
def test_redirect_to_a_non_http_scheme_is_an_error(case: Case, target: str) -> None:
    case.server.redirect("/case.xml", target, 301)
    # javascript:: httpx raises InvalidURL (not an HTTPError) while building the next request from the
    # Location, even with follow_redirects off; it once escaped _refresh_feed and killed the whole refresh
    report = case.refresh()
    assert_error(case, report, "non-http" if target.startswith(("ftp", "file")) else "")
    assert case.row().url == case.server.url("/case.xml")
    assert case.stories() == []


@pytest.mark.parametrize("url", ["http://[::1/feed.xml", "http://127.0.0.1:99999/feed.xml"])
def test_unusable_stored_url_is_a_per_feed_error(store: Store, feed_server: FeedServer, sample_feeds_dir: Path,
                                                 url: str) -> None:
    """OPML import stores URLs without fetching them, so a refresh meets whatever a file held.
    Regression: httpx.InvalidURL (not an httpx.HTTPError), urllib's ValueError, or anyio's ExceptionGroup
    (port 99999) escaped _refresh_feed and killed the whole refresh."""
    case = Case(store, feed_server, sample_feeds_dir)
    feed_server.feed("/case.xml", simple_rss("case"))
    bad = store.add_feed(url)
    case.refresh()
    row = store.get_feed(bad.id)
    assert row.last_status == "error" and row.last_error and row.consecutive_failures == 1
    assert case.row().last_status == "ok" and len(case.stories()) == 3


# -- slow, failing and throttling servers -----------------------------------------------------------


def test_slow_response_past_the_timeout(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"},
                                            simple_rss("slow"), delay=60))
    t0 = time.monotonic()
    report = case.refresh(cfg(timeout_s=1))
    assert time.monotonic() - t0 < 30  # stopped by the 1 s limit, long before the 60 s answer
    assert_error(case, report, "timed out")
    assert case.stories() == []


def test_trickling_body_hits_the_total_time_limit(case: Case) -> None:
    """Each read is quick, so only the total per-feed limit can stop it."""
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"},
                                            trickle(simple_rss("slow", 30), step=20, interval=0.15)))
    t0 = time.monotonic()
    report = case.refresh(cfg(timeout_s=1))
    assert time.monotonic() - t0 < 30  # stopped by the 1 s limit, long before the ~60 s body ends
    assert_error(case, report, "timed out")


def test_500_counts_failures_and_success_resets_them(case: Case) -> None:
    case.server.route("/case.xml", Response(500, {"Content-Type": "text/plain"}, b"boom"))
    assert_error(case, case.refresh(), "500", failures=1)
    assert_error(case, case.refresh(), "500", failures=2)
    case.server.feed("/case.xml", simple_rss("case"))
    report = case.refresh()
    row = case.row()
    assert case.result(report).status == "ok"
    assert row.last_status == "ok" and row.last_error == "" and row.consecutive_failures == 0
    assert len(case.stories()) == 3


def test_500_keeps_the_stories_already_stored(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("case"))
    case.refresh()
    case.server.route("/case.xml", Response(502, body=b"bad gateway"))
    assert_error(case, case.refresh(), "502")
    assert len(case.stories()) == 3


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_skips_the_feed_until_then(case: Case, code: int) -> None:
    now = time.time()
    case.server.route("/case.xml", Response(code, {"Retry-After": "120"}, b"slow down"))
    report = case.refresh(now=now)
    row = assert_error(case, report, str(code))
    assert row.retry_after == pytest.approx(now + 120, abs=1)

    hits = len(case.server.requests_for("/case.xml"))
    case.server.feed("/case.xml", simple_rss("case"))
    report = case.refresh(now=now + 60)
    assert case.result(report).status == "skipped"
    assert len(case.server.requests_for("/case.xml")) == hits  # not asked at all
    assert case.stories() == []

    report = case.refresh(now=now + 121)
    assert case.result(report).status == "ok"
    row = case.row()
    assert row.retry_after is None and row.consecutive_failures == 0
    assert len(case.stories()) == 3


def test_retry_after_http_date(case: Case) -> None:
    now = time.time()
    when = http_date(__import__("datetime").datetime.fromtimestamp(int(now) + 3600,
                                                                   __import__("datetime").UTC))
    case.server.route("/case.xml", Response(429, {"Retry-After": when}))
    case.refresh(now=now)
    assert case.row().retry_after == pytest.approx(int(now) + 3600, abs=2)


def test_410_gone_disables_the_feed(case: Case) -> None:
    case.server.route("/case.xml", Response(410, body=b"gone"))
    report = case.refresh()
    row = case.row()
    assert case.result(report).status == "gone"
    assert row.last_status == "gone" and row.disabled
    assert "410" in row.last_error
    assert report.failed >= 1
    hits = len(case.server.requests_for("/case.xml"))
    report = case.refresh()
    assert case.result(report).status == "skipped"
    assert len(case.server.requests_for("/case.xml")) == hits


def test_404_and_refused_connection_are_per_feed_errors(store: Store, feed_server: FeedServer,
                                                         sample_feeds_dir: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    case = Case(store, feed_server, sample_feeds_dir, "/missing.xml")
    refused = store.add_feed(f"http://127.0.0.1:{closed_port}/feed.xml")
    report = case.refresh()
    assert_error(case, report, "404")
    row = store.get_feed(refused.id)
    assert row.last_status == "error" and row.last_error and row.consecutive_failures == 1


# -- size limits --------------------------------------------------------------------------------------


def test_oversize_body_with_content_length(case: Case) -> None:
    case.server.feed("/case.xml", simple_rss("big", 400))
    report = case.refresh(cfg(max_bytes=20_000))
    assert_error(case, report, "larger than")
    assert case.stories() == []


def test_oversize_chunked_body_is_cut_off(case: Case) -> None:
    body = simple_rss("big", 400)
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"},
                                            (body[i:i + 4096] for i in range(0, len(body), 4096))))
    report = case.refresh(cfg(max_bytes=20_000))
    assert_error(case, report, "larger than")


def test_endless_chunked_body_is_cut_off(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"}, endless()))
    t0 = time.monotonic()
    report = case.refresh(cfg(max_bytes=200_000, timeout_s=5))
    assert time.monotonic() - t0 < 4  # stopped by the size limit, not the clock
    assert_error(case, report, "larger than")


def test_gzip_bomb_is_cut_off_with_bounded_memory(case: Case) -> None:
    inflated = 50_000_000
    bomb = gzip_bomb(inflated)
    assert len(bomb) < 200_000
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml",
                                                  "Content-Encoding": "gzip"}, bomb))
    tracemalloc.start()
    try:
        report = case.refresh(cfg(max_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(case, report, "larger than")
    assert peak < 8_000_000, f"peak {peak:,} bytes while reading a {inflated:,}-byte bomb"


def test_gzip_bomb_under_the_default_limit_stays_bounded(case: Case) -> None:
    bomb = gzip_bomb(50_000_000)
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml",
                                                  "Content-Encoding": "gzip"}, bomb))
    tracemalloc.start()
    try:
        report = case.refresh(Config())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(case, report, "larger than")
    assert peak < 25_000_000  # the 10 MB default limit plus bookkeeping, far under 50 MB


# -- not feeds ------------------------------------------------------------------------------------------


def test_malformed_xml_is_a_per_feed_error(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/xml"}, b"<<<this is not <xml"))
    report = case.refresh()
    assert_error(case, report, "not a feed")
    assert case.stories() == []


def test_broken_but_readable_xml_is_stored_with_a_warning(case: Case) -> None:
    body = simple_rss("case", 3)[:-30]  # cut off inside the last item
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"}, body))
    report = case.refresh()
    res = case.result(report)
    assert res.status == "ok" and res.warning
    assert len(case.stories()) >= 2


def test_html_page_at_a_feed_url_is_an_error_that_says_so(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "text/html"},
                                            b"<!doctype html><html><head><title>Hi</title></head><body></body></html>"))
    report = case.refresh()
    assert_error(case, report, "html")


def test_empty_200_is_an_error(case: Case) -> None:
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"}, b""))
    assert_error(case, case.refresh(), "empty")


# -- politeness ---------------------------------------------------------------------------------------


def test_per_host_limit(store: Store, feed_server: FeedServer) -> None:
    slow = SlowFeed(0.25)
    for i in range(6):
        feed_server.route(f"/f{i}", slow)
        store.add_feed(feed_server.url(f"/f{i}"))
    report = refresh(store, cfg(per_host=2, concurrency=16))
    assert report.ok == 6
    assert slow.peak == 2


def test_global_concurrency_limit(store: Store, feed_server: FeedServer) -> None:
    """Different hosts (127.0.0.1 vs localhost) so only the global limit applies."""
    slow = SlowFeed(0.2)
    for i in range(4):
        feed_server.route(f"/f{i}", slow)
        host = "127.0.0.1" if i % 2 else "localhost"
        store.add_feed(f"http://{host}:{feed_server.port}/f{i}")
    report = refresh(store, cfg(per_host=4, concurrency=1))
    assert report.ok + report.failed == 4
    assert slow.peak == 1


# -- local files --------------------------------------------------------------------------------------


def test_local_files_and_file_urls(store: Store, sample_feeds_dir: Path, tmp_path: Path) -> None:
    feed_file = tmp_path / "local.xml"
    feed_file.write_bytes(simple_rss("local", 2))
    a = store.add_feed(str(feed_file))
    b = store.add_feed((sample_feeds_dir / "climate.json").as_uri())
    report = refresh(store, cfg())
    assert report.ok == 2
    assert store.get_feed(a.id).story_count == 2 and store.get_feed(b.id).story_count == 8
    report = refresh(store, cfg())
    assert report.not_modified == 2
    feed_file.write_bytes(simple_rss("local", 3))
    report = refresh(store, cfg())
    assert {r.feed_id: r.status for r in report.results} == {a.id: "ok", b.id: "not_modified"}
    assert store.get_feed(a.id).story_count == 3


def test_missing_local_file_is_a_per_feed_error(store: Store, sample_feeds_dir: Path, tmp_path: Path) -> None:
    gone = store.add_feed(str(tmp_path / "nope.xml"))
    ok = store.add_feed(str(sample_feeds_dir / "jobs.xml"))
    report = refresh(store, cfg())
    assert store.get_feed(gone.id).last_status == "error"
    assert "no such file" in store.get_feed(gone.id).last_error
    assert store.get_feed(ok.id).story_count == 12
    assert report.failed == 1 and report.ok == 1


def test_refresh_of_all_sample_feeds(store: Store, sample_feeds_dir: Path) -> None:
    from digest.core.feeds import import_opml

    import_opml(store, sample_feeds_dir / "feeds.opml", allow_files=True)
    report = refresh(store, cfg())
    assert report.ok == 6 and report.failed == 0, [r.error for r in report.results]
    assert report.new == 14 + 10 + 12 + 8 + 8 + 8
    assert sum(f.story_count for f in store.list_feeds()) == 60
    assert {f.title for f in store.list_feeds()} >= {"Puget Sound Tech Wire", "Cascadia Climate Tech"}


def test_read_flags_and_draft_flags_survive_a_changed_feed(store: Store, tmp_path: Path) -> None:
    feed_file = tmp_path / "f.xml"
    feed_file.write_bytes(simple_rss("x", 3))
    feed = store.add_feed(str(feed_file))
    refresh(store, cfg())
    stories = store.stories(StoryQuery(feed_id=feed.id))
    store.set_read([stories[0].id])
    store.flag(stories[1].id, "Top Stories", blurb="mine")
    # the publisher edits every title and adds an item
    feed_file.write_bytes(simple_rss("x", 4).replace(b"story", b"STORY"))
    report = refresh(store, cfg())
    assert report.results[0].new == 1
    after = {s.id: s for s in store.stories(StoryQuery(feed_id=feed.id))}
    assert len(after) == 4
    assert after[stories[0].id].read
    assert after[stories[1].id].flagged and after[stories[1].id].blurb == "mine"
    assert "STORY" in after[stories[0].id].title


def test_gzip_helper_sanity() -> None:
    """The server's gzip is real gzip (guards the fixtures, not digest)."""
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


def test_atom_over_http_resolves_relative_links(case: Case) -> None:
    case.server.feed("/case.xml", atom("A", [{"id": "urn:1", "title": "One", "link": "/posts/one",
                                               "updated": "2026-11-20T10:00:00Z"}],
                                          base="https://blog.example/"), content_type="application/atom+xml")
    case.refresh()
    [s] = case.stories()
    assert s.link == "https://blog.example/posts/one"


def test_many_feeds_parse_in_worker_processes(store: Store, feed_server: FeedServer) -> None:
    """From pool_threshold() feeds on, parsing moves to a process pool; results must be the same as in a
    thread."""
    from digest.core.pool import pool_threshold

    n = pool_threshold()
    for i in range(n):
        feed_server.feed(f"/p{i}.xml", simple_rss(f"p{i}", 3), etag=f'"p{i}"')
        store.add_feed(feed_server.url(f"/p{i}.xml"))
    feed_server.route("/p-bad.xml", Response(200, {"Content-Type": "application/xml"}, b"<<<not xml"))
    bad = store.add_feed(feed_server.url("/p-bad.xml"))
    report = refresh(store, cfg())
    assert report.ok == n and report.failed == 1 and report.new == 3 * n
    # the Checkpointer copied every story into the database file beside the workers (the store, still
    # open here, has not checkpointed on close)
    assert _stories_in_the_database_file(store) == 3 * n
    assert "not a feed" in store.get_feed(bad.id).last_error
    assert all(f.etag for f in store.list_feeds() if f.id != bad.id)
    report = refresh(store, cfg())
    assert report.not_modified == n


def test_refresh_killed_half_way_leaves_the_store_consistent(digest_home, feed_server: FeedServer,
                                                             sample_feeds_dir: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from digest.core.feeds import import_opml

    with Store(digest_home.db_file) as s:
        import_opml(s, sample_feeds_dir / "feeds.opml", allow_files=True)
        refresh(s, cfg())
        flagged = s.stories(StoryQuery(limit=2))
        s.flag(flagged[0].id, "Top Stories", blurb="keep")
        s.flag(flagged[1].id, "Startups")
        s.set_read([flagged[0].id])
        for i in range(8):
            feed_server.route(f"/k{i}.xml", Response(200, {"Content-Type": "application/rss+xml"},
                                                     simple_rss(f"k{i}", 5), delay=0.4))
            s.add_feed(feed_server.url(f"/k{i}.xml"))

    env = {**os.environ, "DIGEST_HOME": str(digest_home.config_dir),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "digest", "refresh"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # kill as soon as one slow feed is stored: the others are in flight or waiting (two at a time)
        with Store(digest_home.db_file) as watcher:
            while not any(f.story_count for f in watcher.list_feeds() if "/k" in f.url):
                assert proc.poll() is None, "the refresh ended before it could be killed"
                assert time.monotonic() < deadline, "the refresh stored nothing"
                time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    with Store(digest_home.db_file) as s:
        assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        items = {i.story.id: i for i in s.digest_items()}
        assert set(items) == {flagged[0].id, flagged[1].id} and items[flagged[0].id].blurb == "keep"
        assert s.get_story(flagged[0].id).read
        slow = [f for f in s.list_feeds() if "/k" in f.url]
        assert {f.story_count for f in slow} <= {0, 5}  # a feed's stories are all there or none
        assert any(f.story_count == 5 for f in slow) and any(f.story_count == 0 for f in slow)
        assert all(f.story_count == 5 for f in slow if f.last_status == "ok")
        assert s.count_stories() >= 60


def test_waiting_for_the_per_host_limit_does_not_count_against_the_timeout(store: Store,
                                                                            feed_server: FeedServer) -> None:
    """Many feeds on one host (medium.com/feed/@a, @b, ...) queue behind the per-host limit. The per-feed
    time limit is for the server's answer; a healthy feed must not time out while it waits its turn."""
    # five feeds one at a time, 0.8 s each: the last waits 3.2 s, past the 2.5 s limit, and each answer
    # has 1.7 s to spare under it (a loaded machine)
    for i in range(5):
        feed_server.route(f"/q{i}", Response(200, {"Content-Type": "application/rss+xml"},
                                             simple_rss(f"q{i}"), delay=0.8))
        store.add_feed(feed_server.url(f"/q{i}"))
    report = refresh(store, cfg(per_host=1, timeout_s=2.5))
    assert [r.error for r in report.results if r.status != "ok"] == []
    assert report.ok == 5


def test_a_gone_feed_that_comes_back_is_enabled_again(case: Case) -> None:
    """410 disables a feed; `digest refresh --feed ID` still tries it. If it answers again, it is back:
    later refreshes must fetch it again instead of skipping it for ever."""
    case.server.route("/case.xml", Response(410))
    case.refresh()
    assert case.row().disabled
    case.server.feed("/case.xml", simple_rss("case"))
    report = refresh(case.store, cfg(), [case.feed.id])
    assert case.result(report).status == "ok"
    row = case.row()
    assert row.last_status == "ok" and row.consecutive_failures == 0
    assert not row.disabled
    case.server.feed("/case.xml", simple_rss("case", 4))
    report = case.refresh()
    assert case.result(report).status == "ok" and case.result(report).new == 1


def test_connections_are_reused(store: Store, feed_server: FeedServer) -> None:
    """Keep-alive: ten feeds on one host over at most per_host connections, not ten handshakes."""
    for i in range(10):
        feed_server.feed(f"/c{i}.xml", simple_rss(f"c{i}", 1))
        store.add_feed(feed_server.url(f"/c{i}.xml"))
    report = refresh(store, cfg(per_host=2))
    assert report.ok == 10
    ports = {r.client[1] for r in feed_server.requests}
    assert 1 <= len(ports) <= 2


LONE_SURROGATES_JSON = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "S\\ud800", "items": ['
                        b'{"id": "1\\ud800", "title": "bad \\udc00 title", "tags": ["t\\ud800"],'
                        b' "url": "https://s.example/a"}]}')


def test_lone_surrogates_in_a_json_feed(case: Case) -> None:
    """json.loads turns a lone "\\ud800" escape into a surrogate, which UTF-8 (SQLite) cannot encode.
    bug: save_stories raises UnicodeEncodeError, which escapes ingest_jobs and ends the whole refresh."""
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/feed+json"}, LONE_SURROGATES_JSON))
    report = case.refresh()
    assert case.result(report).status == "ok", case.result(report).error
    [story] = case.stories()
    story.title.encode("utf-8")
    assert story.title.startswith("bad ") and story.title.endswith(" title")


def test_bad_character_references_in_xml_cost_at_most_that_feed(case: Case) -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x&#xD800;</title>'
            b"<item><guid>a</guid><title>t&#xDFFF;</title></item><item><guid>b</guid><title>fine</title></item>"
            b"</channel></rss>")
    case.server.route("/case.xml", Response(200, {"Content-Type": "application/rss+xml"}, body))
    report = case.refresh()
    assert case.result(report).status in ("ok", "error")
    for s in case.stories():
        s.title.encode("utf-8")


def test_configured_user_agent_is_sent(case: Case) -> None:
    """config.refresh.user_agent is accepted by the config; a value there must reach the servers.
    bug: nothing reads it (make_client always sends the built-in USER_AGENT)."""
    case.server.feed("/case.xml", simple_rss("case"))
    case.refresh(cfg(user_agent="SeattleDigest/2.0 (+https://digest.example/bot)"))
    assert case.server.requests_for("/case.xml")[0].header("User-Agent") == \
        "SeattleDigest/2.0 (+https://digest.example/bot)"


def test_steady_refresh_pool_is_made_only_when_a_body_comes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With validators on every feed (the steady state) the process pool is a LazyPool: nothing is
    started until a body needs parsing, so an all-304 refresh runs without the resource tracker and
    workers; new feeds get the real pool at once (warmed up from a thread)."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from digest.core import pool as pool_mod

    monkeypatch.setattr(pool_mod, "_real_stdio", lambda: True)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    base = Feed(id=1, url="http://127.0.0.1:9/f.xml")
    known = [replace(base, id=i, etag=f'"{i}"') for i in range(pool_mod.pool_threshold())]
    lazy = pool_mod.parse_executor(known)
    assert isinstance(lazy, pool_mod.LazyPool)
    assert lazy._pool is None
    lazy.shutdown(wait=True)  # never used: nothing to stop
    assert lazy._pool is None
    lazy = pool_mod.parse_executor(known)
    try:
        assert lazy.submit(pow, 2, 10).result(timeout=60) == 1024  # the first job makes the pool
        assert isinstance(lazy._pool, ProcessPoolExecutor)
    finally:
        lazy.shutdown(wait=True)
    fresh = [replace(base, id=i) for i in range(pool_mod.pool_threshold())]
    eager = pool_mod.parse_executor(fresh)
    try:
        assert isinstance(eager, ProcessPoolExecutor)
    finally:
        eager.shutdown(wait=True, cancel_futures=True)


class RecordingLock:
    """Stands for the workers' WriterLock: records "lock" and "unlock" in events."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def __enter__(self) -> None:
        self.events.append("lock")

    def __exit__(self, *exc: object) -> None:
        self.events.append("unlock")

    def close(self) -> None:
        pass


@pytest.fixture
def writer_events(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs ingest as a parse worker does (under the writer lock), with a lock that records "lock" and
    "unlock" in the list returned; tests add the SQL they watch for."""
    from digest.core import ingest

    events: list[str] = []
    monkeypatch.setattr(ingest, "_lock_writes", True)
    monkeypatch.setitem(ingest._writer_locks, str(store.path), RecordingLock(events))
    return events


def test_a_worker_stores_each_feed_in_one_transaction_under_the_write_lock(
    store: Store, writer_events: list[str]
) -> None:
    """In a parse worker, a feed's stories and its new validators are one transaction, taken inside the
    writer lock the pool's workers share (init_worker), so workers queue on it and not on SQLite's sleeps."""
    from digest.core import ingest
    from digest.core.models import FetchResult

    events = writer_events
    feed = store.add_feed("http://127.0.0.1:9/one.xml")
    worker_store = ingest._worker_store(str(store.path))
    worker_store.db.set_trace_callback(
        lambda sql: events.append(sql.split()[0]) if sql.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK") else None)
    try:
        fetched = FetchResult("ok", body=simple_rss("one", 3), http_status=200, etag='"v1"',
                              content_type="application/rss+xml")
        [(res, error)] = ingest.ingest_jobs(str(store.path), [(feed, fetched)], time.time())
    finally:
        ingest.close_worker_stores()
    assert error is None and res.status == "ok" and res.new == 3
    assert events == ["lock", "BEGIN", "COMMIT", "unlock"]
    assert store.get_feed(feed.id).etag == '"v1"'
    assert len(store.stories(StoryQuery(feed_id=feed.id))) == 3


def test_a_worker_stores_a_batch_of_feeds_in_one_commit_and_reports_each(
    store: Store, writer_events: list[str]
) -> None:
    """ingest_jobs parses every body, then stores the good ones in one transaction under one lock; a
    body that is not a feed gets its error back and stores nothing, and the others are stored."""
    from digest.core import ingest
    from digest.core.models import FetchResult

    events = writer_events
    feeds = [store.add_feed(f"http://127.0.0.1:9/{name}.xml") for name in ("one", "bad", "two")]
    bodies = [simple_rss("one", 3), b"<html><body>not a feed</body></html>", simple_rss("two", 4)]
    worker_store = ingest._worker_store(str(store.path))
    worker_store.db.set_trace_callback(
        lambda sql: events.append(sql.split()[0]) if sql.split()[0] in ("BEGIN", "COMMIT") else None)
    try:
        jobs = [(f, FetchResult("ok", body=b, http_status=200, etag=f'"{f.id}"', content_type="application/rss+xml"))
                for f, b in zip(feeds, bodies, strict=True)]
        results = ingest.ingest_jobs(str(store.path), jobs, time.time())
    finally:
        ingest.close_worker_stores()
    assert events == ["lock", "BEGIN", "COMMIT", "unlock"]
    assert [(r.feed_id, r.status, r.new, r.stories) for r, _ in results] == [
        (feeds[0].id, "ok", 3, 3), (feeds[1].id, "error", 0, 0), (feeds[2].id, "ok", 4, 4)]
    assert results[0][1] is None and results[2][1] is None and "not a feed" in (results[1][1] or "")
    assert [store.get_feed(f.id).etag for f in feeds] == [f'"{feeds[0].id}"', None, f'"{feeds[2].id}"']
    assert [len(store.stories(StoryQuery(feed_id=f.id))) for f in feeds] == [3, 0, 4]


def test_bodies_that_pile_up_go_to_the_workers_in_batches_and_fetching_waits_for_them(
    store: Store, feed_server: FeedServer
) -> None:
    """Fetching outruns parsing: one slow ingest thread, 60 feeds. Every feed is in exactly one job, no
    job holds more than BATCH_FEEDS, the piled-up bodies went in batches, and every feed is stored.
    Fetching pauses while READY_PER_WORKER bodies wait: when a job is handed out, the server has not
    answered many more feeds than were handed out before (without the pause it answers all 60 at once)."""
    from concurrent.futures import ThreadPoolExecutor

    from digest.core import refresh as refresh_mod
    from digest.core.refresh import Refresher

    jobs: list[list[int]] = []
    ahead: list[int] = []  # feeds the server had answered beyond those already handed to the worker

    class SlowRecordingExecutor(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            ahead.append(len(feed_server.requests) - sum(len(job) for job in jobs))
            jobs.append([feed.id for feed, _ in args[1]])

            def slow(*a: object) -> object:
                time.sleep(0.03)
                return fn(*a)

            return super().submit(slow, *args, **kwargs)

    for i in range(60):
        feed_server.feed(f"/b{i}.xml", simple_rss(f"b{i}", 2))
        store.add_feed(feed_server.url(f"/b{i}.xml"))
    feeds = store.list_feeds(counts=False)
    report = Refresher(store, cfg(per_host=2)).run(feeds, None, executor=SlowRecordingExecutor(max_workers=1))
    assert report.ok == 60 and report.new == 120
    assert sorted(i for job in jobs for i in job) == sorted(f.id for f in feeds)
    assert max(len(job) for job in jobs) == refresh_mod.BATCH_FEEDS, jobs
    assert len(jobs) < 60
    # waiting bodies + two requests under way + a batch being taken out
    assert max(ahead) <= refresh_mod.READY_PER_WORKER + 2 + refresh_mod.BATCH_FEEDS, ahead


def test_a_parse_worker_that_dies_costs_only_the_feed_that_kills_it(
    store: Store, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies (the OOM killer, a crash in a parser library) breaks its whole pool: every job
    under way fails with BrokenProcessPool (this used to end the refresh with a traceback). Their feeds
    are parsed again in a new pool, one at a time, so a second death names its feed: only that one gets
    the error. The executor stands for a process pool whose worker dies on one feed (a fault no real
    feed makes on demand; test_durability kills a real worker)."""
    from concurrent.futures import Future, ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from digest.core.refresh import WORKER_DIED, Refresher

    for i in range(12):
        feed_server.feed(f"/w{i}.xml", simple_rss(f"w{i}", 2))
        store.add_feed(feed_server.url(f"/w{i}.xml"))
    killer = feed_server.url("/w5.xml")
    pools: list[DyingWorkers] = []

    class DyingWorkers(ThreadPoolExecutor):
        def __init__(self) -> None:
            super().__init__(max_workers=2)
            self.broken = False
            self.jobs: list[list[str]] = []
            pools.append(self)

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            self.jobs.append([feed.url for feed, _ in args[1]])
            if self.broken or killer in self.jobs[-1]:
                self.broken = True
                failed: Future[object] = Future()
                failed.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
                return failed
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(Refresher, "_new_pool", staticmethod(lambda workers: DyingWorkers()))
    report = Refresher(store, cfg(per_host=2)).run(store.list_feeds(counts=False), None, executor=DyingWorkers())
    assert (report.ok, report.failed) == (11, 1)
    [dead] = report.errors
    assert dead.url == killer and dead.error == WORKER_DIED
    assert store.get_feed(dead.feed_id).last_error == WORKER_DIED
    assert {f.url: f.story_count for f in store.list_feeds()} == {
        feed_server.url(f"/w{i}.xml"): 0 if i == 5 else 2 for i in range(12)}
    # the killer broke the first pool, then a second one, alone: the second pool ran only feeds retried
    # after the first death (those under way beside it), one job each
    assert len(pools) == 3
    assert sum(killer in job for pool in pools for job in pool.jobs) == 2
    assert pools[1].jobs and all(len(job) == 1 for job in pools[1].jobs)


def _stories_in_the_database_file(store: Store) -> int:
    """Stories in the database file alone, its WAL ignored: what checkpoints have copied so far."""
    import sqlite3

    alone = sqlite3.connect(f"file:{store.path}?immutable=1", uri=True)
    try:
        return int(alone.execute("SELECT count(*) FROM stories").fetchone()[0])
    finally:
        alone.close()


def test_workers_never_checkpoint_and_the_refreshing_process_does_it_beside_them(
    store: Store, monkeypatch: pytest.MonkeyPatch, writer_events: list[str]
) -> None:
    """SQLite's own checkpoint would run inside a worker's COMMIT, under the writer lock the other
    workers wait on: parse workers turn it off, and a Checkpointer thread of the refreshing process runs
    a PASSIVE checkpoint every CHECKPOINT_STORIES new stories, and once more when told the last jobs are
    in. Below the threshold nothing is copied; the store stays open throughout, so no close copies it."""
    from digest.core import checkpoint as checkpoint_mod
    from digest.core import ingest
    from digest.core.models import FetchResult

    monkeypatch.setattr(checkpoint_mod, "CHECKPOINT_STORIES", 5)
    feeds = [store.add_feed(f"http://127.0.0.1:9/{name}.xml") for name in ("one", "two", "three")]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema and feeds into the file
    before = _stories_in_the_database_file(store)
    worker_store = ingest._worker_store(str(store.path))
    assert worker_store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    worker_store.db.set_trace_callback(lambda sql: writer_events.append("checkpoint") if "checkpoint" in sql else None)

    def store_feed(feed: Feed, n: int) -> int:
        fetched = FetchResult("ok", body=simple_rss(feed.url[-7:-4], n), http_status=200,
                              content_type="application/rss+xml")
        [(res, error)] = ingest.ingest_jobs(str(store.path), [(feed, fetched)], time.time())
        assert error is None
        return res.new

    try:
        checkpointer = checkpoint_mod.Checkpointer(str(store.path))
        checkpointer.committed(store_feed(feeds[0], 3))  # 3 < 5: not yet
        checkpointer.close()
        assert _stories_in_the_database_file(store) == before
        checkpointer = checkpoint_mod.Checkpointer(str(store.path))
        checkpointer.committed(store_feed(feeds[1], 6))  # a copy is due; close waits for it
        checkpointer.close()
        assert _stories_in_the_database_file(store) == before + 9
        checkpointer = checkpoint_mod.Checkpointer(str(store.path))
        checkpointer.committed(store_feed(feeds[2], 2), last=True)  # the last jobs: copy what there is
        checkpointer.close()
        assert _stories_in_the_database_file(store) == before + 11
    finally:
        ingest.close_worker_stores()
    assert "checkpoint" not in writer_events  # none in the worker
    assert writer_events == ["lock", "unlock"] * 3


@pytest.mark.parametrize("restart_frames", [1, 10**9])
def test_a_long_wal_is_made_to_start_over_under_the_writer_lock(
    store: Store, monkeypatch: pytest.MonkeyPatch, restart_frames: int
) -> None:
    """Workers commit while a checkpoint copies, so a PASSIVE checkpoint rarely copies every frame, and
    only then does the WAL start over from its first frame (over 500 feeds it grew to 150 MB). Once the
    WAL is WAL_RESTART_FRAMES long, the Checkpointer copies what is left under the workers' writer lock,
    so nothing is committed meanwhile; the next commit then writes from the WAL's start again."""
    import os

    from digest.core import checkpoint as checkpoint_mod

    monkeypatch.setattr(checkpoint_mod, "CHECKPOINT_STORIES", 1)
    monkeypatch.setattr(checkpoint_mod, "WAL_RESTART_FRAMES", restart_frames)
    feed = store.add_feed("http://127.0.0.1:9/one.xml")
    events: list[str] = []
    store.save_stories(feed.id, parse_feed(simple_rss("one", 40), "http://127.0.0.1:9/one.xml").stories)
    wal = f"{store.path}-wal"
    grown = os.path.getsize(wal)
    checkpointer = checkpoint_mod.Checkpointer(str(store.path))
    checkpointer._writer_lock = RecordingLock(events)  # type: ignore[assignment]
    checkpointer._store.db.set_trace_callback(lambda sql: events.append("checkpoint") if "checkpoint" in sql else None)
    checkpointer.committed(40)
    checkpointer.close()
    if restart_frames == 1:
        assert events == ["checkpoint", "lock", "checkpoint", "unlock"]
    else:
        assert events == ["checkpoint"]
    # every frame is copied either way here (no commit came meanwhile): the next commit starts over
    store.save_stories(feed.id, parse_feed(simple_rss("one", 41), "http://127.0.0.1:9/one.xml").stories)
    assert os.path.getsize(wal) == grown


def test_the_writer_lock_is_exclusive_and_dies_with_its_holder(tmp_path: Path) -> None:
    """WriterLock is a flock on a file beside the store: a second holder waits, and a worker killed while
    holding it (kill -9, the OOM killer) cannot leave the others waiting for ever."""
    import fcntl
    import os
    import signal
    import subprocess
    import sys

    db = str(tmp_path / "digest.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom digest.core.ingest import WriterLock\n"
         f"lock = WriterLock({db!r})\nlock.__enter__()\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        fd = os.open(f"{db}-writer.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel let go with the process
        os.close(fd)
    finally:
        holder.kill()
        holder.wait()



def test_the_refresh_module_leaves_the_fetcher_and_the_parser_unloaded() -> None:
    """refresh() starts the parse workers before it imports the fetcher (pycurl), so the fork server boots
    beside that import."""
    import subprocess
    import sys

    code = ("import sys\n"
            "at_start = set(sys.modules)  # what the interpreter's site hooks (.pth files) loaded\n"
            "import digest.core.refresh\n"
            "loaded = {'pycurl', 'digest.core.fetch', 'digest.core.parse',\n"
            "          'digest.core.sanitize', 'nh3', 'lxml', 'feedparser',\n"
            "          'multiprocessing', 'concurrent.futures.process', 'asyncio', 'httpx'}\n"
            "loaded &= set(sys.modules) - at_start\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_all_304_refresh_loads_neither_the_parser_nor_a_pool(tmp_path: Path, feed_server: FeedServer) -> None:
    """A steady refresh only fetches: 40 feeds (enough for a process pool, were bodies to come) all answer
    304, and the process never loads the parser (nh3, lxml, feedparser), multiprocessing, or asyncio, nor
    the email package (a digest's headers and recipients: ~12 ms of start-up), nor concurrent.futures
    and the logging it imports (~5 ms), nor hashlib (OpenSSL) and the rules' module for a config without rules."""
    import subprocess
    import sys

    store = Store(tmp_path / "digest.db")
    for i in range(40):
        feed_server.feed(f"/f{i}.xml", simple_rss(f"f{i}"), etag=f'"e{i}"')
        feed = store.add_feed(feed_server.url(f"/f{i}.xml"))
        store.update_feed(feed.id, etag=f'"e{i}"')
    store.close()
    code = ("import sys\n"
            "at_start = set(sys.modules)  # what the interpreter's site hooks (.pth files) loaded\n"
            "from digest.core.config import Config\n"
            "from digest.core.refresh import refresh\n"
            "from digest.core.store import Store\n"
            f"report = refresh(Store({str(tmp_path / 'digest.db')!r}), Config())\n"
            "assert report.not_modified == 40, report.summary_line()\n"
            "loaded = {'digest.core.parse', 'digest.core.sanitize', 'nh3', 'lxml', 'feedparser', 'multiprocessing',\n"
            "          'concurrent.futures', 'asyncio', 'email.utils', 'email.policy', 'logging', 'hashlib',\n"
            "          'digest.core.rulespec'} & (set(sys.modules) - at_start)\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_cli_start_of_a_refresh_loads_only_what_a_refresh_needs() -> None:
    """`digest refresh` from cron: importing the CLI and building the refresh command's parser loads no
    other command's libraries (the email package, the rules, hashlib, Jinja2), nor logging, nor shutil
    (argparse's formatter imports it for the terminal's width)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "at_start = set(sys.modules)  # what the interpreter's site hooks (.pth files) loaded\n"
            "from digest.cli import build_parser\n"
            "build_parser('refresh').parse_args(['refresh'])\n"
            "loaded = {'email.utils', 'email.policy', 'digest.core.rules', 'digest.core.rulespec', 'hashlib',\n"
            "          'jinja2', 'logging', 'shutil', 'concurrent.futures'} & (set(sys.modules) - at_start)\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_single_threaded_process_forks_its_workers_and_others_use_the_fork_server() -> None:
    """The CLI's process has one thread when a refresh starts its pool: it forks the workers directly (no
    fork server or resource tracker to boot, nothing left in /dev/shm by a kill), and its buffered output
    is not written a second time by a child. With another thread running, a forked child could inherit a
    lock that thread holds: the fork server is used then."""
    import subprocess
    import sys

    code = ("import sys, threading, time\n"
            "from digest.core import pool as p\n"
            "print('before the pool', end='')  # still in stdout's buffer at the fork\n"
            "ctx = p.pool_context()\n"
            "pool = p.process_pool(2, ctx)\n"
            "p.warm_up(pool, 2, ctx.get_start_method())\n"
            "assert ctx.get_start_method() == 'fork'\n"
            "import gc\n"
            "# the parser was imported here, once, for the forked workers, and nothing stays frozen here\n"
            "assert 'digest.core.fastparse' in sys.modules and gc.get_freeze_count() == 0\n"
            "import multiprocessing.resource_tracker as rt\n"
            "assert rt._resource_tracker._pid is None, 'a resource tracker was started'\n"
            "pool.shutdown()\n"
            "t = threading.Thread(target=time.sleep, args=(1,)); t.start()\n"
            "ctx = p.pool_context()\n"
            "pool = p.process_pool(2, ctx)\n"
            "assert ctx.get_start_method() == 'forkserver'\n"
            "pool.shutdown()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "before the pool"
