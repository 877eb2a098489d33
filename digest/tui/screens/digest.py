"""The digest screen: the draft by section, arranged with keys or the mouse, a live text preview, build and
send. Every change is written to the store at once (the store is the state)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, DataTable, Footer, Static, TextArea

from digest.core.models import DigestItem
from digest.core.store import NotFoundError
from digest.core.wording import count
from digest.tui.screens.digest_deliver import BuildAndSend
from digest.tui.screens.modals import EditModal
from digest.tui.screens.story_actions import unflag_keeping_undo
from digest.tui.textfmt import brief
from digest.tui.widgets.draft_table import DraftTable, item_key, section_key, section_of, story_of
from digest.tui.widgets.refresh_bar import RefreshBar

if TYPE_CHECKING:
    pass

_RULE_LINE = re.compile(r"([=\-_*~])\1{9,}")  # a line drawn of one character: the text part's rules
PREVIEW_DEBOUNCE_S = 0.25  # rendering the text digest takes ~10-50 ms; batch a burst of moves into one
ITEM_ACTIONS = {"move_up", "move_down", "section_prev", "section_next", "remove", "edit"}


class DigestScreen(BuildAndSend):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("K,shift+up", "move_up", "Up", id="digest.move_up", show=False, tooltip="Move the story up"),
        Binding("J,shift+down", "move_down", "Down", id="digest.move_down", show=False, tooltip="Move the story down"),
        Binding("left_square_bracket,shift+left", "section_prev", "◀ Section", id="digest.section_prev", show=False,
                tooltip="Move the story to the previous section"),
        Binding("right_square_bracket,shift+right", "section_next", "Section ▶", id="digest.section_next", show=False,
                tooltip="Move the story to the next section"),
        Binding("x,delete", "remove", "Remove", id="digest.remove", show=False,
                tooltip="Take the story out of the digest"),
        Binding("U,ctrl+z", "undo", "Undo", id="digest.undo", show=False, tooltip="Put back the story just removed"),
        Binding("e", "edit", "Edit", id="digest.edit", tooltip="Edit headline and blurb"),
        Binding("t", "theme", "Theme", id="digest.theme", tooltip="Pick the theme"),
        Binding("b", "build", "Build", id="digest.build", tooltip="Build HTML, text and .eml files"),
        Binding("p", "open_html", "Open", id="digest.open", tooltip="Open the built HTML in the browser"),
        Binding("s", "send", "Send", id="digest.send", tooltip="Send the built digest"),
        Binding("escape,d", "back", "Back", id="digest.back", tooltip="Back to the stories"),
        Binding("question_mark", "help", "Help", id="help", show=False),
        Binding("q", "app.quit", "Quit", id="quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[DigestItem] = []
        self.sections: list[str] = []
        self.theme_name = ""
        self.last_build: Any = None
        self._preview_timer: Timer | None = None
        self._feed_sections: list[str] = []  # sections only feeds name (OPML folders), read on mount
        self._seen_sections: list[str] = []  # sections that held a story while this screen was open
        self.undo_step: Callable[[], None] | None = None  # puts back the last story removed (one step)
        self._draft_number: int | None = None  # the draft shown (data_changed: sent by another process?)

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="draft-pane"):
                yield Static("", id="draft-info")
                yield DraftTable(id="draft", cursor_type="row", zebra_stripes=False)
                with Horizontal(id="draft-buttons"):
                    yield Button("↑", id="btn-up", tooltip="Move up (K)")
                    yield Button("↓", id="btn-down", tooltip="Move down (J)")
                    yield Button("◀", id="btn-prev", tooltip="Previous section ([)")
                    yield Button("▶", id="btn-next", tooltip="Next section (])")
                    yield Button("✕", id="btn-remove", tooltip="Remove (x)")
                    yield Button("Edit", id="btn-edit")
                    yield Button("Build", id="btn-build", variant="primary")
            # the text part is laid out at 72 columns; a narrower pane wraps it rather than cutting lines off.
            # No cursor and no cursor line: it is a preview, and the cursor block read as a stray "▉"
            yield TextArea("", id="preview", read_only=True, soft_wrap=True, show_line_numbers=False,
                           show_cursor=False, highlight_cursor_line=False)
        yield RefreshBar(id="refresh-bar")
        yield Footer()

    def on_mount(self) -> None:
        draft = self.dapp.store.draft()
        self.theme_name = (draft.theme if draft and draft.theme else "") or self.dapp.config.newsletter.theme
        from digest.tui.widgets.sidebar import NO_SECTION, section_order

        names = self.dapp.config.section_names()
        feeds = self.dapp.store.list_feeds(counts=False)
        self._feed_sections = [s for s in section_order(names, feeds)[len(names):] if s != NO_SECTION]
        self.load()
        self.query_one("#draft", DataTable).focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self.load)

    def data_changed(self) -> None:
        """Another process wrote to the store (the app polls it): a `digest run` from cron froze and sent
        the draft, `digest flag` added a story. Show the draft as it is now; the screen kept showing the
        issue that had gone out. A build of an earlier draft number is no build of this one."""
        if not self.is_mounted or self.query_one(DraftTable).pressed:
            return  # a drag under way: its drop reloads
        draft = self.dapp.store.draft()
        if (draft.number if draft else None) != self._draft_number:
            self.last_build, self.built_signature = None, None
        self.load()

    # -- data ------------------------------------------------------------------------------------

    def load(self, keep: int | None = None) -> None:
        """Re-read the draft (a few dozen rows: cheap enough for the event loop) and redraw the table."""
        store = self.dapp.store
        self.items = store.digest_items()
        names = self.dapp.config.section_names()
        seen = {s.casefold() for s in self._seen_sections}
        for item in self.items:
            if item.section.casefold() not in seen:
                seen.add(item.section.casefold())
                self._seen_sections.append(item.section)
        # [ and ] step through the config's sections, the feeds' (OPML folders: the flag dialog offers
        # them too) and any other the draft used while the screen was open; a story moved out of a
        # section only the draft knew can be moved back. The table lists the config's sections (the
        # email's order, and drop targets even when empty) and those that held a story here.
        known = {s.casefold() for s in names + self._feed_sections}
        extra = sorted((s for s in self._seen_sections if s.casefold() not in known), key=str.casefold)
        self.sections = names + self._feed_sections + extra
        listed = {s.casefold() for s in names} | seen
        shown = [s for s in self.sections if s.casefold() in listed]
        table = self.query_one("#draft", DataTable)
        if keep is None:
            keep = self.current_story_id
        # fixed column widths from the pane's width: an auto-sized Story column would push Source off screen
        width = max(30, table.scrollable_content_region.width or table.size.width or 60)
        src_w = 0 if width < 50 else min(18, width // 4)
        story_w = width - 3 - src_w - (3 if src_w else 2) * 2
        table.clear(columns=True)
        table.add_column("#", key="pos", width=3)
        table.add_column("Story", key="story", width=story_w)
        if src_w:
            table.add_column("Source", key="source", width=src_w)
        by_section: dict[str, list[DigestItem]] = {}
        for item in self.items:
            by_section.setdefault(item.section.casefold(), []).append(item)
        target_row = None
        for name in shown:
            members = sorted(by_section.get(name.casefold(), []), key=lambda i: i.position)
            cells: list[Any] = ["", Text(f"{name} ({len(members)})", style="bold")]
            table.add_row(*cells, *([""] if src_w else []), key=section_key(name))
            for n, item in enumerate(members, 1):
                headline = item.headline or item.story.title
                label = Text(("✎ " if item.blurb else "") + headline, no_wrap=True, overflow="ellipsis")
                source = [Text(item.story.feed_title, style="dim", no_wrap=True, overflow="ellipsis")]
                table.add_row(str(n), label, *(source if src_w else []), key=item_key(item.story.id))
                if item.story.id == keep:
                    target_row = table.row_count - 1
        if target_row is None:
            target_row = next((i for i, r in enumerate(table.ordered_rows) if story_of(str(r.key.value))), 0)
        if table.row_count:
            table.move_cursor(row=target_row, animate=False)
        self._update_info()
        self._schedule_preview()
        self.refresh_bindings()

    def _update_info(self) -> None:
        draft = self.dapp.store.draft()
        self._draft_number = draft.number if draft else None
        number = f"#{draft.number}" if draft else "(new)"
        stories = count(len(self.items), "story", "stories")
        lines = [f"[b]Digest {number}[/b] · {stories} · theme [b]{escape(self.theme_name)}[/b]"]
        if not self.items:
            lines.append("[dim]Nothing flagged yet: press f on stories in the list (Esc goes back).[/]")
        if self.last_build is not None:
            b = self.last_build
            if self.build_is_stale():
                # the files are still there (p opens them), but they no longer show this draft
                lines.append("[b $warning]Out of date:[/] the draft changed after the build · b builds again")
                lines.append(f"[dim]{escape(str(b.html_path))}[/]")
            else:
                lines.append(f"[green]Built[/] {escape(str(b.html_path))}")
                lines.append(f"[dim]{escape(str(b.text_path))} · {escape(str(b.eml_path))}[/]")
        self.query_one("#draft-info", Static).update("\n".join(lines))

    @property
    def current_story_id(self) -> int | None:
        table = self.query_one("#draft", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # the cursor is past the last row while the table is rebuilt
            return None
        return story_of(str(key)) if key else None

    def _current_item(self) -> DigestItem | None:
        sid = self.current_story_id
        return next((i for i in self.items if i.story.id == sid), None)

    @on(DataTable.RowHighlighted, "#draft")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ITEM_ACTIONS:
            return self.is_mounted and self.current_story_id is not None
        if action == "open_html":
            return self._html_path() is not None
        return True

    # -- preview ---------------------------------------------------------------------------------

    def _schedule_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DEBOUNCE_S, self.render_preview)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def render_preview(self) -> None:
        from digest.core.build import preview_text

        store = self.dapp.open_worker_store()
        try:
            # the app's clock (frozen in snapshot tests) dates the preview
            now = datetime.fromtimestamp(self.dapp.now(), UTC)
            text = preview_text(store, self.dapp.config, self.dapp.paths, theme=self.theme_name, now=now)
        except Exception as e:  # a broken user theme must not take the screen down  # noqa: BLE001
            text = f"(Preview failed: {type(e).__name__}: {e})"
        finally:
            store.close()
        self.app.call_from_thread(self._show_preview, text)

    def _show_preview(self, text: str) -> None:
        area = self.query_one("#preview", TextArea)
        scroll = area.scroll_offset
        # the text part's 72-column rules (==== under a heading) cut to the pane: wrapped, each became
        # three lines of = around every heading
        # (less the scrollbar the new text may bring)
        width = max(10, area.wrap_width - (0 if area.show_vertical_scrollbar else area.styles.scrollbar_size_vertical))
        text = "\n".join(line[:width] if _RULE_LINE.fullmatch(line) else line for line in text.split("\n"))
        area.load_text(text)
        area.scroll_to(scroll.x, scroll.y, animate=False)

    # -- arranging -------------------------------------------------------------------------------

    def _move(self, **kwargs: Any) -> None:
        item = self._current_item()
        if item is not None:
            self._move_story(item.story.id, **kwargs)

    def _move_story(self, story_id: int, **kwargs: Any) -> None:
        try:
            self.dapp.store.move_item(story_id, **kwargs)
        except NotFoundError as e:  # a cron run froze the draft meanwhile
            self.notify(str(e), severity="error")
        self.load(keep=story_id)

    @on(DraftTable.DragStarted)
    def _drag_started(self, event: DraftTable.DragStarted) -> None:
        item = next((i for i in self.items if i.story.id == event.story_id), None)
        if item is None:
            return
        info = self.query_one("#draft-info", Static)
        # the info line keeps its height while dragging: a table that moved would change the row under the pointer
        info.styles.height = info.outer_size.height
        info.update(Text.assemble((f"Moving “{item.headline or item.story.title}”", "bold"),
                                  " → drop on a story to take its place, on a section for its top",
                                  no_wrap=True, overflow="ellipsis"))

    @on(DraftTable.Dropped)
    def _dropped(self, event: DraftTable.Dropped) -> None:
        """A story dropped on another takes its place (that story's section and position; store.move_item
        says how the rest shift); dropped on a section header it goes to the top of that section."""
        self.query_one("#draft-info", Static).styles.clear_rule("height")
        if event.target is None:
            self._update_info()  # cancelled: only the "Moving" line to undo
            return
        section = section_of(event.target)
        if section is not None:
            self._move_story(event.story_id, section=section, position=0)
            return
        target = next((i for i in self.items if i.story.id == story_of(event.target)), None)
        if target is None:  # the table is older than the store (a cron run froze the draft): show the store
            self.load()
            return
        self._move_story(event.story_id, section=target.section, position=target.position)

    def action_move_up(self) -> None:
        self._move(delta=-1)

    def action_move_down(self) -> None:
        self._move(delta=1)

    def _section_step(self, step: int) -> None:
        item = self._current_item()
        if item is None or not self.sections:
            return
        names = [s.casefold() for s in self.sections]
        i = names.index(item.section.casefold()) if item.section.casefold() in names else 0
        j = i + step
        if not 0 <= j < len(self.sections):
            return
        self._move(section=self.sections[j])

    def action_section_prev(self) -> None:
        self._section_step(-1)

    def action_section_next(self) -> None:
        self._section_step(1)

    def action_remove(self) -> None:
        item = self._current_item()
        if item is None:
            return
        undo = unflag_keeping_undo(self.dapp.store, item.story.id)
        self.undo_step = undo
        keys = self.app.get_key_display(next(b for b in self.BINDINGS if isinstance(b, Binding)
                                             and b.id == "digest.undo"))
        self.notify(f"Removed: {brief(item.headline or item.story.title)} · {keys} undoes", timeout=4)
        # keep the cursor near where it was
        ids = [i.story.id for i in self.items]
        idx = ids.index(item.story.id)
        neighbour = ids[idx + 1] if idx + 1 < len(ids) else (ids[idx - 1] if idx else None)
        self.load(keep=neighbour)

    def action_undo(self) -> None:
        undo, self.undo_step = self.undo_step, None
        if undo is None:
            self.notify("Nothing to undo.", timeout=3)
            return
        current = self.current_story_id
        undo()
        self.notify("Undone: the story is back in the digest.", timeout=3)
        self.load(keep=current)

    def action_edit(self) -> None:
        item = self._current_item()
        if item is None:
            return

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            headline, blurb = result
            self.dapp.store.flag(item.story.id, item.section, headline=headline, blurb=blurb)
            self.load(keep=item.story.id)

        self.app.push_screen(EditModal(item.story.title, item.headline or "", item.blurb or ""), done)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        actions = {
            "btn-up": self.action_move_up, "btn-down": self.action_move_down,
            "btn-prev": self.action_section_prev, "btn-next": self.action_section_next,
            "btn-remove": self.action_remove, "btn-edit": self.action_edit, "btn-build": self.action_build,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()
            self.query_one("#draft", DataTable).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.dapp.action_help()
