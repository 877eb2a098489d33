"""The digest draft as a table whose story rows can be dragged with the mouse and dropped on another row.

Rows are keyed `sec:<section>` (a section header) and `item:<story id>` (a story); only stories are dragged.
The table only reports what was dropped where; the screen decides what that means and writes it to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.events import Click, MouseDown, MouseEvent, MouseMove, MouseRelease, MouseUp
from textual.message import Message

from digest.tui.widgets.vim_keys import KeyTable

SECTION_PREFIX = "sec:"
ITEM_PREFIX = "item:"


def section_key(name: str) -> str:
    return SECTION_PREFIX + name


def item_key(story_id: int) -> str:
    return f"{ITEM_PREFIX}{story_id}"


def section_of(key: str) -> str | None:
    """The section a header row's key names, None for any other row."""
    return key.removeprefix(SECTION_PREFIX) if key.startswith(SECTION_PREFIX) else None


def story_of(key: str) -> int | None:
    """The story an item row's key names, None for any other row."""
    return int(key.removeprefix(ITEM_PREFIX)) if key.startswith(ITEM_PREFIX) else None


class DraftTable(KeyTable):
    """A DataTable of the draft. Pressing the left button on a story and moving off its row starts a drag
    (DraftTable.DragStarted); releasing posts DraftTable.Dropped. Press and release on one row stays a click
    that moves the cursor, as in any DataTable."""

    # the built-in hover row follows the pointer; while dragging it marks the drop target, so make it stand out
    DEFAULT_CSS = """
    DraftTable.-dragging > .datatable--hover { background: $accent 50%; }
    """

    @dataclass
    class DragStarted(Message):
        draft_table: DraftTable
        story_id: int

    @dataclass
    class Dropped(Message):
        """`target` is the key of the row the story was released on; None when that is its own row or no
        row at all (the column header, below the last row, outside the table): the drag is cancelled."""

        draft_table: DraftTable
        story_id: int
        target: str | None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pressed: int | None = None  # the story the button went down on
        self._dragging = False  # the pointer has left that story's row since: a drag, not a click
        self._swallow_click = False

    @property
    def pressed(self) -> bool:
        """A story is held by the mouse (a click or a drag under way): the rows must not change under it."""
        return self._pressed is not None

    def row_key_at(self, event: MouseEvent) -> str | None:
        """The key of the row under the pointer, from its screen position: while the mouse is captured the
        event may come from over another widget, so the style meta DataTable reads on a click cannot be
        trusted. Rows scroll under a fixed column header; this table has no fixed rows."""
        region = self.scrollable_content_region  # without the scrollbars
        if not region.contains_point(event.screen_offset):
            return None
        y = event.screen_offset.y - region.y
        if self.show_header:
            if y < self.header_height:
                return None
            y -= self.header_height
        y += self.scroll_offset.y
        for row in self.ordered_rows:
            if y < row.height:
                return str(row.key.value)
            y -= row.height
        return None

    def on_mouse_down(self, event: MouseDown) -> None:
        self._swallow_click = False
        key = self.row_key_at(event) if event.button == 1 else None
        story_id = story_of(key) if key else None
        if story_id is not None:
            self._pressed, self._dragging = story_id, False
            self.capture_mouse()  # so the release is seen even off the table, where it cancels

    def on_mouse_move(self, event: MouseMove) -> None:
        if self._pressed is None or self._dragging:
            return
        if self.row_key_at(event) != item_key(self._pressed):
            self._dragging = True
            self.add_class("-dragging")
            self.post_message(self.DragStarted(self, self._pressed))

    def on_mouse_up(self, event: MouseUp) -> None:
        if self._pressed is None:
            return
        target = self.row_key_at(event)
        # Textual also makes a Click of any press and release on the same widget. A drag is not a click: it must
        # not move the cursor (a drop reloads the table anyway; a drag cancelled on a row would move it there)
        self._swallow_click = self._dragging
        self._end_drag(None if target == item_key(self._pressed) else target)
        self.release_mouse()

    def on_mouse_release(self, event: MouseRelease) -> None:
        """The capture ended without a release seen here (another screen, the app lost focus): cancel."""
        self._end_drag(None)

    def on_click(self, event: Click) -> None:
        if self._swallow_click:
            self._swallow_click = False
            event.prevent_default()  # skips DataTable's handler, which moves the cursor to the clicked row

    def _end_drag(self, target: str | None) -> None:
        story_id, dragging = self._pressed, self._dragging
        self._pressed, self._dragging = None, False
        self.remove_class("-dragging")
        if story_id is not None and dragging:
            self.post_message(self.Dropped(self, story_id, target))
