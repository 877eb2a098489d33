"""Feed bytes -> ParsedFeed: RSS/Atom through the fast lxml reader or feedparser, JSON Feed by hand.

The readers only map a feed's fields onto ParsedStory; the HTML is cleaned and made plain in sanitize.py
(nh3), and links are checked and made canonical in links.py.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from digest.core import clock
from digest.core.links import canonical_url, safe_link
from digest.core.models import Image, ParsedFeed, ParsedStory
from digest.core.sanitize import first_image, html_to_text, sanitize_html, summary_text


class ParseError(Exception):
    """The bytes are not a feed we can read; the message says why in a few words. `html`: they are a web
    page (whose feed link `digest feeds add` looks for)."""

    def __init__(self, reason: str, *, html: bool = False) -> None:
        super().__init__(reason)
        self.html = html


# -- identity and dates -----------------------------------------------------------------------------


def story_identity(guid: str, link: str, title: str, published: float | None, *, body: str = "") -> str:
    """guid, else canonical link, else a hash of title and date (feeds without either still dedupe).

    `body` is given for items without a title: RSS allows items with only a description (microblogs,
    notes), and with no guid, link, title or date they would all hash alike and all but the first be
    dropped. It is left out of the hash otherwise, so stored identities of titled items never change."""
    guid = (guid or "").strip()
    if guid:
        return guid[:1000]
    canon = canonical_url(link)
    if canon:
        return canon
    key = f"{title}\x00{published or ''}" + (f"\x00{body}" if body else "")
    import hashlib  # here: loading OpenSSL took ~3 ms of every parse worker's start, for rare items

    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha1:{digest}"


# A date more than a day ahead of the fetch is a broken clock or a scheduled post: it would pin the story
# to the top of every list, so it is treated as the time it was first seen.
FUTURE_SLACK_S = 86_400


def _sane_ts(ts: float | None, now: float) -> float | None:
    if ts is None or ts <= 0 or ts > now + FUTURE_SLACK_S:
        return None
    return ts


def _struct_ts(st: Any) -> float | None:
    if not st:
        return None
    try:
        return float(calendar.timegm(st))
    except (TypeError, ValueError, OverflowError):
        return None


def _iso_ts(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return calendar.timegm(dt.timetuple())
    return dt.timestamp()


# -- the two readers --------------------------------------------------------------------------------


def looks_like_json(data: bytes, content_type: str = "") -> bool:
    """The body decides before the label: servers do send RSS as application/json (and JSON Feeds as
    text/plain). A body that starts with markup is never JSON, one that starts with '{' always is."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return False
    if head.startswith(b"{"):
        return True
    return "json" in content_type.lower()


def parse_feed(data: bytes, url: str = "", content_type: str = "", *, now: float | None = None) -> ParsedFeed:
    """Parse one feed document. Raises ParseError when the bytes are not a feed at all; a feed that is
    readable despite errors (feedparser's 'bozo') is returned with a warning."""
    now = clock.now() if now is None else now
    if not data or not data.strip():
        raise ParseError("empty response")
    if looks_like_json(data, content_type):
        return parse_json_feed(data, url, now=now)
    return parse_xml_feed(data, url, content_type, now=now)


def parse_xml_feed(data: bytes, url: str, content_type: str = "", *, now: float, fast: bool = True) -> ParsedFeed:
    if fast:
        from digest.core.fastparse import fast_parse

        got = fast_parse(data, url, content_type)
        if got is not None:
            kind, title, site, entries = got
            out = ParsedFeed(title=html_to_text(title)[:300], site_url=safe_link(site, url), kind=kind)
            out.stories = [_entry(e, url, now) for e in entries]
            return out
    import feedparser  # deferred: ~60 ms import, only needed when a feed body arrives

    data = _fix_charrefs(data)

    # feedparser flags a missing Content-Type as an error; local files have none, so say what it is
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    d = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False, response_headers=headers)
    version = d.get("version") or ""
    if not version and not d.entries:
        reason = _bozo_reason(d) or "no RSS, Atom or JSON feed found"
        head = data[:512].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise ParseError("an HTML page, not a feed (try the site URL with `digest feeds add` to find its feed)",
                             html=True)
        raise ParseError(reason)
    feed = d.feed
    site = safe_link(feed.get("link", ""), url)
    out = ParsedFeed(
        title=html_to_text(feed.get("title", ""))[:300], site_url=site, kind=version or "unknown",
        warning=_bozo_reason(d) if d.get("bozo") else "",
    )
    # Atom (RFC 4287 4.2.1): an entry without an author has the feed's; feedparser leaves it out
    inherited = (feed.get("author_detail") or {}).get("name", "") if version.startswith("atom") else ""
    for e in d.entries:
        out.stories.append(_entry(e, url, now, inherited))
    return out


