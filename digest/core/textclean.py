"""One cleaning step for every string that comes from outside: feeds, article pages, OPML files.

Feed authors control their titles, summaries and names, and a terminal obeys control characters: ESC
starts a sequence that can retitle the window, clear the screen or rewrite what was printed; BEL, BS and
NUL do their own damage; and the Unicode bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069)
make text display in an order other than the one it is stored in ("exe.txt" shown as "txt.exe"),
in a terminal, in a mail Subject and in the HTML alike. None of these belong in a headline or a
summary, so they are removed once, at ingestion, and what is stored is clean for every output. Tab and
newline are kept (summaries have paragraphs); CR becomes a newline. The implicit marks LRM/RLM
(U+200E/U+200F) are kept: they only nudge neutral characters and are common in Hebrew and Arabic text.

`terminal_safe` is the second line of defence for output: the CLI passes every data string through it,
so even a row stored before this cleaning existed cannot reach the terminal raw.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.core.models import ParsedFeed

# C0 controls except tab (09) and newline (0A); DEL; C1 controls (80-9F, which some terminals also obey:
# U+009B is a one-character CSI); bidi embeddings/overrides and isolates.
_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_UNSAFE_OR_NEWLINE = "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


@functools.cache
def _rx(char_class: str) -> re.Pattern[str]:
    """A character class compiled when first used, not at import: a class reaching past U+00FF costs `re`
    ~2.5M instructions to compile, and every command imports this module (three of them were 1.5 % of an
    all-304 refresh of 500 feeds), where most runs never need one (text is checked without them first)."""
    return re.compile(char_class)


def clean_text(value: str) -> str:
    """`value` without control characters other than tab and newline (CR and CRLF become newlines),
    and without bidi override or isolate controls."""
    if value.isprintable() or not value:  # the common case: nothing to do (tab/newline are not printable)
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _rx(_UNSAFE).sub("", value)


def clean_line(value: str) -> str:
    """A one-line value (a title, a name, a URL): clean_text, and line breaks and tabs become spaces."""
    if value.isprintable() or not value:
        return value
    return _rx(_UNSAFE).sub("", value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " "))


_JSON_RAW = "[\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


def terminal_text(text: str) -> str:
    """Text made of lines the program wrote: its own newlines and tabs stay, every other control goes."""
    if text.isprintable():
        return text
    return _rx(_UNSAFE).sub("", text)


def json_escape_controls(text: str) -> str:
    """JSON text with DEL, C1 and bidi controls written as \\uXXXX (json.dumps escapes only C0)."""
    return _rx(_JSON_RAW).sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def terminal_safe(value: str) -> str:
    """A data string as the CLI prints it in a line: nothing a terminal would act on."""
    if value.isprintable():
        return value
    return _rx(_UNSAFE_OR_NEWLINE).sub(lambda m: " " if m.group(0) in "\t\n\r" else "", value)


# bytes.translate tables for ASCII text that change exactly the C0 controls but tab and newline, and DEL
# (and, for one-line values, newline too): the translated copy equals the text when it holds none of them.
# ~10 instructions a byte; deleting them (translate(None, ...)) took ~14, the regex ~50.
_MARK_UNSAFE = bytes(0xFF if (c < 0x20 and c not in (0x09, 0x0A)) or c == 0x7F else c for c in range(256))
_MARK_UNSAFE_OR_NEWLINE = bytes(0xFF if c == 0x0A else c for c in _MARK_UNSAFE)


def _has_unsafe(value: str) -> bool:
    """Whether the text holds a character clean_text removes or changes (_UNSAFE)."""
    # "…" is safe, and a summary cut at its length ends in one, mostly after ASCII text
    text = value[:-1] if value.endswith("…") else value
    if text.isascii():  # O(1) in CPython
        b = text.encode("ascii")
        return b.translate(_MARK_UNSAFE) != b
    # Every character of _UNSAFE is one isprintable() refuses (~15 instructions a character, the regex ~60),
    # and so are tab and newline, which stay: the regex says which, only for text with something else
    # isprintable() refuses (no-break or zero-width spaces, LRM, ...).
    printable = value.replace("\n", " ").replace("\t", " ") if "\n" in value or "\t" in value else value
    return not printable.isprintable() and _rx(_UNSAFE).search(value) is not None


def _line_unsafe(value: str) -> bool:
    """Whether a one-line value holds a character clean_line removes or changes: _UNSAFE or a newline."""
    if value.isascii():
        b = value.encode("ascii")
        return b.translate(_MARK_UNSAFE_OR_NEWLINE) != b
    return not value.isprintable() and (_rx(_UNSAFE).search(value) is not None or "\n" in value)


def clean_feed(parsed: ParsedFeed) -> ParsedFeed:
    """Every string of a parsed feed through clean_line / clean_text, in place (the guid is left as the
    feed gave it: it is the story's identity, compared, never shown). Most feeds have nothing to clean,
    and a string is only rewritten when it holds something to remove."""
    parsed.title = clean_line(parsed.title)
    parsed.site_url = clean_line(parsed.site_url)
    for s in parsed.stories:
        for name in ("title", "author", "link", "canonical_link"):
            value = getattr(s, name)
            if _line_unsafe(value):
                setattr(s, name, clean_line(value))
        if _has_unsafe(s.summary):
            s.summary = clean_text(s.summary)
        if _has_unsafe(s.content):
            s.content = clean_text(s.content)
        if s.categories and not all(c.isprintable() for c in s.categories):
            s.categories = [clean_line(c) for c in s.categories]
        if s.image is not None and not (s.image.url.isprintable() and s.image.alt.isprintable()):
            s.image.url, s.image.alt = clean_line(s.image.url), clean_line(s.image.alt)
        if s.extra:
            s.extra = {k: clean_line(v) if isinstance(v, str) else v for k, v in s.extra.items()}
    return parsed
