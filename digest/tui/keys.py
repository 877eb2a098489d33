"""The [keys] table checked against every binding of the TUI: an unknown binding id, or a key that another
binding already answers where both are active (`flag = "j"` in the story list, where j moves down, would
leave flag with no key at all). The app reports the problems when it starts; `digest config check` exits 2
naming them.

A binding is reachable from a "chain": the focused widget's bindings, then its screen's, then the app's.
Two bindings of one chain sharing a key means the first one wins and the other is dead there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.binding import Binding
from textual.keys import key_to_character

_ALIASES = {"slash": "/"}  # names key_to_character does not turn into their character


def canonical(key: str) -> str:
    """One spelling per key: "question_mark" and "?" are the same key."""
    key = key.strip()
    key = _ALIASES.get(key, key)
    char = key_to_character(key)
    return char if char is not None and len(char) == 1 and char.isprintable() else key


def _bindings(cls: Any) -> list[Binding]:
    return [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding)]


def chains() -> list[tuple[str, list[Binding]]]:
    """(where, bindings in precedence order) for every focus the TUI has."""
    from digest.tui.screens.digest import DigestScreen
    from digest.tui.screens.feeds import FeedsScreen
    from digest.tui.screens.help import HelpScreen
    from digest.tui.screens.main import MainScreen
    from digest.tui.screens.modals import AddFeedModal, ChoiceModal, ConfirmModal, EditModal, PromptModal
    from digest.tui.screens.rule_dialog import RuleModal
    from digest.tui.screens.rules import RulesScreen
    from digest.tui.widgets.reader import Reader
    from digest.tui.widgets.sidebar import Sidebar
    from digest.tui.widgets.story_list import StoryList
    from digest.tui.widgets.vim_keys import KeyOptions, KeyScroll, KeyTable

    main = _bindings(MainScreen)
    out = [
        ("the story list", _bindings(StoryList) + main),
        ("the reader", _bindings(Reader) + main),
        ("the sidebar", _bindings(Sidebar) + main),
        ("the digest screen", _bindings(KeyTable) + _bindings(DigestScreen)),
        ("the feeds screen", _bindings(KeyTable) + _bindings(FeedsScreen)),
        ("the rules screen", _bindings(KeyTable) + _bindings(RulesScreen)),
        ("the help", _bindings(KeyScroll) + _bindings(HelpScreen)),
    ]
    out += [(f"the {m.__name__} dialog", (_bindings(KeyOptions) if m is ChoiceModal else []) + _bindings(m)) for m in
            (ChoiceModal, EditModal, PromptModal, ConfirmModal, AddFeedModal, RuleModal)]
    return out


def binding_ids() -> set[str]:
    return {b.id for _, bindings in chains() for b in bindings if b.id}


def check_keymap(keymap: Mapping[str, str], chain_list: Sequence[tuple[str, list[Binding]]] | None = None
                 ) -> list[str]:
    """Problems with a [keys] table, one line each naming the key; [] when it is fine. Only what the user
    set is reported: the defaults overlap on purpose (Esc in the reader goes back, on the list it clears)."""
    chain_list = chains() if chain_list is None else chain_list
    known = {b.id for _, bindings in chain_list for b in bindings if b.id}
    problems = [f"keys.{bid}: no binding has this id (see the help screen, ?, for the ids)"
                for bid in keymap if bid not in known]
    clashes: dict[tuple[str, str], list[str]] = {}  # (the id set in [keys], key) -> where it clashes
    for where, bindings in chain_list:
        owner: dict[str, Binding] = {}  # key -> the binding that answers it in this chain
        for b in bindings:
            keys = keymap.get(b.id, b.key) if b.id else b.key
            for key in (canonical(k) for k in keys.split(",") if k.strip()):
                first = owner.setdefault(key, b)
                if first is b or first.id == b.id:
                    continue
                if not _user_set(b, key, keymap) and not _user_set(first, key, keymap):
                    continue  # the defaults' own overlap
                mine, other = (b, first) if _user_set(b, key, keymap) else (first, b)
                clashes.setdefault((mine.id or "", key), []).append(
                    f"{other.id or other.action} ({other.description}) in {where}")
    for (bid, key), places in clashes.items():
        problems.append(f"keys.{bid}: {key!r} is already " + "; ".join(dict.fromkeys(places)))
    return problems


def _user_set(b: Binding, key: str, keymap: Mapping[str, str]) -> bool:
    """Whether [keys] gave this binding this key (and it is not one of its defaults)."""
    return bool(b.id) and b.id in keymap and key not in {canonical(k) for k in b.key.split(",")}
