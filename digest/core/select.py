"""What goes into a digest: the flagged draft, the automatic rules, and Trending clusters.

Trending is computed with two GROUP BYs over indexed columns (canonical_link, title_key) inside a time
window, then the few resulting groups are merged in Python: no all-pairs comparison, so it stays fast on
a store of 100k stories (tests/bench/bench_build.py measures it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest.core import clock
from digest.core.ads import is_ad
from digest.core.models import Section, Story, from_iso
from digest.core.record import record

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.store import Store

DAY = 86_400.0
# Trending looks back a week by default: long enough for a story to be picked up by several sources,
# short enough that the GROUP BY only touches recent rows (published_at is indexed).
TRENDING_WINDOW_S = 7 * DAY
# A headline match needs some substance: "Weekly roundup" or "Jobs" recur in unrelated feeds. Three
# words and 16 characters keep those out while real near-identical headlines still match.
MIN_TITLE_KEY_WORDS = 3
MIN_TITLE_KEY_CHARS = 16


@record
class Cluster:
    """One story carried by several feeds: `story` is the representative, `count` the distinct feeds."""

    story: Story
    count: int
    story_ids: list[int]
    feed_titles: list[str]


def _groups(store: Store, since: float) -> list[tuple[set[int], set[int], float]]:
    """(story ids, feed ids, newest published_at) for each link group and headline group that spans
    two or more feeds (Store.cross_feed_groups says how it stays fast)."""
    return store.cross_feed_groups(since, min_title_chars=MIN_TITLE_KEY_CHARS, min_title_words=MIN_TITLE_KEY_WORDS)


def _merge(groups: list[tuple[set[int], set[int], float]]) -> list[tuple[set[int], set[int], float]]:
    """Union groups that share a story (a link group and a headline group of the same event)."""
    merged: list[tuple[set[int], set[int], float]] = []
    for ids, feeds, newest in groups:
        ids, feeds = set(ids), set(feeds)
        keep = []
        for other in merged:
            if other[0] & ids:
                ids |= other[0]
                feeds |= other[1]
                newest = max(newest, other[2])
            else:
                keep.append(other)
        keep.append((ids, feeds, newest))
        merged = keep
    return merged


# Ad clusters are dropped after the stories are read: this many clusters past the limit are read, so a few
# ads carried by several feeds do not shorten the list.
AD_SLACK = 10


def trending(store: Store, *, since: float | None = None, limit: int = 10, skip_ads: bool = True) -> list[Cluster]:
    """Stories carried by at least two distinct feeds (same canonical link or same headline key),
    most feeds first, then most recent. `since` defaults to a week ago. Ads are left out unless
    `skip_ads` is False ([select] skip_ads)."""
    since = clock.now() - TRENDING_WINDOW_S if since is None else since
    clusters = _merge(_groups(store, since))
    clusters.sort(key=lambda c: (-len(c[1]), -c[2], min(c[0])))
    clusters = clusters[:limit + (AD_SLACK if skip_ads else 0)] if limit else clusters
    stories = {s.id: s for s in store.stories_by_ids(sorted({i for c in clusters for i in c[0]}))}
    out = []
    for ids, feeds, _newest in clusters:
        members = sorted((stories[i] for i in ids if i in stories), key=lambda s: (s.published_at, s.id))
        if skip_ads:
            members = [s for s in members if not is_ad(s.title, s.link)]
        if not members:
            continue
        # the representative: the first report that has a picture, else simply the first report
        rep = next((s for s in members if s.image), members[0])
        titles = sorted({s.feed_title for s in members if s.feed_title}, key=str.casefold)
        out.append(Cluster(rep, len(feeds), [s.id for s in members], titles))
    return out[:limit] if limit else out


def trending_counts(store: Store, *, since: float) -> dict[int, int]:
    """story id -> number of feeds carrying it, for every story in a trending cluster."""
    return {i: len(feeds) for ids, feeds, _ in _merge(_groups(store, since)) for i in ids}


def _section_order(config: Config) -> dict[str, int]:
    return {name.casefold(): i for i, name in enumerate(config.section_names())}


def draft_sections(store: Store, config: Config, digest_id: int | None = None) -> list[Section]:
    """The draft's items grouped by section: configured sections in config order, any others after in
    name order; items keep the positions the editor gave them. Empty sections are left out."""
    order = _section_order(config)
    by_name: dict[str, Section] = {}
    for item in store.digest_items(digest_id):
        by_name.setdefault(item.section, Section(item.section)).items.append(item)
    for sec in by_name.values():
        sec.items.sort(key=lambda it: it.position)
    return sorted(
        by_name.values(),
        key=lambda s: (order.get(s.name.casefold(), len(order)), s.name.casefold()),
    )


def _keywords_allow(store: Store, story_id: int, include: list[str], exclude: list[str]) -> bool:
    """The [select] keyword rules on one story's title, summary and categories (words already
    case-folded): none of the excluded words, and one of the included ones when any are set."""
    text = store.story_text(story_id).casefold()
    if any(w in text for w in exclude):
        return False
    return not include or any(w in text for w in include)


def _is_ad_story(store: Store, story_id: int) -> bool:
    return is_ad(*store.story_title_link(story_id))


def event_over(extra: dict[str, object], now: float) -> bool:
    """Whether an event has ended (else, with no end date, started) before `now`: a calendar item a reader
    can no longer go to. A conference under way is not over."""
    # a date missing or unreadable keeps the event: better listed than silently lost
    when = from_iso(extra.get("event_end")) or from_iso(extra.get("event_start"))
    return when is not None and when.timestamp() < now


def auto_select(store: Store, config: Config, *, now: float | None = None) -> int:
    """Fill an empty draft by the [select] rules; returns how many stories were added (0 when the draft
    already has items: a person's choices always win over the rules). Ads are never picked
    (`skip_ads`), and one feed gives at most `max_per_feed` stories, so a noisy feed cannot fill the issue.
    Stories a reader rule hides are never candidates; a boost raises a story's rank (see below)."""
    now = clock.now() if now is None else now
    draft = store.draft()
    if draft is not None and store.digest_items(draft.id):
        return 0
    rules = config.select
    max_age = rules.max_age_hours * 3600
    cutoff = now - max_age
    seen_after = None
    if rules.since_last_digest:
        last = store.last_sent_frozen_at()
        if last is not None:
            cutoff = last
            # A story first seen after the last issue was frozen could not be in it, whatever its date: its
            # feed was down at that run (a timeout, a day of 503s), or dates its posts before they appear
            # (a date without a time, the time a post was drafted). Judged by its date alone it was never
            # a candidate. It is one now, if dated at most max_age_hours before that issue, so a feed added
            # today does not offer its whole back catalogue.
            seen_after = last
    # Ranking needs only ids, dates and sections; the text is read only for rows a keyword rule has to
    # check. With a wide window every stored story is a candidate (200k at 2,000 feeds): reading and
    # case-folding all their summaries was most of a 2.7 s selection (bench_scale.py).
    # a day of slack for feeds whose clocks run ahead
    oldest = cutoff if seen_after is None else cutoff - max_age
    rows = store.selection_candidates(cutoff, now + DAY, seen_after=seen_after, seen_published_after=oldest,
                                      min_title_chars=MIN_TITLE_KEY_CHARS, min_title_words=MIN_TITLE_KEY_WORDS)
    include = [w.casefold() for w in rules.include_keywords if w.strip()]
    exclude = [w.casefold() for w in rules.exclude_keywords if w.strip()]
    groups = _merge(_groups(store, oldest))
    counts = {i: len(feeds) for ids, feeds, _ in groups for i in ids}
    cluster_of = {i: frozenset(ids) for ids, _feeds, _ in groups for i in ids}
    sections = {s.name.casefold(): s for s in config.sections}
    first = config.sections[0]
    # The rank: how many feeds carry the story (1: only its own; Trending clusters count more) plus the
    # boost reader rules gave it (digest.core.rules, 1..100), newest first among equals. So boost 1 puts a
    # story ahead of every unboosted story of its section carried by as many feeds, and level with one
    # carried by one feed more; boost 10 ahead of nearly any cluster.
    ranked = sorted(rows, key=lambda r: (-(counts.get(r[0], 1) + r[4]), -r[1], -r[0]))
    picked: dict[str, list[int]] = {}
    per_feed: dict[int, int] = {}
    seen_clusters: set[frozenset[int]] = set()
    open_sections = sum(1 for sec in config.sections if sec.max_auto > 0)
    for story_id, _published, section, feed_id, _boost in ranked:
        if open_sections == 0:
            break  # every section has its stories: the rest of the candidates cannot change anything
        sec = sections.get((section or "").casefold(), first)
        chosen = picked.setdefault(sec.name, [])
        if len(chosen) >= sec.max_auto:
            continue
        # the cap is for story sections: a jobs board or an events calendar is one feed by nature
        capped = rules.max_per_feed and sec.kind == "stories"
        if capped and per_feed.get(feed_id, 0) >= rules.max_per_feed:
            continue
        if (include or exclude) and not _keywords_allow(store, story_id, include, exclude):
            continue
        if rules.skip_ads and _is_ad_story(store, story_id):
            continue
        # an events calendar lists what readers can still attend: a feed may post a meetup the week of it
        if sec.kind == "events" and event_over(store.get_story(story_id).extra or {}, now):
            continue
        key = cluster_of.get(story_id)
        if key is not None:  # one story per cluster: the same news from three feeds goes in once
            if key in seen_clusters:
                continue
            seen_clusters.add(key)
        chosen.append(story_id)
        if capped:
            per_feed[feed_id] = per_feed.get(feed_id, 0) + 1
        if len(chosen) == sec.max_auto:
            open_sections -= 1
    added = 0
    for sec in config.sections:
        ids = picked.get(sec.name, [])
        if not ids:
            continue
        stories = {s.id: s for s in store.stories_by_ids(ids)}
        if sec.kind == "events":  # a calendar reads in date order
            ids.sort(key=lambda i: (str(stories[i].extra.get("event_start") or ""), i))
        elif sec is first:  # the lead opens the email with a photo when one of the picks has one
            with_image = next((i for i in ids if stories[i].image is not None), None)
            if with_image is not None:
                ids.remove(with_image)
                ids.insert(0, with_image)
        for story_id in ids:
            store.flag(story_id, sec.name)
            added += 1
    return added

