"""Moving and catching up on the main screen: next/previous story and unread (newsboat's n/p, J/K, j past
the end of a story), mark a view or everything read with a one-step undo, hide read, sort, fold the
sidebar, the reader full width, and the view/cursor kept across restarts.

A mixin of MainScreen, like StoryActions: it uses the screen's StoryList, Reader, Sidebar and reload().
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from digest.core.fsutil import atomic_write
from digest.core.store import StoryQuery
from digest.core.wording import count
from digest.tui.views import SORT_LABELS, SORTS, TRENDING, View
from digest.tui.widgets.reader import Reader
from digest.tui.widgets.sidebar import Sidebar
from digest.tui.widgets.story_list import StoryList

if TYPE_CHECKING:
    from digest.tui.app import DigestApp

STATE_FILE = "tui-state.json"


@dataclasses.dataclass
class Undo:
    """The last step that can be taken back (one step: a second change replaces it)."""

    label: str
    run: Callable[[], None]


class Reading:
    READING_BINDINGS = [
        Binding("n", "next_unread", "Next unread", id="next_unread", tooltip="Read the next unread story"),
        Binding("p", "prev_unread", "Prev unread", id="prev_unread", show=False,
                tooltip="Read the previous unread story"),
        Binding("J", "next_story", "Next", id="next_story", show=False, tooltip="Read the next story"),
        Binding("K", "prev_story", "Previous", id="prev_story", show=False, tooltip="Read the previous story"),
        Binding("A", "mark_view_read", "Mark read", id="mark_read", show=False,
                tooltip="Mark every story of this view (this feed, section ...) read"),
        Binding("C", "mark_all_read", "Catch up", id="mark_all_read", show=False,
                tooltip="Mark every story read"),
        Binding("U,ctrl+z", "undo", "Undo", id="undo", show=False, tooltip="Undo the last mark-read or unflag"),
        Binding("H", "hide_read", "Hide read", id="hide_read", show=False,
                tooltip="Show only unread stories (in every view), or all again"),
        Binding("s", "sort", "Sort", id="sort", show=False,
                tooltip="Sort: newest, oldest, by feed, by Trending score"),
        Binding("b", "toggle_sidebar", "Sidebar", id="toggle_sidebar", show=False,
                tooltip="Show or hide the sidebar"),
        Binding("z", "zoom", "Full width", id="zoom", show=False, tooltip="The reader full width, or back"),
    ]

    if TYPE_CHECKING:
        app: Any
        view: View
        hide_read: bool
        sort: str
        search_text: str
        size: Any

        @property
        def dapp(self) -> DigestApp: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def load_sidebar(self) -> Any: ...
        def reload(self, *, sidebar: bool = True) -> None: ...
        def _show_current(self) -> None: ...
        def _update_status(self) -> None: ...
        set_class: Any
        def has_class(self, *names: str) -> bool: ...
        focused: Any

    undo_step: Undo | None = None
    story_shown: int | None = None  # the list's current story (kept here: on unmount the list is gone)
    _restore_story: int | None = None

    # -- moving ----------------------------------------------------------------------------------

    def read_at(self, index: int) -> None:
        """Show the story at index in the reader and mark it read (what Enter does), keeping the focus
        where it is unless that is the list (then the reader takes it, as with Enter)."""
        stories = self.query_one(StoryList)
        stories.move_to(index)
        self._show_current()
        row = stories.row(stories.cursor)
        if row is not None and not row.read:
            self.dapp.store.set_read([row.id], True)
            stories.invalidate([row.id])
            self.load_sidebar()
        if not isinstance(self.focused, Reader):
            self.query_one(Reader).focus()

    def _step(self, step: int, *, unread: bool) -> None:
        stories = self.query_one(StoryList)
        if not stories.ids:
            return
        index = stories.cursor + step
        while 0 <= index < len(stories.ids):
            row = stories.row(index)
            if not unread or (row is not None and not row.read):
                self.read_at(index)
                return
            index += step
        where = "after" if step > 0 else "before"
        self.notify(f"No {'unread ' if unread else ''}story {where} this one here.", timeout=3)

    def action_next_unread(self) -> None:
        self._step(1, unread=True)

    def action_prev_unread(self) -> None:
        self._step(-1, unread=True)

    def action_next_story(self) -> None:
        self._step(1, unread=False)

    def action_prev_story(self) -> None:
        self._step(-1, unread=False)

    # handlers by name: @on in a mixin is not seen (Textual collects @on handlers from the class body)
    def on_reader_past_end(self, event: Reader.PastEnd) -> None:
        self.action_next_story()

    def on_reader_back(self, event: Reader.Back) -> None:
        if self.has_class("-zoom"):
            self.set_class(False, "-zoom")
        self.query_one(StoryList).focus()

    # -- catching up -----------------------------------------------------------------------------

    def action_mark_view_read(self) -> None:
        view = self.view
        if view == TRENDING:
            q = StoryQuery(unread=True, trending_ids=list(self.query_one(StoryList).ids))
        else:
            q = view.query(self.search_text, hide_read=True)
        self._mark_read(q, self.view_label())

    def action_mark_all_read(self) -> None:
        self._mark_read(StoryQuery(unread=True), "every view")

    @work(thread=True, exclusive=True, group="mark-read", exit_on_error=False)
    def _mark_read(self, q: StoryQuery, label: str) -> None:
        store = self.dapp.open_worker_store()
        try:
            ids = store.story_ids(q)
            store.set_read(ids, True)
        finally:
            store.close()
        self.app.call_from_thread(self._marked, ids, label)

    def _marked(self, ids: list[int], label: str) -> None:
        if not ids:
            self.notify(f"Nothing unread in {label}.", timeout=3)
            return

        def undo() -> None:
            self.dapp.store.set_read(ids, False)
            self._stories_changed()

        keys = self.app.get_key_display(Binding(self.keys_of("undo")[0], "undo"))
        marked = count(len(ids), "story", "stories", grouped=True)
        self.offer_undo(f"{marked} marked read", undo)
        self.notify(f"Marked {marked} read in {label} · {keys} undoes", timeout=5)
        self._stories_changed()

    def _stories_changed(self) -> None:
        self.query_one(StoryList).invalidate()
        self.query_one(Reader).refresh_story()
        self.reload()

    def offer_undo(self, label: str, run: Callable[[], None]) -> None:
        self.undo_step = Undo(label, run)

    def action_undo(self) -> None:
        step, self.undo_step = self.undo_step, None
        if step is None:
            self.notify("Nothing to undo.", timeout=3)
            return
        step.run()
        self.notify(f"Undone: {step.label}", timeout=3)

    # -- what the list shows ---------------------------------------------------------------------

    def action_hide_read(self) -> None:
        self.hide_read = not self.hide_read
        self.reload(sidebar=False)
        self.save_ui_state()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.notify(f"Sorted {SORT_LABELS[self.sort]}.", timeout=2)
        self.reload(sidebar=False)
        self.save_ui_state()

    def options_label(self) -> str:
        out = " · unread only" if self.hide_read and self.view.kind != "unread" else ""
        if self.sort != "newest" and self.view != TRENDING:
            out += f" · {SORT_LABELS[self.sort]}"
        return out

    def view_label(self) -> str:
        view = self.view
        if view.kind == "feed":
            feed = self.query_one(Sidebar).feeds.get(view.feed_id)
            return feed.name if feed else "this feed"
        if view.kind == "section":
            return view.section
        return {"all": "All", "unread": "Unread", "flagged": "Flagged", "trending": "Trending",
                "hidden": "Hidden"}[view.kind]

    def action_toggle_sidebar(self) -> None:
        """b: under 90 columns the sidebar is folded by default and b shows it; above, b hides it."""
        sidebar = self.query_one(Sidebar)
        if self.has_class("-fold"):
            self.set_class(not self.has_class("-unfold"), "-unfold")
        else:
            self.set_class(not self.has_class("-hide-sidebar"), "-hide-sidebar")
        if not self.sidebar_shown() and sidebar.has_focus:
            self.query_one(StoryList).focus()

    def sidebar_shown(self) -> bool:
        if self.has_class("-fold"):
            return self.has_class("-unfold")
        return not self.has_class("-hide-sidebar")

    def action_zoom(self) -> None:
        zoom = not self.has_class("-zoom")
        self.set_class(zoom, "-zoom")
        if zoom:
            self.query_one(Reader).focus()
        else:
            self.query_one(StoryList).focus()

    # -- keys and state ----------------------------------------------------------------------------

    def keys_of(self, binding_id: str) -> list[str]:
        """The keys a binding has now, [keys] of the config applied (the screen's active bindings)."""
        keys = [key for key, active in self.active_bindings.items() if active.binding.id == binding_id]
        if keys:
            return keys
        bindings: list[Any] = getattr(type(self), "BINDINGS", [])
        found = next((b for b in bindings if isinstance(b, Binding) and b.id == binding_id), None)
        return [k.strip() for k in found.key.split(",")] if found else []

    if TYPE_CHECKING:
        @property
        def active_bindings(self) -> Any: ...

    def _state_path(self) -> Any:
        return self.dapp.paths.data_dir / STATE_FILE

    def load_ui_state(self) -> None:
        """The view, options and story of the last session (a missing or unreadable file: defaults)."""
        try:
            data = json.loads(self._state_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict):
            return
        view = View.parse(str(data.get("view", "")))
        if view is not None:
            self.view = view
        self.hide_read = bool(data.get("hide_read", False))
        if data.get("sort") in SORTS:
            self.sort = data["sort"]
        story = data.get("story")
        self._restore_story = story if isinstance(story, int) else None

    def restore_cursor(self) -> int | None:
        """The story to put the cursor on when the first list arrives (once)."""
        story, self._restore_story = self._restore_story, None
        return story

    def save_ui_state(self) -> None:
        state = {"view": self.view.token, "hide_read": self.hide_read, "sort": self.sort,
                 "story": self.story_shown}
        with contextlib.suppress(OSError):  # a convenience: a read-only data folder must not stop anything
            atomic_write(self._state_path(), json.dumps(state))
