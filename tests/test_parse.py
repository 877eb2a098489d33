"""Parsing and normalising: the sample feeds, images, dates, identity, canonical links, sanitising."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import atom, rss

from digest.core.links import canonical_url, safe_link
from digest.core.models import ParsedFeed, ParsedStory
from digest.core.parse import ParseError, parse_feed, story_identity
from digest.core.sanitize import first_image, html_to_text, sanitize_html

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


def load(sample_feeds_dir: Path, name: str) -> ParsedFeed:
    path = sample_feeds_dir / name
    return parse_feed(path.read_bytes(), str(path), now=NOW)


def by_title(feed: ParsedFeed, start: str) -> ParsedStory:
    [story] = [s for s in feed.stories if s.title.startswith(start)]
    return story


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# -- the sample feeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "title", "count"), [
    ("seattle-news.xml", "rss20", "Puget Sound Tech Wire", 14),
    ("startups.xml", "rss20", "Cascadia Startup Ledger", 10),
    ("jobs.xml", "rss20", "Sound Work: Tech Jobs", 12),
    ("events.xml", "rss20", "Sound Events: Tech Community Calendar", 8),
    ("devlog.atom", "atom10", "Eastside Engineering Log", 8),
    ("climate.json", "json11", "Cascadia Climate Tech", 8),
])
def test_sample_feeds(sample_feeds_dir: Path, name: str, kind: str, title: str, count: int) -> None:
    feed = load(sample_feeds_dir, name)
    assert feed.kind == kind
    assert feed.title == title
    assert feed.site_url.startswith("https://")
    assert len(feed.stories) == count
    assert len({s.guid for s in feed.stories}) == count
    for s in feed.stories:
        assert s.title and s.title != "(untitled)"
        assert s.link.startswith("https://") and s.canonical_link.startswith("https://")
        assert s.published_at is not None and utc(2026, 11, 18) <= s.published_at <= utc(2026, 11, 26)
        assert "<" not in s.summary  # plain text
        assert "<script" not in s.content.lower()


def test_rss_fields(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "seattle-news.xml")
    s = by_title(feed, "Electric seaplane startup Harbor Lift")
    assert s.published_at == utc(2026, 11, 25, 15, 30)  # 07:30 -0800
    assert s.author and s.categories
    assert s.image is None  # the README: no image anywhere
    assert not s.summary.endswith("Read More")


def test_rss_first_img_with_dimensions(sample_feeds_dir: Path) -> None:
    s = by_title(load(sample_feeds_dir, "seattle-news.xml"), "Fake job posts")
    assert s.image is not None
    assert s.image.url == "https://images.digest-sample.example/2026/11/phishing-payroll-page-1260x841.jpg"
    assert (s.image.width, s.image.height) == (1260, 841)


def test_media_content_and_enclosure_images(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "startups.xml")
    with_media = [s for s in feed.stories if s.image and "800x533" in s.image.url]
    assert len(with_media) == 5
    assert all((s.image.width, s.image.height) == (800, 533) for s in with_media)  # type: ignore[union-attr]
    driftwood = by_title(feed, "Driftwood Pay")
    assert driftwood.image and driftwood.image.url.endswith("driftwood-pay-team-1260x841.jpg")
    assert sum(1 for s in feed.stories if s.image is None) == 4


def test_atom_relative_urls_resolve_against_xml_base(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "devlog.atom")
    s = by_title(feed, "Sampling traces")
    assert s.link == "https://devlog.digest-sample.example/posts/tail-sampling-otel"
    assert s.image is not None
    assert s.image.url == "https://devlog.digest-sample.example/img/trace-volume-before-after.png"
    assert (s.image.width, s.image.height) == (640, 360)
    assert s.image.alt == "Trace volume before and after tail sampling"
    for story in feed.stories:
        assert 'href="/' not in story.content and 'src="/' not in story.content
    arm = by_title(feed, "Why we moved our build farm to ARM")
    assert arm.link == "https://devlog.digest-sample.example/posts/build-farm-arm"


def test_atom_code_blocks_keep_escaped_text(sample_feeds_dir: Path) -> None:
    s = by_title(load(sample_feeds_dir, "devlog.atom"), "Feature flags")
    assert "<pre><code>" in s.content or "<pre><code" in s.content
    assert "-&gt; bool" in s.content and "&lt; 0.25" in s.content
    assert s.published_at == utc(2026, 11, 22, 19, 45)  # no <published>: <updated> is used


def test_json_feed(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "climate.json")
    s = feed.stories[0]
    assert s.guid == "https://climate.digest-sample.example/items/2026-11-25-voltage-commons-everett"
    assert s.published_at == utc(2026, 11, 25, 16, 40)
    assert s.image and s.image.url.endswith("voltage-commons-chargers-1260x841.jpg")
    opinion = by_title(feed, "Opinion: The Northwest")
    assert opinion.image is None
    assert opinion.content.startswith("<p>") and opinion.summary


def test_events_extra_fields(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "events.xml")
    for s in feed.stories:
        assert {"event_start", "event_end", "event_location", "event_organizer"} <= set(s.extra)
        datetime.fromisoformat(s.extra["event_start"].replace("Z", "+00:00"))


def test_jobs_conventions(sample_feeds_dir: Path) -> None:
    feed = load(sample_feeds_dir, "jobs.xml")
    assert all(len(s.categories) == 1 for s in feed.stories)
    assert any(s.title == "Product Designer, Growth & Onboarding" for s in feed.stories)


# -- Trending: the same story across feeds ------------------------------------------------------------

SHARED = {
    "https://news.digest-sample.example/2026/11/tidewater-energy-raises-42m-ferry-terminal-batteries/":
        {"seattle-news.xml", "startups.xml", "climate.json"},
    "https://news.digest-sample.example/2026/11/rainshadow-robotics-18m-series-a/":
        {"seattle-news.xml", "startups.xml"},
    "https://news.digest-sample.example/2026/11/kelpline-exits-stealth-11m-seed/": {"seattle-news.xml", "startups.xml"},
    "https://news.digest-sample.example/2026/11/quillmark-acquires-forkyard/": {"seattle-news.xml", "startups.xml"},
}


def test_shared_stories_have_equal_canonical_links(sample_feeds_dir: Path) -> None:
    carriers: dict[str, set[str]] = {}
    for name in ("seattle-news.xml", "startups.xml", "jobs.xml", "events.xml", "devlog.atom", "climate.json"):
        for s in load(sample_feeds_dir, name).stories:
            carriers.setdefault(s.canonical_link, set()).add(name)
    shared = {link: feeds for link, feeds in carriers.items() if len(feeds) > 1}
    assert shared == SHARED
    # the near-duplicate headline has different links, so it is not "the same story"
    assert "https://devlog.digest-sample.example/posts/build-farm-arm" in carriers
    rain = by_title(load(sample_feeds_dir, "startups.xml"), "Rainshadow Robotics")
    assert "utm_source" in rain.link and "utm_" not in rain.canonical_link


# -- identity, dates, dedupe --------------------------------------------------------------------------


def test_identity_guid_then_canonical_link_then_hash() -> None:
    assert story_identity(" g1 ", "https://x.example/a", "T", 1.0) == "g1"
    assert story_identity("", "https://X.example/a?utm_source=z#frag", "T", 1.0) == "https://x.example/a"
    h1 = story_identity("", "", "Title", 5.0)
    assert h1.startswith("sha1:") and h1 == story_identity("", "", "Title", 5.0)
    assert h1 != story_identity("", "", "Title", 6.0) != story_identity("", "", "Other", 5.0)


def test_rss_without_guid_uses_the_canonical_link() -> None:
    body = rss("t", [{"title": "A", "link": "https://x.example/a?utm_medium=rss&id=3",
                      "date": "Wed, 25 Nov 2026 10:00:00 GMT"}])
    [s] = parse_feed(body, "https://x.example/feed", now=NOW).stories
    assert s.guid == "https://x.example/a?id=3"
    assert s.canonical_link == "https://x.example/a?id=3"


def test_rss_without_guid_or_link_uses_a_stable_hash() -> None:
    body = rss("t", [{"title": "A", "date": "Wed, 25 Nov 2026 10:00:00 GMT"}])
    a = parse_feed(body, "u", now=NOW).stories[0]
    b = parse_feed(body, "u", now=NOW + 3600).stories[0]
    assert a.guid == b.guid and a.guid.startswith("sha1:")


def test_dates_to_utc() -> None:
    body = rss("t", [
        {"title": "pst", "guid": "1", "date": "Wed, 25 Nov 2026 07:30:00 -0800"},
        {"title": "est", "guid": "2", "date": "Thu, 19 Nov 2026 07:15:00 -0500"},
        {"title": "gmt", "guid": "3", "date": "Sat, 21 Nov 2026 14:30:00 GMT"},
        {"title": "z", "guid": "4", "date": "Mon, 23 Nov 2026 15:50:00 Z"},
    ])
    got = {s.title: s.published_at for s in parse_feed(body, "u", now=NOW).stories}
    assert got == {"pst": utc(2026, 11, 25, 15, 30), "est": utc(2026, 11, 19, 12, 15),
                   "gmt": utc(2026, 11, 21, 14, 30), "z": utc(2026, 11, 23, 15, 50)}


@pytest.mark.parametrize("date", [None, "not a date", "Fri, 99 Zzz 2026 99:99:99", "Wed, 25 Nov 2099 10:00:00 GMT"])
def test_missing_broken_or_future_dates_have_none(date: str | None) -> None:
    item = {"title": "A", "guid": "1"}
    if date:
        item["date"] = date
    [s] = parse_feed(rss("t", [item]), "u", now=NOW).stories
    assert s.published_at is None  # the store uses first-seen time


def test_missing_date_falls_back_to_first_seen_and_stays(store) -> None:
    body = rss("t", [{"title": "A", "guid": "1"}])
    feed = store.add_feed("https://x.example/feed")
    store.save_stories(feed.id, parse_feed(body, "u", now=NOW).stories, now=NOW)
    store.save_stories(feed.id, parse_feed(body, "u", now=NOW + 999).stories, now=NOW + 999)
    [s] = store.stories()
    assert s.published_at == NOW


def test_json_feed_dates_to_utc_and_missing() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
        {"id": "1", "title": "a", "url": "https://j.example/1", "date_published": "2026-11-25T08:40:00-08:00"},
        {"id": "2", "title": "b", "url": "https://j.example/2", "date_modified": "2026-11-24T06:00:00Z"},
        {"id": "3", "title": "c", "url": "https://j.example/3"},
        {"id": "4", "title": "d", "date_published": "yesterday"},
    ]}
    got = {s.title: s.published_at for s in parse_feed(json.dumps(doc).encode(), "u", now=NOW).stories}
    assert got == {"a": utc(2026, 11, 25, 16, 40), "b": utc(2026, 11, 24, 6), "c": None, "d": None}


def test_same_story_twice_in_one_feed_is_stored_once(store) -> None:
    item = {"title": "A", "guid": "same", "link": "https://x.example/a", "date": "Wed, 25 Nov 2026 10:00:00 GMT"}
    body = rss("t", [item, dict(item, title="A (again)"), {"title": "B", "link": "https://x.example/b"},
                     {"title": "B dup", "link": "https://x.example/b?utm_source=tw"}])
    feed = store.add_feed("https://x.example/feed")
    parsed = parse_feed(body, "u", now=NOW)
    assert store.save_stories(feed.id, parsed.stories) == 2
    assert store.save_stories(feed.id, parsed.stories) == 0
    assert {s.title for s in store.stories()} == {"A", "B"}


# -- images -------------------------------------------------------------------------------------------


def test_media_thumbnail_and_image_enclosure_and_non_image_enclosure() -> None:
    ns = 'xmlns:media="http://search.yahoo.com/mrss/"'
    body = rss("t", [
        {"title": "thumb", "guid": "1",
         "raw": '<media:thumbnail url="https://i.example/t.jpg" width="150" height="100"/>'},
        {"title": "enc", "guid": "2", "raw": '<enclosure url="https://i.example/e.png" type="image/png" length="1"/>'},
        {"title": "mp3", "guid": "3", "raw": '<enclosure url="https://i.example/e.mp3" type="audio/mpeg" length="1"/>'},
        {"title": "img", "guid": "4",
         "description": '<p>x<img src="/rel.jpg" width="300" height="200" alt="A &amp; B"></p>'},
    ], extra_ns=ns)
    got = {s.title: s.image for s in parse_feed(body, "https://feed.example/rss", now=NOW).stories}
    thumb = got["thumb"]
    assert thumb and (thumb.url, thumb.width, thumb.height) == ("https://i.example/t.jpg", 150, 100)
    assert got["enc"] and got["enc"].url == "https://i.example/e.png"
    assert got["mp3"] is None
    assert got["img"] and got["img"].url == "https://feed.example/rel.jpg" and got["img"].alt == "A & B"


def test_first_image_skips_pixels_and_unsafe_sources() -> None:
    html = ('<img src="https://t.example/p.gif" width="1" height="1">'
            '<img src="javascript:alert(1)">'
            '<img src="data:image/png;base64,AAAA">'
            "<img src='https://i.example/real.jpg' width='640'>")
    img = first_image(html)
    assert img and img.url == "https://i.example/real.jpg" and img.width == 640 and img.height is None


def test_atom_relative_img_resolved_via_xml_base() -> None:
    body = atom("A", [{"id": "urn:1", "title": "One", "link": "posts/one", "updated": "2026-11-20T10:00:00Z",
                       "content": '<p><img src="img/a.png" width="640" height="360" alt="a">'
                                  ' <a href="../x">x</a></p>'}],
                base="https://blog.example/sub/")
    [s] = parse_feed(body, "https://elsewhere.example/feed.atom", now=NOW).stories
    assert s.link == "https://blog.example/sub/posts/one"
    assert s.image and s.image.url == "https://blog.example/sub/img/a.png"
    assert 'src="https://blog.example/sub/img/a.png"' in s.content
    assert 'href="https://blog.example/x"' in s.content


# -- URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("https://Example.COM:443/a?utm_source=x&utm_medium=y&id=1#top", "https://example.com/a?id=1"),
    ("http://example.com:80", "http://example.com/"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("https://example.com/a?fbclid=1&gclid=2&b=2&a=1", "https://example.com/a?b=2&a=1"),
    ("https://example.com/a?UTM_Campaign=x", "https://example.com/a"),
    ("mailto:x@example.com", ""),
    ("javascript:alert(1)", ""),
    ("/relative/path", ""),
    ("http://[::1", ""),
    ("", ""),
])
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "base", "expected"), [
    ("javascript:alert(1)", "", ""),
    (" JavaScript:alert(1)", "https://x.example/", ""),
    ("data:text/html,hi", "", ""),
    ("vbscript:x", "", ""),
    ("mailto:a@b.example", "", "mailto:a@b.example"),
    ("/a", "https://x.example/feed", "https://x.example/a"),
    ("https://y.example/", "", "https://y.example/"),
])
def test_safe_link(url: str, base: str, expected: str) -> None:
    assert safe_link(url, base) == expected


# -- sanitising ---------------------------------------------------------------------------------------


def test_hostile_sample_item_is_sanitised(sample_feeds_dir: Path) -> None:
    s = by_title(load(sample_feeds_dir, "seattle-news.xml"), "Fake job posts")
    c = s.content.lower()
    assert "<script" not in c and "alert(1)" not in c
    assert "javascript:" not in c
    assert "onerror" not in c and "document.cookie" not in c
    assert "track.digest-sample.example" not in c
    assert "phishing-lure-sample-800x533.jpg" in c  # the real image stays (without its handler)
    assert "<h2>" in c and "<blockquote>" in c and "<ul>" in c


@pytest.mark.parametrize("hostile", [
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<script>alert(1)</script>',
    '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
    '<img src=x onerror=alert(1)>',
    '<p onclick="alert(1)" onmouseover=\'alert(2)\'>x</p>',
    '<body onload=alert(1)>',
    '<iframe src="https://evil.example/"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<svg><script>alert(1)</script></svg>',
    '<style>body{background:url(javascript:alert(1))}</style>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
    '<form action="https://evil.example/"><input name=x></form>',
    '<math><mtext><script>alert(1)</script></mtext></math>',
])
def test_sanitize_removes_hostile_markup(hostile: str) -> None:
    out = sanitize_html(f"<p>before</p>{hostile}<p>after</p>", "https://x.example/")
    low = out.lower()
    assert "<script" not in low and "javascript:" not in low and "alert(" not in low.replace("&", "")
    assert " on" not in low.split(">")[0] or "<" not in out
    for tag in ("<iframe", "<object", "<embed", "<svg", "<style", "<form", "<input", "<math"):
        assert tag not in low
    assert "data:" not in low
    assert "before" in out and "after" in out


def test_sanitize_keeps_only_http_https_mailto_hrefs() -> None:
    out = sanitize_html('<a href="https://a.example/">a</a><a href="http://b.example/">b</a>'
                        '<a href="mailto:c@c.example">c</a><a href="ftp://d.example/">d</a>'
                        '<a href="tel:123">e</a><a href="/rel">f</a>', "https://x.example/dir/")
    hrefs = [h.split('"')[0] for h in out.split('href="')[1:]]
    assert hrefs == ["https://a.example/", "http://b.example/", "mailto:c@c.example", "https://x.example/rel"]


def test_sanitize_drops_tracking_pixels() -> None:
    out = sanitize_html('<p>x<img src="https://i.example/p.gif" width="1" height="1">'
                        '<img src="https://i.example/q.gif" width="0" height="0">'
                        '<img src="https://pixel.wp.com/g.gif?x=1">'
                        '<img src="https://feeds.feedburner.com/~r/x/~4/abc">'
                        '<img src="https://i.example/photo.jpg" width="600" height="400"></p>')
    assert out.count("<img") == 1 and "photo.jpg" in out


@pytest.mark.parametrize("src, pixel", [
    ("https://pixel.wp.com/g.gif", True),
    ("https://PIXEL.WP.COM/g.gif", True),
    ("https://p\u0131xel.wp.com/g.gif", True),  # under re.I the dotless i matches "i"
    ("https://t.example/tracking/x.gif", True),
    ("https://t.example/trac\u212a.gif", True),  # the Kelvin sign matches "k"
    ("https://t.example/a/pixel.png", True),
    ("https://feeds.feedburner.com/~r/x/~4/abc", True),
    ("https://i.example/photo.jpg", False),
    ("https://i.example/pixelated-art.jpg", False),
    ("https://i.example/racetrack-photo.jpg", False),
])
def test_pixel_hosts_are_found_whatever_their_case(src: str, pixel: bool) -> None:
    """_is_pixel tries the regex only when the lower-cased src holds one of its words: that must find
    every match, the case-insensitive ones included."""
    from digest.core.sanitize import _PIXEL_HOSTS, _read_is_pixel

    assert bool(_PIXEL_HOSTS.search(src)) is pixel
    assert _read_is_pixel(f'<img src="{src}" width="600">') is pixel


def test_sanitize_without_a_base_drops_relative_urls() -> None:
    out = sanitize_html('<a href="/x">x</a><img src="y.png" width="10" height="10">', "")
    assert 'href="/x"' not in out and 'src="y.png"' not in out


def test_html_to_text() -> None:
    text = html_to_text("<p>One &amp; two</p><p>three<br>four</p><script>var x = 1;</script>")
    assert text == "One & two\nthree\nfour"


# -- not feeds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"", b"   \n", b"<<<", b"hello world", b"\x00\x01\x02\xff",
    b"<html><body>no feed</body></html>",
    b'{"not": "a feed"}', b"{", b'{"version": "https://jsonfeed.org/version/1.1"}',
    b"[1, 2, 3]",
])
def test_not_feeds_raise_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(data, "u", now=NOW)


def test_deeply_nested_json_raises_parse_error() -> None:
    # regression: json.loads raises RecursionError here, which must become a ParseError
    with pytest.raises(ParseError):
        parse_feed(b'{"a":' + b"[" * 100_000, "u", now=NOW)


@pytest.mark.parametrize("item", [
    {"id": "1", "tags": 5},
    {"id": "1", "tags": [1, None, "ok"]},
    {"id": 7, "title": 5, "url": ["x"], "image": {}, "authors": "me", "content_html": 3},
    {"id": "1", "date_published": 20261125},
    {"id": "1", "author": {"name": 3}},
])
def test_odd_json_feed_values_never_crash(item: dict) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [item]}
    feed = parse_feed(json.dumps(doc).encode(), "u", now=NOW)
    assert len(feed.stories) == 1


# -- other formats and encodings ----------------------------------------------------------------------


def test_rss_091_and_rss_10_rdf() -> None:
    rss091 = (b'<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title><link>https://o.example/</link>'
              b"<item><title>Old item</title><link>https://o.example/1</link><description>d</description></item>"
              b"</channel></rss>")
    rdf = (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           b'<channel rdf:about="https://r.example/"><title>RDF</title><link>https://r.example/</link></channel>'
           b'<item rdf:about="https://r.example/1"><title>RDF item</title><link>https://r.example/1</link>'
           b"<dc:date>2026-11-25T10:00:00-08:00</dc:date><dc:creator>Ann</dc:creator></item></rdf:RDF>")
    old = parse_feed(rss091, "u", now=NOW)
    assert old.kind.startswith("rss09") and old.stories[0].title == "Old item"
    new = parse_feed(rdf, "u", now=NOW)
    assert new.kind == "rss10" and new.stories[0].title == "RDF item"
    assert new.stories[0].published_at == utc(2026, 11, 25, 18) and new.stories[0].author == "Ann"


def test_declared_latin1_encoding() -> None:
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Caf\xe9</title>'
            "<item><title>R\xe9sum\xe9 tips</title><guid>1</guid></item></channel></rss>").encode("latin-1")
    feed = parse_feed(body, "u", "application/rss+xml", now=NOW)
    assert feed.title == "Café" and feed.stories[0].title == "Résumé tips"


def test_entities_and_cdata_in_titles_become_text() -> None:
    body = rss("t", [{"title": "Growth & Onboarding", "guid": "1"}, {"title": "<b>Bold</b> move", "guid": "2"}])
    titles = [s.title for s in parse_feed(body, "u", now=NOW).stories]
    assert titles == ["Growth & Onboarding", "Bold move"]


# -- the fast path and feedparser agree ---------------------------------------------------------------

_SYNTHETIC = [
    rss("t", [{"title": "A & B", "guid": "1", "link": "https://x.example/a?utm_source=z",
               "date": "Wed, 25 Nov 2026 07:30:00 -0800", "author": "me@x.example (Me)",
               "description": '<p>Hi <img src="/i.jpg" width="10" height="10"> <a href="/x">x</a></p>'},
              {"title": "No date, no guid", "link": "https://x.example/b"}]),
    atom("A", [{"id": "urn:1", "title": "One", "link": "posts/one", "updated": "2026-11-20T10:00:00Z",
                "content": '<p><img src="img/a.png" width="640" height="360" alt="a"></p>'},
               {"id": "urn:2", "title": "Two", "published": "2026-11-21T10:00:00+02:00"}],
         base="https://blog.example/sub/"),
]


def _fast_param() -> bool:
    import inspect

    from digest.core import parse

    fn = getattr(parse, "parse_xml_feed", None)
    return fn is not None and "fast" in inspect.signature(fn).parameters


@pytest.mark.skipif(not _fast_param(), reason="no fast XML path")
@pytest.mark.parametrize("name", ["seattle-news.xml", "startups.xml", "jobs.xml", "events.xml", "devlog.atom",
                                  "synthetic-0", "synthetic-1"])
def test_fast_path_gives_the_same_stories_as_feedparser(sample_feeds_dir: Path, name: str) -> None:
    from dataclasses import asdict

    from digest.core.parse import parse_xml_feed

    if name.startswith("synthetic-"):
        data, url = _SYNTHETIC[int(name[-1])], "https://feed.example/dir/feed"
    else:
        data, url = (sample_feeds_dir / name).read_bytes(), str(sample_feeds_dir / name)
    fast = parse_xml_feed(data, url, now=NOW, fast=True)  # type: ignore[call-arg]
    slow = parse_xml_feed(data, url, now=NOW, fast=False)  # type: ignore[call-arg]
    assert (fast.kind, fast.title, fast.site_url) == (slow.kind, slow.title, slow.site_url)
    assert [asdict(s) for s in fast.stories] == [asdict(s) for s in slow.stories]


def test_huge_img_tags_are_read_but_not_kept_in_the_attribute_cache() -> None:
    from digest.core.sanitize import _cached_img_attrs

    huge = f'<img src="data:image/png;base64,{"A" * 100_000}">'
    small = '<img src="https://i.example/a.jpg" width="640">'
    _cached_img_attrs.cache_clear()
    img = first_image(huge + small)
    assert img and img.url == "https://i.example/a.jpg" and img.width == 640
    sanitize_html(huge + small)
    # only the small tag is cached: a feed of inline images cannot fill a worker's memory through it
    assert _cached_img_attrs.cache_info().currsize == 1
