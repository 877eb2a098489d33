"""The page behind a story: fetched through the feed fetcher, its main text extracted, its metadata read.

Many feeds carry only a teaser or a title and no picture; the curator cannot judge a story from that, and
the email's lead and thumbnails need pictures. So the article is fetched (libcurl, the refresh's limits:
concurrency, per host, time, bytes; only http/https) and:

- its main text is extracted by trafilatura (it scored best among open-source extractors in its own and in
  independent benchmarks, and keeps up: ~20 ms a page here), then cleaned by the same nh3 allowlist as feed
  HTML; the plain text is read from that clean HTML, so both say the same;
- its metadata come from the page's head: og:image / twitter:image (else the first large picture of the
  main text), og:description, author, published date, site name and canonical URL.

Every outcome is stored (digest.core.store.articles): a failure with its reason and a time before which it is
not tried again, doubling from an hour (a 404 or a page that is not HTML: a week).

trafilatura is imported only when a page is extracted (~0.2 s of imports).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from digest.core import clock
from digest.core.links import safe_link
from digest.core.models import TOO_LARGE, Article, FetchResult, Story
from digest.core.sanitize import html_to_text, sanitize_html

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.store import Store

ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
# A feed summary shorter than this is a teaser: a blurb needs two or three sentences (~300 characters).
TEASER_CHARS = 200
_ELLIPSIS = ("…", "...", "[…]", "[...]", "(…)", "(...)")
_READ_MORE = re.compile(r"(read more|continue reading|read the full (story|article)|full story)\W*$", re.I)
# A failed fetch waits an hour before it is tried again, then twice as long after each failure in a row, up
# to a week; an answer that will not change (404, 410, a page that is not HTML) waits the week at once.
RETRY_S = 3600.0
RETRY_MAX_S = 7 * 86_400.0
# "The first large content image": smaller ones are icons, avatars and buttons. 300 px is the width below
# which Facebook's and Twitter's cards fall back to a small square.
LARGE_IMAGE_PX = 300
HTML_TYPES = ("text/html", "application/xhtml+xml")
# The most of a page's article kept, in characters of its cleaned HTML (~80k words of prose). The reader
# shows 60k characters and the email a blurb; a 6 MB page of text stored ~12 MB (text and HTML) for one
# story, uncompressed, in a store that cron keeps for years. The cut falls between blocks, and says so.
MAX_ARTICLE_CHARS = 500_000
CUT_NOTE = "<p><em>(The article is cut here: the page goes on. Open it in the browser to read the rest.)</em></p>"
_DATE_PARAMS = {"extensive_search": False, "original_date": True}


class ArticleError(Exception):
    """Why a page gave no article, in one line."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# -- which stories need their article ---------------------------------------------------------------


def is_teaser(summary: str, content: str = "") -> bool:
    """A summary too short to judge the story by, or one that says it is cut ("…", "Read more")."""
    text = (summary or "").strip()
    if len(text) < TEASER_CHARS:
        return True
    if text.endswith(_ELLIPSIS) or _READ_MORE.search(text):
        return True
    tail = html_to_text(content[-400:]) if content else ""
    return bool(tail) and bool(_READ_MORE.search(tail))


def wants_article(story: Story) -> bool:
    """A story whose feed gave no picture or only a teaser: its article can give both."""
    return story.image is None or is_teaser(story.summary, story.content)


def due(state: tuple[str, float | None, int] | None, now: float) -> bool:
    """Whether to fetch, from article_states(): never fetched, or failed and its waiting time is over."""
    return state is None or (state[0] != "ok" and (state[1] or 0) <= now)


# Names reserved for examples and tests (RFC 2606, RFC 6761): no article lives there. The offline sample
# feeds and most tests link to them; fetching would only wait for DNS to fail.
_PLACEHOLDER = re.compile(r"(^|\.)(example|test|invalid)$|(^|\.)example\.(com|net|org)$")


