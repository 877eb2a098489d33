r"""Reader rules ([[rules]] in the config): hide noise, keep what must stay, boost what matters.

A rule matches some of a story's texts (title, summary, author, feed, section, link, category) by whole words
or by a regex, optionally only in some feeds. Three actions:
    hide    the story leaves the lists, search, Trending and auto-selection (`digest stories --hidden` shows
            it; a flagged story stays in the digest: flagging is the editor's explicit choice)
    keep    never hidden, never removed by retention
    boost   N (1..100) added to the story's auto-selection rank (digest.core.select documents the scale);
            several boost rules add up, to at most MAX_BOOST

Rules apply to stored stories as well as new ones: the store remembers a hash of the rule set last applied
(settings row "rules_hash"); a different rule set is applied to every stored story at the next sync_rules()
(refresh, `digest rules apply`, TUI start), and each refresh applies the current set to its new stories.

Matching is case- and accent-insensitive for words and regexes alike: texts are folded (NFKD, combining marks
removed, lower case: "Café" -> "cafe") and so are the words and a regex's literal letters (escapes such as
\S or \W keep their meaning). Words match whole words; a "multi word" entry matches that phrase with any
spaces between. A regex is Python `re` syntax with MULTILINE (^ and $ are the start and end of a text).

Speed (tests/bench/bench_tui.py --only-rules, 100k stories): RuleIndex reads every needed column in one query
and joins each field's texts into one string ("\n" between stories, newlines inside a text made spaces), so a
rule costs one regex scan per field and word with a bisect per hit, not 100k Python calls; each word is a
pattern that starts with its literal, which CPython's re finds with a fast string search (rulespec.py). The
feed and section fields are matched once per feed. Summaries are inflated only when a rule reads them.

API notes for the TUI (keep these stable; additions are listed here):
    Rule.label() (added): the rule's name, or describe() when it has none.
    RuleIndex.load(store, fields=...) (added, optional): load only some fields (apply_rules does).
    sync_rules(store, rules, new_ids=..., force=..., index=...) (added): what refresh / CLI / TUI start call.
    apply_rules(..., index=RuleIndex) and sync_rules(..., index=...) (added): reuse a loaded index (no reload:
    ~0.3 of the time); the index's `stored` marks are updated.
    RuleIndex.marks (removed, never used outside): RuleIndex.stored (sparse) and RuleIndex.outcome(rules).
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from digest.core.record import record
from digest.core.rulespec import (
    ACTIONS,
    DEFAULT_FIELDS,
    FIELDS,
    MAX_BOOST,
    Action,
    Rule,
    fold,
    parse_rules,
    rule_error,
    rules_hash,
)
from digest.core.store.body import summaries_of
from digest.core.store.rules import RULES_HASH_KEY as SETTING
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.store import Store

__all__ = [
    "ACTIONS", "DEFAULT_FIELDS", "FIELDS", "MAX_BOOST", "SETTING", "Action", "ApplyResult", "Rule", "RuleIndex",
    "after_refresh", "apply_rules", "fold", "needed_fields", "parse_rules", "rule_error", "rules_hash", "sync_rules",
]

_NEWLINE = re.compile("\n")
_FEED_FIELDS = ("feed", "section")  # the feed's texts: matched once per feed, not once per story


# -- matching stored stories -------------------------------------------------------------------------------

class _Column:
    """One field's texts of every story as one string, with where each story's text starts."""

    __slots__ = ("starts", "text")

    def __init__(self, texts: Sequence[str]) -> None:
        # Folded as ONE string (a few C passes over it, ~70 ms for 37 MB of summaries) rather than text by
        # text (100k Python calls: twice the time). Texts with line breaks of their own get spaces first.
        text = "\n".join(texts)
        if texts and text.count("\n") != len(texts) - 1:
            texts = [t.replace("\n", " ") for t in texts]
            text = "\n".join(texts)
        if text.isascii():  # folding keeps every length: the starts follow from them, no search for "\n"
            self.text = text.lower().replace("\r", " ")
            self.starts = [0, *accumulate(len(t) + 1 for t in texts[:-1])] if texts else []
            return
        # fold() makes "\n" a space: the separators are NULs meanwhile (and a text's own NULs spaces)
        self.text = fold(text.replace("\x00", " ").replace("\n", "\x00")).replace("\x00", "\n")
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(self.text))] if texts else []

    def hits(self, pattern: re.Pattern[str], found: set[int]) -> None:
        """Add the indexes of the texts the pattern finds something in: after a hit the search resumes at
        the next text's start, so a text with many hits costs one Python step."""
        starts, text, search, bisect_right = self.starts, self.text, pattern.search, bisect.bisect_right
        n, pos = len(starts), 0
        while n:
            m = search(text, pos)
            if m is None:
                return
            i = bisect_right(starts, m.start()) - 1
            found.add(i)
            if i + 1 >= n:
                return
            pos = starts[i + 1]


