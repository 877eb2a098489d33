"""Shortcuts that must never give another answer: digest.core.links.join_url is urljoin, and
canonical_url's fast path for plain links is its urlsplit path."""

from __future__ import annotations

from urllib.parse import urljoin

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from digest.core.links import _canonical_url, canonical_url, join_url, strip_tracking

_CHARS = "aZ09-._~%!$&'()*+,=:@/?#;[]é \t\n\x00\\"
_host = st.text(alphabet="ab.-_:@[]%é0", min_size=0, max_size=12)
_tail = st.text(alphabet=_CHARS, max_size=20)
# links that look like feed links, with now and then a character that makes urljoin change them
_plainish = st.builds(
    lambda s, h, path, q: f"{s}://{h}{path}{q}",
    st.sampled_from(["http", "https"]),
    st.text(alphabet="abc.-0:@", min_size=1, max_size=10) | _host,
    st.text(alphabet="/abc-._~%+=", max_size=15) | st.text(alphabet="/ab;?#%. é", max_size=8),
    st.sampled_from(["", "?", "?a=1", "?a=1&b", "#", "#frag", "?x#", "?utm_source=x;y"]),
)
_urls = st.one_of(
    _plainish,
    st.builds(lambda s, sep, h, t: f"{s}{sep}{h}{t}",
              st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "mailto", "", "javascript"]),
              st.sampled_from(["://", ":/", ":", "//", ":///", ""]), _host, _tail),
    st.text(alphabet=_CHARS, max_size=30),
)


def _join(join: object, base: str, url: str) -> str:
    try:
        return join(base, url)  # type: ignore[operator]
    except ValueError:
        return "ValueError"


@settings(max_examples=3000, deadline=None)
@given(base=_urls, url=_urls)
@example(base="http://127.0.0.1:1/feed.xml", url="https://site.example/2026/11/a-story/")
@example(base="http://[::1/feed", url="https://site.example/a")  # a base urljoin cannot read
@example(base="https://site.example/feed", url="https://site.example/a?")  # an empty query is dropped
@example(base="https://site.example/feed", url="https://site.example/a;p")  # ';' parameters
@example(base="https://site.example/feed", url="https://[::1]/a")
@example(base="https://site.example/feed", url="https://site.example/a#")
def test_join_url_is_urljoin(base: str, url: str) -> None:
    assert _join(join_url, base, url) == _join(urljoin, base, url)


# plain-looking links with what the fast path must leave to urlsplit: capitals, ports, users, padding
_canonical_cases = st.one_of(
    _urls,
    st.builds(lambda pad, s, h, path, q, end: f"{pad}{s}://{h}{path}{q}{end}",
              st.sampled_from(["", " ", "\t", "\x00", "\n"]),
              st.sampled_from(["http", "https", "HTTP", "hTtps"]),
              st.text(alphabet="abcAB.-09:@[]_", min_size=0, max_size=12),
              st.text(alphabet="/abc-._~%+=;é\x7f \t\\", max_size=15),
              st.sampled_from(["", "?", "?utm_source=x", "#f", "?a=1#f"]),
              st.sampled_from(["", " ", "\n", "\x0b"])),
)


@settings(max_examples=3000, deadline=None)
@given(url=_canonical_cases)
@example(url="https://site.example/2026/11/a-story/")
@example(url="https://site.example")  # no path: "/" is added
@example(url="https://Site.example/a")
@example(url="https://site.example:443/a")
@example(url=" https://site.example/a b ")
def test_canonical_url_fast_path_is_urlsplit(url: str) -> None:
    assert canonical_url(url) == _canonical_url(url.strip())


def test_strip_tracking_keeps_everything_but_tracking_parameters() -> None:
    link = "https://news.example/2026/11/story/?utm_source=ledger&utm_medium=rss"
    assert strip_tracking(link) == "https://news.example/2026/11/story/"
    assert strip_tracking("https://n.example/p?id=5&UTM_Campaign=x&fbclid=abc#part-2") == "https://n.example/p?id=5#part-2"
    for kept in ("https://n.example/p?q=a%20b&page=2", "https://N.example/Path/", "https://n.example/p?x&y="):
        assert strip_tracking(kept) == kept  # not canonicalised: only tracking goes


@settings(max_examples=300)
@given(_plainish)
def test_strip_tracking_leaves_the_canonical_link_unchanged(url: str) -> None:
    """Taking the tracking out never changes which story a link is (nor, so, Trending and never-resent).
    Links with whitespace or controls are left out: no stored link has them (a host "0 " is no host)."""
    assume(not any(c.isspace() or ord(c) < 32 for c in url))
    assert canonical_url(strip_tracking(url)) == canonical_url(url)
