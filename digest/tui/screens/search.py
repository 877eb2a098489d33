"""Search as you type on the main screen: the box, its debounce, and keys typed before it has focus.

A mixin of MainScreen (like Reading and StoryActions). Handlers go by name (on_input_changed ...): Textual
collects @on handlers from a class body, so a mixin's would not be seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.timer import Timer
from textual.widgets import Input

from digest.tui.widgets.story_list import StoryList

# Search-as-you-type waits this long after the last key: long enough to skip the intermediate prefixes of a
# fast typist (~8 keys/s), short enough to feel immediate (the 100 ms "instant" threshold, Nielsen).
SEARCH_DEBOUNCE_S = 0.12
MIN_PREFIX = 2  # the last word typed is searched as a prefix once it has this many letters (Enter: any)


class Searching:
    if TYPE_CHECKING:
        search_text: str
        _search_timer: Timer | None
        _search_opening: bool

        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def reload(self, *, sidebar: bool = True) -> None: ...
        def _update_bindings(self) -> None: ...
        def keys_of(self, binding_id: str) -> list[str]: ...
        set_timer: Any
        focused: Any


    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        # focus moves on the next turn of the event loop; keys typed (or pasted) before that must land in
        # the box, not run as commands ("/kelp" would otherwise open the edit dialog on its "e")
        self._search_opening = True
        box.focus()
        self._update_bindings()

    def on_descendant_focus(self, event: Any) -> None:
        if getattr(event, "widget", None) is self.query_one("#search", Input):
            self._search_opening = False
        self._update_bindings()

    def on_descendant_blur(self, event: Any) -> None:
        self._update_bindings()

    def on_key(self, event: Any) -> None:
        """Keys reach this handler, in order, before the app runs any binding: so the search key is noticed
        here, and what follows it (typed fast, or pasted) goes into the box until it has focus."""
        if self._search_opening and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.query_one("#search", Input).insert_text_at_cursor(event.character)
        elif event.key in self._search_keys() and not isinstance(self.focused, Input):
            self._search_opening = True  # the binding itself runs action_search
        elif event.key == "down" and (self._search_opening or self.focused is self.query_one("#search", Input)):
            # Down from the box goes to the hits, so the next Enter reads the first one
            event.stop()
            event.prevent_default()
            self._finish_search(self.query_one("#search", Input).value)

    def _search_keys(self) -> set[str]:
        return set(self.keys_of("search"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "search":
            return
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, lambda: self._run_search(value))

    def _run_search(self, value: str, *, final: bool = False) -> None:
        value = value.strip()
        words = value.split()
        if not final and words and len(words[-1]) < MIN_PREFIX:
            # "k" or "kelp f" as typed: a one-letter prefix matches most of the index (99 ms of FTS on 100k
            # stories, bench_tui.py) and narrows nothing; search without it until the word grows
            value = " ".join(words[:-1])
        if value == self.search_text:
            return
        self.search_text = value
        self.reload(sidebar=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        self._finish_search(event.value)

    def _finish_search(self, value: str) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._run_search(value, final=True)
        self.query_one(StoryList).focus()

    def action_clear(self) -> None:
        box = self.query_one("#search", Input)
        if self._search_timer is not None:
            self._search_timer.stop()
        box.value = ""
        box.display = False
        self.query_one(StoryList).focus()
        if self.search_text:
            self.search_text = ""
            self.reload(sidebar=False)
        self._update_bindings()