@record
class ApplyResult:
    stories: int = 0   # stories the rules were applied to
    hidden: int = 0    # of those, hidden after
    kept: int = 0
    boosted: int = 0
    changed: int = 0   # stories whose marks were written
    seconds: float = 0.0

    def line(self) -> str:
        return (f"rules applied to {count(self.stories, 'story', 'stories', grouped=True)} in "
                f"{self.seconds:.2f} s: {self.hidden:,} hidden, {self.kept:,} kept, {self.boosted:,} boosted "
                f"({self.changed:,} changed)")


Marks = tuple[int, int, int]  # (hidden, kept, boost)


class RuleIndex:
    """The matchable text of every stored story, loaded once (a worker thread in the TUI), so counting a
    rule being typed costs only the regex scan (<100 ms on 100k stories)."""

    def __init__(self, ids: list[int], feed_ids: list[int], stored: dict[int, Marks],
                 columns: dict[str, _Column], feeds: list[tuple[int, str, str, str]]) -> None:
        self.ids = ids
        self.feed_ids = feed_ids
        # the marks stored now, only of the stories that have one (by position in ids): nearly every story
        # has none, and 100k tuples of zeros cost more to build and compare than the rules' scans
        self.stored = stored
        self.columns = columns
        self.feeds = feeds  # (id, title, url, section)

    @classmethod
    def load(cls, store: Store, *, fields: Iterable[str] = FIELDS,
             story_ids: Sequence[int] | None = None) -> RuleIndex:
        wanted = [f for f in FIELDS if f in set(fields) and f not in _FEED_FIELDS]
        rows = store.rule_rows(wanted, story_ids)
        cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * (5 + len(wanted))
        del rows
        columns = {}
        for k, name in enumerate(wanted):
            values = cols[5 + k]
            if name == "summary":
                values = summaries_of(values)  # once per story, only when a rule reads it
            columns[name] = _Column(values)
        hidden, kept, boost = cols[2], cols[3], cols[4]
        marked = {i for col in (hidden, kept, boost) for i, v in enumerate(col) if v}
        stored = {i: (hidden[i], kept[i], boost[i]) for i in marked}
        return cls(list(cols[0]), list(cols[1]), stored, columns, store.rule_feeds())

    def __len__(self) -> int:
        return len(self.ids)

    def _feed_ids_named(self, names: Sequence[str]) -> set[int]:
        """Feeds a rule's `feeds` names, by URL (exactly) or title (any case)."""
        urls = set(names)
        titles = {n.casefold() for n in names}
        return {fid for fid, title, url, _ in self.feeds if url in urls or (title and title.casefold() in titles)}

    def _hits(self, rule: Rule) -> set[int]:
        """Positions (in self.ids) of the stories the rule matches."""
        patterns = rule.patterns()
        found: set[int] = set()
        feed_hits: set[int] = set()
        for f in rule.fields:
            if f in _FEED_FIELDS:
                for fid, title, url, section in self.feeds:
                    text = fold(section if f == "section" else f"{title} {url}")
                    if any(p.search(text) for p in patterns):
                        feed_hits.add(fid)
            else:
                column = self.columns.get(f)
                if column is None:
                    raise ValueError(f"this RuleIndex was loaded without the {f!r} field")
                for p in patterns:
                    column.hits(p, found)
        if feed_hits:  # one pass over the feed ids (a dict of lists per feed cost 86 ms to build on 100k)
            found.update(i for i, fid in enumerate(self.feed_ids) if fid in feed_hits)
        if rule.feeds:
            allowed = self._feed_ids_named(rule.feeds)
            fids = self.feed_ids
            found = {i for i in found if fids[i] in allowed}
        return found

    def matches(self, rule: Rule) -> list[int]:
        """Ids of the stories the rule matches."""
        ids = self.ids
        return [ids[i] for i in sorted(self._hits(rule))]

    def count(self, rule: Rule) -> int:
        """How many stories the rule matches; for a hide rule, leaving out the stories kept by the rules
        applied to the store ("would hide N")."""
        hits = self._hits(rule)
        if rule.action == "hide":
            stored = self.stored
            return sum(1 for i in hits if not (i in stored and stored[i][1]))
        return len(hits)

    def outcome(self, rules: Sequence[Rule]) -> dict[int, Marks]:
        """(hidden, kept, boost) under these rules of every story one of them matches (by position; the
        others have none): kept beats hide; boosts add up to MAX_BOOST."""
        hidden: set[int] = set()
        kept: set[int] = set()
        boost: dict[int, int] = {}
        for rule in rules:
            hits = self._hits(rule)
            if rule.action == "hide":
                hidden |= hits
            elif rule.action == "keep":
                kept |= hits
            else:
                for i in hits:
                    boost[i] = min(MAX_BOOST, boost.get(i, 0) + rule.boost)
        return {i: (int(i in hidden and i not in kept), int(i in kept), boost.get(i, 0))
                for i in hidden | kept | boost.keys()}


