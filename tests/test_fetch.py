"""digest.core.fetch on its own: Retry-After, local files, content encodings, redirects hop by hop, TLS."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from feedserver import FeedServer, Response, SlowFeed, simple_rss

from digest.core.fetch import Fetcher, FetchResult, fetch_one
from digest.core.fetchwire import parse_retry_after
from digest.core.localfeeds import fetch_local, is_local, local_path

NOW = 1_795_600_000.0


def get(url: str, *, etag: str | None = None, last_modified: str | None = None,
        max_bytes: int = 1_000_000) -> FetchResult:
    return fetch_one(url, etag=etag, last_modified=last_modified, max_bytes=max_bytes, timeout_s=2, now=NOW)


# -- Retry-After --------------------------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120", NOW) == NOW + 120
    assert parse_retry_after(" 0 ", NOW) == NOW


def test_retry_after_http_date() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 3600, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == pytest.approx(NOW + 3600)


def test_retry_after_in_the_past_means_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW - 3600, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == NOW


def test_retry_after_is_capped_at_a_week() -> None:
    assert parse_retry_after("99999999999", NOW) == NOW + 7 * 86400


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3x", "Mon, 99 Foo 2026"])
def test_retry_after_garbage_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


# -- local files --------------------------------------------------------------------------------------


def test_is_local() -> None:
    assert is_local("/tmp/feed.xml") and is_local("feeds/a.xml") and is_local("file:///tmp/a.xml")
    assert not is_local("https://example.com/feed") and not is_local("http://127.0.0.1:8000/")


def test_file_url_with_escapes(tmp_path: Path) -> None:
    p = tmp_path / "my feed.xml"
    p.write_bytes(simple_rss("x"))
    assert local_path(p.as_uri()) == p
    assert fetch_local(p.as_uri(), max_bytes=100_000).status == "ok"


def test_fetch_local_not_modified_by_mtime_and_size(tmp_path: Path) -> None:
    p = tmp_path / "f.xml"
    p.write_bytes(simple_rss("x"))
    first = fetch_local(str(p), max_bytes=100_000)
    assert first.status == "ok" and first.body == p.read_bytes() and first.last_modified
    again = fetch_local(str(p), max_bytes=100_000, last_modified=first.last_modified)
    assert again.status == "not_modified" and again.body == b""
    p.write_bytes(simple_rss("x", 4))
    os.utime(p, ns=(1, 1))
    assert fetch_local(str(p), max_bytes=100_000, last_modified=first.last_modified).status == "ok"


def test_fetch_local_errors(tmp_path: Path) -> None:
    assert "no such file" in fetch_local(str(tmp_path / "nope.xml"), max_bytes=10).error
    assert "folder" in fetch_local(str(tmp_path), max_bytes=100_000).error
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 5000)
    res = fetch_local(str(big), max_bytes=1000)
    assert res.status == "error" and "larger than" in res.error


# -- HTTP ---------------------------------------------------------------------------------------------


def test_ok_result_carries_validators_and_type(feed_server: FeedServer) -> None:
    feed_server.feed("/a.xml", simple_rss("a"), etag='"e"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
    res = get(feed_server.url("/a.xml"))
    assert res.status == "ok" and res.http_status == 200
    assert res.etag == '"e"' and res.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert res.content_type.startswith("application/rss+xml")
    assert res.body == simple_rss("a")
    assert res.new_url is None and res.final_url == feed_server.url("/a.xml")


def test_conditional_request_gives_not_modified(feed_server: FeedServer) -> None:
    feed_server.feed("/a.xml", simple_rss("a"), etag='"e"')
    res = get(feed_server.url("/a.xml"), etag='"e"')
    assert res.status == "not_modified" and res.body == b""


@pytest.mark.parametrize("raw", [False, True])
def test_deflate_bodies_zlib_and_raw(feed_server: FeedServer, raw: bool) -> None:
    body = simple_rss("d", 5)
    if raw:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = c.compress(body) + c.flush()
    else:
        data = zlib.compress(body)
    feed_server.route("/d.xml", Response(200, {"Content-Encoding": "deflate"}, data))
    res = get(feed_server.url("/d.xml"))
    assert res.status == "ok" and res.body == body


def test_unknown_content_encoding_is_an_error(feed_server: FeedServer) -> None:
    feed_server.route("/b.xml", Response(200, {"Content-Encoding": "br"}, b"\x8b\x02\x80hello\x03"))
    res = get(feed_server.url("/b.xml"))
    assert res.status == "error" and "br" in res.error


def test_permanent_chain_sets_new_url(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b", 301)
    feed_server.redirect("/b", "/c", 308)
    feed_server.feed("/c", simple_rss("c"))
    res = get(feed_server.url("/a"))
    assert res.status == "ok" and res.new_url == feed_server.url("/c") and res.final_url == feed_server.url("/c")


def test_relative_location_resolves(feed_server: FeedServer) -> None:
    feed_server.route("/dir/a", Response(301, {"Location": "../b.xml", "Content-Length": "0"}))
    feed_server.feed("/b.xml", simple_rss("b"))
    res = get(feed_server.url("/dir/a"))
    assert res.status == "ok" and res.new_url == feed_server.url("/b.xml")


def test_redirect_without_location(feed_server: FeedServer) -> None:
    feed_server.route("/a", Response(302, {"Content-Length": "0"}))
    res = get(feed_server.url("/a"))
    assert res.status == "error" and "Location" in res.error


def test_validators_are_sent_on_every_hop(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b", 302)
    feed_server.feed("/b", simple_rss("b"), etag='"e"')
    res = get(feed_server.url("/a"), etag='"e"')
    assert res.status == "not_modified"
    assert feed_server.requests_for("/b")[0].header("If-None-Match") == '"e"'


def test_declared_length_over_the_limit_is_refused_before_reading(feed_server: FeedServer) -> None:
    feed_server.route("/big", Response(200, {"Content-Length": "999999999"}, (b"x" for _ in range(0))))
    res = get(feed_server.url("/big"), max_bytes=10_000)
    assert res.status == "error" and "999,999,999 declared" in res.error


# -- TLS: verified against SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle ------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    from helpers_smtp import tls_pair

    server_ctx, ca_pem = tls_pair(tmp_path)
    with FeedServer(tls=server_ctx) as srv:
        srv.feed("/a.xml", simple_rss("a"), etag='"v1"')
        yield srv, ca_pem


def test_https_feed_is_verified_against_the_ca_in_ssl_cert_file(
    tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, ca_pem = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    res = get(srv.url("/a.xml"))
    assert srv.url("/a.xml").startswith("https://")
    assert res.status == "ok" and res.etag == '"v1"' and b"<rss" in res.body


def test_https_feed_is_verified_against_a_ca_folder_in_ssl_cert_dir(
    tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SSL_CERT_DIR alone: OpenSSL looks a CA up by its subject hash (what c_rehash writes)."""
    import subprocess

    srv, ca_pem = tls_server
    folder = tmp_path / "certs"
    folder.mkdir()
    subject_hash = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in", str(ca_pem)],
                                  capture_output=True, text=True, check=True).stdout.strip()
    (folder / f"{subject_hash}.0").write_bytes(ca_pem.read_bytes())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    assert get(srv.url("/a.xml")).status == "ok"
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # a folder without the CA
    res = get(srv.url("/a.xml"))
    assert res.status == "error" and "certificate" in res.error


