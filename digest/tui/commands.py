"""Command palette: every binding of the current screen that applies right now, by its description.

Built from Screen.active_bindings, which already runs check_action, so the palette offers exactly what the
footer and the keys allow (an action hidden by check_action is not offered either).
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape


class ActionsProvider(Provider):
    def _commands(self) -> list[tuple[str, str, object, str]]:
        seen: set[str] = set()
        out = []
        screen = self.screen
        for key, active in screen.active_bindings.items():
            b = active.binding
            if b.action in seen or not b.description or not active.enabled:
                continue
            if b.action == "command_palette" or (b.id and "." in b.id and not b.show):
                continue  # widget navigation (list.down, reader.page ...) would only be noise here
            seen.add(b.action)
            name = b.description
            # help is parsed as markup: escape, since keys such as "[" or "/" are common here
            help_text = escape(f"{b.tooltip or b.description} · key {self.app.get_key_display(b)}")
            out.append((name, help_text, partial(cast(Any, active.node).run_action, b.action), key))
        return sorted(out, key=lambda c: c[0])

    async def discover(self) -> Hits:
        for name, help_text, callback, _ in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback, _ in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
