"""Trending clusters, the draft's sections, the automatic rules and never-resend."""

from __future__ import annotations

import pytest
from helpers_digest import HOUR, NOW_TS, make_config, story

from digest.core.config import SectionConfig
from digest.core.select import auto_select, draft_sections, trending
from digest.core.store import Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "t.db") as s:
        yield s


def _feeds(store, n=3, sections=("Top Stories", "Startups", "Engineering")):
    return [store.add_feed(f"https://f{i}.example.com/feed", title=f"Feed {i}", section=sections[i % len(sections)])
            for i in range(n)]


def _id(store, guid):
    return store.db.execute("SELECT id FROM stories WHERE guid = ?", (guid,)).fetchone()[0]


def test_trending_by_canonical_link_ranks_by_feed_count(store):
    a, b, c = _feeds(store)
    shared3 = "https://news.example.com/big"
    shared2 = "https://news.example.com/medium"
    store.save_stories(a.id, [story(1, feed="a", link=shared3, title="Big news one"),
                              story(2, feed="a", link=shared2, title="Medium news"),
                              story(3, feed="a", title="Alone")])
    store.save_stories(b.id, [story(1, feed="b", link=shared3, title="Big news two", age_h=2),
                              story(2, feed="b", link=shared2, title="Medium again", age_h=0.5)])
    store.save_stories(c.id, [story(1, feed="c", link=shared3, title="Big news three", image=False)])
    clusters = trending(store, since=NOW_TS - 48 * HOUR)
    assert [c.count for c in clusters] == [3, 2]
    assert clusters[0].story.canonical_link == shared3
    assert len(clusters[0].story_ids) == 3
    assert clusters[0].feed_titles == ["Feed 0", "Feed 1", "Feed 2"]
    assert clusters[0].story.image is not None  # the representative has a picture when one does


def test_trending_by_headline_key_and_merge_with_link_group(store):
    a, b, c = _feeds(store)
    store.save_stories(a.id, [story(1, feed="a", title="Why We Moved Our Build Farm to ARM!")])
    store.save_stories(b.id, [story(1, feed="b", title="why we moved our build farm to arm",
                                    link="https://other.example.com/x")])
    # c shares b's link but has a different headline: one cluster of three, not two clusters
    store.save_stories(c.id, [story(1, feed="c", title="Build farm on ARM", link="https://other.example.com/x")])
    clusters = trending(store, since=NOW_TS - 48 * HOUR)
    assert len(clusters) == 1
    assert clusters[0].count == 3


def test_short_headlines_and_same_feed_repeats_do_not_trend(store):
    a, b, _ = _feeds(store)
    store.save_stories(a.id, [story(1, feed="a", title="Jobs"), story(2, feed="a", title="Weekly roundup")])
    store.save_stories(b.id, [story(1, feed="b", title="Jobs"), story(2, feed="b", title="Weekly roundup")])
    # the same link twice in one feed is one feed, not a trend
    store.save_stories(a.id, [story(3, feed="a", link="https://x.example.com/1"),
                              story(4, feed="a", link="https://x.example.com/1")])
    assert trending(store, since=NOW_TS - 48 * HOUR) == []


def test_trending_window_and_ties_by_recency(store):
    a, b, _ = _feeds(store)
    store.save_stories(a.id, [story(1, feed="a", link="https://n.example.com/old", age_h=24 * 10),
                              story(2, feed="a", link="https://n.example.com/newer", age_h=1),
                              story(3, feed="a", link="https://n.example.com/older", age_h=5)])
    store.save_stories(b.id, [story(1, feed="b", link="https://n.example.com/old", age_h=24 * 10),
                              story(2, feed="b", link="https://n.example.com/newer", age_h=2),
                              story(3, feed="b", link="https://n.example.com/older", age_h=6)])
    clusters = trending(store, since=NOW_TS - 7 * 24 * HOUR)
    assert [c.story.canonical_link for c in clusters] == ["https://n.example.com/newer", "https://n.example.com/older"]
    assert len(trending(store, since=NOW_TS - 7 * 24 * HOUR, limit=1)) == 1


def test_trending_uses_indexes_not_a_scan_of_pairs(store):
    plan = " ".join(r[3] for r in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT group_concat(id) FROM stories WHERE published_at >= 0 AND canonical_link != '' "
        "GROUP BY canonical_link HAVING count(DISTINCT feed_id) >= 2"))
    assert "stories_canonical" in plan or "stories_published" in plan