def needed_fields(rules: Sequence[Rule]) -> set[str]:
    return {f for r in rules for f in r.fields}


def apply_rules(store: Store, rules: list[Rule], *, story_ids: Sequence[int] | None = None,
                index: RuleIndex | None = None) -> ApplyResult:
    """Apply the rules to the stored stories (all of them, or those of story_ids) and write the marks of the
    stories whose marks change; returns the counts. Reads only the fields the rules need, unless given an
    `index` already loaded (the TUI's rules screen has one: then only the scans and the writes are left,
    ~0.3 of the time on 100k stories); the index's stored marks are brought up to date."""
    t0 = time.perf_counter()
    if index is None:
        index = RuleIndex.load(store, fields=needed_fields(rules), story_ids=story_ids)
    elif story_ids is not None:
        raise ValueError("apply_rules: give story_ids or an index, not both")
    new = index.outcome(rules)
    old, ids, none = index.stored, index.ids, (0, 0, 0)
    changed = [(*new.get(i, none), ids[i]) for i in new.keys() | old.keys() if new.get(i, none) != old.get(i, none)]
    store.set_rule_marks(changed)
    index.stored = new
    return ApplyResult(
        stories=len(index), hidden=sum(m[0] for m in new.values()), kept=sum(m[1] for m in new.values()),
        boosted=sum(1 for m in new.values() if m[2]), changed=len(changed), seconds=time.perf_counter() - t0,
    )


def sync_rules(store: Store, rules: list[Rule], *, new_ids: Sequence[int] | None = None,
               force: bool = False, index: RuleIndex | None = None) -> ApplyResult | None:
    """Bring the store in line with the config's rules: a rule set other than the one last applied (or any,
    with `force`: `digest rules apply`) is applied to every stored story (no rules: every mark cleared);
    otherwise only `new_ids` (a refresh's new stories) get them. Returns None when nothing had to be done:
    with no rules and none applied before this is one settings read, and no write. `index`: a RuleIndex of
    every stored story already loaded, used for the full apply (see apply_rules)."""
    h = rules_hash(rules)
    if force or store.applied_rules_hash() != h:
        if rules:
            result = apply_rules(store, rules, index=index)
        else:
            t0 = time.perf_counter()
            result = ApplyResult(changed=store.clear_rule_marks())
            if index is not None:
                index.stored = {}
            result.seconds = time.perf_counter() - t0
        if store.applied_rules_hash() != h:
            store.set_setting(SETTING, h)
        return result
    if rules and new_ids:
        return apply_rules(store, rules, story_ids=new_ids)
    return None


def after_refresh(store: Store, rules: list[Rule], *, since: float, new: int) -> int:
    """The rules after a refresh (refresh.refresh), before its prune: a changed rule set on every stored
    story, else the current one on the stories first seen since `since` (when there are `new` ones). With no
    rules now or before, one settings read and no write. Returns how many stories are hidden of those the
    rules were applied to. A store that cannot be written now (a lock held too long, a full disk) is left
    for the next refresh, logged, never failing the refresh."""
    from digest.core.store import StoreError

    try:
        if not rules and not store.applied_rules_hash():
            return 0
        ids = store.stories_fetched_since(since) if rules and new else []
        if rules:  # and the stories a feed changed since the rules were applied to them (store.note_changed)
            ids = sorted({*ids, *store.take_rules_pending()})
        result = sync_rules(store, rules, new_ids=ids)
    except StoreError as e:
        import logging

        logging.getLogger("digest").warning("rules: %s", e)
        return 0
    return result.hidden if result is not None else 0
