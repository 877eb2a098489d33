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


def fit_middle(text: str, width: int) -> str:
    """Cut text to width cells by taking out its middle: a third for the start, the rest for the end,
    where names that share a long start differ ("Ledger: Funding" / "Ledger: Exits"). Padded to width."""
    if width <= 0:
        return ""
    if cell_len(text) <= width or width < 5:
        return fit(text, width)
    head_room = (width - 1) // 3
    tail_room = width - 1 - head_room
    head, used = [], 0
    for ch in text:
        if used + cell_len(ch) > head_room:
            break
        head.append(ch)
        used += cell_len(ch)
    tail: list[str] = []
    tail_used = 0
    for ch in reversed(text):
        if tail_used + cell_len(ch) > tail_room:
            break
        tail.append(ch)
        tail_used += cell_len(ch)
    out = "".join(head).rstrip() + "…" + "".join(reversed(tail)).lstrip()
    return out + " " * (width - cell_len(out))


def shared_prefixes(names: list[str]) -> list[int]:
    """For each name, the length of the longest start it shares with another name of the list
    (case-insensitive): a name cut at its end to no more than that reads the same as the other one."""
    folded = [n.casefold() for n in names]
    order = sorted(range(len(names)), key=lambda i: folded[i])
    out = [0] * len(names)

    def common(a: str, b: str) -> int:
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return n

    for a, b in zip(order, order[1:], strict=False):  # the longest shared start is with a sorted neighbour
        n = common(folded[a], folded[b])
        out[a], out[b] = max(out[a], n), max(out[b], n)
    return out


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
