"""The sidebar: views, then sections and their feeds with unread counts and a failure mark.

A Line API widget like the story list. (It was an OptionList: with 500 feeds every rebuild measured ~300 ms
and every screen layout paid for measuring 500 options, which stalled the UI while a refresh updated the
counts; here a rebuild is a list of tuples and a paint touches only the visible lines.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from digest.core.models import Feed
from digest.core.textclean import terminal_safe
from digest.tui.views import ALL, FLAGGED, HIDDEN, NO_SECTION, TRENDING, UNREAD, View
from digest.tui.widgets.lines import LineList, fit, fit_middle, shared_prefixes

__all__ = ["NO_SECTION", "Entry", "Sidebar", "section_order"]


def section_order(config_sections: Sequence[str], feeds: Sequence[Feed]) -> list[str]:
    """Config order first (the email's order), then sections only feeds name, then feeds with none."""
    names = list(config_sections)
    seen = {n.casefold() for n in names}
    extra = sorted({f.section for f in feeds if f.section and f.section.casefold() not in seen}, key=str.casefold)
    names += extra
    if any(not f.section for f in feeds):
        names.append(NO_SECTION)
    return names


@dataclass(slots=True, frozen=True)
class Entry:
    key: View | None  # None: a separator line
    label: str
    count: int | None = None
    kind: str = "view"  # view | section | feed | separator
    failing: bool = False
    shared: int = 0  # how much of a feed's name starts another feed's name too (see render_line)


class Sidebar(LineList, can_focus=True):
    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="sidebar.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="sidebar.up"),
        Binding("home,g", "first", "First", show=False, id="sidebar.first"),
        Binding("end,G", "last", "Last", show=False, id="sidebar.last"),
        Binding("enter", "choose", "Show", show=False, id="sidebar.choose"),
    ]

    COMPONENT_CLASSES = {"sidebar--cursor", "sidebar--section", "sidebar--count", "sidebar--failing",
                         "sidebar--separator"}

    DEFAULT_CSS = """
    Sidebar { overflow-x: hidden; scrollbar-size-vertical: 1; }
    Sidebar > .sidebar--cursor { background: $accent 30%; }
    Sidebar:focus > .sidebar--cursor { background: $accent; color: $text; }
    Sidebar > .sidebar--section { text-style: bold; }
    Sidebar > .sidebar--count { color: $text-muted; }
    Sidebar > .sidebar--failing { color: $error; text-style: bold; }
    Sidebar > .sidebar--separator { color: $panel-lighten-2; }
    """

    cursor: reactive[int] = reactive(0, repaint=False)

    @dataclass
    class FilterChosen(Message):
        """The highlighted entry changed to this view."""

        sidebar: Sidebar
        view: View

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feeds: dict[int, Feed] = {}
        self.entries: list[Entry] = [Entry(ALL, "All")]
        self._data: tuple[Any, ...] | None = None

    # -- data ------------------------------------------------------------------------------------

    def update_data(self, counts: dict[str, int], feeds: Sequence[Feed], sections: Sequence[str],
                    trending: int | None = None) -> None:
        """Rebuild the entries, keeping the highlighted one."""
        self._data = (counts, feeds, sections, trending)
        current = self.current_key
        self.feeds = {f.id: f for f in feeds}
        entries = [
            Entry(ALL, "All", counts.get("all", 0)),
            Entry(UNREAD, "Unread", counts.get("unread", 0)),
            Entry(FLAGGED, f"Flagged ({counts.get('flagged', 0)})"),
            Entry(TRENDING, "Trending", trending),
        ]
        if counts.get("hidden"):  # only once a rule hides something: the stories the rules took out of the lists
            entries.append(Entry(HIDDEN, f"Hidden ({counts['hidden']:,})"))
        by_section: dict[str, list[Feed]] = {}
        for f in feeds:
            by_section.setdefault((f.section or NO_SECTION).casefold(), []).append(f)
        # terminal_safe: a feed title stored before ingestion cleaned controls
        names = {f.id: terminal_safe(f.name) for f in feeds}
        shared = dict(zip(names, shared_prefixes(list(names.values())), strict=True))
        for name in sections:
            members = by_section.get(name.casefold(), [])
            if not members:
                continue
            entries.append(Entry(None, "", kind="separator"))
            entries.append(Entry(View.of_section(name), name, sum(f.unread_count for f in members), "section"))
            for f in members:
                entries.append(Entry(View.of_feed(f.id), names[f.id], f.unread_count, "feed", f.failing,
                                     shared[f.id]))
        self.entries = entries
        if self.virtual_size.height != len(entries):
            self.virtual_size = Size(0, len(entries))
        keys = self.keys
        if current in keys:
            self.cursor = keys.index(current)
        else:
            self.cursor = min(self.cursor, len(entries) - 1)
        self.refresh()

    @property
    def keys(self) -> list[View | None]:
        return [e.key for e in self.entries]

    def label_of(self, key: View) -> str:
        """The text of an entry as shown (tests and the status line use it)."""
        for e in self.entries:
            if e.key == key:
                return ("! " if e.failing else "") + e.label + (f" {e.count:,}" if e.count else "")
        raise KeyError(key)

    @property
    def current_key(self) -> View | None:
        if 0 <= self.cursor < len(self.entries):
            return self.entries[self.cursor].key
        return None

    def select_key(self, key: View) -> None:
        keys = self.keys
        if key in keys:
            self._move(keys.index(key), 1)

    # -- painting --------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self.virtual_size = Size(0, len(self.entries))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        base = self.rich_style
        if not 0 <= index < len(self.entries):
            return Strip.blank(width, base)
        e = self.entries[index]
        st = self._styles()
        if e.kind == "separator":
            return Strip([Segment("─" * width, base + st["sidebar--separator"])], width)
        cur = st["sidebar--cursor"] if index == self.cursor else Style()
        count_style = base + st["sidebar--count"] + cur
        name_style = base + (st["sidebar--section"] if e.kind == "section" else Style()) + cur
        indent = "  " if e.kind == "feed" else ""
        mark = "! " if e.failing else ""
        number = f"{e.count:,}" if e.count else ""
        room = max(1, width - 1 - len(indent) - len(mark) - (len(number) + 1 if number else 0))
        segments = [Segment(" " + indent, base + cur)]
        if mark:
            segments.append(Segment(mark, base + st["sidebar--failing"] + cur))
        label = fit(e.label, room)
        if e.shared and label.rstrip().endswith("…") and e.shared >= len(label.rstrip()) - 1:
            # cut at its end this name would read like another feed's ("Cascadia Startup Led…" twice):
            # cut in its middle instead, so its end, where the two differ, shows
            label = fit_middle(e.label, room)
        segments.append(Segment(label, name_style))
        if number:
            segments.append(Segment(" " + number, count_style))
        return Strip(segments).adjust_cell_length(width, base + cur)

    # -- cursor ----------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()

    def _move(self, index: int, step: int) -> None:
        """Move to index, skipping separators in the direction of travel, and say which view is chosen."""
        n = len(self.entries)
        if not n:
            return
        index = max(0, min(n - 1, index))
        while 0 <= index < n and self.entries[index].key is None:
            index += step
        if not 0 <= index < n:
            return
        self.cursor = index
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)
        key = self.entries[index].key
        if key:
            self.post_message(self.FilterChosen(self, key))

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1, 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1, -1)

    def action_first(self) -> None:
        self._move(0, 1)

    def action_last(self) -> None:
        self._move(len(self.entries) - 1, -1)

    def action_choose(self) -> None:
        key = self.current_key
        if key:
            self.post_message(self.FilterChosen(self, key))

    def on_click(self, event: Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.entries):
            self._move(index, 1)
