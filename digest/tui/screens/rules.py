"""The rules screen (L): the config's [[rules]] with how many stored stories each hides, keeps or boosts;
add, edit and delete (with undo). Every change is written into the user's config file keeping their
comments (digest.core.config_rules), the app's config is reloaded from it, and the rules are applied to
every stored story in a worker of the app (so leaving the screen does not stop it): hidden stories leave
the lists when it is done.

The counts come from one RuleIndex (every story's matchable text) loaded in a thread when the screen opens
and again after each apply; the rule dialog counts "would hide N" from the same index while typing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from digest.core.configerror import ConfigError
from digest.tui.rules_apply import apply_config_rules
from digest.tui.screens.rule_dialog import IndexHolder, RuleModal
from digest.tui.widgets.vim_keys import KeyTable

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.rules import Rule, RuleIndex
    from digest.tui.app import DigestApp

RULE_ACTIONS = {"edit", "delete"}

EMPTY = ("No rules yet: a adds one. A rule hides stories (sponsored posts, a feed's job ads), keeps them "
         "(never hidden, never pruned) or boosts them in the digest's automatic picks, by words or a regex "
         "in their title, summary, author, feed, section, link or category.")


def home_short(path: Path) -> str:
    """~/.config/digest/config.toml rather than the whole home folder's path."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


@dataclass
class Deleted:
    """The last deleted rule, for undo: its table goes back at its index."""

    index: int
    table: dict[str, Any]
    label: str


class RulesScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "add", "Add", id="rules.add", tooltip="Add a rule"),
        Binding("e", "edit", "Edit", id="rules.edit", tooltip="Edit the rule (Enter too)"),
        Binding("d,x,delete", "delete", "Delete", id="rules.delete", tooltip="Delete the rule (U undoes)"),
        Binding("U,ctrl+z", "undo", "Undo", id="rules.undo", show=False, tooltip="Put the deleted rule back"),
        Binding("escape,L", "back", "Back", id="rules.back", tooltip="Back to the stories"),
        Binding("question_mark", "help", "Help", id="help", show=False),
        Binding("q", "app.quit", "Quit", id="quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.holder = IndexHolder()
        self.counts: list[int] | None = None  # per rule, once the index is loaded (tests read it)
        self.deleted: Deleted | None = None
        self.index_loads_running = 0  # tests read it
        self._index_stale = False

    @property
    def dapp(self) -> DigestApp:
        return self.app  # type: ignore[return-value]

    @property
    def rules(self) -> list[Rule]:
        return self.dapp.config.rules

    def compose(self) -> ComposeResult:
        yield Static("", id="rules-title")
        yield KeyTable(id="rules-table", cursor_type="row")
        yield Static("", id="rules-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(KeyTable).focus()
        self._show()
        self.reload_index()

    def on_resize(self) -> None:
        self.call_after_refresh(self._show)

    def data_changed(self) -> None:
        """The store changed (rules applied, a refresh): the counts are recounted on a fresh index. A
        refresh reports each feed with new stories, and a load is ~1 s of a thread on 100k stories: one
        load at a time, and one more after it if the store changed meanwhile."""
        if self.index_loads_running:
            self._index_stale = True
        else:
            self.reload_index()

    def reload_index(self) -> None:
        self.index_loads_running += 1
        self._index_stale = False
        self.load_index()

    def _index_done(self) -> None:
        self.index_loads_running -= 1
        if self._index_stale and not self.index_loads_running:
            self.reload_index()

    # -- loading and showing -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="rules-index", exit_on_error=False)
    def load_index(self) -> None:
        from digest.core.rules import RuleIndex

        # the first load fills the holder a dialog may already wait on; a reload makes a new one, so a
        # dialog open meanwhile keeps counting on the index it has
        holder = self.holder if self.holder.index is None else IndexHolder()
        try:
            self.app.call_from_thread(self._loading, holder)
            store = self.dapp.open_worker_store()
            try:
                index = RuleIndex.load(store)
            finally:
                store.close()
            holder.set(index)  # from here on, dialogs waiting on this holder count
            self._count(index, list(self.rules))
        finally:
            self.app.call_from_thread(self._index_done)

    def _loading(self, holder: IndexHolder) -> None:
        self.holder = holder

    def recount(self) -> None:
        if self.holder.index is None:
            self.counts = None  # the loading worker counts when it is done
            self._show()
            return
        self.counts = None
        self._show()
        self._recount(self.holder.index, list(self.rules))

    @work(thread=True, exclusive=True, group="rules-count", exit_on_error=False)
    def _recount(self, index: RuleIndex, rules: list[Rule]) -> None:
        self._count(index, rules)

    def _count(self, index: RuleIndex, rules: list[Rule]) -> None:
        counts = [index.count(rule) for rule in rules]
        self.app.call_from_thread(self._counted, rules, counts)

    def _counted(self, rules: list[Rule], counts: list[int]) -> None:
        if rules == self.rules:  # not a count of rules changed meanwhile
            self.counts = counts
            self._show()

    def _show(self) -> None:
        table = self.query_one(KeyTable)
        row = table.cursor_row
        width = table.scrollable_content_region.width or self.size.width or 80
        table.clear(columns=True)
        fixed = [("#", 3), ("Action", 9), ("Stories", 13)]
        rule_w = max(12, width - sum(w for _, w in fixed) - 2 * (len(fixed) + 1) - 1)
        table.add_column("#", key="n", width=3)
        table.add_column("Action", key="action", width=9)
        table.add_column("Rule", key="rule", width=rule_w)
        table.add_column("Stories", key="stories", width=13)
        for i, rule in enumerate(self.rules):
            action = f"boost +{rule.boost}" if rule.action == "boost" else rule.action
            verb = {"hide": "hidden", "keep": "kept", "boost": "boosted"}[rule.action]
            stories = f"{self.counts[i]:,} {verb}" if self.counts is not None else "counting…"
            # the action has its own column: the rule's name, or what it matches without "hide: " again
            what = rule.name or rule.describe().split(": ", 1)[-1]
            # numbered as the CLI (`digest rules test N`) and the config's errors (rules[N].regex) number them
            table.add_row(str(i), action, Text(what, no_wrap=True, overflow="ellipsis"), stories)
        if self.rules:
            table.move_cursor(row=min(max(row, 0), len(self.rules) - 1), animate=False)
        n = len(self.rules)
        title = Text.assemble(("Rules", "bold"), f" · {n} rule{'s' if n != 1 else ''} · ",
                              (home_short(self.dapp.paths.config_file), "dim"), no_wrap=True, overflow="ellipsis")
        self.query_one("#rules-title", Static).update(title)
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        i = self.current_index
        rule = self.rules[i] if i is not None else None
        detail = self.query_one("#rules-detail", Static)
        if rule is None:
            detail.update(Text(EMPTY, style="dim"))
        else:
            detail.update(Text(f"rules[{i}]  " + rule.describe() + ("" if not rule.name else f"  ({rule.name})")))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    @property
    def current_index(self) -> int | None:
        if not self.is_mounted or not self.rules:
            return None
        row = self.query_one(KeyTable).cursor_row
        return row if 0 <= row < len(self.rules) else None

    @property
    def current_rule(self) -> Rule | None:
        i = self.current_index
        return self.rules[i] if i is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in RULE_ACTIONS:
            return self.current_index is not None
        if action == "undo":
            return self.deleted is not None
        return True

    # -- changes -------------------------------------------------------------------------------------

    def action_add(self) -> None:
        from digest.core.config_rules import add_rule

        paths = self.dapp.paths
        self.app.push_screen(RuleModal("Add a rule", self.holder, lambda table: add_rule(paths, table)),
                             self._saved)

    def action_edit(self) -> None:
        from digest.core.config_rules import replace_rule

        i, rule = self.current_index, self.current_rule
        if i is None or rule is None:
            return
        paths = self.dapp.paths
        self.app.push_screen(RuleModal(f"Edit rules[{i}]", self.holder,
                                       lambda table: replace_rule(paths, i, rule, table), rule), self._saved)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def _saved(self, config: Config | None) -> None:
        if config is not None:
            self._config_changed(config)

    def action_delete(self) -> None:
        from digest.core.config_rules import delete_rule

        i, rule = self.current_index, self.current_rule
        if i is None or rule is None:
            return
        paths = self.dapp.paths
        undo = Deleted(i, rule.to_toml_table(), rule.label())
        self._write(lambda: delete_rule(paths, i, rule), f"Deleted “{rule.label()}” · U undoes", undo)

    def action_undo(self) -> None:
        from digest.core.config_rules import add_rule

        step, self.deleted = self.deleted, None
        if step is None:
            return
        paths = self.dapp.paths
        self._write(lambda: add_rule(paths, step.table, at=step.index), f"Rule “{step.label}” back", None,
                    cursor=step.index)

    @work(thread=True, exclusive=True, group="rules-write", exit_on_error=False)
    def _write(self, change: Callable[[], Config], done: str, undo: Deleted | None, cursor: int | None = None
               ) -> None:
        try:
            config = change()
        except ConfigError as e:  # one line naming the file; the file is as it was
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
            return
        self.app.call_from_thread(self._written, config, done, undo, cursor)

    def _written(self, config: Config, done: str, undo: Deleted | None, cursor: int | None) -> None:
        self.deleted = undo
        self.notify(done, timeout=5)
        self._config_changed(config)
        if cursor is not None:
            self.query_one(KeyTable).move_cursor(row=cursor, animate=False)

    def _config_changed(self, config: Config) -> None:
        self.dapp.config = config
        self.recount()
        apply_config_rules(self.dapp)

    # -- elsewhere -------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.dapp.action_help()
