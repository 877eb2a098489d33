"""A URL on a line of its own in the reader's head: whole when it fits, else shortened in the middle
(`https://example.com/…/slug`), never wrapped. A wrapped URL broke mid-word at 80 columns (the reader is
~38 columns there) and cannot be copied or read either way; the whole URL stays reachable: o opens it, a
click opens it, and hovering shows it.

The text is made in render() from the widget's width, so a resize (the sidebar folding, z) re-shortens it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.text import Text
from textual.widget import Widget

from digest.core.textclean import terminal_text

ELLIPSIS = "…"


def shorten_url(url: str, width: int) -> str:
    """url in at most width cells: whole if it fits; else scheme://host/…/last-segment; else the middle
    of it cut (the host's start and the slug's end are what tell URLs apart)."""
    if len(url) <= width:
        return url
    if width <= 1:
        return ELLIPSIS[:width]
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme and parts.netloc and segments:
        tail = segments[-1] + ("/" if parts.path.endswith("/") else "")
        if parts.query or parts.fragment:
            tail += "?" + ELLIPSIS if parts.query else "#" + ELLIPSIS
        short = f"{parts.scheme}://{parts.netloc}/{ELLIPSIS}/{tail}"
        if len(short) <= width and len(short) < len(url):
            return short
    left = width // 2
    right = width - 1 - left
    return url[:left] + ELLIPSIS + (url[-right:] if right else "")


class UrlLine(Widget):
    """label + URL on one line when both fit, else the URL alone (shortened if it must be)."""

    DEFAULT_CSS = """
    UrlLine { height: 1; width: 1fr; }
    UrlLine:hover { text-style: underline; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = ""
        self.label = ""

    def set_url(self, url: str, label: str) -> None:
        # terminal_text: no control character from a stored row reaches the terminal
        self.url = terminal_text(url).replace("\n", " ").strip()
        self.label = label
        self.tooltip = self.url or None
        self.display = bool(self.url)
        self.refresh()

    def line(self, width: int) -> tuple[str, str]:
        """(label shown, URL shown) for a line of width cells."""
        if len(self.label) + 1 + len(self.url) <= width:
            return self.label, self.url
        return "", shorten_url(self.url, width)

    def render(self) -> Text:
        label, url = self.line(self.content_size.width)
        text = Text(no_wrap=True, overflow="ellipsis")
        if label:
            text.append(label + " ", style="dim")
        text.append(url)
        return text

    def on_click(self, event: Any) -> None:
        app: Any = self.app
        if self.url and hasattr(app, "open_link"):
            app.open_link(self.url)


class NoteLine(Widget):
    """A label, a reason and, when there is room, a URL, on one line: "article: HTTP 404 · https://…/slug".
    The reason comes first and is cut with an ellipsis only when it alone is too long; the URL gets what is
    left (shortened in the middle), or is left out under MIN_URL cells. The whole text is the tooltip.
    As a plain Static the reader's article error wrapped its URL over three or four lines at 80 columns."""

    MIN_URL = 16  # "https://a.b/…/x" : shorter than this a URL tells nothing

    COMPONENT_CLASSES = {"noteline--label", "noteline--url"}
    DEFAULT_CSS = """
    NoteLine { height: 1; width: 1fr; }
    NoteLine > .noteline--label { color: $error; text-style: bold; }
    NoteLine > .noteline--url { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = ""
        self.reason = ""
        self.url = ""

    def set_note(self, label: str, reason: str, url: str = "") -> None:
        # terminal_text: no control character from a stored row or a server's reason reaches the terminal
        self.label = label
        self.reason = " ".join(terminal_text(reason).split())
        self.url = terminal_text(url).replace("\n", " ").strip()
        whole = f"{label} {self.reason}" + (f" · {self.url}" if self.url else "")
        self.tooltip = whole if self.reason else None
        self.display = bool(self.reason)
        self.refresh()

    def line(self, width: int) -> tuple[str, str]:
        """(reason shown, URL shown) for a line of width cells after the label."""
        room = width - len(self.label) - 1
        if len(self.reason) > room:
            return (self.reason[: max(0, room - 1)] + ELLIPSIS) if room > 0 else "", ""
        left = room - len(self.reason) - 3  # " · "
        if self.url and left >= self.MIN_URL:
            return self.reason, shorten_url(self.url, left)
        return self.reason, ""

    def render(self) -> Text:
        reason, url = self.line(self.content_size.width)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.label, style=self.get_component_rich_style("noteline--label"))
        text.append(" " + reason)
        if url:
            text.append(" · " + url, style=self.get_component_rich_style("noteline--url"))
        return text
