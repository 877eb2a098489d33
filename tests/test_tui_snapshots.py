"""Snapshots of the main, digest, feeds and help screens at 80x24 and 120x40, and of the main screen, the rules
screen and the edit, add and rule dialogs at 80x24 and 60x20 (pytest-textual-snapshot).

Time is frozen: the app's clock is injected, the sample feeds' fetch times are pinned, and the preview is
dated by the same clock. Update after a reviewed change with `pytest tests/test_tui_snapshots.py
--snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers_tui import FROZEN_NOW, new_app, wait_for

from digest.core.config import Config
from digest.core.paths import Paths
from digest.core.store import Store
from digest.tui.widgets.story_list import StoryList

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def sample_store(digest_home: Paths, store: Store) -> Store:
    from digest.core.feeds import load_sample_feeds

    load_sample_feeds(store, Config(), now=FROZEN_NOW)
    for feed in store.list_feeds():
        # pinned times, and no checkout path on screen (the sample feeds are local files)
        store.update_feed(feed.id, last_success_at=FROZEN_NOW - 1800, last_fetch_at=FROZEN_NOW - 1800,
                          url=f"https://samples.invalid/{feed.url.rsplit('/', 1)[-1]}")
    # Feeds are ingested in parallel, so story ids (the tie-break for equal dates) differ from run to run:
    # spread equal dates by guid order (milliseconds: no age on screen changes), then pick stories by rank.
    with store.tx() as db:
        db.execute("UPDATE stories SET published_at = published_at + 0.001 * (SELECT count(*) FROM stories t "
                   "WHERE t.published_at = stories.published_at AND t.guid < stories.guid)")
    ids = store.story_ids()
    store.set_read(ids[3:6], True)
    store.flag(ids[0], "Top Stories", blurb="The one to read today.")
    store.flag(ids[2], "Startups")
    store.flag(ids[4], "Startups", headline="A sharper headline")
    return store


def _app(store: Store, paths: Paths) -> Any:
    return new_app(store, paths, config=Config())


async def settled(pilot: Any) -> None:
    """Let scheduled animations (scrolling, the refresh bar) finish and pending messages run before the
    snapshot is taken: the picture then depends on the app's state, not on how fast the machine is."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _main_ready(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query(StoryList) and app.screen.query_one(StoryList).ids)
    await wait_for(pilot, lambda: app.screen.query_one("#reader").story is not None, what="reader")
    await settled(pilot)


SMALL = [(80, 24), (60, 20)]


async def _steady_cursor(pilot: Any) -> None:
    """A dialog's text cursor blinks: shown or not depends on the moment of the picture. Keep it on."""
    from textual.widgets import Input, TextArea

    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", [*SIZES, (60, 20)], ids=["80x24", "120x40", "60x20"])
def test_main_screen(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=_main_ready)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_digest_screen(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _main_ready(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "DigestScreen")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#preview").text, what="preview")
        await settled(pilot)

    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_feeds_screen(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _main_ready(pilot)
        await pilot.press("F")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "FeedsScreen" and pilot.app.screen.feeds)
        await settled(pilot)

    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_help_screen(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _main_ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")
        await settled(pilot)

    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
def test_edit_dialog(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _main_ready(pilot)
        await pilot.press("e")  # the first story: flagged, with a blurb
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "EditModal")
        await _steady_cursor(pilot)

    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
def test_add_dialog(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await _main_ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "AddFeedModal")
        await _steady_cursor(pilot)

    assert snap_compare(_app(sample_store, digest_home), terminal_size=size, run_before=run_before)


SNAP_RULES = """\
[[rules]]
name = "No job posts"
action = "hide"
fields = ["feed"]
words = ["Sound Work"]

[[rules]]
action = "keep"
words = ["kelp"]

[[rules]]
action = "boost"
boost = 5
fields = ["title"]
regex = '\\b(seed|series [ab])\\b'
"""


def _rules_app(store: Store, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> Any:
    from digest.core.config import load_config

    monkeypatch.setenv("HOME", str(paths.config_dir))  # the title shows ~/config.toml, the same every run
    from digest.core.rules import sync_rules

    paths.config_file.write_text(SNAP_RULES, encoding="utf-8")
    config = load_config(paths)
    sync_rules(store, config.rules)  # applied before: no "Rules applied" toast at start
    return new_app(store, paths, config=config)


async def _rules_ready(pilot: Any) -> None:
    await _main_ready(pilot)
    await pilot.press("L")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "RulesScreen" and pilot.app.screen.counts)
    await settled(pilot)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
def test_rules_screen(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert snap_compare(_rules_app(sample_store, digest_home, monkeypatch), terminal_size=size,
                        run_before=_rules_ready)


@pytest.mark.parametrize("size", SMALL, ids=["80x24", "60x20"])
def test_rule_dialog(snap_compare: Any, sample_store: Store, digest_home: Paths, size: tuple[int, int],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    async def run_before(pilot: Any) -> None:
        await _rules_ready(pilot)
        await pilot.press("G", "e")  # the boost rule: a regex, boost 5, title only
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "RuleModal"
                       and pilot.app.screen.count is not None, what="the dialog's count")
        await _steady_cursor(pilot)

    assert snap_compare(_rules_app(sample_store, digest_home, monkeypatch), terminal_size=size,
                        run_before=run_before)
