"""Command palette: every binding of the current screen that applies right now, by its description.

It is the palette's only provider: it offers digest's actions, the same ones the help (?) lists, and of
Textual's own commands only the one we have no key for, after ours. Textual's "Quit" and "Keys" repeated
our Quit (q) and Help (?), and Maximize/Minimize our z, each under another name.
Built from Screen.active_bindings, which already runs check_action, so the palette offers exactly what the
footer and the keys allow (an action hidden by check_action is not offered either).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

# Textual's system commands the palette keeps (title -> our title and help); the others are left out.
# "Theme" is renamed: it changes this program's colours, and "Theme" beside the email's theme (t) was
# taken for that one.
SYSTEM_KEPT = {
    "Theme": ("App colours (Textual theme)",
              "The colours of this program; the email's theme is t on the digest screen"),
}


class ActionsProvider(Provider):
    def _commands(self) -> list[tuple[str, str, object, str]]:
        seen: set[str] = set()
        out = []
        screen = self.screen
        for key, active in screen.active_bindings.items():
            b = active.binding
            if b.action in seen or not b.description or not active.enabled:
                continue
            if not b.id:
                continue  # Textual's own (ctrl+q Quit, Copy selected text): every binding of ours has an id
            if b.action == "command_palette" or (b.id and "." in b.id and not b.show):
                continue  # widget navigation (list.down, reader.page ...) would only be noise here
            seen.add(b.action)
            name = b.description
            # help is parsed as markup: escape, since keys such as "[" or "/" are common here
            help_text = escape(f"{b.tooltip or b.description} · key {self.app.get_key_display(b)}")
            out.append((name, help_text, partial(cast(Any, active.node).run_action, b.action), key))
        return sorted(out, key=lambda c: c[0])

    def _system(self) -> list[tuple[str, str, object, str]]:
        """The Textual commands in SYSTEM_KEPT, under our names, after ours."""
        out: list[tuple[str, str, object, str]] = []
        for command in self.app.get_system_commands(self.screen):
            if command.title in SYSTEM_KEPT:
                title, help_text = SYSTEM_KEPT[command.title]
                out.append((title, escape(help_text), command.callback, ""))
        return out

    async def discover(self) -> Hits:
        # discovery hits keep the order they are yielded in: ours first
        for name, help_text, callback, _ in [*self._commands(), *self._system()]:
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        ours = [(c, 1.0) for c in self._commands()]
        for (name, help_text, callback, _), weight in [*ours, *((c, 0.9) for c in self._system())]:
            score = max(matcher.match(name), matcher.match(help_text) * 0.8) * weight
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
