"""What the two Line-API lists (sidebar, story list) share: cell-exact text fitting and cached styles."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from textual.scroll_view import ScrollView


def fit(text: str, width: int) -> str:
    """Cut text to width cells with an ellipsis, padded to exactly width."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text + " " * (width - cell_len(text))
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…" + " " * (width - used - 1)


class LineList(ScrollView):
    """A ScrollView painted line by line, with its component styles resolved once per focus state:
    get_component_rich_style per line was a third of the story list's paint time in the refresh
    profile."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._style_cache: dict[bool, dict[str, Style]] = {}

    def _styles(self) -> dict[str, Style]:
        key = self.has_focus
        cached = self._style_cache.get(key)
        if cached is None:
            cached = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
            self._style_cache[key] = cached
        return cached

    def notify_style_update(self) -> None:
        self._style_cache.clear()
        super().notify_style_update()