def test_draft_sections_follow_config_order_and_positions(store):
    a, b, c = _feeds(store, sections=("Engineering", "Zeta", "Top Stories"))
    for f in (a, b, c):
        store.save_stories(f.id, [story(1, feed=str(f.id)), story(2, feed=str(f.id))])
    cfg = make_config()
    store.flag(_id(store, f"{a.id}-1"), "Engineering")
    store.flag(_id(store, f"{b.id}-1"), "Zeta")
    store.flag(_id(store, f"{b.id}-2"), "Alpha extra")
    store.flag(_id(store, f"{c.id}-2"), "Top Stories")
    store.flag(_id(store, f"{c.id}-1"), "Top Stories")
    secs = draft_sections(store, cfg)
    assert [s.name for s in secs] == ["Top Stories", "Engineering", "Alpha extra", "Zeta"]
    assert [i.story.guid for i in secs[0].items] == [f"{c.id}-2", f"{c.id}-1"]
    store.move_item(_id(store, f"{c.id}-1"), delta=-1)
    assert [i.story.guid for i in draft_sections(store, cfg)[0].items] == [f"{c.id}-1", f"{c.id}-2"]


def test_auto_select_rules(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 2), SectionConfig("Startups", 1)]
    cfg.select.since_last_digest = False
    cfg.select.max_age_hours = 24
    top, startups, other = _feeds(store, sections=("Top Stories", "startups", "Not configured"))
    store.save_stories(top.id, [story(i, feed="t", age_h=i, image=i != 1) for i in range(1, 5)]
                       + [story(9, feed="t", age_h=30)])  # too old
    store.save_stories(startups.id, [story(1, feed="s", age_h=3), story(2, feed="s", age_h=1)])
    store.save_stories(other.id, [story(1, feed="o", age_h=0.5)])
    added = auto_select(store, cfg, now=NOW_TS)
    secs = {s.name: [i.story.guid for i in s.items] for s in draft_sections(store, cfg)}
    # the unconfigured feed's story goes to the first section; newest first, but the lead has a picture
    assert secs["Top Stories"][0] in {"t-2", "o-1"}
    assert set(secs["Top Stories"]) == {"o-1", "t-2"} or set(secs["Top Stories"]) == {"o-1", "t-1"}
    assert secs["Startups"] == ["s-2"]
    assert added == 3
    assert auto_select(store, cfg, now=NOW_TS) == 0  # the draft is not empty: people's picks win


def test_auto_select_keywords_and_trending_rank(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 3)]
    cfg.select.since_last_digest = False
    a, b, _ = _feeds(store, sections=("Top Stories", "Top Stories", "Top Stories"))
    store.save_stories(a.id, [
        story(1, feed="a", title="Rust compiler release brings faster builds", age_h=1),
        story(2, feed="a", title="Celebrity gossip about a tech founder", age_h=0.5),
        story(3, feed="a", title="Rust in the kernel, an old debate", link="https://n.example.com/rk", age_h=9),
        story(4, feed="a", title="Kubernetes news nobody asked for", age_h=0.2),
    ])
    store.save_stories(b.id, [story(1, feed="b", title="Rust in the kernel again", link="https://n.example.com/rk",
                                    age_h=8)])
    cfg.select.include_keywords = ["rust", "kubernetes"]
    cfg.select.exclude_keywords = ["GOSSIP", "nobody asked"]
    auto_select(store, cfg, now=NOW_TS)
    guids = [i.story.guid for i in draft_sections(store, cfg)[0].items]
    # trending (2 feeds) first even though older; only one story of the cluster; keywords applied
    assert guids[0] in {"a-3", "b-1"}
    assert set(guids) in ({"a-3", "a-1"}, {"b-1", "a-1"})


def test_auto_select_never_resends_and_starts_after_last_digest(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 10)]
    cfg.select.since_last_digest = True
    cfg.select.max_per_feed = 0  # three stories of one feed: the per-feed cap is tested on its own
    (a, b) = _feeds(store, n=2, sections=("Top Stories",))
    store.save_stories(a.id, [story(i, feed="a", age_h=10 + i) for i in range(3)])
    assert auto_select(store, cfg, now=NOW_TS) == 3  # no digest sent yet: max_age_hours applies
    draft = store.draft()
    store.mark_sent(draft.id, at=NOW_TS - 5 * HOUR)
    # the same link arrives again from another feed, plus one genuinely new story after the send
    store.save_stories(b.id, [story(9, feed="b", age_h=6)], now=NOW_TS - 6 * HOUR)  # before the last send: skipped
    store.save_stories(b.id, [story(7, feed="b", link="https://news.example.com/a/story-0", age_h=1),
                              story(8, feed="b", age_h=1)])
    assert auto_select(store, cfg, now=NOW_TS) == 1
    assert [i.story.guid for i in store.digest_items()] == ["b-8"]


