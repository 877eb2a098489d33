"""Feeds done / total while a refresh runs; hidden otherwise. The app sets its attributes.

Drawn in one render() with repaint-only reactives: a ProgressBar plus a Label measured two layouts per
update, which is what a 500-feed refresh must not pay ten times a second.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class RefreshBar(Widget):
    DEFAULT_CSS = """
    RefreshBar { height: 1; display: none; background: $panel; padding: 0 1; }
    RefreshBar.-active { display: block; }
    """

    label: reactive[str] = reactive("Refreshing", layout=False)
    done: reactive[int] = reactive(0, layout=False)
    total: reactive[int | None] = reactive(None, layout=False)

    def show_progress(self, done: int, total: int | None, label: str = "Refreshing") -> None:
        if not self.has_class("-active"):
            self.add_class("-active")
        self.label, self.done, self.total = label, done, total

    def hide(self) -> None:
        self.remove_class("-active")

    def render(self) -> Text:
        width = max(10, self.content_region.width)
        text = Text(self.label + " ", style="bold")
        if self.total:
            pct = f" {100 * self.done // self.total:3d}%"
            bar_w = max(4, width - len(text) - len(pct))
            filled = bar_w * self.done // self.total
            text.append("━" * filled, style="green")
            text.append("─" * (bar_w - filled), style="dim")
            text.append(pct)
        else:
            text.append("…", style="dim")
        return text
