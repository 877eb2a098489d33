"""Reader rules in the store: hidden stories out of lists, search, Trending and auto-selection; kept stories
survive retention; boost raises the auto-selection rank; rules applied by a refresh (real HTTP on
127.0.0.1) to new stories, and to every stored story when the config changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from feedserver import FeedServer, rss
from helpers_digest import HOUR, NOW_TS, make_config, story

from digest.core.config import RefreshConfig, SectionConfig, parse_config
from digest.core.models import ParsedStory
from digest.core.refresh import refresh
from digest.core.rules import apply_rules, parse_rules
from digest.core.select import auto_select, draft_sections, trending
from digest.core.store import Store, StoryQuery
from digest.core.store.retention import Retention


def _feeds(store: Store, n: int = 2) -> list:
    return [store.add_feed(f"https://f{i}.example.com/feed", title=f"Feed {i}", section="Top Stories")
            for i in range(n)]


def _id(store: Store, guid: str) -> int:
    return int(store.db.execute("SELECT id FROM stories WHERE guid = ?", (guid,)).fetchone()[0])


def hide(*words: str, fields: list[str] | None = None) -> list:
    return parse_rules([{"action": "hide", "words": list(words), "fields": fields or ["title"]}])


def test_hidden_stories_leave_lists_search_and_counts_but_not_the_flagged_view(store: Store) -> None:
    a, _ = _feeds(store)
    store.save_stories(a.id, [story(1, feed="a", title="Sponsored: a walrus gadget"),
                              story(2, feed="a", title="Walrus migration news"),
                              story(3, feed="a", title="Sponsored: flagged anyway")])
    store.flag(_id(store, "a-3"), "Top Stories")
    result = apply_rules(store, hide("sponsored"))
    assert result.hidden == 2
    visible = {s.guid for s in store.stories()}
    assert visible == {"a-2"}
    assert store.story_ids() == [_id(store, "a-2")]
    assert store.count_stories(StoryQuery(search="walrus")) == 1
    assert [s.guid for s in store.stories(StoryQuery(search="walrus", limit=10))] == ["a-2"]
    assert {s.guid for s in store.stories(StoryQuery(hidden=True))} == {"a-1", "a-3"}
    assert len(store.stories(StoryQuery(hidden=None))) == 3
    # flagging is the editor's explicit choice: the flagged view (the digest) keeps it
    assert [s.guid for s in store.stories(StoryQuery(flagged=True))] == ["a-3"]
    counts = store.counts()
    assert (counts["all"], counts["hidden"], counts["flagged"]) == (1, 2, 1)
    assert counts["unread"] == 1
    [feed] = [f for f in store.list_feeds() if f.id == a.id]
    assert (feed.story_count, feed.unread_count) == (3, 1)  # the sidebar's unread: what the list shows


def test_hidden_stories_are_not_trending_nor_auto_selected(store: Store) -> None:
    a, b = _feeds(store)
    shared = "https://news.example.com/big"
    store.save_stories(a.id, [story(1, feed="a", link=shared, title="Big news, sponsored edition"),
                              story(2, feed="a", title="Ordinary news of the day", age_h=2)])
    store.save_stories(b.id, [story(1, feed="b", link=shared, title="Big news retold", age_h=1.5)])
    assert [c.count for c in trending(store, since=NOW_TS - 48 * HOUR)] == [2]
    apply_rules(store, hide("sponsored"))
    assert trending(store, since=NOW_TS - 48 * HOUR) == []  # one feed left: no longer a cluster
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 5)]
    cfg.select.since_last_digest = False
    auto_select(store, cfg, now=NOW_TS)
    picked = {i.story.guid for s in draft_sections(store, cfg) for i in s.items}
    assert picked == {"a-2", "b-1"}


def test_boost_raises_auto_selection_rank(store: Store) -> None:
    a, b = _feeds(store)
    store.save_stories(a.id, [story(i, feed="a", title=f"Plain news item number {i}", age_h=i) for i in range(1, 4)])
    store.save_stories(b.id, [story(1, feed="b", title="Old news about rust", age_h=20)])
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 2)]
    cfg.select.since_last_digest = False
    cfg.select.max_per_feed = 0

    def picks() -> list[str]:
        draft = store.draft()
        if draft is not None:
            for item in store.digest_items(draft.id):
                store.unflag(item.story.id)
        auto_select(store, cfg, now=NOW_TS)
        return [i.story.guid for s in draft_sections(store, cfg) for i in s.items]

    assert set(picks()) == {"a-1", "a-2"}  # newest first
    apply_rules(store, parse_rules([{"action": "boost", "boost": 1, "words": ["rust"]}]))
    assert "b-1" in picks()  # the oldest, boosted ahead of the unboosted


def test_kept_stories_survive_retention_and_are_never_hidden(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed.xml", title="A")
    seen = NOW_TS - 200 * 86_400
    store.save_stories(feed.id, [ParsedStory(guid=f"g{i}", link=f"https://a.example/{i}",
                                             canonical_link=f"https://a.example/{i}",
                                             title=f"Sponsored {'keeper' if i < 2 else 'filler'} {i}",
                                             published_at=seen - i) for i in range(6)], now=seen)
    rules = parse_rules([{"action": "hide", "words": ["sponsored"], "fields": ["title"]},
                         {"action": "keep", "words": ["keeper"], "fields": ["title"]}])
    result = apply_rules(store, rules)
    assert (result.hidden, result.kept) == (4, 2)
    report = store.prune(Retention(keep_days=90, keep_unread_days=180, keep_min_per_feed=0), now=NOW_TS)
    assert report.stories == 4
    assert sorted(s.guid for s in store.stories()) == ["g0", "g1"]


# -- refresh -----------------------------------------------------------------------------------------------

def feed_xml(*titles: str) -> bytes:
    return rss("Rules feed", [{"title": t, "link": f"https://site.example/{i}", "guid": f"r-{i}",
                               "date": f"Wed, 25 Nov 2026 1{i}:00:00 GMT", "description": f"<p>{t}.</p>"}
                              for i, t in enumerate(titles)])


def config_with(*rules: dict) -> object:
    cfg = parse_config({"rules": list(rules)})
    cfg.refresh = RefreshConfig(timeout_s=5.0)
    return cfg


def test_refresh_applies_rules_to_new_stories_and_a_changed_config_to_stored_ones(
        store: Store, feed_server: FeedServer) -> None:
    feed_server.feed("/r.xml", feed_xml("Sponsored: buy now", "Real news"))
    store.add_feed(feed_server.url("/r.xml"), title="R")
    cfg = config_with({"action": "hide", "words": ["sponsored"]})
    report = refresh(store, cfg)  # type: ignore[arg-type]
    assert report.new == 2 and report.hidden == 1
    assert "1 hidden by rules" in report.summary_line()
    assert [s.title for s in store.stories()] == ["Real news"]
    # the next refresh brings a new story: only it is read
    feed_server.feed("/r.xml", feed_xml("Sponsored: buy now", "Real news", "Sponsored again"))
    report = refresh(store, cfg)  # type: ignore[arg-type]
    assert report.new == 1 and report.hidden == 1
    assert [s.title for s in store.stories(StoryQuery(hidden=True))] == ["Sponsored again", "Sponsored: buy now"]
    # the config changes: the next refresh applies it to every stored story (304: no new story)
    wider = config_with({"action": "hide", "words": ["real"]})
    report = refresh(store, wider)  # type: ignore[arg-type]
    assert report.new == 0
    assert [s.title for s in store.stories()] == ["Sponsored again", "Sponsored: buy now"]
    # rules removed: every story back
    refresh(store, config_with())  # type: ignore[arg-type]
    assert len(store.stories()) == 3 and store.counts()["hidden"] == 0


def test_a_story_a_feed_edits_gets_the_rules_again(store: Store, feed_server: FeedServer) -> None:
    """A feed that edits an item (same guid, new title or text) has the rules applied to the new text at the
    same refresh: marks made on the old text would otherwise stay until the rule set changed (newsboat and
    Miniflux apply rules to new items only; their users complain)."""
    feed_server.feed("/r.xml", feed_xml("Real news", "Other news"))
    store.add_feed(feed_server.url("/r.xml"), title="R")
    cfg = config_with({"action": "hide", "words": ["sponsored"]})
    assert refresh(store, cfg).hidden == 0  # type: ignore[arg-type]
    # the publisher turns r-0 into an advert; no new story, so only the edit can bring the rule to it
    feed_server.feed("/r.xml", feed_xml("Sponsored: real news", "Other news"))
    report = refresh(store, cfg)  # type: ignore[arg-type]
    assert report.new == 0 and report.hidden == 1
    assert [s.title for s in store.stories()] == ["Other news"]
    assert [s.guid for s in store.stories(StoryQuery(hidden=True))] == ["r-0"]
    assert store.setting("rules_pending") is None  # taken by the refresh that applied them
    # edited back: shown again
    feed_server.feed("/r.xml", feed_xml("Real news, corrected", "Other news"))
    refresh(store, cfg)  # type: ignore[arg-type]
    assert sorted(s.title for s in store.stories()) == ["Other news", "Real news, corrected"]
    assert store.counts()["hidden"] == 0


def test_edited_stories_are_remembered_only_while_rules_apply(store: Store) -> None:
    """save_stories notes an edited story for the rules only when a rule set has been applied (one
    settings read otherwise), and take_rules_pending gives each id once."""
    a, _ = _feeds(store)
    store.save_stories(a.id, [story(1, feed="a", title="One"), story(2, feed="a", title="Two")])
    store.save_stories(a.id, [story(1, feed="a", title="One, edited")])
    assert store.setting("rules_pending") is None and store.take_rules_pending() == []
    store.set_setting("rules_hash", "abc")
    store.save_stories(a.id, [story(1, feed="a", title="One, edited again")])
    store.save_stories(a.id, [story(1, feed="a", title="One, third"), story(2, feed="a", title="Two, edited")])
    assert sorted(store.take_rules_pending()) == sorted([_id(store, "a-1"), _id(store, "a-2")])
    assert store.take_rules_pending() == []


def test_a_store_without_rules_pays_nothing(store: Store, feed_server: FeedServer) -> None:
    feed_server.feed("/r.xml", feed_xml("Sponsored: buy now", "Real news"))
    store.add_feed(feed_server.url("/r.xml"), title="R")
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    try:
        report = refresh(store, config_with())  # type: ignore[arg-type]
    finally:
        store.db.set_trace_callback(None)
    assert report.new == 2
    # no rule write, no read of the stories' texts for rules: one settings read
    assert [s for s in statements if "SET hidden" in s or "s.hidden, s.kept" in s] == []
    assert [s for s in statements if "settings" in s] == ["SELECT value FROM settings WHERE key = 'rules_hash'"]


def test_upgraded_store_has_rule_columns(tmp_path: Path) -> None:
    import shutil

    src = Path(__file__).parent / "stores" / "v4.db"
    shutil.copy(src, tmp_path / "v4.db")
    with Store(tmp_path / "v4.db") as s:
        assert s.schema_version >= 5
        assert s.counts()["hidden"] == 0
        result = apply_rules(s, parse_rules([{"action": "hide", "words": ["ferries"], "fields": ["summary"]}]))
        assert result.stories == 7 and result.hidden == 7
        assert s.stories() == [] and len(s.stories(StoryQuery(hidden=True))) == 7


@pytest.mark.parametrize("field", ["title", "summary"])
def test_apply_to_some_ids_reads_only_those(store: Store, field: str) -> None:
    a, _ = _feeds(store)
    store.save_stories(a.id, [story(i, feed="a", title=f"Sponsored thing {i}", summary=f"sponsored {i}")
                              for i in range(5)])
    ids = [_id(store, "a-1"), _id(store, "a-3")]
    result = apply_rules(store, hide("sponsored", fields=[field]), story_ids=ids)
    assert (result.stories, result.hidden, result.changed) == (2, 2, 2)
    assert {s.guid for s in store.stories(StoryQuery(hidden=True))} == {"a-1", "a-3"}