def test_auto_select_skips_a_headline_an_issue_carried_and_stories_without_a_link(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 10)]
    cfg.select.since_last_digest = False
    cfg.select.max_per_feed = 0
    (a, b) = _feeds(store, n=2, sections=("Top Stories",))
    store.save_stories(a.id, [story(1, feed="a", title="Why We Moved Our Build Farm to ARM!", age_h=30)])
    store.flag(_id(store, "a-1"), "Top Stories")
    store.mark_sent(store.draft().id, at=NOW_TS - 20 * HOUR)
    linkless = story(3, feed="b", title="Unclosed thing", summary="", age_h=8)
    linkless.link = linkless.canonical_link = ""  # a broken feed's item: a headline with nothing to read at
    store.save_stories(b.id, [
        # the sent story again, from another feed under its own link: not news to the readers
        story(1, feed="b", title="why we moved our build farm to arm", age_h=10),
        # a short headline repeats by chance ("Jobs"), as in Trending: not taken for the same story
        story(2, feed="b", title="Weekly notes", age_h=9),
        linkless,
        story(4, feed="b", title="A real story with a link", age_h=7),
    ])
    store.save_stories(a.id, [story(2, feed="a", title="Weekly notes", age_h=29)])
    store.flag(_id(store, "a-2"), "Top Stories")
    store.mark_sent(store.draft().id, at=NOW_TS - 19 * HOUR)
    assert auto_select(store, cfg, now=NOW_TS) == 2
    assert sorted(i.story.guid for i in store.digest_items()) == ["b-2", "b-4"]


def test_auto_select_orders_events_by_start(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 1), SectionConfig("Events", 5, "events")]
    cfg.select.since_last_digest = False
    ev = store.add_feed("https://ev.example.com/feed", title="Events", section="Events")
    store.save_stories(ev.id, [
        story(1, feed="e", age_h=1, extra={"event_start": "2027-01-20T17:30:00-08:00"}),
        story(2, feed="e", age_h=2, extra={"event_start": "2027-01-07T17:30:00-08:00"}),
        story(3, feed="e", age_h=3, extra={"event_start": "2027-01-13T08:30:00-08:00"}),
    ])
    auto_select(store, cfg, now=NOW_TS)
    assert [i.story.guid for i in draft_sections(store, cfg)[0].items] == ["e-2", "e-3", "e-1"]


def test_auto_select_leaves_out_events_that_are_over(store):
    """An automatic issue's calendar lists what readers can still go to: an event that ended (or, without
    an end, started) before the issue is built is not picked, however recently the feed posted it. A
    conference under way (started, not yet ended) stays; an item without dates is kept."""
    cfg = make_config()  # NOW is 2026-11-26 08:00 UTC (00:00 in Seattle)
    cfg.sections = [SectionConfig("Top Stories", 1), SectionConfig("Events", 5, "events")]
    cfg.select.since_last_digest = False
    ev = store.add_feed("https://ev.example.com/feed", title="Events", section="Events")
    store.save_stories(ev.id, [
        story(1, feed="e", age_h=1, extra={"event_start": "2026-11-25T18:30:00-08:00"}),  # last night
        story(2, feed="e", age_h=2, extra={"event_start": "2026-11-24T09:00:00-08:00",
                                           "event_end": "2026-11-25T17:00:00-08:00"}),  # ended yesterday
        story(3, feed="e", age_h=3, extra={"event_start": "2026-11-25T09:00:00-08:00",
                                           "event_end": "2026-11-27T17:00:00-08:00"}),  # under way
        story(4, feed="e", age_h=4, extra={"event_start": "2026-12-03T18:30:00Z"}),
        story(5, feed="e", age_h=5),  # no dates: kept
        story(6, feed="e", age_h=6, extra={"event_start": "not a date"}),  # unreadable: kept
    ])
    auto_select(store, cfg, now=NOW_TS)
    assert sorted(i.story.guid for i in draft_sections(store, cfg)[0].items) == ["e-3", "e-4", "e-5", "e-6"]


def test_ads_are_never_auto_selected_nor_trending_unless_turned_off(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 10)]
    cfg.select.since_last_digest = False
    a, b, c = _feeds(store, sections=("Top Stories",))
    ad_link = "https://ads.example.com/click?id=1"
    for f, feed in ((a, "a"), (b, "b"), (c, "c")):  # one ad carried by three feeds: Trending's top, were it news
        store.save_stories(f.id, [
            story(1, feed=feed, title="Sponsored: The cloud that scales with you", link="https://cloud.example/x"),
            story(2, feed=feed, title="Ad - Try the new Acme phone today and save", link=ad_link),
            story(3, feed=feed, title=f"Real news from feed {feed} about Seattle startups", age_h=2),
        ])
    store.save_stories(a.id, [story(4, feed="a", title="[Sponsor] Acme Corp hiring event this week", age_h=0.5),
                              story(5, feed="a", title="Kelpline raises a seed round", age_h=0.2,
                                    link="https://ad.doubleclick.net/ddm/clk/123;abc")])
    titles = {cl.story.title for cl in trending(store, since=NOW_TS - 7 * 86_400)}
    assert not any("Sponsored" in t or t.startswith("Ad -") for t in titles)
    auto_select(store, cfg, now=NOW_TS)
    picked = [i.story.title for i in store.digest_items()]
    assert sorted(picked) == sorted(f"Real news from feed {f} about Seattle startups" for f in "abc")
    # the rule can be turned off: then the ads count like any story (and trend)
    assert any(cl.story.title.startswith("Sponsored") for cl in trending(store, since=NOW_TS - 7 * 86_400,
                                                                          skip_ads=False))
    for item in store.digest_items():
        store.unflag(item.story.id)
    cfg.select.skip_ads = False
    cfg.select.max_per_feed = 0
    auto_select(store, cfg, now=NOW_TS)
    assert any(i.story.title.startswith("Sponsored") for i in store.digest_items())


