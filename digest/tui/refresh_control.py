"""The app's refresh plumbing: a refresh runs in a child process (digest.tui.refresh_runner), its progress
reaches the screens' refresh bars at most every PROGRESS_INTERVAL_S, and each finished feed reloads what is on
screen. A mixin of DigestApp (the app's own module keeps the lifecycle, notifications and screens); the
state it uses (refreshing, last_refresh_report, _refresh_proc, _progress_state, _progress_timer) is set up
in DigestApp.__init__.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message

if TYPE_CHECKING:
    from textual.app import App

    from digest.core.config import Config
    from digest.core.store import Store

    _AppBase = App[int]  # so mypy checks the App methods used here
else:
    _AppBase = object

PROGRESS_INTERVAL_S = 0.1  # 10 progress repaints a second read as smooth and cost little


class RefreshControl(_AppBase):
    @dataclass
    class FeedRefreshed(Message):
        """One feed of a running refresh finished (posted from the refresh worker thread)."""

        result: Any
        done: int
        total: int

    if TYPE_CHECKING:
        config: Config
        store: Store
        refreshing: bool
        last_refresh_report: Any
        _refresh_proc: Any
        _progress_state: tuple[int, int | None, str] | None
        _progress_timer: Any

        def broadcast_data_changed(self) -> None: ...

    def show_progress(self, label: str) -> None:
        """The progress bar with a label and no count (a build, a send)."""
        self._progress(0, None, label)

    def hide_progress(self) -> None:
        if not self.refreshing:
            self._progress_done()

    def _refresh_bars(self) -> list[Any]:
        from digest.tui.widgets.refresh_bar import RefreshBar

        bars: list[Any] = []
        for screen in self.screen_stack:
            bars.extend(screen.query(RefreshBar))
        return bars

    def start_refresh(self, feed_ids: Sequence[int] | None) -> None:
        if self.refreshing:
            self.notify("A refresh is already running.", timeout=3)
            return
        self.refreshing = True
        self._progress(0, len(feed_ids) if feed_ids else None)
        self.refresh_worker(list(feed_ids) if feed_ids else None)

    @work(thread=True, exclusive=True, group="refresh", exit_on_error=False)
    def refresh_worker(self, feed_ids: list[int] | None) -> None:
        """Runs digest.tui.refresh_runner in a child process (see its docstring for why) and turns its JSON
        lines into FeedRefreshed messages. Reading a pipe releases the GIL, so this thread costs the UI
        nothing while it waits."""
        import json
        import subprocess
        import sys
        from pathlib import Path

        import digest
        from digest.core.config import config_as_dict

        env = dict(os.environ)
        package_root = str(Path(digest.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        payload = {"db": str(self.store.path), "config": config_as_dict(self.config), "feed_ids": feed_ids}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "digest.tui.refresh_runner"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )
        except OSError as e:
            self.call_from_thread(self._refresh_failed, f"Could not start the refresh: {e}")
            return
        self._refresh_proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(json.dumps(payload, default=str))
        proc.stdin.close()
        report = None
        for line in proc.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a stray print from a library; the protocol lines are JSON
            if data.get("type") == "feed":
                # post_message, not call_from_thread: it does not wait for the UI to handle it
                self.post_message(self.FeedRefreshed(SimpleNamespace(**data), data["done"], data["total"]))
            elif data.get("type") == "done":
                report = RunnerReport(data["summary"], data["report"])
        errors = proc.stderr.read()
        proc.wait()
        self._refresh_proc = None
        if report is None:
            last = (errors.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            self.call_from_thread(self._refresh_failed, f"Refresh failed: {last}")
            return
        self.call_from_thread(self._refresh_finished, report)

    def _progress(self, done: int, total: int | None, label: str = "Refreshing") -> None:
        """Show progress at most every PROGRESS_INTERVAL_S: 500 feeds finishing in a burst would otherwise
        mean 500 progress-bar repaints queued behind each other."""
        self._progress_state = (done, total, label)
        if self._progress_timer is None:
            self._apply_progress()
            self._progress_timer = self.set_timer(PROGRESS_INTERVAL_S, self._progress_tick)

    def _progress_tick(self) -> None:
        self._progress_timer = None
        if self._progress_state is not None:
            self._apply_progress()
            self._progress_timer = self.set_timer(PROGRESS_INTERVAL_S, self._progress_tick)

    def _apply_progress(self) -> None:
        state, self._progress_state = self._progress_state, None
        if state is None:
            return
        for bar in self._refresh_bars():
            bar.show_progress(*state)

    def _progress_done(self) -> None:
        self._progress_state = None
        for bar in self._refresh_bars():
            bar.hide()

    # by name, not @on: Textual collects @on handlers from the class body only, and this is a mixin
    def on_refresh_control_feed_refreshed(self, message: RefreshControl.FeedRefreshed) -> None:
        self._feed_done(message.result, message.done, message.total)

    def _feed_done(self, result: Any, done: int, total: int) -> None:
        if self.refreshing:  # a message that arrives after the end must not bring the bar back
            self._progress(done, total, f"Refreshing {done}/{total}")
        status = getattr(result, "status", "")
        if status in ("error", "gone"):
            name = getattr(result, "title", "") or getattr(result, "url", "") or f"feed {result.feed_id}"
            self.notify(f"{name}: {getattr(result, 'error', '') or status}", title="Feed failed",
                        severity="error", timeout=8)
        if getattr(result, "new", 0) or status in ("error", "gone"):
            self.broadcast_data_changed()

    def _refresh_failed(self, message: str) -> None:
        self.refreshing = False
        self._progress_done()
        self.notify(message, severity="error", timeout=10)

    def _refresh_finished(self, report: Any) -> None:
        self.refreshing = False
        self.last_refresh_report = report
        self._progress_done()
        self.notify(report.summary_line(), title="Refresh done", timeout=5,
                    severity="warning" if report.failed else "information")
        self.broadcast_data_changed()

    def stop_refresh(self) -> None:
        proc = self._refresh_proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # each feed is its own transaction: stopping half-way loses nothing


@dataclass
class RunnerReport:
    """What the refresh process reported: the summary line and RefreshReport.to_json()."""

    summary: str
    data: dict[str, Any]

    def summary_line(self) -> str:
        return self.summary

    @property
    def failed(self) -> int:
        return int(self.data.get("failed", 0))

    @property
    def new(self) -> int:
        return int(self.data.get("new_stories", 0))
