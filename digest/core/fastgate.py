"""feedparser's rules that the fast reader follows: which elements it may pass over, and the repairs
feedparser makes to every text.

Which elements the fast reader may pass over: everything feedparser would read into a stored field is
either read by fastparse.py the same way, or the feed goes to feedparser.

Why: feedparser is a flat SAX handler that dispatches on a key made of the element's namespace prefix and
lower-cased local name (`dc_title`, `dcterms_issued`, `media_category`, `xhtml_body`...), wherever the
element sits. An element the fast reader skipped but feedparser has a handler for could change a title,
date, author, summary or category (feedparser's conformance suite found 150 such feeds). So every child
of the feed, channel and item is given feedparser's key: keys the fast reader reads are read where it
expects them, keys known to touch nothing digest stores are passed over, and any other key feedparser
handles hands the whole feed to feedparser. Elements feedparser has no handler for are kept by it under
their key, which digest never reads, unless the key is one it does read (`ev_startdate`).

tests/test_feedparser_conformance.py runs feedparser's own test feeds through both readers, and checks
that the tables here match the installed feedparser's handlers and namespaces.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

# feedparser's known namespaces (lower-cased URI -> its prefix): elements in them are keyed by this prefix,
# whatever prefix the document binds. The first group is read as no namespace at all.
FP_NAMESPACES: dict[str, str] = {
    **dict.fromkeys((
        "", "http://backend.userland.com/rss", "http://blogs.law.harvard.edu/tech/rss", "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/", "http://example.com/newformat#", "http://example.com/necho",
        "http://purl.org/echo/", "uri/of/echo/namespace#", "http://purl.org/pie/", "http://purl.org/atom/ns#",
        "http://www.w3.org/2005/atom", "http://purl.org/rss/1.0/modules/rss091#"), ""),
    "http://webns.net/mvcb/": "admin", "http://purl.org/rss/1.0/modules/aggregation/": "ag",
    "http://purl.org/rss/1.0/modules/annotate/": "annotate", "http://media.tangent.org/rss/1.0/": "audio",
    "http://backend.userland.com/blogchannelmodule": "blogchannel", "http://creativecommons.org/ns#license": "cc",
    "http://web.resource.org/cc/": "cc",
    "http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html": "creativecommons",
    "http://backend.userland.com/creativecommonsrssmodule": "creativecommons",
    "http://purl.org/rss/1.0/modules/company": "co", "http://purl.org/rss/1.0/modules/content/": "content",
    "http://my.theinfo.org/changed/1.0/rss/": "cp", "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms", "http://purl.org/rss/1.0/modules/email/": "email",
    "http://purl.org/rss/1.0/modules/event/": "ev", "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://freshmeat.net/rss/fm/": "fm", "http://xmlns.com/foaf/0.1/": "foaf",
    "http://www.w3.org/2003/01/geo/wgs84_pos#": "geo", "http://www.georss.org/georss": "georss",
    "http://www.opengis.net/gml": "gml", "http://postneo.com/icbm/": "icbm",
    "http://purl.org/rss/1.0/modules/image/": "image", "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes", "http://purl.org/rss/1.0/modules/link/": "l",
    "http://search.yahoo.com/mrss": "media", "http://search.yahoo.com/mrss/": "media",
    "http://madskills.com/public/xml/rss/module/pingback/": "pingback",
    "http://prismstandard.org/namespaces/1.2/basic/": "prism", "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs", "http://purl.org/rss/1.0/modules/reference/": "ref",
    "http://purl.org/rss/1.0/modules/richequiv/": "reqv", "http://purl.org/rss/1.0/modules/search/": "search",
    "http://purl.org/rss/1.0/modules/slash/": "slash", "http://schemas.xmlsoap.org/soap/envelope/": "soap",
    "http://purl.org/rss/1.0/modules/servicestatus/": "ss", "http://hacks.benhammersley.com/rss/streaming/": "str",
    "http://purl.org/rss/1.0/modules/subscription/": "sub", "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://schemas.pocketsoap.com/rss/mydescmodule/": "szf", "http://purl.org/rss/1.0/modules/taxonomy/": "taxo",
    "http://purl.org/rss/1.0/modules/threading/": "thr", "http://purl.org/rss/1.0/modules/textinput/": "ti",
    "http://madskills.com/public/xml/rss/module/trackback/": "trackback", "http://wellformedweb.org/commentapi/": "wfw",
    "http://purl.org/rss/1.0/modules/wiki/": "wiki", "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.w3.org/1999/xlink": "xlink", "http://www.w3.org/xml/1998/namespace": "xml",
    "http://podlove.org/simple-chapters": "psc",
}

# The keys feedparser has a _start_/_end_ handler for (its parser class, lower-cased).
FP_HANDLED = frozenset((
    "abstract", "author", "body", "category", "cc_license", "channel", "cloud", "content", "content_encoded",
    "contributor", "copyright", "created", "creativecommons_license", "dc_author", "dc_contributor", "dc_creator",
    "dc_date", "dc_description", "dc_language", "dc_publisher", "dc_rights", "dc_subject", "dc_title",
    "dcterms_created", "dcterms_issued", "dcterms_modified", "dcterms_valid", "description", "email", "enclosure",
    "entry", "expirationdate", "feed", "feedburner_browserfriendly", "fullitem", "generator", "geom", "georss_box",
    "georss_line", "georss_point", "georss_polygon", "georss_where", "georssgeom", "gml_exterior",
    "gml_linearring", "gml_linestring", "gml_point", "gml_polygon", "gml_pos", "gml_poslist", "guid", "height",
    "homepage", "id", "image", "info", "issued", "item", "itunes_author", "itunes_block", "itunes_category",
    "itunes_email", "itunes_explicit", "itunes_image", "itunes_keywords", "itunes_link", "itunes_name",
    "itunes_owner", "itunes_subtitle", "itunes_summary", "keywords", "language", "lastbuilddate", "link",
    "managingeditor", "media_category", "media_content", "media_credit", "media_description", "media_group",
    "media_keywords", "media_license", "media_player", "media_rating", "media_restriction", "media_thumbnail",
    "media_title", "modified", "name", "newlocation", "psc_chapter", "psc_chapters", "pubdate", "published",
    "rights", "rss", "source", "subtitle", "summary", "tagline", "tags", "textinput", "title", "updated", "uri",
    "url", "webmaster", "where", "width", "xhtml_body",
))

# Keys feedparser has no handler for but stores under a name digest reads (parse._entry).
_COLLIDE = frozenset(("ev_startdate", "ev_enddate", "ev_location", "ev_organizer", "links", "summary_detail",
                      "published_parsed", "updated_parsed", "authors", "enclosures", "media_content",
                      "media_thumbnail"))

# Handled keys whose effect stays out of what digest stores of an item: rights, language, publisher,
# creation and expiry dates, licences, geo data, ratings and credits, iTunes flags and image.
ITEM_INERT = frozenset((
    "dc_rights", "rights", "copyright", "dc_publisher", "dc_language", "language", "created", "dcterms_created",
    "dcterms_valid", "expirationdate", "cc_license", "creativecommons_license", "itunes_explicit", "itunes_block",
    "itunes_image", "georss_point", "georss_line", "georss_polygon", "georss_box", "media_rating",
    "media_credit", "media_restriction", "media_license", "media_player",
))
# Inside a media:content (feedparser reads its children as if they stood in the item).
MEDIA_INERT = frozenset(("media_credit", "media_rating", "media_restriction", "media_license", "media_player"))

# Handled keys at the channel (feed) level that leave the feed's title and link and its items alone.
_FEED_INERT = frozenset((
    "description", "subtitle", "tagline", "info", "language", "dc_language", "copyright", "rights", "dc_rights",
    "managingeditor", "webmaster", "dc_publisher", "dc_creator", "author", "contributor", "pubdate", "lastbuilddate",
    "dc_date", "updated", "published", "modified", "issued", "generator", "cloud", "category", "dc_subject",
    "itunes_author", "itunes_block", "itunes_category", "itunes_email", "itunes_explicit", "itunes_image",
    "itunes_keywords", "itunes_name", "itunes_owner", "itunes_subtitle", "itunes_summary", "itunes_link",
    "media_rating", "media_credit", "media_restriction", "media_license", "media_category", "media_keywords",
    "media_thumbnail", "cc_license", "creativecommons_license", "expirationdate", "newlocation",
    "feedburner_browserfriendly", "georss_point", "georss_line", "georss_polygon", "georss_box", "email", "name",
    "uri", "url", "homepage",
))
# ... and those whose children are read in their own context (feedparser's inimage / intextinput / ...).
_FEED_SUBTREE = frozenset(("itunes_owner", "itunes_category", "author", "managingeditor",
                           "contributor"))
_FEED_SUBTREE_KEYS = frozenset(("title", "link", "url", "description", "name", "width", "height", "email",
                                "uri", "homepage", "itunes_name", "itunes_email", "itunes_category"))

_KEYS: dict[tuple[Any, str | None], str] = {}


def fp_key(el: Any) -> str:
    """feedparser's key for an element: its known prefix for the namespace, else the document's prefix (an
    unknown default namespace counts as none), then the lower-cased local name."""
    tag = el.tag
    prefix = el.prefix
    key = _KEYS.get((tag, prefix))
    if key is not None:
        return key
    if isinstance(tag, str) and tag.startswith("{"):
        uri, local = tag[1:].split("}", 1)
        low = uri.lower()
        if "backend.userland.com/rss" in low:
            low = "http://backend.userland.com/rss"
        known = FP_NAMESPACES.get(low)
        name = known if known is not None else prefix
        key = (f"{name.lower()}_" if name else "") + local.lower()
    else:
        key = str(tag).lower()
    if len(_KEYS) < 4096:
        _KEYS[(tag, prefix)] = key
    return key


def passive(el: Any) -> bool:
    """True when feedparser keeps this element and all inside it out of what digest reads: no handler for
    any of them, and no key digest reads."""
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        key = fp_key(node)
        if key in FP_HANDLED or key in _COLLIDE:
            return False
    return True


def _other_link(el: Any) -> bool:
    """An <atom:link> in RSS that feedparser lists without taking it for the page or an enclosure: one with
    an href and a rel other than "alternate" (its default) and "enclosure" ("self", "hub", "replies"...)."""
    rel = el.get("rel", "alternate")
    return el.get("href") is not None and rel not in ("alternate", "enclosure") and not len(el)


def item_child_ok(child: Any) -> bool:
    """A child of an item or entry the fast reader does not read: may it be passed over?"""
    if not isinstance(child.tag, str):
        return True
    key = fp_key(child)
    if key == "link":
        return _other_link(child)
    if key in ITEM_INERT:
        return not len(child)
    return key not in FP_HANDLED and key not in _COLLIDE and passive(child)


_AUTHOR_KEYS = frozenset(("name", "email", "uri", "url", "homepage"))


def author_child_ok(child: Any) -> bool:
    """A child of an Atom <author>: feedparser reads name, email and uri into the author; anything else
    it has a handler for (a title, a link...) would land in the entry."""
    if not isinstance(child.tag, str):
        return True
    key = fp_key(child)
    if key in _AUTHOR_KEYS:
        return not len(child)
    return key not in FP_HANDLED and key not in _COLLIDE and passive(child)


def media_child_ok(child: Any, titled: bool) -> bool:
    """A child of media:content: feedparser reads media:thumbnail, media:description... there as item
    fields, so only the inert ones and unknown leaves pass; media:title too when the item has a title of
    its own (`titled`), which feedparser keeps over it wherever it stands."""
    if not isinstance(child.tag, str):
        return True
    key = fp_key(child)
    if key in MEDIA_INERT or (titled and key == "media_title"):
        return not len(child)
    return key not in FP_HANDLED and key not in _COLLIDE and passive(child)


def feed_child_ok(child: Any) -> bool:
    """A child of the channel (RSS) or feed (Atom) other than its title, link, id and items."""
    if not isinstance(child.tag, str):
        return True
    key = fp_key(child)
    if key == "link":
        return _other_link(child)
    if key in _FEED_INERT:
        if not len(child):
            return True
        if key not in _FEED_SUBTREE:
            return False
        return all(not isinstance(n.tag, str) or fp_key(n) in _FEED_SUBTREE_KEYS
                   or (fp_key(n) not in FP_HANDLED and fp_key(n) not in _COLLIDE) for n in child.iterdescendants())
    if key in ("image", "textinput"):
        return all(not isinstance(n.tag, str) or fp_key(n) in _FEED_SUBTREE_KEYS
                   or (fp_key(n) not in FP_HANDLED and fp_key(n) not in _COLLIDE) for n in child.iterdescendants())
    return key not in FP_HANDLED and key not in _COLLIDE and passive(child)


# feedparser's map of the C1 controls to the characters cp1252 gives those bytes (its html._cp1252)
_CP1252 = {i: bytes([i]).decode("cp1252") for i in range(0x80, 0xA0) if i not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def fp_text(value: str) -> str:
    """What feedparser makes of every text it reads from a UTF-8 feed: text that is UTF-8 read as Latin-1
    and encoded again ("Ã©") is decoded once more, and C1 controls become the cp1252 characters they
    were meant as (its "demoronizer"). ASCII text, nearly all of it, is returned at once."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_CP1252)


# feedparser's repair of an HTML-escaped query in a link's text ("?a=1&amp;b=2"): "&amp;" becomes "&"
# in an item's link, and "&name;" becomes "&name" in any link
_LINK_REF = re.compile(r"&([A-Za-z0-9_]+);")


def fp_link(link: str, *, item: bool) -> str:
    """A link's text as feedparser stores it (see _LINK_REF)."""
    return _LINK_REF.sub(r"&\g<1>", link.replace("&amp;", "&") if item else link)
