"""Feed HTML made safe and made plain: the nh3 allowlist, tracking pixels, first images, text and summaries.

feedparser's own sanitiser and relative-URI pass are its hot spots (feedparser issue #209: a 5 MB feed
takes 15 s), so both are off and the HTML is cleaned once here with nh3 (Rust, allowlist), which also
resolves relative URLs against the entry's base. Both readers (parse.py) store what these functions give.
"""

from __future__ import annotations

import functools
import html
import re
from itertools import accumulate
from typing import Any

import nh3

from digest.core.links import SAFE_SCHEMES, safe_link
from digest.core.models import Image

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

# The last fragment _img_tags read, and its tags. A story's HTML is mostly read twice: sanitize_html looks
# for pixels in it, and first_image for the first real image (its description is its content when there is
# no content:encoded). The same string object is then looked for again: str == sees that at once.
_last_img_tags: tuple[str, list[str]] = ("", [])


def _img_tags(fragment: str) -> list[str]:
    """The fragment's <img> tags (_IMG_TAG matches), in order. Never change the list: it may be shared."""
    global _last_img_tags
    last, tags = _last_img_tags
    if fragment == last:
        return tags
    tags = _IMG_TAG.findall(fragment)
    _last_img_tags = (fragment, tags)
    return tags


# Elements nested deeper than this are flattened before nh3 sees them. html5ever (nh3's parser) does work
# in proportion to the open-element stack for each tag, so nesting costs quadratic time: 10k nested
# <div>s took 0.21 s, 40k 5.4 s, and a 400k feed item kept `digest feeds add` busy for minutes (issue 20).
# Blink stops nesting at 512 (HTMLTreeBuilder's maximum DOM tree depth); no real page needs more.
MAX_DEPTH = 512
# Tags that do not nest in practice: void elements, and those whose next sibling closes them (html5ever
# closes an open <p> at the next <p>, an <li> at the next <li> ...), so they are not counted as depth.
_NOT_NESTING = "area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr|p|li|dt|dd|tr|td|th|option"
# "" for a start tag, "/" for an end tag, of every element that nests
_NESTING_TAG = re.compile(rf"<(/?)(?!(?:{_NOT_NESTING})[\s/>])[A-Za-z]", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")


def max_depth(fragment: str) -> int:
    """How deep the fragment's elements nest, counted as a parser would open and close them (a stray end
    tag never takes the count below zero). A C-speed scan for the tags and one pass over them."""
    tags = _NESTING_TAG.findall(fragment)
    return max(accumulate(tags, lambda depth, end: (depth - 1 if depth else 0) if end else depth + 1, initial=0))


def bound_depth(fragment: str, limit: int = MAX_DEPTH) -> str:
    """The fragment, or, when its elements nest deeper than `limit`, the fragment flattened to its text
    (every tag removed; entities stay for the sanitiser). Such a fragment is broken or hostile, and
    keeping its words is all it deserves. The count of "<" bounds the depth, so most fragments cost one
    str.count; a 40 KB article with 4,800 tags costs ~1.5 ms more, 400k nested <div>s (4.4 MB) ~0.6 s,
    where nh3 alone would take hours."""
    if fragment.count("<") <= limit or max_depth(fragment) <= limit:
        return fragment
    return _ANY_TAG.sub(" ", fragment)


def sanitize_html(fragment: str, base: str = "") -> str:
    """Clean feed HTML: allowlisted tags only, links http/https/mailto only, relative URLs resolved
    against base, no scripts, styles, event handlers or tracking pixels; nesting bounded (bound_depth)."""
    if not fragment:
        return ""
    fragment = bound_depth(fragment)
    if ("<img" in fragment or "<IMG" in fragment) and any(map(_is_pixel, _img_tags(fragment))):
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
# other tag separates words. The lookahead, the first letters of the names, spares the regex engine
# trying the twenty names one by one at every other tag (<p>, <img>, </p>: ~20 % of the sub's cost).
_INLINE_TAG = re.compile(
    r"</?(?=[abcdefikmqstu])(?:a|abbr|b|cite|code|del|em|font|i|ins|kbd|mark|q|s|small|span|strong|sub|sup|time|u)"
    r"\b[^>]*>", re.I
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
            text = _fragment_text(fragment[:end], hides=False)
            if len(text) > limit:
                return _cut(text, limit)
    out = _fragment_text(fragment)
    return _cut(out, limit) if limit and len(out) > limit else out


def _cut(text: str, limit: int) -> str:
    """text shortened at the last word boundary before limit, with an ellipsis."""
    return text[:limit].rsplit(" ", 1)[0] + "…"


_MAY_HIDE = re.compile(r"<(?:script|style|noscript|template)", re.I)


def _fragment_text(fragment: str, *, hides: bool = True) -> str:
    """The text of a fragment (see html_to_text); `hides` False when the caller knows it holds no
    script-like block (_MAY_HIDE), so it is not looked for again."""
    if "<" in fragment:
        if hides:
            low = fragment.lower()
            hides = "<script" in low or "<style" in low or "<noscript" in low or "<template" in low
        text = _DROP_BLOCKS.sub(" ", fragment) if hides else fragment
        text = _BLOCK_END.sub("\n", text)
        text = _INLINE_TAG.sub("", text)
        text = _TAG.sub(" ", text)
    elif "&" not in fragment and "\n" not in fragment:  # one line of plain text (a title, a category)
        return " ".join(fragment.split())
    else:
        text = fragment
    return fold_lines(html.unescape(text))


_strip = str.strip


def fold_lines(text: str) -> str:
    """The text's lines with their whitespace folded (runs made one space, ends stripped), blank lines
    dropped: "\n".join(" ".join(line.split()) for each line that gives something).

    Why: splitting every line into words (a new string each) and joining them again was ~90k instructions
    of a 1.3 KB summary, most of its text's cost. In ASCII text whose only whitespace is " " and "\n" (the
    text of most feed HTML once its tags are gone), a line without a double space folds to line.strip();
    only lines with one are split into words (tests/test_properties.py compares the two on any text)."""
    if text.isascii() and not (
        "\t" in text or "\r" in text or "\x0b" in text or "\x0c" in text  # the other ASCII whitespace
        or "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text
    ):
        return "\n".join([line if "  " not in line else " ".join(line.split())
                          for line in map(_strip, text.split("\n")) if line])
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
    tail = text[start:]
    # lower() of a non-ASCII string maps each character through the full Unicode tables (~25k instructions
    # for these 400); a text cut at `limit` ends in "…" and is often ASCII before it, whose lower() is a
    # fast ASCII pass. The same string: lower() is per character but for a capital sigma, and "…" stays.
    low = tail[:-1].lower() + "…" if tail.endswith("…") and tail[:-1].isascii() else tail.lower()
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
    if not fragment:
        return None
    tags = _img_tags(fragment)
    # "<img" in its lower-case form, as before: under re.I the tag's "i" also matches "ı" and "İ", whose
    # lower() is no "i"; in ASCII text a tag found is always such an "<img"
    if not tags or (not fragment.isascii() and "<img" not in fragment.lower()):
        return None
    for tag in tags:
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
