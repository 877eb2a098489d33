"""The rule dialog of the rules screen: action (hide / keep / boost N), the fields to look in, words or a
regex, optional feeds and a name, with "would hide N" kept up to date while typing.

The count comes from a RuleIndex the rules screen loads once in a thread (IndexHolder); each change of the
form counts in a thread worker with exclusive=True, so typing never waits for a count and a newer count
replaces a stale one (a generation number drops a result that arrives late anyway). Until the index is
loaded the dialog says "counting…". Save writes the config file in a worker too, and only a successful
write closes the dialog: a file that cannot be written leaves its error here and the form as typed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static, Switch
from textual.widgets._toggle_button import ToggleButton
from textual.worker import get_current_worker

from digest.core.configerror import ConfigError
from digest.core.rules import ACTIONS, DEFAULT_FIELDS, FIELDS, Rule, parse_rules, rule_error

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.rules import RuleIndex

VERBS = {"hide": "would hide", "keep": "would keep", "boost": "would boost"}


class _EmptyWhenOff(ToggleButton):
    """A toggle drawn empty when off. Textual draws an unchecked box's "X" (an unselected radio button's dot)
    dimmed, which many terminals, tmux among them, show about as bright as a checked one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._draw_inner()  # a toggle made off never changes value here, so watch_value is not called

    def watch_value(self) -> None:
        self._draw_inner()
        super().watch_value()

    def _draw_inner(self) -> None:
        self.BUTTON_INNER = type(self).BUTTON_INNER if self.value else " "


class Box(Checkbox, _EmptyWhenOff):
    pass


class Radio(RadioButton, _EmptyWhenOff):
    pass


@dataclass
class IndexHolder:
    """The RuleIndex the rules screen loads in a thread; the dialog's count workers wait for it."""

    index: RuleIndex | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def set(self, index: RuleIndex) -> None:
        self.index = index
        self.ready.set()


def split_list(text: str) -> list[str]:
    """'sponsored, paid post' -> ['sponsored', 'paid post']: commas separate, a phrase keeps its spaces."""
    return [part.strip() for part in text.split(",") if part.strip()]


