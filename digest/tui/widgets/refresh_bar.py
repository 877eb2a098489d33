"""Feeds done / total while a refresh runs; hidden otherwise. The app sets its attributes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class RefreshBar(Horizontal):
    DEFAULT_CSS = """
    RefreshBar { height: 1; display: none; background: $panel; padding: 0 1; }
    RefreshBar.-active { display: block; }
    RefreshBar Label { width: auto; margin-right: 1; }
    RefreshBar ProgressBar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Label("Refreshing", id="refresh-label")
        yield ProgressBar(total=None, show_eta=False, id="refresh-progress")

    def show_progress(self, done: int, total: int | None, label: str = "Refreshing") -> None:
        self.add_class("-active")
        self.query_one("#refresh-label", Label).update(label)
        self.query_one(ProgressBar).update(total=total, progress=done)

    def hide(self) -> None:
        self.remove_class("-active")
