"""Help: every key of every screen, as currently mapped (config [keys] included), and how to remap."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from digest.tui.widgets.vim_keys import KeyScroll

INTRO = (
    "Read your feeds, flag the stories worth sending (f), arrange them on the digest screen (d), build (b) and "
    "send (s). Everything is saved as you go. Tab moves between the panes (sidebar, stories, reader); the "
    "mouse works too: click, scroll, drag the pane borders, drag stories on the digest screen. Ctrl+P lists "
    "every command that applies now (the keys below), and App colours, which changes this program's colours."
)

OUTRO = """\
Remapping keys: every key has an id (right-hand column). In the config file (`digest config path`):

  [keys]
  flag = "f,space"
  refresh = "ctrl+r"
"""


class HelpScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "back", "Back", id="help.back"),
    ]

    def compose(self) -> ComposeResult:
        with KeyScroll(id="help"):
            yield Static(self._render_help())
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help").focus()

    def keys_for(self, b: Binding) -> str:
        keymap: dict[str, str] = getattr(self.app, "keymap", {})
        keys = keymap.get(b.id, b.key) if b.id else b.key
        return ", ".join(self.app.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(","))

    def _table(self, title: str, bindings: list[Binding]) -> Table:
        table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                      expand=True, show_edge=False, pad_edge=False)
        table.add_column("Key", style="bold", no_wrap=True, ratio=1)
        table.add_column("Does", ratio=4)
        table.add_column("Id", style="dim", no_wrap=True, ratio=2)
        for b in bindings:
            if b.description:
                table.add_row(self.keys_for(b), b.tooltip or b.description, b.id or "")
        return table

    def _text(self) -> str:
        """Plain text of the help (tests read it)."""
        from io import StringIO

        from rich.console import Console

        console = Console(file=StringIO(), width=120, color_system=None)
        console.print(self._render_help())
        return console.file.getvalue()  # type: ignore[attr-defined]

    def _render_help(self) -> RenderableType:
        from digest.tui.screens.digest import DigestScreen
        from digest.tui.screens.feeds import FeedsScreen
        from digest.tui.screens.main import MainScreen
        from digest.tui.screens.rules import RulesScreen
        from digest.tui.widgets.reader import Reader
        from digest.tui.widgets.sidebar import Sidebar
        from digest.tui.widgets.story_list import StoryList
        from digest.tui.widgets.vim_keys import KeyScroll, KeyTable

        parts: list[RenderableType] = [Text("digest", style="bold"), Text(INTRO), Text("")]
        for title, bindings in (
            ("Stories", [*MainScreen.BINDINGS, *StoryList.BINDINGS]),
            ("Reader (Enter on a story)", Reader.BINDINGS),
            ("Sidebar", Sidebar.BINDINGS),
            ("Digest screen (d)", [*DigestScreen.BINDINGS, *KeyTable.BINDINGS]),
            ("Feeds screen (F)", [*FeedsScreen.BINDINGS, *KeyTable.BINDINGS]),
            ("Rules screen (L)", [*RulesScreen.BINDINGS, *KeyTable.BINDINGS]),
            ("This help", [*HelpScreen.BINDINGS, *KeyScroll.BINDINGS]),
        ):
            parts.append(self._table(title, [b for b in bindings if isinstance(b, Binding)]))
            parts.append(Text(""))
        parts.append(Text(OUTRO))
        return Group(*parts)

    def action_back(self) -> None:
        self.app.pop_screen()
