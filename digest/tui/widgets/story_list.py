"""The story list: a Line API widget over a list of story ids.

Only the ids of the current filter live in memory (8 bytes each in a list: 100k stories ~ 1 MB); rows are
fetched a page at a time when a line is painted and kept in a small cache. Nothing here is one widget per
story, so painting costs the same at 100 or 100k stories (the toolong approach).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from digest.tui.queries import ListRow
from digest.tui.timefmt import age
from digest.tui.widgets.lines import LineList, fit

PAGE = 200  # rows fetched per page; ~5 screens, one SQL query


class StoryList(LineList, can_focus=True):
    """Newest first. Posts StoryList.Highlighted when the cursor moves and StoryList.Opened on Enter/click."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="list.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="list.up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="list.page_up"),
        Binding("home,g", "first", "First", show=False, id="list.first"),
        Binding("end,G", "last", "Last", show=False, id="list.last"),
        Binding("enter", "open", "Read", show=False, id="list.open", tooltip="Read the story (marks it read)"),
    ]

    COMPONENT_CLASSES = {
        "story-list--cursor",
        "story-list--unread",
        "story-list--read",
        "story-list--flag",
        "story-list--source",
        "story-list--age",
        "story-list--empty",
    }

    DEFAULT_CSS = """
    StoryList { background: $surface; overflow-x: hidden; }
    StoryList > .story-list--cursor { background: $accent 40%; }
    StoryList:focus > .story-list--cursor { background: $accent; color: $text; }
    StoryList > .story-list--unread { text-style: bold; }
    StoryList > .story-list--read { color: $text-muted; }
    StoryList > .story-list--flag { color: $warning; text-style: bold; }
    StoryList > .story-list--source { color: $text-muted; }
    StoryList > .story-list--age { color: $text-muted; }
    StoryList > .story-list--empty { color: $text-muted; text-style: italic; }
    """

    cursor: reactive[int] = reactive(0, repaint=False)

    @dataclass
    class Highlighted(Message):
        story_list: StoryList
        story_id: int | None

    @dataclass
    class Opened(Message):
        story_list: StoryList
        story_id: int

    def __init__(
        self,
        fetch: Callable[[Sequence[int]], dict[int, ListRow]],
        now: Callable[[], float],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fetch = fetch
        self._now = now
        self.ids: list[int] = []
        self._rows: dict[int, ListRow] = {}
        self.row_epoch = 0  # bumped by invalidate(): rows a worker read before then are stale
        self.empty_text = "Loading…"
        self.sources: dict[int, int] = {}  # story id -> feeds carrying it (Trending), shown for the source

    # -- data in ---------------------------------------------------------------------------------

    def set_ids(self, ids: list[int], *, keep: int | None = None,
                rows: tuple[dict[int, ListRow], int] | None = None) -> None:
        """Show a new result; the cursor stays on story `keep` (or the current one) if it is still there.

        `rows` is (rows read with the ids, row_epoch when that read began): a worker's read of the first
        page, so painting it needs no query here. Rows read before an invalidate() are dropped as stale."""
        before = self.current_id
        keep = before if keep is None else keep
        self.ids = ids
        self._rows.clear()
        if rows is not None and rows[1] == self.row_epoch:
            self._rows.update(rows[0])
        self._set_row_count(len(ids))
        index = 0
        if keep is not None:
            try:
                index = ids.index(keep)
            except ValueError:
                index = 0
        cursor = min(index, max(0, len(ids) - 1))
        if cursor != self.cursor:
            self.cursor = cursor  # the watcher posts Highlighted
        elif self.current_id != before:
            self.post_message(self.Highlighted(self, self.current_id))
        self._scroll_to_cursor(center=True)
        self.refresh()

    def _set_row_count(self, rows: int) -> None:
        """virtual_size is a layout reactive: each change re-lays out and repaints the whole screen (~50 ms
        measured on the bench machine, once per search keystroke and per reload during a refresh). When the
        scrollbar neither appears nor goes, only the thumb and this widget change, so set the value without
        the layout and update the scrollbar directly."""
        new = Size(0, rows)
        if new == self.virtual_size:
            return
        height = self.scrollable_content_region.height
        if not self.is_mounted or (self.virtual_size.height > height) != (rows > height):
            self.virtual_size = new
            return
        self.set_reactive(StoryList.virtual_size, new)
        self._scroll_update(new)
        self.refresh()

    def invalidate(self, story_ids: Sequence[int] | None = None) -> None:
        """Forget cached rows (all, or the given stories) after a flag/read change, and repaint."""
        self.row_epoch += 1
        if story_ids is None:
            self._rows.clear()
        else:
            for i in story_ids:
                self._rows.pop(i, None)
        self.refresh()

    @property
    def current_id(self) -> int | None:
        if 0 <= self.cursor < len(self.ids):
            return self.ids[self.cursor]
        return None

    def row(self, index: int) -> ListRow | None:
        if not 0 <= index < len(self.ids):
            return None
        sid = self.ids[index]
        row = self._rows.get(sid)
        if row is None:
            start = (index // PAGE) * PAGE
            page = self.ids[start:start + PAGE]
            if len(self._rows) > PAGE * 10:  # keep memory flat while scrolling through 100k rows
                self._rows.clear()
            self._rows.update(self._fetch(page))
            row = self._rows.get(sid)
        return row

    # -- painting --------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self.virtual_size = Size(0, len(self.ids))

    def render_line(self, y: int) -> Strip:
        # the content region excludes the vertical scrollbar, which would otherwise hide the age column
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        base = self.rich_style
        if not self.ids:
            if y == 0:
                style = self.get_component_rich_style("story-list--empty")
                return Strip([Segment(fit(" " + self.empty_text, width), base + style)], width)
            return Strip.blank(width, base)
        row = self.row(index)
        if row is None:
            return Strip.blank(width, base)
        age_w = 4
        src_w = 0 if width < 40 else min(20, width // 4)
        title_w = max(1, width - 3 - age_w - 1 - (src_w + 1 if src_w else 0))
        st = self._styles()
        mark_style = st["story-list--flag"]
        text_style = st["story-list--read" if row.read else "story-list--unread"]
        dim = st["story-list--source"]
        # the cursor style goes last: component styles carry the widget's background, which would hide it
        cur = st["story-list--cursor"] if index == self.cursor else Style()
        line_style = base + cur
        flag = "★" if row.flagged else " "
        dot = " " if row.read else "•"
        title = row.headline or row.title or "(untitled)"
        segments = [
            Segment(flag, base + mark_style + cur),
            Segment(dot + " ", base + text_style + cur),
            Segment(fit(title, title_w), base + text_style + cur),
        ]
        if src_w:
            carried = self.sources.get(row.id, 0)
            source = f"{carried} sources" if carried > 1 else row.feed_title
            segments.append(Segment(" " + fit(source, src_w), base + dim + cur))
        segments.append(Segment(" " + age(row.published_at, self._now()).rjust(age_w), base + dim + cur))
        return Strip(segments).adjust_cell_length(width, line_style)

    # -- cursor ----------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        if 0 <= old < len(self.ids):
            self._refresh_row(old)
        self._refresh_row(new)
        self.post_message(self.Highlighted(self, self.current_id))

    def _refresh_row(self, index: int) -> None:
        y = index - self.scroll_offset.y
        if 0 <= y < self.size.height:
            self.refresh_lines(y, 1)

    def _move(self, index: int) -> None:
        if not self.ids:
            return
        index = max(0, min(len(self.ids) - 1, index))
        if index != self.cursor:
            self.cursor = index
        self._scroll_to_cursor()
        # and once more after the next refresh: a layout pass still pending from the last row-count change
        # can put the scroll offset back (seen with End right after the list filled: the cursor on the last
        # row, the view at the top)
        self.call_after_refresh(self._scroll_to_cursor)

    def move_to(self, index: int) -> None:
        """Put the cursor on a row (clamped) and scroll it into view."""
        self._move(index)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if center and not top <= self.cursor < top + height:
            self.scroll_to(y=max(0, self.cursor - height // 2), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_page_down(self) -> None:
        self._move(self.cursor + max(1, self.size.height - 1))

    def action_page_up(self) -> None:
        self._move(self.cursor - max(1, self.size.height - 1))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.ids) - 1)

    def action_open(self) -> None:
        sid = self.current_id
        if sid is not None:
            self.post_message(self.Opened(self, sid))

    def on_click(self, event: Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.ids):
            self._move(index)
            if event.chain >= 2:
                self.action_open()
