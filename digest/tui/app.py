"""The Textual app: the factory the CLI and the tests share, the store watch, notifications, and run_app()
(the refresh plumbing is its mixin in digest.tui.refresh_control).

The store is the state: every change is written at once, so quitting (or a crash) loses nothing. The app's
own Store is used on the event loop only for single-row reads and writes (a few ms at most); anything that
scans (id lists, counts, refresh, build) runs in thread workers, each with its own sqlite connection.
"""

from __future__ import annotations

import contextlib
import gc
import time
import webbrowser
from collections.abc import Callable
from typing import Any

from textual import events, work
from textual.app import App
from textual.css.query import NoMatches

from digest.core.config import Config, load_config
from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.refresh_control import RefreshControl

# How often the app looks for changes another process committed (`digest feeds add`, cron): one PRAGMA
STORE_WATCH_S = 2.0

SAMPLE_NOTICE = (
    "No feeds yet, so digest loaded its sample feeds (offline) to try things out: flag stories with f, "
    "then d to arrange and build a digest. Add your own feeds with a, or `digest feeds add URL`; "
    "remove the samples on the feeds screen (F)."
)


def _actions_provider() -> type:
    # deferred: textual.command costs ~60 ms to import, paid only when the palette opens
    from digest.tui.commands import ActionsProvider

    return ActionsProvider


