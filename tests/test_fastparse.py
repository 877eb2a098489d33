"""The lxml fast path must store exactly what the feedparser path stores, or decline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from digest.core.fastparse import fast_parse
from digest.core.parse import parse_xml_feed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "bench"))
from feedgen import make_feed  # noqa: E402

NOW = 1_800_000_000.0
SAMPLES = sorted(p for p in (ROOT / "sample_feeds").iterdir() if p.suffix in (".xml", ".atom"))


def _both(data: bytes, url: str) -> tuple:
    fast = parse_xml_feed(data, url, now=NOW, fast=True)
    slow = parse_xml_feed(data, url, now=NOW, fast=False)
    return fast, slow


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_feeds_same_on_both_paths(path: Path) -> None:
    data = path.read_bytes()
    assert fast_parse(data, path.as_uri()) is not None, "the fast path should read our own sample feeds"
    fast, slow = _both(data, path.as_uri())
    assert fast.kind == slow.kind
    assert (fast.title, fast.site_url) == (slow.title, slow.site_url)
    assert len(fast.stories) == len(slow.stories) > 0
    for a, b in zip(fast.stories, slow.stories, strict=True):
        assert a == b


@pytest.mark.parametrize("seed", range(5))
def test_generated_feeds_same_on_both_paths(seed: int) -> None:
    fast, slow = _both(make_feed(seed, items=10), "http://127.0.0.1/feed.xml")
    assert fast.stories == slow.stories


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        b'<!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>&x;</title></channel></rss>',
        b'<rss version="0.91"><channel><title>old</title></channel></rss>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"/>',
        b'<rss version="2.0"><channel><title>broken</title><item><title>x</item></channel></rss>',
        b'<rss version="2.0"><channel><item><description><p>raw markup</p></description></item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div>x</div></content></entry></feed>',
    ],
    ids=["latin1", "doctype", "rss091", "rss10", "broken", "markup-in-description", "xhtml"],
)
def test_fast_path_declines_what_feedparser_should_read(data: bytes) -> None:
    assert fast_parse(data, "http://127.0.0.1/f") is None


def test_declined_feeds_still_parse() -> None:
    data = b'<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Caf\xe9</title>' \
           b'<item><title>Cr\xe8me</title><link>https://a.example/1</link></item></channel></rss>'
    feed = parse_xml_feed(data, "http://127.0.0.1/f", now=NOW)
    assert feed.title == "Café"
    assert feed.stories[0].title == "Crème"


def test_rss_author_email_becomes_the_name() -> None:
    data = b'<rss version="2.0"><channel><title>t</title><item><title>x</title><guid>g1</guid>' \
           b"<author>dana@example.com (Dana Okafor)</author></item></channel></rss>"
    fast, slow = _both(data, "http://127.0.0.1/f")
    assert fast.stories[0].author == slow.stories[0].author == "Dana Okafor"


def test_rss_repeated_elements_read_as_find_and_iterfind_would() -> None:
    # _rss reads each item's children in one pass; it must keep find()'s first match for single fields
    # and iterfind()'s document order for lists (categories before dc:subject, loose media:content
    # before media:group's), and not decline on markup in a field the `or` fallbacks never read
    data = b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" ' \
           b'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title><item>' \
           b"<title>first</title><title>second</title><link>https://a.example/1</link>" \
           b"<link>https://a.example/2</link><guid>g1</guid><guid>g2</guid>" \
           b"<pubDate>Sun, 01 Nov 2026 12:48:00 +0000</pubDate><dc:date><x/></dc:date>" \
           b"<dc:subject>s1</dc:subject><category>c1</category><category/><category>c2</category>" \
           b'<media:group><media:content url="g1"/></media:group><media:content url="m1"/>' \
           b'<media:thumbnail url="t1"/><media:content url="m2"/><media:thumbnail url="t2"/>' \
           b'<enclosure url="e1"/><enclosure url="e2" type="audio/mpeg"/></item></channel></rss>'
    parsed = fast_parse(data, "http://127.0.0.1/f")
    assert parsed is not None
    (e,) = parsed[3]
    assert (e["title"], e["link"], e["id"]) == ("first", "https://a.example/1", "g1")
    assert e["published_parsed"][:3] == (2026, 11, 1)
    assert [t["term"] for t in e["tags"]] == ["c1", "c2", "s1"]
    assert e["media_content"] == [{"url": "m1"}, {"url": "m2"}, {"url": "g1"}]
    assert e["media_thumbnail"] == [{"url": "t1"}, {"url": "t2"}]
    assert [x["href"] for x in e["enclosures"]] == ["e1", "e2"]
