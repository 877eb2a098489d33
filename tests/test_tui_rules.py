"""The rules screen (issue 17 part 5, L): list, add with "would hide N" counted while typing, save into the
user's config file with their comments kept, hidden stories gone from the list, invalid regex, delete with
undo, edit, a config file that cannot be written. Each asserts on the config file, the store and the screen."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from helpers_tui import SIZE, add_stories, list_ready, new_app, notes, screen_is, story_list, wait_for
from textual.widgets import Button, Checkbox, Input, Label, Static, Switch

from digest.core.config import load_config
from digest.core.paths import Paths
from digest.core.store import Store, StoryQuery
from digest.tui.views import HIDDEN

USER_CONFIG = """\
# my own settings
[newsletter]
title = "Morning Brief"  # the subject line
"""

TWO_RULES = USER_CONFIG + """
# job posts are noise here
[[rules]]
name = "no jobs"  # I am not hiring
action = "hide"
words = ["engineer"]

[[rules]]
action = "boost"
boost = 5
fields = ["title"]
words = ["kelp"]  # my beat
"""


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_rules(pilot: Any, app: Any) -> Any:
    await pilot.press("L")
    screen = await screen_is(pilot, app, "RulesScreen")
    await wait_for(pilot, lambda: screen.counts is not None and screen.holder.index is not None,
                   what="the rules counted")
    return screen


async def test_add_a_rule_counting_while_typing_and_the_stories_it_hides_leave_the_list(
        digest_home: Paths, store: Store) -> None:
    digest_home.config_file.write_text(USER_CONFIG, encoding="utf-8")
    ids = add_stories(store, "Wire", ["Sponsored: buy our widgets", "Kelp farm opens", "A sponsored post again",
                                      "Sponsorship deals explained"])
    app = new_app(store, digest_home, config=load_config(digest_home))
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 4)
        rules = await open_rules(pilot, app)
        assert rules.counts == [] and "No rules yet" in text_of(app, "#rules-detail")
        await pilot.press("a")
        dialog = await screen_is(pilot, app, "RuleModal")
        assert dialog.query_one("#save", Button).disabled  # nothing typed yet
        await pilot.press(*"spons")
        await wait_for(pilot, lambda: dialog.count == 0, what="no whole word 'spons'")
        await pilot.press(*"ored")
        # whole words, any case: "Sponsorship" is not "sponsored"
        await wait_for(pilot, lambda: dialog.count == 2, what="would hide 2")
        assert "would hide 2" in text_of(app, "#rule-count")
        assert not dialog.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, "RulesScreen")
        text = digest_home.config_file.read_text(encoding="utf-8")
        assert text.startswith(USER_CONFIG)  # their comments and layout kept
        assert '[[rules]]\naction = "hide"\nwords = ["sponsored"]' in text
        assert [r.words for r in app.config.rules] == [("sponsored",)]
        await wait_for(pilot, lambda: rules.counts == [2], what="the new rule's count")
        await wait_for(pilot, lambda: sorted(store.story_ids(StoryQuery(hidden=True))) == sorted([ids[0], ids[2]]),
                       what="the rule applied to the stored stories")
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        await wait_for(pilot, lambda: sorted(story_list(app).ids) == sorted([ids[1], ids[3]]),
                       what="the hidden stories gone from the list")
        # and listed in the sidebar's Hidden view (there once a rule hides something)
        sidebar = app.screen.query_one("#sidebar")
        await wait_for(pilot, lambda: HIDDEN in sidebar.keys, what="the Hidden view")
        assert sidebar.label_of(HIDDEN) == "Hidden (2)"
        sidebar.select_key(HIDDEN)
        await wait_for(pilot, lambda: sorted(story_list(app).ids) == sorted([ids[0], ids[2]]), what="hidden ones")
        assert "Hidden by rules" in app.screen.query_one("#status").markup


async def test_an_invalid_regex_shows_its_error_and_save_is_disabled(digest_home: Paths, store: Store) -> None:
    add_stories(store, "Wire", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await list_ready(pilot, app, 1)
        await open_rules(pilot, app)
        await pilot.press("a")
        dialog = await screen_is(pilot, app, "RuleModal")
        dialog.query_one("#use-regex", Switch).value = True
        await wait_for(pilot, lambda: dialog.query_one("#pattern", Input).placeholder.startswith("a regex"))
        dialog.query_one("#pattern", Input).focus()
        await pilot.press(*"promo(")
        await wait_for(pilot, lambda: dialog.problem is not None and "missing )" in dialog.problem,
                       what="the regex's error")
        assert "missing )" in text_of(app, "#rule-count") and dialog.query_one("#save", Button).disabled
        await pilot.press("ctrl+s", "enter")  # neither saves
        assert type(app.screen).__name__ == "RuleModal" and not digest_home.config_file.exists()
        await pilot.press(")")
        await wait_for(pilot, lambda: dialog.problem is None and dialog.count == 0, what="a valid regex")
        await pilot.press("escape")
        await screen_is(pilot, app, "RulesScreen")
        assert not digest_home.config_file.exists()


async def test_delete_undo_and_edit_keep_the_rest_of_the_file(digest_home: Paths, store: Store) -> None:
    digest_home.config_file.write_text(TWO_RULES, encoding="utf-8")
    add_stories(store, "Jobs", ["Data Engineer", "Staff Engineer", "Kelp farm opens"])
    app = new_app(store, digest_home, config=load_config(digest_home))
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)  # the two engineer posts are hidden at start (rules applied)
        rules = await open_rules(pilot, app)
        await wait_for(pilot, lambda: rules.counts == [2, 1], what="2 hidden, 1 boosted")
        await pilot.press("j", "d")  # the boost rule
        await wait_for(pilot, lambda: len(app.config.rules) == 1, what="deleted")
        text = digest_home.config_file.read_text(encoding="utf-8")
        assert "kelp" not in text and 'name = "no jobs"  # I am not hiring' in text
        assert any("U undoes" in n for n in notes(app))
        await pilot.press("U")
        await wait_for(pilot, lambda: len(app.config.rules) == 2, what="undone")
        assert [r.action for r in app.config.rules] == ["hide", "boost"]  # back at its place
        assert app.config.rules[1].words == ("kelp",)
        # edit the hide rule: Enter opens it filled in; the changed line changes, the rest stays
        await pilot.press("k", "enter")
        dialog = await screen_is(pilot, app, "RuleModal")
        pattern = dialog.query_one("#pattern", Input)
        assert pattern.value == "engineer"
        pattern.value = "data engineer"
        await wait_for(pilot, lambda: dialog.count == 1, what="would hide 1")
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, "RulesScreen")
        text = digest_home.config_file.read_text(encoding="utf-8")
        assert 'name = "no jobs"  # I am not hiring' in text and 'words = ["data engineer"]' in text
        assert "# job posts are noise here" in text and text.startswith(USER_CONFIG)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(story_list(app).ids) == 2, what="Staff Engineer back in the list")


async def test_a_config_that_cannot_be_written_keeps_the_dialog_and_names_the_file(
        digest_home: Paths, store: Store, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("", encoding="utf-8")
    paths = dataclasses.replace(digest_home, config_dir=blocked)
    add_stories(store, "Wire", ["Sponsored: widgets"])
    app = new_app(store, paths)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await open_rules(pilot, app)
        await pilot.press("a")
        dialog = await screen_is(pilot, app, "RuleModal")
        await pilot.press(*"sponsored")
        await wait_for(pilot, lambda: dialog.count == 1)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "cannot write" in text_of(app, "#rule-count"), what="the error")
        line = text_of(app, "#rule-count")
        assert str(paths.config_file) in line and "\n" not in line
        assert type(app.screen).__name__ == "RuleModal" and dialog.query_one("#pattern", Input).value == "sponsored"
        assert not dialog.query_one("#save", Button).disabled and app.config.rules == []


async def test_L_is_in_the_help_and_the_palette(digest_home: Paths, store: Store) -> None:
    from digest.tui.keys import binding_ids, check_keymap

    assert {"rules", "rules.add", "rules.edit", "rules.delete", "rules.undo", "rules.back"} <= binding_ids()
    assert check_keymap({"rules": "ctrl+l"}) == []
    add_stories(store, "Wire", ["One"])
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("question_mark")
        help_screen = await screen_is(pilot, app, "HelpScreen")
        text = help_screen._text()
        assert "Rules screen (L)" in text and "rules.delete" in text
        await pilot.press("escape")
        await screen_is(pilot, app, "MainScreen")
        await pilot.press("ctrl+p")
        palette = await screen_is(pilot, app, "CommandPalette")
        await pilot.press(*"Rules")
        from test_tui import _palette_options

        await wait_for(pilot, lambda: any("Rules" in str(o.prompt) for o in _palette_options(palette)))
        await pilot.press("enter")
        await screen_is(pilot, app, "RulesScreen")


async def test_store_changes_during_an_index_load_make_one_more_load_not_one_each(
        digest_home: Paths, store: Store, monkeypatch: Any) -> None:
    import threading

    from digest.core.rules import RuleIndex

    add_stories(store, "Wire", ["One"])
    gate = threading.Event()
    loads: list[int] = []
    real_load = RuleIndex.load.__func__  # type: ignore[attr-defined]

    def slow_load(cls: Any, s: Any, **kw: Any) -> Any:
        loads.append(1)
        gate.wait(30)  # held until the test has sent its changes
        return real_load(cls, s, **kw)

    monkeypatch.setattr(RuleIndex, "load", classmethod(slow_load))
    app = new_app(store, digest_home)
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await pilot.press("L")
        rules = await screen_is(pilot, app, "RulesScreen")
        await wait_for(pilot, lambda: len(loads) == 1, what="the first load")
        for _ in range(5):  # a refresh reporting five feeds with new stories
            rules.data_changed()
        assert rules.index_loads_running == 1
        gate.set()
        await wait_for(pilot, lambda: len(loads) == 2 and rules.index_loads_running == 0
                       and rules.counts is not None, what="one more load, then none")
        assert len(loads) == 2


async def test_the_dialog_names_the_rule_as_the_cli_does_and_draws_unchecked_boxes_empty(
        digest_home: Paths, store: Store) -> None:
    # Textual draws an unchecked box's "X" dimmed, which terminals (tmux among them) show about as bright
    # as a checked one: a user read every field as checked
    digest_home.config_file.write_text(TWO_RULES, encoding="utf-8")
    add_stories(store, "Wire", ["Kelp farm opens"])
    app = new_app(store, digest_home, config=load_config(digest_home))
    async with app.run_test(size=SIZE) as pilot:
        await list_ready(pilot, app, 1)
        await open_rules(pilot, app)
        await pilot.press("j", "e")  # the boost rule: title only
        dialog = await screen_is(pilot, app, "RuleModal")
        assert "Edit rules[1]" in str(dialog.query_one(".dialog-title", Label).render())

        def drawn(selector: str) -> str:
            return str(dialog.query_one(selector, Static).render())

        assert drawn("#field-title").startswith("▐X▌") and drawn("#field-summary").startswith("▐ ▌")
        assert drawn("#action-boost").startswith("▐●▌") and drawn("#action-hide").startswith("▐ ▌")
        dialog.query_one("#field-summary", Checkbox).focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: drawn("#field-summary").startswith("▐X▌"), what="summary checked")
        dialog.query_one("#field-title", Checkbox).focus()
        await pilot.press("space")
        await wait_for(pilot, lambda: drawn("#field-title").startswith("▐ ▌"), what="title unchecked")
