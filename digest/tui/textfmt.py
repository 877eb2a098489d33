"""Text as the TUI quotes it in dialogs and messages."""

from __future__ import annotations

TITLE_CHARS = 160  # three lines of a dialog at 60 columns: the headline is named, the buttons stay on screen


def brief(title: str, limit: int = TITLE_CHARS) -> str:
    """A headline as a dialog or a message names it: cut at a word with "…" past `limit`. A feed's
    1,300-character title filled the flag dialog at 80x24, pushing its hint (and at 60x20 its last
    choices) off screen, and a toast quoting it covered the list."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0] if " " in title[:limit] else title[:limit]
    return cut.rstrip(" ,;:-–—") + "…"