# A numeric character reference that names no character (a surrogate, or beyond U+10FFFF): feedparser's
# loose parser turns each into chr(n).encode("utf-8"), which raises and cost the whole feed. Such a
# reference becomes U+FFFD, as an HTML parser would make it; the feed's other stories are kept.
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _fix_charrefs(data: bytes) -> bytes:
    if b"&#" not in data:
        return data

    def repl(m: re.Match[bytes]) -> bytes:
        digits = (m.group(1) or m.group(2)).lstrip(b"0") or b"0"
        if len(digits) > 8:  # past U+10FFFF whatever the digits (and int() refuses huge strings)
            return b"&#xFFFD;"
        n = int(digits, 16) if m.group(1) else int(digits)
        return b"&#xFFFD;" if 0xD800 <= n <= 0xDFFF or n > 0x10FFFF else m.group(0)

    return _CHARREF.sub(repl, data)


def _bozo_reason(d: Any) -> str:
    exc = d.get("bozo_exception")
    if exc is None:
        return ""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg[:200]


def _detail_base(e: Any, key: str, default: str) -> str:
    detail = e.get(key)
    if isinstance(detail, dict) and detail.get("base"):
        return str(detail["base"])
    return default


def _entry(e: Any, feed_url: str, now: float, inherited_author: str = "") -> ParsedStory:
    base = _detail_base(e, "summary_detail", feed_url)
    link = safe_link(e.get("link", ""), base)
    if not link:
        for candidate in e.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = safe_link(candidate["href"], base)
                break
    real_title = html_to_text(e.get("title", ""))[:500]
    title = real_title or "(untitled)"
    # read only when present: feedparser otherwise maps one date to the other, with a DeprecationWarning
    keys = e.keys()
    published = _sane_ts(_struct_ts(e["published_parsed"] if "published_parsed" in keys else None)
                         or _struct_ts(e["updated_parsed"] if "updated_parsed" in keys else None), now)
    description = e.get("summary", "") or ""
    content_html = ""
    contents = e.get("content") or []
    if contents:
        content_html = max((c.get("value", "") or "" for c in contents), key=len)
        base = contents[0].get("base") or base
    raw_content = (content_html or description).strip()
    content = sanitize_html(raw_content, base)
    summary = summary_text(description or content_html)
    image = _entry_image(e, description, content_html, base)
    author = (e.get("author") or "").strip()
    if not author and e.get("authors"):
        author = ", ".join(a.get("name", "") for a in e["authors"] if a.get("name"))
    elif not author:
        author = inherited_author
    author = _byline(author)
    categories: list[str] = []
    for t in e.get("tags") or []:
        term = html_to_text(t.get("term") or t.get("label") or "").strip()
        if term and term not in categories:
            categories.append(term[:100])
    extra: dict[str, Any] = {}
    for src, dst in (("ev_startdate", "event_start"), ("ev_enddate", "event_end"),
                     ("ev_location", "event_location"), ("ev_organizer", "event_organizer")):
        if e.get(src):
            extra[dst] = html_to_text(str(e[src]))[:300]
    guid = story_identity(e.get("id", ""), link, title, published,
                          body="" if real_title else (description or content_html))
    return ParsedStory(
        guid=guid, link=link, canonical_link=canonical_url(link), title=title, author=html_to_text(author)[:200],
        summary=summary, content=content, image=image, categories=categories[:20], published_at=published,
        extra=extra,
    )


_EMAIL_NAME = re.compile(r"^\s*[^\s@()]+@[^\s@()]+\s*\((.+)\)\s*$")
# feedparser's author for an Atom <author> with a name and an email: "Name (email)"
_NAME_EMAIL = re.compile(r"^(.+?)\s*\(\s*[^\s@()]+@[^\s@()]+\s*\)\s*$")


def _byline(author: str) -> str:
    """RSS <author> is "email (Name)", feedparser writes an Atom author as "Name (email)": show the name,
    never the address."""
    if "@" not in author:  # no address (each pattern needs an "@"): most bylines are a plain name
        return author
    m = _EMAIL_NAME.match(author) or _NAME_EMAIL.match(author)
    if m:
        return m.group(1).strip()
    return "" if re.fullmatch(r"[^\s@]+@[^\s@]+", author) else author


