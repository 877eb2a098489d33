"""A one-cell drag handle that resizes the pane on one side of it (Textual has no split pane)."""

from __future__ import annotations

from textual.events import MouseDown, MouseMove, MouseUp
from textual.widget import Widget


class Splitter(Widget):
    """Drag with the mouse to resize `target`. side="left": the target is to the left of the handle."""

    DEFAULT_CSS = """
    Splitter { width: 1; height: 1fr; background: $panel; }
    Splitter:hover { background: $accent; }
    Splitter.-dragging { background: $accent; }
    """

    def __init__(self, target: str, side: str = "left", *, min_width: int = 12, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target_selector = target
        self.side = side
        self.min_width = min_width
        self._dragging = False

    def render(self) -> str:
        return "┃\n" * max(1, self.size.height)

    def on_mouse_down(self, event: MouseDown) -> None:
        self._dragging = True
        self.add_class("-dragging")
        self.capture_mouse()

    def on_mouse_up(self, event: MouseUp) -> None:
        self._dragging = False
        self.remove_class("-dragging")
        self.release_mouse()

    def on_mouse_move(self, event: MouseMove) -> None:
        if not self._dragging:
            return
        target = self.screen.query_one(self.target_selector)
        total = self.screen.size.width
        width = event.screen_x - target.region.x if self.side == "left" else target.region.right - event.screen_x - 1
        width = max(self.min_width, min(total - 2 * self.min_width, width))
        target.styles.width = width