def test_https_feed_with_an_untrusted_certificate_is_refused(
    tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SSL_CERT_* variables: certifi's bundle, which does not hold the test CA."""
    srv, _ = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    res = get(srv.url("/a.xml"))
    assert res.status == "error" and res.error.startswith("TLS error:") and "certificate" in res.error, res.error
    assert srv.requests_for("/a.xml") == []  # nothing was sent over the unverified connection


def test_an_unreadable_ca_file_is_named_in_the_feed_error(
    tls_server: tuple[FeedServer, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    srv, _ = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing-ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    res = get(srv.url("/a.xml"))
    assert res.status == "error"
    assert re.match(r"cannot load the CA certificates \(SSL_CERT_FILE=.*missing-ca\.pem: no such file\)", res.error)


# -- many feeds at once ---------------------------------------------------------------------------------


def test_per_host_limit_holds_and_queued_feeds_are_not_on_the_clock(feed_server: FeedServer) -> None:
    """Six slow feeds on one host, two at a time: the last pair waits ~2.4 s behind the others, longer than
    the 2.5 s limit once its own 1.2 s are added, and still succeeds, because a feed's clock starts when its
    request goes out. (Each request has 1.3 s to spare under the limit, for a loaded machine.)"""
    slow = SlowFeed(1.2)
    for i in range(6):
        feed_server.route(f"/s{i}.xml", slow)
    with Fetcher(concurrency=8, per_host=2, timeout_s=2.5, max_bytes=1_000_000, now=NOW) as fetcher:
        for i in range(6):
            fetcher.add(i, feed_server.url(f"/s{i}.xml"))
        results: dict[object, FetchResult] = {}
        while fetcher.busy:
            results.update(fetcher.poll(None))
    assert sorted(results) == list(range(6))
    assert all(r.status == "ok" for r in results.values()), [r.error for r in results.values()]
    assert slow.peak == 2


def test_wake_interrupts_a_poll_from_another_thread() -> None:
    import threading
    import time

    with Fetcher(concurrency=1, per_host=1, timeout_s=5, max_bytes=1000, now=NOW) as fetcher:
        threading.Timer(0.2, fetcher.wake).start()
        t0 = time.monotonic()
        assert fetcher.poll(30) == []
        assert time.monotonic() - t0 < 5
