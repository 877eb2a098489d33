"""The main screen: sidebar | story list | reader, with search, flagging and refresh."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input

from digest.core.store import NotFoundError
from digest.core.wording import count
from digest.tui.list_order import sorted_ids, trending_ids
from digest.tui.queries import ListRow, list_rows
from digest.tui.screens.reading import Reading
from digest.tui.screens.search import Searching
from digest.tui.screens.story_actions import StoryActions
from digest.tui.views import ALL, FLAGGED, TRENDING, View
from digest.tui.widgets.reader import Reader
from digest.tui.widgets.refresh_bar import RefreshBar
from digest.tui.widgets.sidebar import Sidebar, section_order
from digest.tui.widgets.splitter import Splitter
from digest.tui.widgets.status_line import StatusLine
from digest.tui.widgets.story_list import PAGE as ROWS_PAGE
from digest.tui.widgets.story_list import StoryList

if TYPE_CHECKING:
    from digest.tui.app import DigestApp

# The reader follows the cursor after this pause, so holding j does not lay out Markdown for every row.
READER_DEBOUNCE_S = 0.06
# While a refresh runs, reload the list at most this often (500 feeds finishing would otherwise mean 500
# reloads of 100k ids).
RELOAD_THROTTLE_S = 1.0
FIRST_PAGE = 200  # ids fetched before the full list: several screens of rows
FIRST_PAINT_WAIT_S = 0.25  # the longest the full id list waits for the first page to be painted

STORY_ACTIONS = {"flag", "edit", "toggle_read", "open_link", "article"}


class MainScreen(Searching, Reading, StoryActions, Screen[None]):
    # under 90 columns the sidebar folds away by itself (b brings it back): the list and reader need the room
    HORIZONTAL_BREAKPOINTS = [(0, "-fold"), (90, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("f,space", "flag", "Flag", id="flag", tooltip="Flag or unflag the story for the digest"),
        # second: the footer cuts keys off at its right end in a narrow terminal, and help lists them all
        Binding("question_mark", "help", "Help", id="help", tooltip="Show the keys"),
        Binding("e", "edit", "Edit", id="edit", show=False, tooltip="Edit the story's headline and blurb"),
        Binding("u", "toggle_read", "Read/unread", id="read", show=False, tooltip="Toggle read/unread"),
        Binding("slash", "search", "Search", id="search", tooltip="Search titles and summaries"),
        Binding("escape", "clear", "Clear", id="clear", tooltip="Clear the search", show=False),
        Binding("o", "open_link", "Browser", id="open", show=False, tooltip="Open the story in the browser"),
        Binding("t", "article", "Full text", id="article", show=False,
                tooltip="Fetch the full article behind the story and show it in the reader (again: the feed's text)"),
        Binding("r", "refresh_all", "Refresh", id="refresh", tooltip="Refresh all feeds"),
        Binding("R", "refresh_feed", "Refresh feed", id="refresh_feed", show=False,
                tooltip="Refresh the current feed"),
        # "Add", not "Add feed": then the footer keeps "n Next unread" whole at 80 columns (the help says "Add a feed")
        Binding("a", "add_feed", "Add", id="add_feed", tooltip="Add a feed"),
        Binding("d", "digest", "Digest", id="digest", tooltip="Open the digest draft"),
        Binding("F", "feeds", "Feeds", id="feeds", tooltip="Manage feeds"),
        Binding("L", "rules", "Rules", id="rules", show=False,
                tooltip="Rules: hide, keep or boost stories by words or a regex"),
        Binding("q", "app.quit", "Quit", id="quit", tooltip="Quit digest"),
        *Reading.READING_BINDINGS,
    ]

    @dataclass
    class StoriesLoaded(Message):
        """A list of ids is on screen (tests and the benchmark wait for it)."""

        count: int
        elapsed_ms: float

    def __init__(self) -> None:
        super().__init__()
        self.view: View = ALL
        self.hide_read = False
        self.sort = "newest"
        self.search_text = ""
        self._generation = 0
        self._search_timer: Timer | None = None
        self._reader_timer: Timer | None = None
        self._last_reload = 0.0
        self._reload_pending = False
        self.last_ids_ms: float | None = None  # time of the last id query, for the benchmark
        self.loaded_generation = 0  # == _generation once the latest filter/search is on screen
        # (view, search, options) of the list on screen, and of the one being loaded (see reload)
        self._shown_query: tuple[Any, ...] | None = None
        self._loading_query: tuple[Any, ...] | None = None
        self._same_list = False
        self._to_top = False
        self.first_page_ms: float | None = None
        self._binding_state: tuple[bool, ...] | None = None
        self._search_opening = False
        self.first_paint_time: float | None = None
        self._shown = False

    @property
    def dapp(self) -> DigestApp:
        return self.app

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield Sidebar(id="sidebar")
            yield Splitter("#sidebar", "left", id="split-left")
            with Vertical(id="middle"):
                yield Input(placeholder="Search (Esc clears)", id="search")
                yield StoryList(self._fetch_rows, self.dapp.now, id="stories")
                yield StatusLine(id="status")
            yield Splitter("#reader", "right", id="split-right")
            yield Reader(id="reader")
        yield RefreshBar(id="refresh-bar")
        yield Footer()

    def _fetch_rows(self, ids: Any) -> Any:
        return list_rows(self.dapp.store, ids)

    def on_resize(self, event: events.Resize) -> None:
        # under 90 columns the footer drops its padding and the palette's key (ctrl+p still opens it; the
        # help lists it), so more keys show at 60
        footer = self.query_one(Footer)
        footer.compact = event.size.width < 90
        footer.show_command_palette = event.size.width >= 90

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Toasts keep off the pane in use: at the bottom left (over the list and sidebar) while the reader
        has the focus, at the bottom right (over the reader) otherwise. At 80x24 the reader is the right
        half of the screen, exactly where Textual puts toasts, and a toast hid the lines PageDown was
        about to skip past. (Searching has its own handler for this event; Textual calls both.)"""
        self.set_class(isinstance(event.widget, Reader), "-reader-focus")

    def on_mount(self) -> None:
        self.load_ui_state()
        self.query_one("#search", Input).display = False
        self.query_one(Reader).show_placeholder("Pick a story: j/k move, Enter reads, f flags, ? help.")
        self.query_one(StoryList).focus()
        # the first frame goes out before any worker starts competing for the GIL
        self.call_after_refresh(self._first_painted)
        self.call_after_refresh(self.reload)

    def _first_painted(self) -> None:
        self.first_paint_time = time.time()  # wall clock: the benchmark compares it with process start
        self.dapp.freeze_long_lived()
        self._preload_reader()

    @work(thread=True, exit_on_error=False, group="preload")
    def _preload_reader(self) -> None:
        """Import the Markdown widget (markdown-it, ~100 ms) off the event loop, before the first story is
        shown: imported on demand it stalled the UI just as the list appeared."""
        import textual.widgets._markdown  # noqa: F401

        self.app.call_from_thread(self.dapp.freeze_long_lived)

    def on_unmount(self) -> None:
        self.save_ui_state()

    def on_screen_resume(self) -> None:
        # back from the digest or feeds screen: flags, sections and feeds may have changed (the first
        # resume is the screen's first showing, which on_mount's reload covers)
        if self._shown:
            self.reload(sidebar=True)
        self._shown = True

    # -- loading ---------------------------------------------------------------------------------

    def reload(self, *, sidebar: bool = True) -> None:
        """Re-run the current filter (and the sidebar counts) in workers; the cursor keeps its story."""
        self._last_reload = time.monotonic()
        self._generation += 1
        query = (self.view, self.search_text, (self.hide_read, self.sort))
        # the same list again (a refresh, another process's write): the cursor's story keeps its place,
        # even when it is past the first page, which then is not painted first (see _ids_loaded)
        self._same_list = query == self._shown_query
        # a new search opens at its first (newest) hit, not wherever the story last read sits among the hits
        shown_search = self._shown_query[1] if self._shown_query else ""
        self._to_top = bool(self.search_text) and shown_search != self.search_text
        self._loading_query = query
        self.load_ids(*query, self._generation, self.query_one(StoryList).row_epoch)
        if sidebar:
            self.load_sidebar()

    def data_changed(self) -> None:
        """Called by the app when another connection wrote (the CLI, cron) or while a refresh runs: reload,
        but not more often than RELOAD_THROTTLE_S; the reader shows its story's new state (a flag, headline
        or blurb changed by `digest flag` / `digest unflag`)."""
        wait = RELOAD_THROTTLE_S - (time.monotonic() - self._last_reload)
        if wait <= 0:
            self._reload_changed()
        elif not self._reload_pending:
            self._reload_pending = True

            def later() -> None:
                self._reload_pending = False
                self._reload_changed()

            self.set_timer(wait, later)

    def _reload_changed(self) -> None:
        readers = self.query(Reader)
        if not readers:  # the app is closing: the screen's widgets are gone
            return
        readers.first().refresh_story()  # one story read, at most once per RELOAD_THROTTLE_S
        self.reload()

    @work(thread=True, exclusive=True, group="ids", exit_on_error=False)
    def load_ids(self, view: View, search: str, options: tuple[bool, str], generation: int, epoch: int) -> None:
        """First page, then every id: the list paints after ~1 ms of SQL even when the full id list of a
        100k-story store takes ~60 ms more (figures in tests/bench/bench_tui.py). The rows of the first
        page are read here too, so painting the result runs no SQL on the event loop. A sort other than
        newest first needs the whole list before anything can be shown."""
        hide_read, sort = options
        started = time.perf_counter()
        store = self.dapp.open_worker_store()
        sources: dict[int, int] = {}
        try:
            q = view.query(search, hide_read=hide_read)
            if view == TRENDING:
                ids, sources = trending_ids(store, q, self.dapp.now())
            elif sort != "newest":
                ids, sources = sorted_ids(store, q, sort, self.dapp.now())
            else:
                first = store.story_ids(q, limit=FIRST_PAGE)
                rows = list_rows(store, first[:ROWS_PAGE])
                if len(first) == FIRST_PAGE:
                    elapsed = (time.perf_counter() - started) * 1000
                    painted = threading.Event()
                    self.app.call_from_thread(self._ids_loaded, first, generation, elapsed, True, painted,
                                              (rows, epoch))
                    # turning 40k ids into Python ints holds the GIL for ~20 ms: wait until the first page
                    # is on screen so the two do not fight over it (bench_tui.py: 'ke' went from 67 to 27-44 ms)
                    waited = time.perf_counter()
                    painted.wait(FIRST_PAINT_WAIT_S)
                    started += time.perf_counter() - waited  # the figure is SQL time, not the wait
                    ids = store.story_ids(q)
                else:
                    ids = first
            if view == TRENDING or sort != "newest":
                rows = list_rows(store, ids[:ROWS_PAGE])
        finally:
            store.close()
        elapsed = (time.perf_counter() - started) * 1000
        self.app.call_from_thread(self._ids_loaded, ids, generation, elapsed, False, None, (rows, epoch), sources)

    def _ids_loaded(self, ids: list[int], generation: int, elapsed_ms: float, partial: bool = False,
                    painted: threading.Event | None = None,
                    rows: tuple[dict[int, ListRow], int] | None = None,
                    sources: dict[int, int] | None = None) -> None:
        if painted is not None:
            self.call_after_refresh(painted.set)
        if generation != self._generation:
            return  # a newer filter or search is on its way
        stories = self.query_one(StoryList)
        if partial:
            self.first_page_ms = elapsed_ms
            current = stories.current_id
            if self._same_list and current is not None and current not in ids:
                return  # the story being read is further down: jumping to the top and back would lose it
            stories.set_ids(ids, rows=rows, keep=ids[0] if self._to_top and ids else None)
            return
        self._shown_query = self._loading_query
        self.last_ids_ms = elapsed_ms
        self.loaded_generation = generation
        if self.search_text:
            stories.empty_text = f"No story matches “{self.search_text}”."
        elif self.view == FLAGGED:
            stories.empty_text = "Nothing flagged yet: press f on a story to put it in the digest."
        elif self.hide_read:
            key = (self.keys_of("hide_read") or ["H"])[0]
            stories.empty_text = f"No unread stories here: {key} shows the read ones again."
        else:
            stories.empty_text = "No stories here yet: r refreshes, a adds a feed."
        stories.sources = sources or {}
        keep = self.restore_cursor()
        stories.set_ids(ids, rows=rows, keep=ids[0] if self._to_top and ids and keep is None else keep)
        self._update_status()
        # the footer rebuild (and its layout) can wait a frame: the result goes out first
        self.call_after_refresh(self._update_bindings)
        self.post_message(self.StoriesLoaded(len(ids), elapsed_ms))

    @work(thread=True, exclusive=True, group="sidebar", exit_on_error=False)
    def load_sidebar(self) -> None:
        store = self.dapp.open_worker_store()
        try:
            counts = store.counts()
            feeds = store.list_feeds()
        finally:
            store.close()
        self.app.call_from_thread(self._sidebar_loaded, counts, feeds)

    def _sidebar_loaded(self, counts: dict[str, int], feeds: list[Any]) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.update_data(counts, feeds, section_order(self.dapp.config.section_names(), feeds))
        if sidebar.current_key != self.view:
            sidebar.select_key(self.view)  # a view restored from the last session
        self._update_status()

    def _update_status(self) -> None:
        stories = self.query_one(StoryList)
        sidebar = self.query_one(Sidebar)
        view = self.view
        label = {"all": "All stories", "unread": "Unread", "flagged": "Flagged", "trending": "Trending",
                 "hidden": "Hidden by rules", "section": view.section}.get(view.kind, "")
        text = ""
        if view.kind == "feed":
            feed = sidebar.feeds.get(view.feed_id)
            label = feed.name if feed else "Feed"
            if feed and feed.failing:
                text = (f"\n[b red]! failing[/] ({feed.consecutive_failures}×): "
                        f"{escape(feed.last_error or feed.last_status)}")
        n = len(stories.ids)
        search = f" · search “{escape(self.search_text)}”" if self.search_text else ""
        listed = count(n, "story", "stories", grouped=True)
        self.query_one("#status", StatusLine).set(
            f"[dim]{escape(label)}{search} · {listed}{escape(self.options_label())}[/]{text}")

    # -- events from the children ------------------------------------------------------------------

    @on(Sidebar.FilterChosen)
    def _filter_chosen(self, event: Sidebar.FilterChosen) -> None:
        if event.view == self.view:
            return
        self.view = event.view
        self.reload(sidebar=False)
        self.save_ui_state()
        feed = event.sidebar.feeds.get(event.view.feed_id) if event.view.kind == "feed" else None
        if feed is not None and feed.failing:
            self.notify(f"{feed.name}: {feed.last_error or 'failing'}", title="Last refresh failed",
                        severity="warning")

    @on(StoryList.Highlighted)
    def _highlighted(self, event: StoryList.Highlighted) -> None:
        self.story_shown = event.story_id
        self._update_bindings()
        if self._reader_timer is not None:
            self._reader_timer.stop()
        self._reader_timer = self.set_timer(READER_DEBOUNCE_S, self._show_current)

    def _show_current(self) -> None:
        sid = self.query_one(StoryList).current_id
        reader = self.query_one(Reader)
        if sid is None:
            reader.show_placeholder("No story selected.")
            return
        try:
            reader.show(self.dapp.store.get_story(sid))
        except NotFoundError:
            reader.show_placeholder("This story was removed (its feed was deleted).")

    @on(StoryList.Opened)
    def _opened(self, event: StoryList.Opened) -> None:
        self._show_current()
        row = event.story_list.row(event.story_list.cursor)
        if row is not None and not row.read:
            self.dapp.store.set_read([event.story_id], True)
            event.story_list.invalidate([event.story_id])
            self.load_sidebar()
        self.query_one(Reader).focus()

    # -- story actions ---------------------------------------------------------------------------

    def _update_bindings(self) -> None:
        """refresh_bindings() makes the Footer rebuild its keys (~10 ms, and a layout): only call it when
        what check_action answers can have changed. During a refresh the list reloads every second, and
        calling it on each reload and cursor move measured seconds of UI time over a 500-feed refresh."""
        # the search's own state is left out: "clear" is not in the footer, and the palette asks
        # check_action afresh each time it opens
        state = (self.query_one(StoryList).current_id is not None, self._current_feed_id() is not None,
                 isinstance(self.focused, Input))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in STORY_ACTIONS:
            if not self.is_mounted or self.query_one(StoryList).current_id is None:
                return False
            if isinstance(self.focused, Input):
                return False
        if action == "clear":
            return bool(self.search_text) or self.query_one("#search", Input).display
        if action == "refresh_feed":
            return self._current_feed_id() is not None
        return True

    def _current_feed_id(self) -> int | None:
        if self.view.kind == "feed":
            return self.view.feed_id
        stories = self.query_one(StoryList)
        row = stories.row(stories.cursor)
        return row.feed_id if row else None

    # -- app-wide actions ------------------------------------------------------------------------

    def action_refresh_all(self) -> None:
        self.dapp.start_refresh(None)

    def action_refresh_feed(self) -> None:
        feed_id = self._current_feed_id()
        if feed_id is not None:
            self.dapp.start_refresh([feed_id])

    def action_add_feed(self) -> None:
        from digest.tui.screens.modals import AddFeedModal

        def added(feed: Any) -> None:
            if feed is None:
                return
            self.notify(f"Added {feed.name}: fetching it now.", title="Feed added")
            # show it at once, and fetch it so its status and counts are real (not "new · never · 0")
            self.view = View.of_feed(feed.id)
            self.reload()
            self.dapp.start_refresh([feed.id])

        self.app.push_screen(AddFeedModal(self.section_names()), added)

    def action_digest(self) -> None:
        self.dapp.action_digest()

    def action_feeds(self) -> None:
        self.dapp.action_feeds()

    def action_rules(self) -> None:
        self.dapp.action_rules()

    def action_help(self) -> None:
        self.dapp.action_help()
