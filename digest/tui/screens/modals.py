"""Small modal dialogs: pick one of a list, edit headline+blurb, type a value, confirm, add a feed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from digest.tui.textfmt import brief
from digest.tui.widgets.vim_keys import KeyOptions

if TYPE_CHECKING:
    from digest.core.models import Feed  # noqa: F401 - the dialog's result type


class ChoiceModal(ModalScreen[str | None]):
    """Pick one string from a list (the section to flag into, a theme, a feed's section)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, choices: Sequence[str], default: str | None = None, note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.default = default
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # plain text: the title names a feed and the choices are section names (from OPML files too);
            # as markup a "[/b]" in one raised MarkupError while the dialog was laid out, ending the app
            yield Label(Text(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(self.note, classes="dialog-note", markup=False)
            yield KeyOptions(*[Option(Text(c), id=f"c{i}") for i, c in enumerate(self.choices)], id="choices")
            yield Static("[dim]Enter choose · Esc cancel[/]", classes="dialog-help")

    def on_mount(self) -> None:
        ol = self.query_one("#choices", OptionList)
        if self.default is not None:
            for i, c in enumerate(self.choices):
                if c.casefold() == self.default.casefold():
                    ol.highlighted = i
                    break
        ol.focus()

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditModal(ModalScreen[tuple[str, str] | None]):
    """Edit a story's headline override and blurb; empty fields clear them."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="modal.cancel"),
        Binding("ctrl+s", "save", "Save", id="modal.save"),
    ]

    def __init__(self, original_title: str, headline: str, blurb: str) -> None:
        super().__init__()
        self.original_title = original_title
        self.headline = headline
        self.blurb = blurb

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Edit headline and blurb", classes="dialog-title")
            yield Static(f"[dim]Original:[/] {escape(brief(self.original_title))}", classes="dialog-note")
            yield Label("Headline (empty = the original)")
            # the original is there to edit (a word changed, not the whole headline typed again)
            yield Input(self.headline or self.original_title, placeholder=self.original_title, id="headline")
            yield Label("Blurb (shown under the headline in the email)")
            yield TextArea(self.blurb, id="blurb", soft_wrap=True, show_line_numbers=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")
            yield Static("[dim]Ctrl+S save · Esc cancel[/]", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#headline", Input).focus()

    @on(Input.Submitted, "#headline")
    def _next(self) -> None:
        self.query_one("#blurb", TextArea).focus()

    def _values(self) -> tuple[str, str]:
        headline = self.query_one("#headline", Input).value.strip()
        if headline == self.original_title.strip():
            headline = ""  # the original, unchanged: no override
        return headline, self.query_one("#blurb", TextArea).text.strip()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        self.dismiss(self._values())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Esc or Cancel: what was typed is not thrown away by one key: with changes, ask first."""
        if self._values() == (self.headline.strip(), self.blurb.strip()):
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmModal("Discard your changes?", "What you typed in the headline and blurb is lost.",
                                          yes="Discard"), answered)


class PromptModal(ModalScreen[str | None]):
    """Type one value (a file path for OPML import/export)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "", note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            if self.note:
                yield Static(self.note, classes="dialog-note", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="value")
            yield Static("", id="error", classes="dialog-error")
            yield Static("[dim]Enter OK · Esc cancel[/]", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    @on(Input.Submitted, "#value")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            self.query_one("#error", Static).update("Type a value, or Esc to cancel.")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [
        Binding("escape,n", "cancel", "No", id="modal.cancel"),
        Binding("y", "confirm", "Yes", id="modal.confirm"),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="primary", id="yes")
                yield Button("Cancel", id="no")
            yield Static("[dim]y confirm · n/Esc cancel[/]", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


def check_feed_input(url: str) -> str:
    """Validation before any network I/O: an empty or obviously malformed value never reaches add_feed."""
    url = url.strip()
    if not url:
        return "Type a feed URL, a website URL or a file path."
    if url.startswith(("http://", "https://")):
        rest = url.split("://", 1)[1]
        if not rest or rest.startswith("/") or " " in rest:
            return f"Not a valid URL: {url}"
        return ""
    if "://" in url:
        return f"Only http:// and https:// URLs or local files are supported: {url}"
    path = Path(url).expanduser()
    if path.exists():
        return "" if path.is_file() else f"Not a file: {url}"
    if "." in url and "/" not in url.split(".", 1)[0] and " " not in url:
        return ""  # "example.com/feed": add_feed decides whether it takes scheme-less URLs
    return f"No such file, and not a URL: {url}"


class AddFeedModal(ModalScreen["Feed | None"]):
    """Ask for a URL (or file, or website to autodiscover) and a section; add_feed runs in a worker and
    its error stays in the dialog, so a bad URL changes nothing."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, sections: Sequence[str], default_section: str = "") -> None:
        super().__init__()
        self.sections = list(sections)
        self.default_section = default_section

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Add a feed", classes="dialog-title")
            yield Static("A feed URL, a website URL (its feed is found for you) or a local file.",
                         classes="dialog-note")
            yield Input(placeholder="https://example.com/feed.xml", id="url")
            options: list[tuple[Text, str]] = [(Text(s), s) for s in self.sections]  # names, not markup
            yield Select(options, prompt="Section", value=self.default_section or Select.NULL,
                         id="section", allow_blank=True)
            yield Input(placeholder="Title (optional: taken from the feed)", id="title")
            yield Static("", id="error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")
            yield Static("[dim]Enter add · Esc cancel[/]", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#url", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def _submit(self, event: Any = None) -> None:
        if event is not None:
            event.stop()
        url = self.query_one("#url", Input).value.strip()
        problem = check_feed_input(url)
        error = self.query_one("#error", Static)
        if problem:
            error.update(Text(problem))  # it quotes what was typed: never markup
            return
        section = self.query_one("#section", Select).value
        title = self.query_one("#title", Input).value.strip()
        error.update("Adding… (fetching the feed)")
        self.query_one("#add", Button).disabled = True
        self._add(url, section if isinstance(section, str) else "", title)

    @work(thread=True, exclusive=True, exit_on_error=False, group="add-feed")
    def _add(self, url: str, section: str, title: str) -> None:
        app: Any = self.app
        from digest.core.feeds import FeedAddError, add_feed

        store = app.open_worker_store()
        try:
            feed = add_feed(store, app.config, url, section=section, title=title)
        except FeedAddError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        except Exception as e:  # a bug or an unexpected OSError: show it, keep the app alive
            self.app.call_from_thread(self._failed, f"{type(e).__name__}: {e}")
            return
        finally:
            store.close()
        self.app.call_from_thread(self.dismiss, feed)

    def _failed(self, message: str) -> None:
        self.query_one("#error", Static).update(f"[b red]✗[/] {escape(message)}")
        self.query_one("#add", Button).disabled = False
        self.query_one("#url", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "add-feed")
        self.dismiss(None)
