"""A fast reader for plain RSS 2.0 and Atom 1.0, with feedparser kept for everything else.

Why: feedparser walks every element through Python SAX callbacks; on the 500-feed benchmark it was
most of a cold refresh's time. lxml parses the same 75 KB feed in ~0.3 ms. This module reads only the
fields digest stores and hands them to the same normalising code as the feedparser path (it builds a
dict shaped like a feedparser entry), so both paths store the same stories — tests/test_fastparse.py
checks that on every sample feed and on generated ones.

It declines (returns None, and feedparser takes over) on anything unusual: RSS 0.9x/1.0, a DOCTYPE
(entities), non-UTF-8 bytes or declarations, XHTML content, markup inside <description>, or any XML
error (feedparser's loose parser copes with broken feeds).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from digest.core.fastgate import author_child_ok, feed_child_ok, fp_link, fp_text, item_child_ok, media_child_ok
from digest.core.feeddates import parse_date
from digest.core.links import join_url

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
EV = "{http://purl.org/rss/1.0/modules/event/}"
# the tags _rss reads for every item, made once (an f-string a read, ~14 a item, cost ~1 us an item)
DC_DATE, DC_CREATOR, DC_SUBJECT = f"{DC}date", f"{DC}creator", f"{DC}subject"
MEDIA_CONTENT, MEDIA_GROUP, MEDIA_THUMBNAIL = f"{MEDIA}content", f"{MEDIA}group", f"{MEDIA}thumbnail"
_EV_FIELDS = tuple((f"{EV}{name}", f"ev_{name}") for name in ("startdate", "enddate", "location", "organizer"))

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True, strip_cdata=True, recover=False)
_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8 = {"utf-8", "utf8"}


class _Decline(Exception):
    pass


# feedparser's urls._urifixer, ^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?) replaced by \1\3: slashes after
# "scheme://" dropped. Matched only where there are some (re.sub with a template costs ~2 us a call).
_EXTRA_SLASHES = re.compile(r"([A-Za-z][A-Za-z0-9+-.]*://)/+")


def _resolve(base: str, uri: str) -> str:
    """A URI made absolute as feedparser makes links, guids and ids absolute (its urls._urljoin): extra
    slashes after the scheme folded, urljoin, and "" for a URI urljoin cannot read."""
    m = _EXTRA_SLASHES.match(uri)
    if m:
        uri = m.group(1) + uri[m.end():]
    try:
        return join_url(base, uri)
    except ValueError:
        return ""


def fast_parse(data: bytes, url: str, content_type: str = "") -> tuple[str, str, str, list[dict[str, Any]]] | None:
    """(kind, title, site_url, entries) or None when feedparser should read this feed."""
    head = data[:200]
    if b"<!DOCTYPE" in data[:2048] or b"<!doctype" in data[:2048]:
        return None
    m = _DECL_ENCODING.match(head)
    if m and m.group(1).decode().lower() not in _UTF8:
        return None
    charset = re.search(r"charset\s*=\s*\"?([\w.-]+)", content_type or "", re.I)
    if charset and charset.group(1).lower() not in _UTF8:
        return None
    try:
        data.decode("utf-8")
        root = etree.fromstring(data, _PARSER, base_url=url or None)
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError):
        return None
    try:
        if root.tag == "rss" and root.get("version") == "2.0":
            return _rss(root)
        if root.tag == f"{ATOM}feed":
            return _atom(root)
    except (_Decline, ValueError):  # ValueError: urljoin on a broken URL ("http://[::1"); feedparser copes
        return None
    return None


def _text(el: etree._Element | None, repair: bool = True) -> str:
    """The element's text as feedparser reads it: stripped, and repaired (fastgate.fp_text) except where
    feedparser reads it raw (`repair` False: an Atom author's name)."""
    if el is None:
        return ""
    if len(el):  # child elements where text was expected: let feedparser decide what it means
        raise _Decline
    text = (el.text or "").strip()
    return fp_text(text) if repair else text


# Item children _rss reads every occurrence of, in document order.
_RSS_MANY = frozenset(("category", f"{DC}subject", "enclosure", f"{MEDIA}content", f"{MEDIA}group",
                       f"{MEDIA}thumbnail"))
# Item children _rss reads one of. feedparser keeps the last of most of these and the first of some
# (title, description): an item that repeats one goes to feedparser.
_RSS_ONE = frozenset(("title", "link", "guid", "pubDate", f"{DC}date", "author", f"{DC}creator", "description",
                      CONTENT_ENCODED, *(f"{EV}{name}" for name in ("startdate", "enddate", "location", "organizer"))))


def _children(node: etree._Element, many: frozenset[str],
              one: frozenset[str]) -> tuple[dict[Any, Any], dict[Any, list[Any]]]:
    """One pass over node's direct children: (the child of each tag, every child of each tag in many).

    Why: ~20 find()/iterfind() calls per item, each a fresh ElementPath walk over the children, cost
    more than lxml's parse of the item. Lists keep document order. A tag in `one` that appears twice
    declines the feed, and so does a child in neither that feedparser would read into a stored field
    (fastgate.item_child_ok). Read the lists with .get(tag, ()): a tag with no children has no list
    (cheaper than six empty ones).
    """
    first: dict[Any, Any] = {}
    lists: dict[Any, list[Any]] = {}
    for child in node:
        # entity references (the parser drops comments and PIs) have a function for a tag, which the
        # gate passes over
        tag = child.tag
        if tag in many:
            if tag in lists:
                lists[tag].append(child)
            else:
                lists[tag] = [child]
        elif tag in one:
            if tag in first:
                raise _Decline
            first[tag] = child
        elif not item_child_ok(child):
            raise _Decline
    return first, lists


def _plain_attrs(el: etree._Element | None, atom: bool = False) -> None:
    """Decline a text element with an attribute feedparser reads (it lower-cases their names): `mode`
    (Atom 0.3's base64 or escaped) anywhere, and `type` but for Atom's "text" and "html"."""
    if el is None or not el.attrib:
        return
    for name, value in el.items():
        low = name.lower()
        if low == "mode" or (low == "type" and not (atom and value in ("text", "html"))):
            raise _Decline


def _media_ok(m: etree._Element, titled: bool) -> None:
    """A media:content's children: see fastgate.media_child_ok."""
    if len(m) and not all(media_child_ok(c, titled) for c in m):
        raise _Decline


def _feed_ok(node: etree._Element, read: frozenset[str], one: frozenset[str] = frozenset()) -> None:
    """The channel's (feed's) children other than those read: see fastgate.feed_child_ok. A tag in `one`
    seen twice declines too: which one feedparser keeps depends on where the items stand."""
    seen = set()
    for child in node:
        tag = child.tag
        if tag in one:
            if tag in seen:
                raise _Decline
            seen.add(tag)
        elif tag not in read and not feed_child_ok(child):
            raise _Decline


def _in_order(node: etree._Element, many: dict[Any, list[Any]], a: str, b: str) -> list[Any]:
    """The children tagged a or b in document order (feedparser reads them as they come)."""
    if a not in many or b not in many:
        return many.get(a, []) + many.get(b, [])
    return [child for child in node if child.tag == a or child.tag == b]


def _rss(root: etree._Element) -> tuple[str, str, str, list[dict[str, Any]]]:
    channels = [c for c in root if c.tag == "channel"]
    if len(channels) != 1:
        raise _Decline
    [channel] = channels
    _feed_ok(root, _RSS_ROOT_READ)
    _feed_ok(channel, _RSS_CHANNEL_READ, _RSS_CHANNEL_ONE)
    entries = []
    for item in channel.iterfind("item"):
        # same reads, in the same order, as find()/iterfind() on the item (so _Decline and the `or`
        # short cuts behave the same), from one pass over its children
        first, many = _children(item, _RSS_MANY, _RSS_ONE)
        get = first.get
        e: dict[str, Any] = {}
        base = item.base or ""
        title = get("title")
        if title is not None:
            _plain_attrs(title)
            e["title"] = _text(title)
        # as feedparser: a guid that is a permalink (isPermaLink absent or exactly "true") is made absolute,
        # so "12345" read from https://ex.example/feed is https://ex.example/12345, and stands in for a
        # missing <link>; links are made absolute the same way
        guid_el = get("guid")
        guid = _text(guid_el)
        permalink = guid_el is not None and _is_permalink(guid_el)
        if guid and permalink:
            guid = _resolve(base, guid)
        if guid:
            e["id"] = guid
        link_el = get("link")
        link = _text(link_el)
        if link_el is not None and not link:
            raise _Decline  # an empty <link>: which of it and the guid wins depends on their order
        if link:
            link = _resolve(base, link)
            if "&" in link:
                link = fp_link(link, item=True)
        else:
            link = guid if permalink else ""
        if link:
            e["link"] = link
        published, updated = _text(get("pubDate")), _text(get(DC_DATE))
        if published:
            e["published_parsed"] = parse_date(published)
        if updated:
            e["updated_parsed"] = parse_date(updated)
        creator, author_el = get(DC_CREATOR), get("author")
        if creator is not None and author_el is not None:
            raise _Decline  # feedparser keeps whichever comes last
        author = _text(creator if creator is not None else author_el)
        if author:
            e["author"] = author
        tags = [_text(c) for c in _in_order(item, many, "category", DC_SUBJECT)]
        e["tags"] = [{"term": t} for t in tags if t]
        description = get("description")
        encoded = get(CONTENT_ENCODED)
        _plain_attrs(description)
        _plain_attrs(encoded)
        desc = _text(description)
        if encoded is not None:
            e["content"] = [{"value": _text(encoded), "base": encoded.base or base}]
        e["summary"] = desc or (e["content"][0]["value"] if encoded is not None else "")
        # feedparser's summary is the description's, else content:encoded's; the parser resolves the
        # item's relative image URLs against its base, and against the feed's URL when there is neither
        summary_el = description if description is not None else encoded
        if summary_el is not None:
            e["summary_detail"] = {"base": summary_el.base or base}
        media: list[dict[str, str]] = []
        for m in _in_order(item, many, MEDIA_CONTENT, MEDIA_GROUP):
            if m.tag == MEDIA_CONTENT:
                _media_ok(m, bool(e.get("title")))
                media.append(dict(m.attrib))
                continue
            for child in m:
                if child.tag != MEDIA_CONTENT:  # a thumbnail, title or description in a group
                    raise _Decline
                _media_ok(child, bool(e.get("title")))
                media.append(dict(child.attrib))
        e["media_content"] = media
        e["media_thumbnail"] = [dict(m.attrib) for m in many.get(MEDIA_THUMBNAIL, ())]
        e["enclosures"] = [
            {"href": enc.get("url", ""), "type": enc.get("type", ""), "length": enc.get("length", "")}
            for enc in many.get("enclosure", ())
        ]
        for tag, key in _EV_FIELDS:
            el = get(tag)
            if el is not None:
                value = _text(el)
                if value:
                    e[key] = value
        entries.append(e)
    site = _text(channel.find("link"))
    if site:
        site = _resolve(channel.base or "", site)
        if "&" in site:
            site = fp_link(site, item=False)
    feed_title = channel.find("title")
    _plain_attrs(feed_title)
    return "rss20", _text(feed_title), site, entries


# The children of <rss> and of its <channel> that _rss reads; fastgate.feed_child_ok rules on the others.
_RSS_ROOT_READ = frozenset(("channel",))
_RSS_CHANNEL_READ = frozenset(("title", "link", "item"))
_RSS_CHANNEL_ONE = frozenset(("title", "link"))


def _is_permalink(guid: etree._Element) -> bool:
    value = "true"
    for name, v in guid.items():  # feedparser lower-cases attribute names, not their values
        if name.lower() == "ispermalink":
            value = v
    return value == "true"


def _atom_text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    _plain_attrs(el, atom=True)
    if len(el):
        raise _Decline
    return fp_text((el.text or "").strip())


_HTML_TYPES = {"text/html", "html", "application/xhtml+xml", "xhtml"}


def _atom_links(links: Any) -> tuple[str | None, list[dict[str, str]]]:
    """(the page link, every link as feedparser lists them) from the <link> children of a feed or entry.

    As feedparser: hrefs made absolute, rel "alternate" and type text/html unless given (both read in
    lower case), and the page is the last alternate link of an HTML type (None when there is none; ""
    when its href cannot be read)."""
    page: str | None = None
    listed = []
    for link in links:
        href = link.get("href")
        if href is None:
            raise _Decline  # a <link> with text instead of href: feedparser reads it as RSS would
        rel = link.get("rel", "alternate").lower()
        kind = link.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
        href = _resolve(link.base or "", href)
        listed.append({"rel": rel, "href": href, "type": kind, "length": link.get("length", "")})
        if rel == "alternate" and kind in _HTML_TYPES:
            page = href
    return page, listed


# Entry children _atom reads every occurrence of, and those it reads one of (see _RSS_ONE).
_ATOM_MANY = frozenset((f"{ATOM}link", f"{ATOM}author", f"{ATOM}category", f"{MEDIA}content", f"{MEDIA}thumbnail"))
_ATOM_ONE = frozenset((f"{ATOM}title", f"{ATOM}id", f"{ATOM}published", f"{ATOM}updated", f"{ATOM}summary",
                       f"{ATOM}content", f"{MEDIA}group"))


# The children of an Atom <feed> that _atom reads; fastgate.feed_child_ok rules on the others.
_ATOM_FEED_READ = frozenset((f"{ATOM}title", f"{ATOM}link", f"{ATOM}id", f"{ATOM}entry", f"{ATOM}author"))
_ATOM_FEED_ONE = frozenset((f"{ATOM}title", f"{ATOM}id"))


def _atom(root: etree._Element) -> tuple[str, str, str, list[dict[str, Any]]]:
    entries = []
    _feed_ok(root, _ATOM_FEED_READ, _ATOM_FEED_ONE)
    feed_authors = root.findall(f"{ATOM}author")
    if len(feed_authors) > 1 or not all(author_child_ok(c) for a in feed_authors for c in a):
        raise _Decline  # several: parse.py takes feedparser's, the last
    # an entry without an <author> has the feed's (RFC 4287), as parse.py gives it on the feedparser path
    feed_author = _text(root.find(f"{ATOM}author/{ATOM}name"), repair=False)
    for entry in root.iterfind(f"{ATOM}entry"):
        # one pass over the entry's children, then the same reads in the same order as before (see _rss)
        first, many = _children(entry, _ATOM_MANY, _ATOM_ONE)
        get = first.get
        if f"{MEDIA}group" in first:
            raise _Decline  # YouTube's media:group carries the description and thumbnail: feedparser's rules
        links = many.get(f"{ATOM}link", ())
        e: dict[str, Any] = {}
        title = get(f"{ATOM}title")
        if title is not None:
            e["title"] = _atom_text(title)
        id_el = get(f"{ATOM}id")
        entry_id = _text(id_el)
        if id_el is not None and entry_id:  # feedparser treats an Atom id as a permalink guid (see _rss)
            entry_id = e["id"] = _resolve(id_el.base or "", entry_id)
        page, e["links"] = _atom_links(links)
        link = entry_id if page is None else page  # feedparser: the id stands in for a missing page link
        if link:
            e["link"] = link
        published = _text(get(f"{ATOM}published"))
        updated = _text(get(f"{ATOM}updated"))
        if published:
            e["published_parsed"] = parse_date(published)
        if updated:
            e["updated_parsed"] = parse_date(updated)
        authors = many.get(f"{ATOM}author", ())
        if not all(author_child_ok(c) for a in authors for c in a):
            raise _Decline
        names = [_text(n, repair=False) for a in authors for n in a.iterfind(f"{ATOM}name")]
        if len(names) > 1:
            raise _Decline  # several authors: feedparser's author is the last, its authors list keeps all
        names = [n for n in names if n] or ([feed_author] if feed_author and not authors else [])
        if names:
            e["author"] = names[0]
            e["authors"] = [{"name": n} for n in names]
        e["tags"] = [{"term": c.get("term", "").strip()} for c in many.get(f"{ATOM}category", ()) if c.get("term")]
        summary = get(f"{ATOM}summary")
        content = get(f"{ATOM}content")
        if content is not None and content.get("src"):
            raise _Decline  # out-of-line content: rare, and feedparser knows the rules
        summary_text = _atom_text(summary)
        if content is not None:
            e["content"] = [{"value": _atom_text(content), "base": content.base or entry.base or ""}]
        e["summary"] = summary_text or (e["content"][0]["value"] if content is not None else "")
        summary_el = summary if summary is not None else content  # as in _rss
        if summary_el is not None:
            e["summary_detail"] = {"base": summary_el.base or entry.base or ""}
        for key in ("media_content", "media_thumbnail", "enclosures"):
            e[key] = []
        for m in many.get(f"{MEDIA}content", ()):
            _media_ok(m, bool(e.get("title")))
        e["media_content"] = [dict(m.attrib) for m in many.get(f"{MEDIA}content", ())]
        e["media_thumbnail"] = [dict(m.attrib) for m in many.get(f"{MEDIA}thumbnail", ())]
        # feedparser's enclosures are its links with rel="enclosure"
        e["enclosures"] = [{k: v for k, v in link.items() if k != "rel"} for link in e["links"]
                           if link["rel"] == "enclosure"]
        entries.append(e)
    site = _atom_links(root.iterfind(f"{ATOM}link"))[0]
    if site is None:
        feed_id = root.find(f"{ATOM}id")
        site = _resolve(feed_id.base or "", _text(feed_id)) if feed_id is not None and _text(feed_id) else ""
    return "atom10", _atom_text(root.find(f"{ATOM}title")), site, entries