class RuleModal(ModalScreen["Config | None"]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "save", "Save", id="modal.save"),
    ]

    def __init__(self, title: str, holder: IndexHolder, save: Callable[[dict[str, Any]], Config],
                 rule: Rule | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.holder = holder
        self.save_rule = save  # runs in a worker thread: writes the config file, returns it reloaded
        self.rule = rule
        self._generation = 0
        self.count: int | None = None  # the last count shown (tests read it)
        self.problem: str | None = None  # what keeps Save disabled, shown under the form

    def compose(self) -> ComposeResult:
        rule = self.rule
        action = rule.action if rule else "hide"
        fields = rule.fields if rule else DEFAULT_FIELDS
        with Vertical(classes="dialog wide", id="rule-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with Horizontal(classes="rule-row"):
                yield Label("Action", classes="rule-label")
                with RadioSet(id="action", compact=True):
                    for name in ACTIONS:
                        yield Radio(name, value=name == action, id=f"action-{name}", compact=True)
                yield Label("by", classes="rule-by")
                yield Input(str(rule.boost if rule and rule.action == "boost" else 1), id="boost",
                            compact=True, restrict=r"\d{0,3}", max_length=3)
            yield Label("Look in", classes="rule-label")
            with Grid(id="fields"):
                for name in FIELDS:
                    yield Box(name, value=name in fields, id=f"field-{name}", compact=True)
            with Horizontal(classes="rule-row"):
                yield Label("Words", classes="rule-label")
                yield Switch(bool(rule and rule.regex), id="use-regex")
                yield Label("Regex", classes="rule-by")
            with Horizontal(classes="rule-row"):
                yield Label("Match", classes="rule-label", id="pattern-label")
                yield Input(self._pattern_text(), id="pattern", compact=True)
            with Horizontal(classes="rule-row"):
                yield Label("Feeds", classes="rule-label")
                yield Input(", ".join(rule.feeds) if rule else "", id="feeds", compact=True,
                            placeholder="all (or titles / URLs, comma-separated)")
            with Horizontal(classes="rule-row"):
                yield Label("Name", classes="rule-label")
                yield Input(rule.name if rule else "", id="name", compact=True, placeholder="optional")
            yield Static("", id="rule-count")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Static("[dim]Ctrl+S save · Esc cancel · Tab next field[/]", classes="dialog-help")

    def _pattern_text(self) -> str:
        if self.rule is None:
            return ""
        return self.rule.regex if self.rule.regex else ", ".join(self.rule.words)

    def on_mount(self) -> None:
        # RadioSet puts its cursor on the first button whatever is pressed: "hide" looked chosen on a boost rule
        radio = self.query_one("#action", RadioSet)
        radio._selected = ACTIONS.index(self.rule.action) if self.rule else 0
        self._sync_form()
        self.query_one("#pattern", Input).focus()
        self.changed()

    # -- the form ----------------------------------------------------------------------------------

    def _sync_form(self) -> None:
        regex = self.query_one("#use-regex", Switch).value
        pattern = self.query_one("#pattern", Input)
        pattern.placeholder = (r"a regex, e.g. \bpromo(ted)?\b" if regex
                               else "words, comma-separated: sponsored, paid post")
        self.query_one("#pattern-label", Label).update("Regex" if regex else "Words")
        self.query_one("#boost", Input).disabled = self._action() != "boost"

    def _action(self) -> str:
        pressed = self.query_one("#action", RadioSet).pressed_button
        return str(pressed.label) if pressed is not None else "hide"

    def table(self) -> dict[str, Any]:
        """The form as a [[rules]] table (what rule_error checks and the config file gets)."""
        out: dict[str, Any] = {}
        name = self.query_one("#name", Input).value.strip()
        if name:
            out["name"] = name
        action = self._action()
        out["action"] = action
        if action == "boost":
            text = self.query_one("#boost", Input).value.strip()
            out["boost"] = int(text) if text.isdigit() else text
        fields = [f for f in FIELDS if self.query_one(f"#field-{f}", Checkbox).value]
        if tuple(fields) != DEFAULT_FIELDS:
            out["fields"] = fields
        text = self.query_one("#pattern", Input).value
        if self.query_one("#use-regex", Switch).value:
            out["regex"] = text.strip()
        else:
            out["words"] = split_list(text)
        feeds = split_list(self.query_one("#feeds", Input).value)
        if feeds:
            out["feeds"] = feeds
        return out

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    @on(Switch.Changed)
    def changed(self, event: Any = None) -> None:
        if event is not None and isinstance(event, (RadioSet.Changed, Switch.Changed)):
            self._sync_form()
        table = self.table()
        empty = not table.get("words") and not table.get("regex")
        self.problem = "empty" if empty else rule_error(table)
        self.query_one("#save", Button).disabled = self.problem is not None
        self._generation += 1
        if self.problem is not None:
            self.count = None
            self.workers.cancel_group(self, "rule-count")
            line = ("[dim]Type the words (or the regex) to match.[/]" if empty
                    else f"[b $error]✗[/] {escape(self.problem)}")
            self.query_one("#rule-count", Static).update(line)
            return
        rule = parse_rules([table])[0]
        if self.holder.index is None:
            self.query_one("#rule-count", Static).update("[dim]counting…[/]")
        self._count(rule, self._generation)

    @work(thread=True, exclusive=True, group="rule-count", exit_on_error=False)
    def _count(self, rule: Rule, generation: int) -> None:
        worker = get_current_worker()
        while not self.holder.ready.wait(0.1):
            if worker.is_cancelled:
                return
        if worker.is_cancelled or self.holder.index is None:
            return
        n = self.holder.index.count(rule)  # for hide: leaving out the stories kept
        if not worker.is_cancelled:
            self.app.call_from_thread(self._counted, rule, n, generation)

    def _counted(self, rule: Rule, n: int, generation: int) -> None:
        if generation != self._generation or not self.is_mounted:
            return  # the form changed since: a newer count is on its way
        self.count = n
        total = len(self.holder.index) if self.holder.index is not None else 0
        self.query_one("#rule-count", Static).update(
            f"[b]{VERBS[rule.action]} {n:,}[/b] [dim]of {total:,} stored stories[/]")

    # -- save / cancel -------------------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self, event: Any = None) -> None:
        if event is not None:
            event.stop()
        if self.problem is not None or self.query_one("#save", Button).disabled:
            return
        self.query_one("#save", Button).disabled = True
        self.query_one("#rule-count", Static).update("[dim]saving…[/]")
        self._save(self.table())

    @work(thread=True, exclusive=True, group="rule-save", exit_on_error=False)
    def _save(self, table: dict[str, Any]) -> None:
        try:
            config = self.save_rule(table)
        except ConfigError as e:  # names the file
            self.app.call_from_thread(self._save_failed, str(e))
            return
        except Exception as e:  # a bug: shown, and the form stays as typed
            self.app.call_from_thread(self._save_failed, f"{type(e).__name__}: {e}")
            return
        self.app.call_from_thread(self.dismiss, config)

    def _save_failed(self, message: str) -> None:
        self.query_one("#rule-count", Static).update(f"[b $error]✗[/] {escape(message)}")
        self.query_one("#save", Button).disabled = False

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "rule-count")
        self.dismiss(None)