def parse_job(body: bytes, url: str, content_type: str, now: float) -> ParsedFeed | str:
    """For worker processes: the error text instead of an exception, so nothing unpicklable crosses
    back, and a parser bug costs one feed rather than the refresh."""
    try:
        return parse_feed(body, url, content_type, now=now)
    except ParseError as e:
        return f"not a feed: {e}"
    except Exception as e:  # noqa: BLE001
        return f"parse failed: {type(e).__name__}: {e}"


def _int(v: Any) -> int | None:
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 < n < 100_000 else None


def _entry_image(e: Any, description: str, content_html: str, base: str) -> Image | None:
    for m in e.get("media_content") or []:
        url = safe_link(m.get("url", ""), base)
        medium = (m.get("medium") or "").lower()
        mtype = (m.get("type") or "").lower()
        if url.startswith("http") and (medium == "image" or mtype.startswith("image/") or
                                       (not medium and not mtype and _looks_like_image(url))):
            return Image(url, _int(m.get("width")), _int(m.get("height")))
    for m in e.get("media_thumbnail") or []:
        url = safe_link(m.get("url", ""), base)
        if url.startswith("http"):
            return Image(url, _int(m.get("width")), _int(m.get("height")))
    for enc in e.get("enclosures") or []:
        url = safe_link(enc.get("href", "") or enc.get("url", ""), base)
        if url.startswith("http") and (enc.get("type") or "").lower().startswith("image/"):
            return Image(url)
    return first_image(description, base) or first_image(content_html, base)


def _looks_like_image(url: str) -> bool:
    return urlsplit(url).path.lower().endswith((".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"))


def parse_json_feed(data: bytes, url: str, *, now: float) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (jsonfeed.org), which feedparser does not read."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError(f"invalid JSON: {e}") from None
    except RecursionError:  # a hostile document nested thousands of levels deep
        raise ParseError("invalid JSON: nested too deeply") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise ParseError("JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an items list")
    feed_base = _str(doc.get("feed_url")) or url
    out = ParsedFeed(
        title=html_to_text(_str(doc.get("title")))[:300], site_url=safe_link(_str(doc.get("home_page_url")), url),
        kind="json" + _str(doc.get("version")).rsplit("/", 1)[-1].replace(".", ""),
    )
    feed_authors = _json_authors(doc)
    for item in items:
        if not isinstance(item, dict):
            continue
        link = safe_link(_str(item.get("url")) or _str(item.get("external_url")), feed_base)
        title = html_to_text(_str(item.get("title")))[:500]
        content_html = _str(item.get("content_html"))
        content_text = _str(item.get("content_text"))
        summary_src = _str(item.get("summary")) or content_html or html.escape(content_text)
        if not title:
            title = html_to_text(summary_src, limit=80) or "(untitled)"
        published = _sane_ts(_iso_ts(item.get("date_published")) or _iso_ts(item.get("date_modified")), now)
        content = sanitize_html(content_html, link or feed_base) if content_html else (
            "".join(f"<p>{html.escape(p)}</p>" for p in content_text.split("\n\n") if p.strip())
        )
        img_url = safe_link(_str(item.get("image")) or _str(item.get("banner_image")), feed_base)
        image = Image(img_url) if img_url.startswith("http") else first_image(content_html, link or feed_base)
        raw_tags = item.get("tags")
        tags = [html_to_text(_str(t))[:100] for t in raw_tags if isinstance(t, str) and t.strip()] if isinstance(
            raw_tags, list) else []
        author = ", ".join(_json_authors(item)) or ", ".join(feed_authors)
        guid = story_identity(_str(item.get("id")), link, title, published)
        out.stories.append(ParsedStory(
            guid=guid, link=link, canonical_link=canonical_url(link), title=title, author=author[:200],
            summary=summary_text(summary_src), content=content, image=image, categories=tags[:20],
            published_at=published,
        ))
    return out


def _str(v: Any) -> str:
    if isinstance(v, str):
        # json.loads turns a lone "\ud800" escape into a surrogate, which UTF-8 (and so SQLite) cannot
        # encode: replace it here instead of failing the feed when it is stored
        return v if v.isascii() else v.encode("utf-8", "replace").decode("utf-8")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return ""


def _json_authors(obj: dict[str, Any]) -> list[str]:
    authors = obj.get("authors")
    if not isinstance(authors, list):
        authors = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    return [html_to_text(_str(a.get("name"))) for a in authors if isinstance(a, dict) and _str(a.get("name"))]
