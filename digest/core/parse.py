"""Feed bytes -> ParsedFeed: RSS/Atom through feedparser, JSON Feed by hand, HTML made safe with nh3.

feedparser's own sanitiser and relative-URI pass are its hot spots (feedparser issue #209: a 5 MB feed
takes 15 s), so both are off and the HTML is cleaned once here with nh3 (Rust, allowlist), which also
resolves relative URLs against the entry's base.
"""

from __future__ import annotations

import calendar
import functools
import html
import json
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3

from digest.core.links import join_url
from digest.core.models import Image, ParsedFeed, ParsedStory


class ParseError(Exception):
    """The bytes are not a feed we can read; the message says why in a few words."""


# -- URLs -------------------------------------------------------------------------------------------

# Query parameters that only track the reader; stripping them makes the same story from two feeds
# recognisable as one (Trending) and keeps links clean in the email.
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|igshid|yclid|"
    r"oly_enc_id|oly_anon_id|vero_id|wt_mc|ncid|cmpid|sr_share|__s)$",
    re.I,
)
SAFE_SCHEMES = {"http", "https", "mailto"}


# An absolute http(s) URL already in canonical form but for perhaps its "/": lower-case host, and no
# port, user, query or fragment, nor anything urlsplit would remove or read another way (whitespace,
# controls). Most feed links are; canonical_url returns them as they are (~1 us, not ~7).
_PLAIN_HTTP_URL = re.compile(r"https?://[a-z0-9.-]+(/[^?#\x00-\x20\x7f]*)?")


def canonical_url(url: str) -> str:
    """The link as a stable identity: lower-case scheme and host, no default port, no fragment, no
    tracking parameters. Returns '' for anything that is not an absolute http(s) URL."""
    url = url.strip()
    plain = _PLAIN_HTTP_URL.fullmatch(url)
    if plain:
        return url if plain.group(1) else url + "/"
    return _canonical_url(url)


def _canonical_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return ""
        host = parts.hostname.lower()
        port = parts.port
    except ValueError:
        return ""
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query, doseq=True), ""))


def safe_link(url: str, base: str = "") -> str:
    """An absolute http/https/mailto URL, or '' (javascript:, data: and friends never survive)."""
    url = (url or "").strip()
    if not url:
        return ""
    if base:
        try:
            url = join_url(base, url)
        except ValueError:
            return ""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return url if scheme in SAFE_SCHEMES else ""


# -- HTML -------------------------------------------------------------------------------------------

# An allowlist fit for email and for the reader pane: structure, emphasis, links, images, tables.
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "time", "tr", "u", "ul",
}
_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
_CLEAN_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math", "form"}

# 1x1 (or 0x0) images and a few well-known pixel hosts: tracking, not content.
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I | re.S)
# one attribute: name = "double" | 'single' | bare (HTML's attribute value forms)
_ATTR = re.compile(r"""([^\s"'<>/=]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""")
_LEADING_INT = re.compile(r"\s*(\d+)")
_PIXEL_HOSTS = re.compile(r"feeds\.feedburner\.com/~r/|pixel\.wp\.com|/pixel\.(gif|png)|\btrack(ing)?[./]", re.I)


def _img_attrs(tag: str) -> dict[str, str]:
    """An <img> tag's attributes, names lower-cased, the first of a repeated name kept (as browsers do).
    One pass instead of a regex per attribute; cached because sanitize_html and first_image look at the
    same tags of a story, except for huge tags (inline data: images) the cache would hold on to. The dict
    may be shared: never change it."""
    return _read_img_attrs(tag) if len(tag) > 2048 else _cached_img_attrs(tag)


def _read_img_attrs(tag: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for name, dq, sq, bare in _ATTR.findall(tag, 4):  # past "<img"
        attrs.setdefault(name.lower(), dq or sq or bare)
    return attrs


_cached_img_attrs = functools.lru_cache(maxsize=512)(_read_img_attrs)


def _dims(attrs: dict[str, str]) -> dict[str, int]:
    """width/height as numbers: the leading digits, as browsers read "640" or "640px"."""
    out = {}
    for key in ("width", "height"):
        m = _LEADING_INT.match(attrs.get(key, ""))
        if m:
            out[key] = int(m.group(1))
    return out


def _is_pixel(tag: str) -> bool:
    """Cached like _img_attrs: sanitize_html and first_image ask about the same tags."""
    return _read_is_pixel(tag) if len(tag) > 2048 else _cached_is_pixel(tag)


def _read_is_pixel(tag: str) -> bool:
    attrs = _img_attrs(tag)
    dims = _dims(attrs)
    if dims and all(v <= 2 for v in dims.values()):
        return True
    src = attrs.get("src", "")
    # every match of _PIXEL_HOSTS holds one of these, lower-cased ("xel", not "pixel": under re.I the
    # dotless i matches "i"); the regex is tried only then (~2.5 us saved on most images)
    low = src.lower()
    return ("xel" in low or "track" in low or "feedburner" in low) and bool(_PIXEL_HOSTS.search(src))


_cached_is_pixel = functools.lru_cache(maxsize=512)(_read_is_pixel)


def sanitize_html(fragment: str, base: str = "") -> str:
    """Clean feed HTML: allowlisted tags only, links http/https/mailto only, relative URLs resolved
    against base, no scripts, styles, event handlers or tracking pixels."""
    if not fragment:
        return ""
    if "<img" in fragment or "<IMG" in fragment:
        fragment = _IMG_TAG.sub(lambda m: "" if _is_pixel(m.group(0)) else m.group(0), fragment)
    relative: Any = ("rewrite_with_base", base) if base.startswith(("http://", "https://")) else "deny"
    try:
        return _cleaner(relative).clean(fragment)
    except ValueError:  # a base nh3 cannot parse: keep the content, drop relative URLs
        return _cleaner("deny").clean(fragment)


@functools.lru_cache(maxsize=64)
def _cleaner(url_relative: Any) -> nh3.Cleaner:
    """A reusable nh3 sanitizer per base URL: nh3.clean() rebuilds its rules from the Python sets on every
    call, which was half of its 36 µs per story (a feed's items share one base, so the cache hits)."""
    return nh3.Cleaner(tags=_TAGS, attributes=_ATTRS, clean_content_tags=_CLEAN_CONTENT, url_schemes=SAFE_SCHEMES,
                       link_rel="noopener noreferrer", url_relative=url_relative)


_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|blockquote|tr|pre)>|<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]*>")
# Inline tags vanish without a space ("<a>Forkyard</a>, a startup" -> "Forkyard, a startup"); any
# other tag separates words.
_INLINE_TAG = re.compile(
    r"</?(?:a|abbr|b|cite|code|del|em|font|i|ins|kbd|mark|q|s|small|span|strong|sub|sup|time|u)\b[^>]*>", re.I
)
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.I | re.S)


