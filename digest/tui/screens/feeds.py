"""The feeds screen: every feed with section, health, last success and story counts; add, remove, change
section, refresh one, import and export OPML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from digest.core.models import Feed
from digest.core.wording import count
from digest.tui.screens.modals import AddFeedModal, ChoiceModal, ConfirmModal, PromptModal
from digest.tui.timefmt import age, short_date
from digest.tui.widgets.refresh_bar import RefreshBar
from digest.tui.widgets.vim_keys import KeyTable

if TYPE_CHECKING:
    from digest.tui.app import DigestApp

FEED_ACTIONS = {"remove", "section", "refresh_one", "full_text"}


def health(feed: Feed) -> Text:
    if feed.disabled:
        return Text("disabled", style="dim")
    if feed.consecutive_failures:
        return Text(f"! failing ×{feed.consecutive_failures}", style="bold red")
    if feed.last_status in ("ok", "not_modified"):
        return Text("ok", style="green")
    if not feed.last_status:
        return Text("new", style="dim")
    return Text(feed.last_status, style="yellow")


class FeedsScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "add", "Add", id="feeds.add", tooltip="Add a feed"),
        Binding("x,delete", "remove", "Remove", id="feeds.remove", tooltip="Remove the feed and its stories"),
        Binding("s", "section", "Section", id="feeds.section", tooltip="Change the feed's section"),
        Binding("R", "refresh_one", "Refresh", id="feeds.refresh", tooltip="Refresh this feed"),
        Binding("t", "full_text", "Full text", id="feeds.full_text", show=False,
                tooltip="Fetch the full article of each new story at refresh (for feeds that send a teaser)"),
        Binding("r", "refresh_all", "Refresh all", id="refresh", show=False),
        Binding("i", "import_opml", "Import", id="feeds.import", tooltip="Import an OPML file"),
        Binding("E", "export_opml", "Export", id="feeds.export", tooltip="Export the feeds as OPML"),
        Binding("escape,F", "back", "Back", id="feeds.back", tooltip="Back to the stories"),
        Binding("question_mark", "help", "Help", id="help", show=False),
        Binding("q", "app.quit", "Quit", id="quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.feeds: list[Feed] = []

    @property
    def dapp(self) -> DigestApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="feeds-title")
        yield KeyTable(id="feeds-table", cursor_type="row")
        yield Static("", id="feed-detail")
        yield RefreshBar(id="refresh-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def on_resize(self) -> None:
        if self.feeds:
            self.call_after_refresh(self._loaded, self.feeds)

    def _columns(self, table: DataTable[Any]) -> bool:
        """Fixed widths from the screen's width, the feed name taking what is left (an auto-sized name column
        pushes the others off an 80-column screen). Returns whether the Unread column fits."""
        width = table.scrollable_content_region.width or self.size.width or 80
        wide = width >= 100
        fixed = [("Section", "section", 14), ("Health", "health", 13), ("Last success", "success", 12),
                 ("Stories", "stories", 7)] + ([("Unread", "unread", 6)] if wide else [])
        name_w = max(12, width - sum(w for _, _, w in fixed) - 2 * (len(fixed) + 1) - 1)
        table.clear(columns=True)
        table.add_column("Feed", key="feed", width=name_w)
        for label, key, w in fixed:
            table.add_column(label, key=key, width=w)
        return wide

    def data_changed(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="feeds", exit_on_error=False)
    def load(self) -> None:
        store = self.dapp.open_worker_store()
        try:
            feeds = store.list_feeds()
        finally:
            store.close()
        self.app.call_from_thread(self._loaded, feeds)

    def _loaded(self, feeds: list[Feed]) -> None:
        table = self.query_one(DataTable)
        keep = self.current_feed.id if self.current_feed else None
        row = table.cursor_row
        self.feeds = feeds
        wide = self._columns(table)
        now = self.dapp.now()
        for f in feeds:
            ago = age(f.last_success_at, now)
            success = "never" if not f.last_success_at else ("just now" if ago == "now" else f"{ago} ago")
            cells: list[Any] = [Text(f.name, no_wrap=True, overflow="ellipsis"),
                                Text(f.section or "—", no_wrap=True, overflow="ellipsis"), health(f),
                                success, f"{f.story_count:,}"]
            if wide:
                cells.append(f"{f.unread_count:,}")
            table.add_row(*cells, key=str(f.id))
        failing = sum(1 for f in feeds if f.failing)
        title = f"[b]Feeds[/b] · {len(feeds)} feeds"
        if failing:
            title += f" · [red]{failing} failing[/]"
        self.query_one("#feeds-title", Static).update(title)
        if keep is not None:
            # the feed under the cursor, or (it was removed) the one that took its row
            at = next((i for i, f in enumerate(feeds) if f.id == keep), min(row, len(feeds) - 1))
            if at >= 0:
                table.move_cursor(row=at, animate=False)
        self._show_detail()
        self.refresh_bindings()

    @property
    def current_feed(self) -> Feed | None:
        if not self.is_mounted:
            return None
        table = self.query_one(DataTable)
        if not table.row_count or not self.feeds:
            return None
        row = table.cursor_row
        return self.feeds[row] if 0 <= row < len(self.feeds) else None

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        f = self.current_feed
        detail = self.query_one("#feed-detail", Static)
        if f is None:
            detail.update("[dim]No feeds: press a to add one, or i to import OPML.[/]")
            return
        lines = [f"[b]{escape(f.name)}[/b] [dim]{escape(f.url)}[/]"]
        if f.failing:
            lines.append(f"[red]{escape(f.last_error or f.last_status)}[/]")
        elif f.last_fetch_at:
            lines.append(f"[dim]last fetched {escape(short_date(f.last_fetch_at))} UTC: {escape(f.last_status)}[/]")
        if f.full_text:
            lines.append("[b]full text[/]: the article of each new story is fetched at refresh (t turns it off)")
        detail.update("\n".join(lines))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in FEED_ACTIONS:
            return self.current_feed is not None
        return True

    def action_add(self) -> None:
        def added(feed: Any) -> None:
            if feed is not None:
                self.notify(f"Added {feed.name}.", title="Feed added")
                self.dapp.start_refresh([feed.id])  # its status and counts, not "new · never · 0"
                self.load()

        self.app.push_screen(AddFeedModal(self._sections()), added)

    def _sections(self) -> list[str]:
        """The config's sections, then those only feeds name (an OPML import's folders)."""
        from digest.tui.widgets.sidebar import NO_SECTION, section_order

        return [s for s in section_order(self.dapp.config.section_names(), self.feeds) if s != NO_SECTION]

    def action_remove(self) -> None:
        f = self.current_feed
        if f is None:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.dapp.store.remove_feed(f.id)
                self.notify(f"Removed {f.name} and its {stories}.")
                self.load()

        n = f.story_count
        stories = count(n, "story", "stories")
        self.app.push_screen(ConfirmModal(
            "Remove this feed?", f"{f.name}\n{f.url}\n\nIts {stories} {'is' if n == 1 else 'are'} deleted too "
            "(flagged ones leave the draft).", yes="Remove"), confirmed)

    def action_section(self) -> None:
        f = self.current_feed
        if f is None:
            return
        names = self._sections() + ["(no section)"]

        def chosen(name: str | None) -> None:
            if name is None:
                return
            self.dapp.store.update_feed(f.id, section="" if name == "(no section)" else name)
            self.load()

        self.app.push_screen(ChoiceModal(f"Section for {f.name}", names, f.section or "(no section)"), chosen)

    def action_full_text(self) -> None:
        f = self.current_feed
        if f is None:
            return
        self.dapp.store.update_feed(f.id, full_text=not f.full_text)
        self.notify(f"{f.name}: " + ("full articles are fetched at refresh." if not f.full_text
                                     else "only the feed's own text from now on."), timeout=4)
        self.load()

    def action_refresh_one(self) -> None:
        f = self.current_feed
        if f is not None:
            self.dapp.start_refresh([f.id])

    def action_refresh_all(self) -> None:
        self.dapp.start_refresh(None)

    def action_import_opml(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.import_worker(path)

        self.app.push_screen(PromptModal("Import OPML", placeholder="~/feeds.opml",
                                         note="Feeds already present are skipped."), chosen)

    @work(thread=True, exclusive=True, group="opml", exit_on_error=False)
    def import_worker(self, path: str) -> None:
        from digest.core.feeds import import_opml

        store = self.dapp.open_worker_store()
        try:
            result = import_opml(store, Path(path).expanduser())
        except OSError as e:  # a missing or unreadable file: one line naming it, no "[Errno 2]"
            self.app.call_from_thread(self.notify, f"{path}: {e.strerror or e}", title="Import failed",
                                      severity="error")
            return
        except Exception as e:  # bad file: report it by name, change nothing else
            self.app.call_from_thread(self.notify, f"{path}: {e}", title="Import failed", severity="error")
            return
        finally:
            store.close()
        added, skipped, refused = result.added, result.skipped, result.refused
        note = f" ({len(skipped)} already there)" if skipped else ""
        if refused:  # named one by one, like the CLI's summary
            note += f"; refused {len(refused)}: " + "; ".join(f"{u[:80]} ({why})" for u, why in refused[:5])
            note += " ..." if len(refused) > 5 else ""
        self.app.call_from_thread(
            self.notify, f"Imported {len(added)} feeds from {path}{note}. Press r to fetch them.")
        self.app.call_from_thread(self.dapp.broadcast_data_changed)

    def action_export_opml(self) -> None:
        default = str(self.dapp.paths.data_dir / "feeds.opml")  # next to the data (DIGEST_HOME too)

        def chosen(path: str | None) -> None:
            if not path:
                return
            from digest.core.feeds import export_opml
            from digest.core.fsutil import atomic_write

            target = Path(path).expanduser()
            if target.is_dir():
                target = target / "feeds.opml"
            try:
                atomic_write(target, export_opml(self.dapp.store, include_samples=False))
            except OSError as e:
                self.notify(f"{target}: {e.strerror or e}", title="Export failed", severity="error")
                return
            self.notify(f"Exported {len(self.feeds)} feeds to {target}")

        self.app.push_screen(PromptModal("Export OPML to", value=default), chosen)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.dapp.action_help()
