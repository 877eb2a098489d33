"""j/k/g/G in every list and scrolling pane (newsboat's and vi's keys beside the arrows): a DataTable, a
VerticalScroll and an OptionList that take them, so the feeds screen, the digest draft, the help and the
choosers (a section to flag into, a theme) behave like the story list and the sidebar."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, OptionList


class KeyTable(DataTable[Any]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g,home", "scroll_top", "First", show=False, id="table.first"),
        Binding("G,end", "scroll_bottom", "Last", show=False, id="table.last"),
    ]


class KeyScroll(VerticalScroll):
    BINDINGS = [
        Binding("j", "scroll_down", "Scroll down", show=False, id="scroll.down"),
        Binding("k", "scroll_up", "Scroll up", show=False, id="scroll.up"),
        Binding("g", "scroll_home", "Top", show=False, id="scroll.top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="scroll.bottom"),
    ]


class KeyOptions(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="choices.down"),
        Binding("k", "cursor_up", "Up", show=False, id="choices.up"),
        Binding("g", "first", "First", show=False, id="choices.first"),
        Binding("G", "last", "Last", show=False, id="choices.last"),
    ]