class DigestApp(RefreshControl, App[int]):
    CSS_PATH = "digest.tcss"
    TITLE = "digest"
    COMMANDS = {_actions_provider}  # ours, and of Textual's system commands only App colours (commands.py)
    ENABLE_COMMAND_PALETTE = True
    # under 30 rows dialogs go compact (thin borders, one-line buttons) so Save/Add and the hints show
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def __init__(
        self,
        config: Config,
        store: Store,
        paths: Paths,
        *,
        now: Callable[[], float] | None = None,
        load_samples_when_empty: bool = True,
        open_url: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.paths = paths
        self._clock = now or time.time
        self.load_samples_when_empty = load_samples_when_empty
        self._open_url = open_url or webbrowser.open
        self.refreshing = False
        self.last_refresh_report: Any = None
        self._refresh_proc: Any = None
        self._progress_state: tuple[int, int | None, str] | None = None
        self._progress_timer: Any = None
        # the [keys] table as given: the help and the screens read it (Textual keeps its own copy private)
        self.keymap: dict[str, str] = dict(config.keys)
        self._reported_clashes: set[frozenset[str]] = set()
        self._held_notes: list[tuple[str, dict[str, Any]]] = []  # toasts waiting for a dialog to close
        self._toasts_until = 0.0  # monotonic time the last toast on screen goes away
        self._data_version = 0  # the store's PRAGMA data_version last seen (see _watch_store)
        if config.keys:
            self.set_keymap(config.keys)

    # -- services for the screens ------------------------------------------------------------------

    def now(self) -> float:
        """The clock for ages and dates (frozen in snapshot tests)."""
        return self._clock()

    def open_worker_store(self) -> Store:
        """A connection for the calling worker thread: sqlite connections are not shared across threads."""
        return Store(self.store.path)

    def open_link(self, url: str) -> None:
        """Open a story or file in the browser (App.open_url's job, with an injectable opener for tests).
        webbrowser.open can block for a second while it starts a browser: off the event loop."""
        self._open_url_worker(url)

    @work(thread=True, exit_on_error=False, group="browser")
    def _open_url_worker(self, url: str) -> None:
        if not self._open_url(url):
            self.call_from_thread(self.notify, f"Could not start a browser for {url}", severity="warning")

    def freeze_long_lived(self) -> None:
        """Move every object alive now (modules, classes, widgets: start-up's objects, which live as long
        as the app) out of the garbage collector's reach. A full collection walked all of them: 45-52 ms
        pauses of the event loop, the largest frame gaps during a refresh (bench_tui.py). gc.freeze() is
        O(1); the later collections only walk what was made after it."""
        gc.freeze()

    def _watch_store(self) -> None:
        """Another connection committed (the CLI, cron, a worker of ours): the screens reload, so a feed
        added with `digest feeds add` shows up within seconds. A refresh reports its own progress."""
        if self._exit_requested():
            return
        version = self.store.change_key()[0]
        if version != self._data_version:
            self._data_version = version
            if not self.refreshing:
                with contextlib.suppress(NoMatches):  # closing: its screens have lost their widgets
                    self.broadcast_data_changed()

    def _exit_requested(self) -> bool:
        return not self.is_running or not any(s.is_mounted for s in self.screen_stack)

    def broadcast_data_changed(self) -> None:
        for screen in self.screen_stack:
            hook = getattr(screen, "data_changed", None)
            if hook is not None:
                hook()

    # -- notifications ---------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Toasts never cover a dialog or the help: while one is open they wait, and show when it closes.
        Esc dismisses the toasts on screen (see check_action).

        Always plain text (`markup` is taken for Textual's signature and ignored: Widget.notify passes
        True): messages carry headlines, feed titles, paths and errors, and as markup "[Video]" vanished
        and a headline with "[/b]" in it raised MarkupError as the toast was drawn, which ended the app."""
        kwargs = {"title": title, "severity": severity, "timeout": timeout, "markup": False}
        if self._covered():
            self._held_notes.append((message, kwargs))
            return
        shown_for = timeout if timeout is not None else self.NOTIFICATION_TIMEOUT
        self._toasts_until = max(self._toasts_until, time.monotonic() + shown_for)
        super().notify(message, **kwargs)

    def _covered(self) -> bool:
        from textual.screen import ModalScreen

        from digest.tui.screens.help import HelpScreen

        return bool(self.screen_stack) and isinstance(self.screen, (ModalScreen, HelpScreen))

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:
        result = super().push_screen(*args, **kwargs)
        if self._covered():
            self.action_dismiss_notes()  # what was on screen would sit over the dialog
        return result

    def pop_screen(self) -> Any:
        result = super().pop_screen()
        self.call_after_refresh(self._release_held)
        return result

    def _release_held(self) -> None:
        if self._covered():
            return
        held, self._held_notes = self._held_notes, []
        for message, kwargs in held:
            self.notify(message, **kwargs)

    def action_dismiss_notes(self) -> None:
        self._toasts_until = 0.0
        self.clear_notifications()

    async def on_event(self, event: events.Event) -> None:
        """Esc takes the toasts away and still does what it does where it is pressed (back, clear the
        search ...): a message on screen must not cost a second key press."""
        if (isinstance(event, events.Key) and event.key == "escape" and not event.is_forwarded
                and time.monotonic() < self._toasts_until):
            self.action_dismiss_notes()
        await super().on_event(event)

    def handle_bindings_clash(self, clashed_bindings: set[Any], node: Any) -> None:
        """Textual found two bindings on one key after the keymap (called on every key press while it
        lasts): say it once."""
        ids = frozenset(b.id or b.action for b in clashed_bindings)
        if ids not in self._reported_clashes:
            self._reported_clashes.add(ids)
            self.notify(f"[keys]: {', '.join(sorted(ids))} share a key; the config's key wins.",
                        severity="warning", timeout=10)

    # -- lifecycle -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from digest.tui.screens.main import MainScreen

        self.push_screen(MainScreen())
        self._data_version = self.store.change_key()[0]
        self.set_interval(STORE_WATCH_S, self._watch_store)
        if self.keymap:
            from digest.tui.keys import check_keymap

            problems = check_keymap(self.keymap)
            if problems:
                self.notify("\n".join(problems), title="Problems in [keys] of the config", severity="error",
                            timeout=20)
        if self.load_samples_when_empty and self.store.feed_count() == 0:
            self.load_samples()
        from digest.tui.rules_apply import apply_config_rules

        apply_config_rules(self)  # rules edited in the config by hand since they were last applied

    @work(thread=True, exclusive=True, group="samples", exit_on_error=False)
    def load_samples(self) -> None:
        from digest.core.feeds import load_sample_feeds

        self.call_from_thread(self._progress, 0, None, "Loading sample feeds")
        store = self.open_worker_store()
        try:
            # the samples are re-dated relative to "now": the app's clock, so frozen-time tests agree
            result = load_sample_feeds(store, self.config, now=self.now())
            feeds = result[0]
        except Exception as e:
            self.call_from_thread(self.notify, f"Could not load the sample feeds: {e}", severity="error")
            return
        finally:
            store.close()
            self.call_from_thread(self._progress_done)
        self.call_from_thread(self._samples_loaded, len(feeds))

    def _samples_loaded(self, count: int) -> None:
        self.notify(SAMPLE_NOTICE, title=f"Loaded {count} sample feeds", timeout=15)
        self.broadcast_data_changed()

    def on_unmount(self) -> None:
        gc.unfreeze()  # the app is done; whatever runs next in this process (tests) collects normally
        self.stop_refresh()

    # -- screens ---------------------------------------------------------------------------------

    def action_digest(self) -> None:
        from digest.tui.screens.digest import DigestScreen

        self.push_screen(DigestScreen())

    def action_feeds(self) -> None:
        from digest.tui.screens.feeds import FeedsScreen

        self.push_screen(FeedsScreen())

    def action_rules(self) -> None:
        from digest.tui.screens.rules import RulesScreen

        self.push_screen(RulesScreen())

    def action_help(self) -> None:
        from digest.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())


def make_app(
    config: Config,
    store: Store,
    paths: Paths,
    *,
    now: Callable[[], float] | None = None,
    load_samples_when_empty: bool = True,
    open_url: Callable[[str], Any] | None = None,
) -> DigestApp:
    """The one way to build the app (CLI, tests, snapshots, benchmark)."""
    return DigestApp(config, store, paths, now=now, load_samples_when_empty=load_samples_when_empty,
                     open_url=open_url)


def run_app(paths: Paths) -> int:
    """`digest` with no arguments. Config errors propagate to the CLI, which prints them (exit 2)."""
    paths.ensure()
    config = load_config(paths)
    store = Store(paths.db_file)
    try:
        app = make_app(config, store, paths)
        result = app.run()
        return int(result or 0) if app.return_code is None else int(app.return_code)
    finally:
        store.close()
