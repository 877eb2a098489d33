"""A one- or two-line status text that repaints without a layout pass.

Static.update() asks for a layout of the screen (its size may change); the story count under the list
changes on every reload while a refresh runs, and each layout repainted the whole screen. Here the height
is fixed by CSS and only changes (with a layout) when a second line appears or goes.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; }
    StatusLine.-two { height: 2; }
    """

    markup: reactive[str] = reactive("", layout=False)

    def set(self, markup: str) -> None:
        self.set_class("\n" in markup, "-two")
        self.markup = markup

    def render(self) -> Text:
        text = Text.from_markup(self.markup, overflow="ellipsis")
        text.no_wrap = True
        return text