def test_auto_select_takes_at_most_max_per_feed_of_one_feed(store):
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 5), SectionConfig("Jobs", 6, "jobs")]
    cfg.select.since_last_digest = False
    noisy, quiet = _feeds(store, n=2, sections=("Top Stories",))
    jobs = store.add_feed("https://jobs.example.com/feed", title="Jobs", section="Jobs")
    store.save_stories(noisy.id, [story(i, feed="n", age_h=0.1 * (i + 1)) for i in range(8)])  # the newest
    store.save_stories(quiet.id, [story(i, feed="q", age_h=5 + i) for i in range(2)])
    store.save_stories(jobs.id, [story(i, feed="j", age_h=1 + i) for i in range(5)])
    assert cfg.select.max_per_feed == 2  # the default
    auto_select(store, cfg, now=NOW_TS)
    sections = {s.name: [i.story.guid for i in s.items] for s in draft_sections(store, cfg)}
    assert sections["Top Stories"] == ["n-0", "n-1", "q-0", "q-1"]  # 2 of the noisy feed, then the others
    assert len(sections["Jobs"]) == 5  # a jobs board is one feed by nature: not capped
    for item in store.digest_items():
        store.unflag(item.story.id)
    cfg.select.max_per_feed = 3
    auto_select(store, cfg, now=NOW_TS)
    top = [i.story.guid for i in draft_sections(store, cfg)[0].items]
    assert top == ["n-0", "n-1", "n-2", "q-0", "q-1"]


def test_auto_select_takes_a_story_first_seen_after_the_last_issue_though_dated_before_it(store):
    """A feed that was down at the last run (or dates its posts before they appear) brings stories dated
    before that issue: the issue could not carry them, so the next one may. A feed's old back catalogue
    (dated more than max_age_hours before the issue) stays out, and so does a story seen in time for it."""
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 10)]
    cfg.select.max_per_feed = 0
    (a,) = _feeds(store, n=1, sections=("Top Stories",))
    store.save_stories(a.id, [story(0, feed="a", age_h=30)], now=NOW_TS - 30 * HOUR)
    assert auto_select(store, cfg, now=NOW_TS - 24 * HOUR) == 1
    store.mark_sent(store.draft().id, at=NOW_TS - 24 * HOUR)
    store.save_stories(a.id, [story(1, feed="a", age_h=25)], now=NOW_TS - 25 * HOUR)  # seen before the issue
    # the feed timed out at that run; today it gives a story dated two hours before the issue, and one
    # from months ago
    store.save_stories(a.id, [story(2, feed="a", age_h=26), story(3, feed="a", age_h=24 * 100)], now=NOW_TS - HOUR)
    assert auto_select(store, cfg, now=NOW_TS) == 1
    assert [i.story.guid for i in store.digest_items()] == ["a-2"]


def test_auto_select_starts_where_the_last_issue_was_frozen_not_when_it_was_finally_sent(store):
    """An issue frozen on Monday whose SMTP server was down until Tuesday: the stories published between
    the freeze and the send were never candidates for it, and are for the next issue."""
    cfg = make_config()
    cfg.sections = [SectionConfig("Top Stories", 10)]
    (a,) = _feeds(store, n=1, sections=("Top Stories",))
    store.save_stories(a.id, [story(0, feed="a", age_h=49)], now=NOW_TS - 49 * HOUR)
    assert auto_select(store, cfg, now=NOW_TS - 48 * HOUR) == 1
    issue = store.freeze_draft(["r@example.com"], "d@example.com", archive_path=str, now=NOW_TS - 48 * HOUR)
    store.save_stories(a.id, [story(1, feed="a", age_h=40)], now=NOW_TS - 40 * HOUR)
    store.mark_sent(issue.id, at=NOW_TS - 24 * HOUR)  # the resumed send went through a day later
    assert auto_select(store, cfg, now=NOW_TS) == 1
    assert [i.story.guid for i in store.digest_items()] == ["a-1"]
