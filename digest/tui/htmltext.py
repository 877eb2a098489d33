"""Sanitised story HTML -> Markdown for the reader pane.

A small html.parser pass instead of a dependency: the input is already cleaned by nh3 (sanitize.py), so only
the handful of tags nh3 lets through need a Markdown form; anything else keeps its text and loses its tag.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from digest.core.textclean import clean_text

_BLOCK = {"p", "div", "section", "article", "header", "footer", "figure", "table", "tr", "dl", "details"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 4, "h6": 4}
_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _escape(text: str) -> str:
    # Only the characters that would start Markdown syntax mid-text; keeps the output readable as plain text.
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[list[int | None]] = []  # stack of [counter or None for bullets]
        self.link: str | None = None
        self.link_text: list[str] = []
        self.pre = 0
        self.quote = 0
        self.skip = 0  # inside <script>/<style> (nh3 removes them; belt and braces)

    # -- helpers
    def _emit(self, text: str) -> None:
        if self.link is not None:
            self.link_text.append(text)
        else:
            self.out.append(text)

    def _block(self) -> None:
        prefix = "> " * self.quote
        self.out.append("\n\n" + prefix)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCK:
            self._block()
        elif tag in _HEADINGS:
            self._block()
            self.out.append("#" * _HEADINGS[tag] + " ")
        elif tag == "br":
            self._emit("  \n" + "> " * self.quote)
        elif tag == "hr":
            self._block()
            self.out.append("---")
            self._block()
        elif tag in ("strong", "b"):
            self._emit("**")
        elif tag in ("em", "i"):
            self._emit("*")
        elif tag == "code" and not self.pre:
            self._emit("`")
        elif tag == "pre":
            self._block()
            self.out.append("```\n")
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
            self._block()
        elif tag in ("ul", "ol"):
            self.lists.append([1 if tag == "ol" else None])
            self.out.append("\n")
        elif tag == "li":
            depth = max(0, len(self.lists) - 1)
            counter = self.lists[-1] if self.lists else [None]
            if counter[0] is None:
                marker = "- "
            else:
                marker = f"{counter[0]}. "
                counter[0] += 1
            self.out.append("\n" + "> " * self.quote + "  " * depth + marker)
        elif tag == "a":
            href = a.get("href", "")
            if href.startswith(_SAFE_SCHEMES):
                self.link = href
                self.link_text = []
        elif tag == "img":
            src = a.get("src", "")
            if src.startswith(("http://", "https://")):
                alt = a.get("alt", "").strip() or "image"
                self._emit(f"[\\[{_escape(alt)}\\]]({src})")
        elif tag in ("td", "th"):
            self._emit(" | ")
        elif tag == "figcaption":
            self._block()
            self.out.append("*")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK or tag in _HEADINGS:
            self._block()
        elif tag in ("strong", "b"):
            self._emit("**")
        elif tag in ("em", "i"):
            self._emit("*")
        elif tag == "code" and not self.pre:
            self._emit("`")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.out.append("\n```")
            self._block()
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._block()
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._block()
        elif tag == "a" and self.link is not None:
            text = "".join(self.link_text).strip() or self.link
            href, self.link = self.link, None
            self.out.append(f"[{text}]({href})")
        elif tag == "figcaption":
            self.out.append("*")
            self._block()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data)
            return
        text = re.sub(r"\s+", " ", data)
        if not text.strip() and (not self.out or self.out[-1].endswith((" ", "\n"))):
            return
        self._emit(_escape(text))


def html_to_markdown(html: str) -> str:
    """Readable Markdown from sanitised HTML; plain text passes through (paragraphs kept)."""
    if not html.strip():
        return ""
    html = clean_text(html)  # a row stored before ingestion cleaned controls: none reaches the terminal
    if "<" not in html:
        return "\n\n".join(_escape(p.strip()) for p in re.split(r"\n\s*\n", html) if p.strip())
    conv = _Converter()
    conv.feed(html)
    conv.close()
    if conv.link is not None:  # unclosed <a>
        conv.out.append("".join(conv.link_text))
    text = "".join(conv.out)
    # tidy: trailing spaces on lines, runs of blank lines, stray "> " lines
    lines = [ln.rstrip() if not ln.endswith("  ") else ln for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n(?:>\s*)?\n(?:(?:>\s*)?\n)+", "\n\n", text)
    text = re.sub(r"\*\*\*\*", "", text)  # <b></b> with nothing inside
    return text.strip()