def placeholder_host(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    return bool(_PLACEHOLDER.search(host))


# -- extraction --------------------------------------------------------------------------------------


def _is_html(body: bytes, content_type: str) -> bool:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype:
        return ctype in HTML_TYPES
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<head" in head or b"<body" in head


_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([^\s"';]+)""", re.I)
# <meta charset=...>, <meta http-equiv content="...; charset=...">, and XHTML's <?xml ... encoding="..."?>
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
                           rb"""|<\?xml\b[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _decode(body: bytes, content_type: str) -> str | bytes:
    """The page as text, its encoding found as browsers find it (the HTML standard's order): a byte order
    mark, else the charset of the Content-Type header, else a <meta> charset in the first 1,024 bytes.
    trafilatura alone guesses from the bytes (charset_normalizer), which reads a short windows-1252 page
    as windows-1250 ("crème" became "crčme"). The bytes are returned as they are only when nothing names a
    charset we know, for trafilatura to guess."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace")
    labels = [(m.group(1), False) for m in [_HEADER_CHARSET.search(content_type)] if m]
    labels += [((m.group(1) or m.group(2)).decode("ascii"), True) for m in [_META_CHARSET.search(body[:1024])] if m]
    for label, in_page in labels:
        try:
            name = codecs.lookup(label).name
        except LookupError:
            continue
        if name in ("latin-1", "iso8859-1", "ascii"):  # the HTML standard reads these labels as windows-1252
            name = "cp1252"
        elif in_page and name.startswith("utf-16"):  # ASCII bytes that say utf-16 are not (the HTML standard)
            name = "utf-8"
        # lxml refuses text that still declares an encoding; the declaration has done its work
        return _XML_DECLARATION.sub("", body.decode(name, errors="replace"), count=1)
    return body


def _meta(tree: Any) -> dict[str, str]:
    """The page's <meta property|name=... content=...>, names lower-cased, the first of each kept."""
    out: dict[str, str] = {}
    for el in tree.iter("meta"):
        name = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
        content = (el.get("content") or "").strip()
        if name and content:
            out.setdefault(name, content)
    for el in tree.iter("link"):
        if "canonical" in (el.get("rel") or "").lower().split() and el.get("href"):
            out.setdefault("link:canonical", el.get("href").strip())
    return out


def _int(value: str | None) -> int | None:
    m = re.match(r"\s*(\d+)", value or "")
    return int(m.group(1)) if m else None


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _content_image(tree: Any, clean_html: str, base: str) -> tuple[str, int | None, int | None] | None:
    """The first picture of the main text that is not small: its size is read from the page's own <img>
    (the extractor keeps only src and alt). A picture without a declared size is taken: content pictures
    often have none, icons usually do."""
    dims: dict[str, tuple[int | None, int | None]] = {}
    for img in tree.iter("img"):
        src = img.get("src")
        if src:
            dims.setdefault(safe_link(src.strip(), base), (_int(img.get("width")), _int(img.get("height"))))
    for src in re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', clean_html):
        url = src.replace("&amp;", "&")
        if not url.startswith(("http://", "https://")):
            continue
        w, h = dims.get(url, (None, None))
        if w is None or w >= LARGE_IMAGE_PX:
            return url, w, h
    return None


def extract(body: bytes, url: str, content_type: str = "", *, story_id: int = 0, now: float | None = None) -> Article:
    """The article in an HTML page; raises ArticleError when the page is not HTML or holds nothing to read."""
    if not _is_html(body, content_type):
        kind = content_type.split(";", 1)[0].strip() or "unknown type"
        raise ArticleError(f"not an HTML page ({kind})", permanent=True)
    from trafilatura import bare_extraction  # ~0.2 s of imports: only when a page is extracted
    from trafilatura.htmlprocessing import convert_to_html
    from trafilatura.utils import load_html

    tree = load_html(_decode(body, content_type))
    if tree is None:
        raise ArticleError("the page could not be read as HTML", permanent=True)
    meta = _meta(tree)
    # output_format="xml": the text is read from the HTML below, so trafilatura's own text rendering (~20%
    # of its time) is skipped; the date search stops at the page's markup (htmldate's extensive search
    # reads the whole text for date-like strings, ~15%, and guesses wrong on pages without a date).
    doc: Any = bare_extraction(tree, url=url, with_metadata=True, include_images=True, include_formatting=True,
                               include_links=True, include_comments=False, include_tables=True,
                               output_format="xml", date_extraction_params=_DATE_PARAMS)
    clean = ""
    if doc is not None and doc.body is not None:
        from lxml.etree import tostring

        inner = convert_to_html(doc.body)[0]  # <html><body>...: the body's children are the text
        _drop_headline(inner, {meta.get("og:title", ""), doc.title or ""})
        clean = sanitize_html(_bounded_html(inner, tostring), url)
    text = html_to_text(clean).replace("\n", "\n\n")
    image = _first_nonempty(meta, "og:image:secure_url", "og:image", "og:image:url", "twitter:image",
                            "twitter:image:src")
    img: tuple[str, int | None, int | None] | None = None
    if image and safe_link(image, url).startswith(("http://", "https://")):
        img = (safe_link(image, url), _int(meta.get("og:image:width")), _int(meta.get("og:image:height")))
    else:
        img = _content_image(tree, clean, url)
    description = _first_nonempty(meta, "og:description", "twitter:description", "description")
    if not (text or description):
        raise ArticleError("no article text found in the page")
    canonical = ""
    for candidate in (meta.get("link:canonical"), meta.get("og:url"), doc.url if doc else None):
        link = safe_link(candidate or "", url)
        if link.startswith(("http://", "https://")):
            canonical = link
            break
    published = _timestamp(meta.get("article:published_time")) or _timestamp(doc.date if doc else None)
    return Article(
        story_id=story_id, url=url, status="ok", fetched_at=clock.now() if now is None else now, attempts=0,
        title=html_to_text(_first_nonempty(meta, "og:title", "twitter:title") or (doc.title if doc else "") or ""),
        text=text, text_words=len(text.split()), html=clean, image_url=img[0] if img else None,
        image_width=img[1] if img else None, image_height=img[2] if img else None,
        description=html_to_text(description),
        author=html_to_text((doc.author if doc else "") or meta.get("author", "")),
        published_at=published, canonical_url=canonical,
        site_name=html_to_text(meta.get("og:site_name") or (doc.sitename if doc else "") or ""),
    )


def _bounded_html(inner: Any, tostring: Any) -> str:
    """The article body's HTML, its top-level blocks up to MAX_ARTICLE_CHARS and CUT_NOTE after the last
    one kept when there were more (a single block longer than that is kept whole: no article needs one)."""
    parts = [inner.text or ""]
    size = len(parts[0])
    for child in inner:
        block = tostring(child, encoding="unicode")
        if size + len(block) > MAX_ARTICLE_CHARS and size:
            parts.append(CUT_NOTE)
            break
        parts.append(block)
        size += len(block)
    return "".join(parts)


def _drop_headline(body: Any, titles: set[str]) -> None:
    """The page's <h1> repeats the headline the reader and the CLI already show: drop it when it opens the
    text and matches the page's title."""
    keys = {" ".join(t.split()).casefold() for t in titles if t}
    if len(body) and body[0].tag in ("h1", "h2"):
        head = " ".join("".join(body[0].itertext()).split()).casefold()
        if head and any(k == head or k.startswith(head) for k in keys):
            if body[0].tail and body[0].tail.strip():
                body.text = (body.text or "") + body[0].tail
            body.remove(body[0])


def _first_nonempty(meta: dict[str, str], *names: str) -> str:
    return next((meta[n] for n in names if meta.get(n)), "")


def failed(story_id: int, url: str, error: str, *, previous: tuple[str, float | None, int] | None, now: float,
           permanent: bool = False) -> Article:
    """A failure row: the reason, and when it may be tried again (see RETRY_S). `previous` is the story's
    article_states() entry: failures in a row wait longer."""
    attempts = (previous[2] if previous is not None and previous[0] != "ok" else 0) + 1
    wait = RETRY_MAX_S if permanent else min(RETRY_S * 2 ** (attempts - 1), RETRY_MAX_S)
    return Article(story_id=story_id, url=url, status="error", fetched_at=now, attempts=attempts,
                   retry_at=now + wait, error=error)


# -- fetching ----------------------------------------------------------------------------------------


def feed_on_private_host(feed_url: str) -> bool:
    """Whether a feed lives on a loopback, private, link-local or reserved address (an intranet feed): its
    stories' links may then lead there too. Names are resolved (a name for 10.0.0.5 is as private as the
    literal); a name that does not resolve, or a local file, is not private."""
    import socket
    from urllib.parse import urlsplit

    from digest.core.addresses import address_refusal

    try:
        parts = urlsplit(feed_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(address_refusal(str(info[4][0])) is not None for info in infos)


def private_allowed(config: Config, feed_urls: Iterable[str]) -> dict[str, bool]:
    """feed URL -> whether links from its stories may go to private addresses ([articles] allow_private,
    or the feed itself is on such a host). Links written by feed authors are otherwise kept to public
    addresses on every hop (digest.core.fetch checks the address connected to)."""
    allow = config.articles.allow_private
    return {url: allow or feed_on_private_host(url) for url in set(feed_urls)}



def fetch_articles(store: Store, config: Config, story_ids: Iterable[int], *, refetch: bool = False,
                   now: float | None = None) -> dict[int, Article]:
    """Fetch and extract the articles of these stories, all at once on one libcurl multi handle (the
    refresh's concurrency, per-host, time and size limits), and store every outcome. Stories with an
    article already, or a recent failure, are not fetched again unless `refetch`. Returns the stored row
    of every story asked about that has a link."""
    from digest.core.fetch import Fetcher  # pycurl: only when something is fetched

    now = clock.now() if now is None else now
    targets = store.article_targets(story_ids)
    known = store.article_states(targets)
    out = store.articles_for([sid for sid in targets if not (refetch or due(known.get(sid), now))])
    todo = {sid: link for sid, (link, _feed_url) in targets.items() if sid not in out}
    private = private_allowed(config, (targets[sid][1] for sid in todo))
    for sid, link in list(todo.items()):
        if placeholder_host(link):
            out[sid] = failed(sid, link, "a placeholder domain (RFC 2606): not fetched", previous=known.get(sid),
                              now=now, permanent=True)
            store.save_article(out[sid])
            del todo[sid]
    if not todo:
        return out
    cfg = config.refresh
    with Fetcher(concurrency=cfg.concurrency, per_host=cfg.per_host, timeout_s=cfg.timeout_s,
                 max_bytes=cfg.max_bytes, now=now, user_agent=cfg.user_agent, accept=ACCEPT) as fetcher:
        for sid, link in todo.items():
            fetcher.add(sid, link, private_ok=private[targets[sid][1]])
        left = len(todo)
        while left:
            for sid, result in fetcher.poll(None):
                left -= 1
                article = _outcome(sid, todo[sid], result, known.get(sid), now)
                store.save_article(article)
                out[sid] = article
    return out


def _outcome(sid: int, link: str, result: FetchResult, previous: tuple[str, float | None, int] | None,
             now: float) -> Article:
    if result.status != "ok":
        # the fetcher words a 410 for a feed ("the feed was removed; no longer fetched"): a page is only gone
        error = "HTTP 410 Gone" if result.http_status == 410 else result.error or f"HTTP {result.http_status}"
        # a page gone, or too large for max_bytes (it will not shrink), is tried again in a week, not an hour
        permanent = result.http_status in (404, 410) or error.startswith(TOO_LARGE)
        return failed(sid, link, error, previous=previous, now=now, permanent=permanent)
    try:
        article = extract(result.body, result.final_url or link, result.content_type, story_id=sid, now=now)
    except ArticleError as e:
        return failed(sid, link, str(e), previous=previous, now=now, permanent=e.permanent)
    article.url = link
    return article


def fetch_article(store: Store, config: Config, story_id: int, *, refetch: bool = False) -> Article:
    """One story's article (the CLI and the TUI): the stored one, else fetched now. Raises LookupError
    when the story has no link to fetch."""
    got = fetch_articles(store, config, [story_id], refetch=refetch)
    if story_id not in got:
        raise LookupError(f"story {story_id} has no http(s) link to fetch")
    return got[story_id]


def fetch_for_digest(store: Store, config: Config, digest_id: int, *, now: float | None = None) -> list[str]:
    """Before a build: the articles of the digest's stories that have no picture or only a teaser, all at
    once ([articles] at_build). Stories fetched before, or failed recently, cost one indexed lookup.
    Returns notes for the build's output (how many could not be fetched)."""
    if not config.articles.at_build:
        return []
    now = clock.now() if now is None else now
    want = [it.story.id for it in store.digest_items(digest_id) if wants_article(it.story)]
    states = store.article_states(want)
    todo = [sid for sid in want if due(states.get(sid), now)]
    if not todo:
        return []
    got = fetch_articles(store, config, todo, now=now)
    bad = [got[sid] for sid in todo if sid in got and not got[sid].ok and got[sid].fetched_at == now]
    bad = [a for a in bad if not a.error.startswith("a placeholder domain")]
    if not bad:
        return []
    return [f"{len(bad)} of {len(todo)} articles could not be fetched (story {bad[0].story_id}: {bad[0].url}: "
            f"{bad[0].error}); their feed's text is used"]


def fetch_new_articles(store: Store, config: Config, feed_ids: list[int], *, since: float) -> list[Article]:
    """At refresh, for feeds marked full_text (feeds known to truncate): the articles of their new stories."""
    ids = store.new_story_ids(feed_ids, since=since)
    if not ids:
        return []
    got = fetch_articles(store, config, ids, now=since)
    return [got[i] for i in ids if i in got]
