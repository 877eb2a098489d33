"""Links written by others never lead a fetch from a public address to a private one (issue 20 item 11).

The tests have only loopback, so 127.0.0.1 plays the public internet (addresses.TREAT_AS_PUBLIC, the
documented test-only switch) and a server on 127.0.0.2 plays the private host (an admin page on the
user's network). The private server records every request: "refused" means it never saw one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from digest.core import addresses
from digest.core.addresses import address_refusal, is_public_address
from digest.core.config import Config
from digest.core.feeds import FeedAddError, add_feed
from digest.core.fetch import Fetcher, fetch_one
from digest.core.refresh import refresh
from digest.core.store import Store
from tests.feedserver import FeedServer, simple_rss


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "TREAT_AS_PUBLIC", {"127.0.0.1"})


@pytest.fixture
def private_server() -> Iterator[FeedServer]:
    with FeedServer(host="127.0.0.2") as srv:
        srv.feed("/feed.xml", simple_rss("Intranet", 2, host="intranet.example"))
        srv.feed("/admin", b"<html>admin</html>", content_type="text/html")
        yield srv


@pytest.mark.parametrize(("ip", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.5.4", "private"), ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
    ("fd00::1", "private"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
    ("::ffff:10.0.0.1", "private"), ("2002:a00:1::", "private"), ("100.64.0.1", "non-public"),
    ("240.0.0.1", "private"), ("not-an-ip", "cannot be checked"),
])
def test_non_public_addresses_are_named(ip: str, kind: str) -> None:
    why = address_refusal(ip)
    assert why is not None and kind in why


@pytest.mark.parametrize("ip", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_public_addresses_pass(ip: str) -> None:
    assert is_public_address(ip)


def fetch(url: str, **kw: object) -> object:
    return fetch_one(url, timeout_s=10, max_bytes=1_000_000, **kw)  # type: ignore[arg-type]


def test_redirect_from_public_to_private_is_refused(public_loopback: None, private_server: FeedServer,
                                                    feed_server: FeedServer) -> None:
    for status in (301, 302, 307):
        feed_server.redirect(f"/moved-{status}", private_server.url("/admin"), status)
        res = fetch(feed_server.url(f"/moved-{status}"))
        assert res.status == "error" and "refused" in res.error and "loopback address (127.0.0.2)" in res.error
    assert private_server.requests_for("/admin") == []
    # a chain: public -> public -> private is refused at the last hop too
    feed_server.redirect("/hop1", "/hop2", 302)
    feed_server.redirect("/hop2", private_server.url("/admin"), 302)
    res = fetch(feed_server.url("/hop1"))
    assert res.status == "error" and "refused" in res.error
    assert private_server.requests_for("/admin") == []


def test_a_kept_alive_private_connection_is_checked_too(public_loopback: None, private_server: FeedServer,
                                                        feed_server: FeedServer) -> None:
    """The intranet feed leaves a kept-alive connection to 127.0.0.2 in libcurl's cache; the public
    feed's redirect to that host would reuse it without a new connect, and is refused all the same."""
    feed_server.redirect("/sneaky", private_server.url("/admin"), 302)
    with Fetcher(concurrency=1, per_host=1, timeout_s=10, max_bytes=1_000_000, now=0) as fetcher:
        fetcher.add(1, private_server.url("/feed.xml"))
        results: dict[int, object] = {}
        while 1 not in results:
            results.update(fetcher.poll(None))
        fetcher.add(2, feed_server.url("/sneaky"))
        while 2 not in results:
            results.update(fetcher.poll(None))
    assert results[1].status == "ok" and results[1].private_ok is True  # type: ignore[attr-defined]
    assert results[2].status == "error" and "refused" in results[2].error  # type: ignore[attr-defined]
    assert private_server.requests_for("/admin") == []


def test_a_feed_the_user_adds_on_a_private_address_stays_allowed(public_loopback: None,
                                                                  private_server: FeedServer) -> None:
    private_server.redirect("/old.xml", "/feed.xml", 301)
    res = fetch(private_server.url("/old.xml"))
    assert res.status == "ok" and res.private_ok is True and res.new_url == private_server.url("/feed.xml")


def test_links_written_by_others_must_be_public_from_the_first_hop(public_loopback: None,
                                                                   private_server: FeedServer) -> None:
    """private_ok=False is what article and image fetches use (issue 15)."""
    res = fetch(private_server.url("/admin"), private_ok=False)
    assert res.status == "error" and "refused" in res.error
    assert private_server.requests_for("/admin") == []


def test_autodiscovery_from_a_public_page_to_a_private_feed_is_refused(
        public_loopback: None, private_server: FeedServer, feed_server: FeedServer, store: Store) -> None:
    page = (f'<html><head><link rel="alternate" type="application/rss+xml" '
            f'href="{private_server.url("/feed.xml")}"></head></html>').encode()
    feed_server.feed("/site", page, content_type="text/html")
    with pytest.raises(FeedAddError, match="refused"):
        add_feed(store, Config(), feed_server.url("/site"))
    assert private_server.requests_for("/feed.xml") == [] and store.list_feeds() == []
    # from a page on the intranet itself, its own feed link is fine
    private_server.feed("/site", page, content_type="text/html")
    feed = add_feed(store, Config(), private_server.url("/site"))
    assert feed.url == private_server.url("/feed.xml")


def test_refresh_stores_other_feeds_when_one_redirects_to_a_private_address(
        public_loopback: None, private_server: FeedServer, feed_server: FeedServer, store: Store,
        fast_config: Config) -> None:
    feed_server.feed("/good.xml", simple_rss("Good", 3))
    feed_server.redirect("/bad.xml", private_server.url("/admin"), 302)
    good = store.add_feed(feed_server.url("/good.xml"))
    bad = store.add_feed(feed_server.url("/bad.xml"))
    report = refresh(store, fast_config)
    by_id = {r.feed_id: r for r in report.results}
    assert by_id[good.id].error == "" and len(store.stories()) == 3
    assert "refused" in by_id[bad.id].error
    assert private_server.requests_for("/admin") == []
