"""The sidebar: views, then sections and their feeds with unread counts and a failure mark.

An OptionList (itself a Line API widget), so 500 feeds cost nothing extra to paint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from digest.core.models import Feed

NO_SECTION = "(no section)"


def section_order(config_sections: Sequence[str], feeds: Sequence[Feed]) -> list[str]:
    """Config order first (the email's order), then sections only feeds name, then feeds with none."""
    names = list(config_sections)
    seen = {n.casefold() for n in names}
    extra = sorted({f.section for f in feeds if f.section and f.section.casefold() not in seen}, key=str.casefold)
    names += extra
    if any(not f.section for f in feeds):
        names.append(NO_SECTION)
    return names


class Sidebar(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="sidebar.down"),
        Binding("k", "cursor_up", "Up", show=False, id="sidebar.up"),
    ]

    @dataclass
    class FilterChosen(Message):
        """The highlighted entry changed; key is all|unread|flagged|trending|section:NAME|feed:ID."""

        sidebar: Sidebar
        key: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Option("All", id="all"), id=id)
        self.feeds: dict[int, Feed] = {}
        self._ready = False

    def update_data(self, counts: dict[str, int], feeds: Sequence[Feed], sections: Sequence[str],
                    trending: int | None = None) -> None:
        """Rebuild the entries, keeping the highlighted one."""
        current = self.current_key
        self.feeds = {f.id: f for f in feeds}
        opts: list[Option | None] = [
            Option(self._label("All", counts.get("all", 0)), id="all"),
            Option(self._label("Unread", counts.get("unread", 0)), id="unread"),
            Option(Text(f"Flagged ({counts.get('flagged', 0)})"), id="flagged"),
            Option(self._label("Trending", trending) if trending is not None else Text("Trending"), id="trending"),
        ]
        by_section: dict[str, list[Feed]] = {}
        for f in feeds:
            by_section.setdefault(f.section or NO_SECTION, []).append(f)
        for name in sections:
            members = by_section.get(name) or next(
                (v for k, v in by_section.items() if k.casefold() == name.casefold()), []
            )
            if not members:
                continue
            unread = sum(f.unread_count for f in members)
            opts.append(None)
            opts.append(Option(self._label(name, unread, bold=True), id=f"section:{name}"))
            for f in members:
                label = self._label("  " + f.name, f.unread_count, mark=f.failing)
                opts.append(Option(label, id=f"feed:{f.id}"))
        highlighted = self.highlighted
        self.clear_options()
        self.add_options(opts)
        keys = [o.id for o in self.options]
        if current in keys:
            self.highlighted = keys.index(current)
        elif highlighted is not None:
            self.highlighted = min(highlighted, len(keys) - 1)
        else:
            self.highlighted = 0
        self._ready = True

    def _label(self, name: str, count: int | None, *, bold: bool = False, mark: bool = False) -> Text:
        text = Text()
        if mark:
            text.append("! ", style="bold red")
        text.append(name, style="bold" if bold else "")
        if count:
            text.append(f" {count}", style="dim")
        return text

    @property
    def current_key(self) -> str | None:
        if self.highlighted is None or not self.option_count:
            return None
        return self.get_option_at_index(self.highlighted).id

    def select_key(self, key: str) -> None:
        for i, o in enumerate(self.options):
            if o.id == key:
                self.highlighted = i
                return

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.FilterChosen(self, event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.FilterChosen(self, event.option.id))