def html_to_text(fragment: str, *, limit: int | None = None) -> str:
    """Plain text from an HTML fragment: tags dropped, entities decoded, paragraphs kept as blank
    lines, whitespace folded; with a limit, cut at a word before `limit` characters, with an ellipsis."""
    if not fragment:
        return ""
    if limit and len(fragment) > 2 * limit + 200:
        # Feeds often carry the whole article (tens of KB) where a summary needs 700 characters. The text
        # of a prefix that ends just after a '>' is a prefix of the whole text: no tag, entity or line
        # crosses that point. So when the prefix alone gives more than `limit` characters, the cut text
        # is the same as the whole fragment's. Script-like blocks may end past the prefix: not taken.
        end = fragment.rfind(">", 0, 2 * limit + 200) + 1
        if end and not _MAY_HIDE.search(fragment, 0, end):
            text = _fragment_text(fragment[:end])
            if len(text) > limit:
                return _cut(text, limit)
    out = _fragment_text(fragment)
    return _cut(out, limit) if limit and len(out) > limit else out


def _cut(text: str, limit: int) -> str:
    """text shortened at the last word boundary before limit, with an ellipsis."""
    return text[:limit].rsplit(" ", 1)[0] + "…"


_MAY_HIDE = re.compile(r"<(?:script|style|noscript|template)", re.I)


def _fragment_text(fragment: str) -> str:
    if "<" in fragment:
        low = fragment.lower()
        text = _DROP_BLOCKS.sub(" ", fragment) if ("<script" in low or "<style" in low or "<noscript" in low
                                                   or "<template" in low) else fragment
        text = _BLOCK_END.sub("\n", text)
        text = _INLINE_TAG.sub("", text)
        text = _TAG.sub(" ", text)
    elif "&" not in fragment and "\n" not in fragment:  # one line of plain text (a title, a category)
        return " ".join(fragment.split())
    else:
        text = fragment
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


# The "Read More" / "The post X appeared first on Y" tails that feeds add to excerpts. A regex anchored
# at the end re-scans from every position (it was most of a summary's cost), so the markers are found
# with str.find in the last few hundred characters and the pattern is only tried where one starts.
_TAIL_MARKERS = ("[read more", "read more", "continue reading", "read the full story", "the post ")
_READ_MORE_AT = re.compile(
    r"(?:\[?(?:Read More|Continue reading|Read the full story)[^\n]{0,80}|"
    r"The post [^\n]{0,300} appeared first on [^\n]{0,120})\s*$",
    re.I,
)

SUMMARY_LIMIT = 700  # plain-text chars kept per story: a blurb needs ~300; the reader shows the content


def summary_text(fragment: str) -> str:
    text = html_to_text(fragment, limit=SUMMARY_LIMIT)
    start = max(0, len(text) - 400)
    low = text[start:].lower()
    cut = len(text)
    for marker in _TAIL_MARKERS:
        i = low.find(marker)
        if i >= 0 and start + i < cut and _READ_MORE_AT.match(text, start + i):
            cut = start + i
    if cut < len(text):
        text = text[:cut].rstrip().removesuffix("…").removesuffix("...")
    return text.strip()


def first_image(fragment: str, base: str = "") -> Image | None:
    """The first real <img> (not a pixel) in a fragment, with width/height when given."""
    if not fragment or "<img" not in fragment.lower():
        return None
    for m in _IMG_TAG.finditer(fragment):
        tag = m.group(0)
        if _is_pixel(tag):
            continue
        attrs = _img_attrs(tag)
        if "src" not in attrs:
            continue
        url = safe_link(html.unescape(attrs["src"]), base)
        if not url.startswith(("http://", "https://")):
            continue
        dims = _dims(attrs)
        return Image(url, dims.get("width"), dims.get("height"), html.unescape(attrs.get("alt", "")).strip())
    return None


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
    now = time.time() if now is None else now
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
            reason = "an HTML page, not a feed (try the site URL with `digest feeds add` to find its feed)"
        raise ParseError(reason)
    feed = d.feed
    site = safe_link(feed.get("link", ""), url)
    out = ParsedFeed(
        title=html_to_text(feed.get("title", ""))[:300], site_url=site, kind=version or "unknown",
        warning=_bozo_reason(d) if d.get("bozo") else "",
    )
    for e in d.entries:
        out.stories.append(_entry(e, url, now))
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


def _entry(e: Any, feed_url: str, now: float) -> ParsedStory:
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


def _byline(author: str) -> str:
    """RSS <author> is "email (Name)": show the name, never the address."""
    m = _EMAIL_NAME.match(author)
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
