"""Reader rules (digest.core.rules): the [[rules]] config, matching on a real store, apply and sync."""

from __future__ import annotations

from typing import Any

import pytest

from digest.core.config import ConfigError, parse_config
from digest.core.models import ParsedStory
from digest.core.rules import (
    FIELDS,
    SETTING,
    Rule,
    RuleIndex,
    apply_rules,
    fold,
    parse_rules,
    rule_error,
    rules_hash,
    sync_rules,
)
from digest.core.store import Store, StoryQuery


def rules(*tables: dict[str, Any]) -> list[Rule]:
    return parse_rules(list(tables))


# -- config ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("table", "message"), [
    ({"action": "drop", "words": ["x"]}, "rules[1].action: must be one of hide, keep, boost, got 'drop'"),
    ({"words": ["x"]}, "rules[1].action: must be one of hide, keep, boost, got nothing"),
    ({"action": "hide", "fields": ["title", "body"], "words": ["x"]}, "rules[1].fields: unknown field 'body'"),
    ({"action": "hide", "words": ["x"], "regex": "x"}, "rules[1].words: give exactly one of words or regex"),
    ({"action": "hide"}, "rules[1].words: give exactly one of words or regex"),
    ({"action": "hide", "regex": "(ab"}, "rules[1].regex: missing ), unterminated subpattern at position 0"),
    ({"action": "hide", "regex": "x*"}, "rules[1].regex: matches empty text"),
    ({"action": "boost", "boost": 0, "words": ["x"]}, "rules[1].boost: must be a whole number from 1 to 100"),
    ({"action": "boost", "boost": 101, "words": ["x"]}, "rules[1].boost: must be a whole number from 1 to 100"),
    ({"action": "boost", "boost": True, "words": ["x"]}, "rules[1].boost: must be a whole number"),
    ({"action": "hide", "boost": 2, "words": ["x"]}, 'rules[1].boost: only with action = "boost"'),
    ({"action": "hide", "words": ["x"], "colour": "red"}, "rules[1].colour: unknown key"),
    ({"action": "hide", "words": []}, "rules[1].words: must be a non-empty list"),
    ({"action": "hide", "words": ["ok", " "]}, "rules[1].words: must be a non-empty list of non-empty strings"),
    ({"action": "hide", "words": "x"}, "rules[1].words: must be a non-empty list"),
    ({"action": "hide", "words": ["x"], "feeds": [1]}, "rules[1].feeds: must be a non-empty list"),
    ({"action": "hide", "words": ["x"], "name": 3}, "rules[1].name: must be a one-line string"),
])
def test_bad_rule_is_one_line_naming_index_and_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"rules": [{"action": "keep", "words": ["fine"]}, table]})
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)
    assert rule_error(table) is not None and "rules[" not in str(rule_error(table))


def test_rules_must_be_an_array_of_tables() -> None:
    with pytest.raises(ConfigError, match=r"^rules: must be an array of tables"):
        parse_config({"rules": {"action": "hide"}})
    with pytest.raises(ConfigError, match=r"^rules\[0\]: must be a table"):
        parse_config({"rules": ["hide"]})


def test_defaults_describe_and_round_trip() -> None:
    cfg = parse_config({"rules": [
        {"action": "hide", "words": ["sponsored", "advertorial"]},
        {"name": "Rust", "action": "boost", "boost": 3, "fields": ["category", "title", "title"], "regex": "(?i)rust",
         "feeds": ["https://a.example/feed"]},
        {"action": "boost", "words": ["x"]},
    ]})
    hide, boost, one = cfg.rules
    assert hide.fields == ("title", "summary") and hide.boost == 0
    assert hide.describe() == 'hide: title, summary ~ "sponsored" or "advertorial"'
    assert hide.label() == hide.describe()
    assert boost.fields == ("category", "title")
    assert boost.describe() == "boost +3: category, title ~ /(?i)rust/ (feeds: https://a.example/feed)"
    assert boost.label() == "Rust"
    assert one.boost == 1
    assert [r.to_toml_table() for r in cfg.rules][0] == {"action": "hide", "words": ["sponsored", "advertorial"]}
    again = parse_rules([r.to_toml_table() for r in cfg.rules])
    assert again == cfg.rules
    assert rules_hash(again) == rules_hash(cfg.rules) != rules_hash(cfg.rules[:2]) and rules_hash([]) == ""
    assert rule_error({"action": "hide", "words": ["x"]}) is None
    assert rule_error({"action": "hide", "regex": "(x"}) == "regex: missing ), unterminated subpattern at position 0"


def test_config_check_exits_2_naming_the_rule(digest_home: Any) -> None:
    import subprocess
    import sys

    digest_home.config_file.parent.mkdir(parents=True, exist_ok=True)
    digest_home.config_file.write_text('[[rules]]\naction = "hide"\nregex = "a(b"\n', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "digest", "config", "check"], capture_output=True, text=True,
                       env={"DIGEST_HOME": str(digest_home.config_dir), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 2, r
    assert "rules[0].regex: missing ), unterminated subpattern at position 1" in r.stderr


# -- matching ----------------------------------------------------------------------------------------------

def add(store: Store, feed_id: int, n: int, title: str, **kw: Any) -> None:
    link = kw.pop("link", f"https://s.example/{feed_id}/{n}")
    store.save_stories(feed_id, [ParsedStory(guid=f"{feed_id}-{n}", link=link, canonical_link=link, title=title,
                                             published_at=1_000_000 + n, **kw)])


@pytest.fixture
def filled(store: Store) -> Store:
    a = store.add_feed("https://noisy.example/feed.xml", title="Noisy News", section="Startups")
    b = store.add_feed("https://calm.example/atom", title="Calm Blog", section="Engineering")
    add(store, a.id, 1, "Sponsored: buy our widgets")
    add(store, a.id, 2, "A café opens downtown", summary="Great coffee.\nAn ADVERTORIAL line")
    add(store, a.id, 3, "Rust 2.0 released", categories=["Programming", "Rust"], author="Ann Écrivain")
    add(store, b.id, 4, "Why sponsorship matters", summary="not the word itself")
    add(store, b.id, 5, "New York rust belt", link="https://promo.example/x")
    add(store, b.id, 6, "Calm thoughts on C++ and .NET", summary="sponsored\nby nobody")
    return store


def titles(store: Store, ids: list[int]) -> list[str]:
    return sorted(s.title for s in store.stories_by_ids(ids))


def test_fold() -> None:
    assert fold("Café Ñandú") == "cafe nandu"
    assert fold("Plain\nTwo\r\nlines") == "plain two  lines"
    assert fold("ﬁle") == "file"  # compatibility forms too


def test_straight_and_curly_apostrophes_match_each_other(store: Store) -> None:
    # feeds write "Tacoma’s" (U+2019); a person types "tacoma's": it hid nothing before
    feed = store.add_feed("https://news.example/feed.xml", title="News")
    add(store, feed.id, 1, "Tacoma’s Foundry Row doubles in size", summary="The one we don’t use")
    add(store, feed.id, 2, "Tacoma's port", summary="“Quoted” words")
    add(store, feed.id, 3, "Tacoma news")
    idx = RuleIndex.load(store)
    [word] = rules({"action": "hide", "words": ["tacoma's"], "fields": ["title"]})
    assert titles(store, idx.matches(word)) == ["Tacoma's port", "Tacoma’s Foundry Row doubles in size"]
    [curly] = rules({"action": "hide", "words": ["don’t"], "fields": ["summary"]})
    assert titles(store, idx.matches(curly)) == ["Tacoma’s Foundry Row doubles in size"]
    [regex] = rules({"action": "hide", "regex": r'''\bdon't\b|"quoted"''', "fields": ["summary"]})
    assert titles(store, idx.matches(regex)) == ["Tacoma's port", "Tacoma’s Foundry Row doubles in size"]
    apply_rules(store, [word])
    assert [s.title for s in store.stories(StoryQuery())] == ["Tacoma news"]


def test_words_whole_word_any_case_and_accents(filled: Store) -> None:
    idx = RuleIndex.load(filled)
    [r] = rules({"action": "hide", "words": ["sponsored", "advertorial"]})
    assert titles(filled, idx.matches(r)) == ["A café opens downtown", "Calm thoughts on C++ and .NET",
                                              "Sponsored: buy our widgets"]  # not "sponsorship"
    [cafe] = rules({"action": "hide", "words": ["CAFÉ"], "fields": ["title"]})
    assert titles(filled, idx.matches(cafe)) == ["A café opens downtown"]
    [phrase] = rules({"action": "hide", "words": ["new   york"], "fields": ["title"]})
    assert titles(filled, idx.matches(phrase)) == ["New York rust belt"]
    [symbols] = rules({"action": "hide", "words": ["c++", ".net"], "fields": ["title"]})
    assert titles(filled, idx.matches(symbols)) == ["Calm thoughts on C++ and .NET"]


def test_regex_any_case_escapes_kept_and_per_text(filled: Store) -> None:
    idx = RuleIndex.load(filled)
    [r] = rules({"action": "hide", "regex": "RUST", "fields": ["title"]})
    assert titles(filled, idx.matches(r)) == ["New York rust belt", "Rust 2.0 released"]
    # escapes keep their meaning though the letters are lowered: \S is not \s, \D is not \d
    [esc] = rules({"action": "hide", "regex": r"(?P<Ver>\d\.\d)\S*", "fields": ["title"]})
    assert titles(filled, idx.matches(esc)) == ["Rust 2.0 released"]
    [notdigit] = rules({"action": "hide", "regex": r"^\D+$", "fields": ["title"]})
    assert "Rust 2.0 released" not in titles(filled, idx.matches(notdigit))
    [accent] = rules({"action": "hide", "regex": "CAFÉ", "fields": ["title"]})
    assert titles(filled, idx.matches(accent)) == ["A café opens downtown"]
    # ^ anchors at each story's text: the summary's inner newline is a space, so "^by" matches nothing
    [anchored] = rules({"action": "hide", "regex": "^(sponsored|by)", "fields": ["summary"]})
    assert titles(filled, idx.matches(anchored)) == ["Calm thoughts on C++ and .NET"]
    [end] = rules({"action": "hide", "regex": "line$", "fields": ["summary"]})
    assert titles(filled, idx.matches(end)) == ["A café opens downtown"]


def test_the_readmes_lookbehind_spares_not_sponsored(store: Store) -> None:
    # a word matches wherever it stands; the README's regex for "sponsored but not 'not sponsored'"
    feed = store.add_feed("https://noisy.example/feed.xml", title="Noisy News")
    for n, title in enumerate(["Sponsored: buy our widgets", "This review is NOT sponsored", "A sponsored post"]):
        add(store, feed.id, n, title)
    idx = RuleIndex.load(store)
    [word] = rules({"action": "hide", "words": ["sponsored"], "fields": ["title"]})
    assert len(idx.matches(word)) == 3
    [spare] = rules({"action": "hide", "regex": r"(?<!not )\bsponsored\b", "fields": ["title"]})
    assert titles(store, idx.matches(spare)) == ["A sponsored post", "Sponsored: buy our widgets"]


@pytest.mark.parametrize(("field", "word", "expected"), [
    ("author", "ecrivain", ["Rust 2.0 released"]),
    ("category", "programming", ["Rust 2.0 released"]),
    ("link", "promo", ["New York rust belt"]),
    ("feed", "calm", ["Calm thoughts on C++ and .NET", "New York rust belt", "Why sponsorship matters"]),
    ("feed", "noisy.example", ["A café opens downtown", "Rust 2.0 released", "Sponsored: buy our widgets"]),
    ("section", "engineering", ["Calm thoughts on C++ and .NET", "New York rust belt", "Why sponsorship matters"]),
    ("summary", "coffee", ["A café opens downtown"]),
    ("title", "downtown", ["A café opens downtown"]),
])
def test_each_field(filled: Store, field: str, word: str, expected: list[str]) -> None:
    assert field in FIELDS
    [r] = rules({"action": "hide", "words": [word], "fields": [field]})
    assert titles(filled, RuleIndex.load(filled).matches(r)) == expected
    # an index loaded with only this field answers the same
    assert titles(filled, RuleIndex.load(filled, fields=[field]).matches(r)) == expected


def test_feeds_filter_by_url_or_title(filled: Store) -> None:
    idx = RuleIndex.load(filled)
    [by_url] = rules({"action": "hide", "words": ["sponsored"], "feeds": ["https://noisy.example/feed.xml"]})
    assert titles(filled, idx.matches(by_url)) == ["Sponsored: buy our widgets"]
    [by_title] = rules({"action": "hide", "words": ["sponsored"], "feeds": ["calm BLOG"]})
    assert titles(filled, idx.matches(by_title)) == ["Calm thoughts on C++ and .NET"]
    [nowhere] = rules({"action": "hide", "words": ["sponsored"], "feeds": ["https://gone.example/"]})
    assert idx.matches(nowhere) == [] and idx.count(nowhere) == 0


def stored_marks(store: Store) -> dict[str, tuple[int, int, int]]:
    """title -> (hidden, kept, boost) as stored, for every story."""
    index = RuleIndex.load(store)
    stories = store.stories_by_ids(index.ids)
    return {s.title: index.stored.get(i, (0, 0, 0)) for i, s in enumerate(stories)}


def test_apply_keep_beats_hide_boosts_add_up_and_count_excludes_kept(filled: Store) -> None:
    rs = rules(
        {"action": "hide", "words": ["sponsored"]},
        {"action": "keep", "words": ["c++"], "fields": ["title"]},
        {"action": "boost", "boost": 60, "regex": "(?i)rust", "fields": ["title"]},
        {"action": "boost", "boost": 70, "words": ["rust"], "fields": ["category"]},
    )
    result = apply_rules(filled, rs)
    assert (result.stories, result.hidden, result.kept, result.boosted) == (6, 1, 1, 2)
    assert result.changed == 4
    marks = stored_marks(filled)
    assert marks["Sponsored: buy our widgets"] == (1, 0, 0)
    assert marks["Calm thoughts on C++ and .NET"] == (0, 1, 0)  # matched the hide rule too: kept wins
    assert marks["Rust 2.0 released"] == (0, 0, 100)  # 60 + 70, capped
    assert marks["New York rust belt"] == (0, 0, 60)
    idx = RuleIndex.load(filled)
    assert len(idx.matches(rs[0])) == 2 and idx.count(rs[0]) == 1  # would hide 1: the other is kept
    # nothing changes the second time: no write
    again = apply_rules(filled, rs)
    assert again.changed == 0 and again.hidden == 1


def test_sync_applies_a_changed_rule_set_to_stored_stories(filled: Store) -> None:
    changes_before = filled.db.total_changes
    assert sync_rules(filled, []) is None  # no rules, none applied before: nothing written
    assert filled.db.total_changes == changes_before
    hide = rules({"action": "hide", "words": ["sponsored"]})
    first = sync_rules(filled, hide)
    assert first is not None and first.stories == 6 and first.hidden == 2
    assert filled.setting(SETTING) == rules_hash(hide)
    assert sync_rules(filled, hide) is None  # same rules, no new ids
    wider = rules({"action": "hide", "words": ["sponsored", "widgets", "coffee"]})
    second = sync_rules(filled, wider)
    assert second is not None and second.hidden == 3 and second.changed == 1
    # a refresh's new story gets the rules, and only it is read
    f = filled.rule_feeds()[0][0]
    add(filled, f, 9, "More coffee news", summary="coffee")
    new_id = max(RuleIndex.load(filled).ids)
    third = sync_rules(filled, wider, new_ids=[new_id])
    assert third is not None and (third.stories, third.hidden, third.changed) == (1, 1, 1)
    # rules removed from the config: every mark cleared
    cleared = sync_rules(filled, [])
    assert cleared is not None and cleared.changed == 4
    assert RuleIndex.load(filled).stored == {}
    assert filled.setting(SETTING) == ""


@pytest.mark.parametrize("regex", [r"(?i)\bpromo(ted)?\b", r"\bpromo?", r"(?im)^\bx", r"\b(?:ab|b)", r"\bab|cd",
                                   r"\bab{2}", r"\b1\d", r"(?s)\bfoo.bar"])
def test_a_regex_rewritten_for_speed_matches_the_same(regex: str) -> None:
    import re

    from digest.core.rulespec import _fast_regex

    text = fold("Promo promoted xpromo promotion x\nx ab abb cab cd 12 a1 b 1x foo\nbar foobar\n" * 3)
    fast = _fast_regex(regex)
    got = [m.span() for m in re.finditer(fast, text, re.MULTILINE)]
    want = [m.span() for m in re.finditer(regex, text, re.MULTILINE | re.IGNORECASE)]
    assert got == want
    assert _fast_regex(r"(?i)\bpromo(ted)?\b") == r"promo(?<!\wpromo)(ted)?\b"  # literal first: a fast scan


def test_apply_with_a_loaded_index_writes_the_same_and_keeps_it_current(filled: Store) -> None:
    index = RuleIndex.load(filled)
    hide = rules({"action": "hide", "words": ["sponsored"]})
    result = apply_rules(filled, hide, index=index)
    assert (result.hidden, result.changed) == (2, 2)
    assert index.stored == RuleIndex.load(filled).stored  # what it now says is what is stored
    keep = rules({"action": "hide", "words": ["sponsored"]}, {"action": "keep", "words": ["c++"], "fields": ["title"]})
    again = sync_rules(filled, keep, index=index)
    assert again is not None and (again.hidden, again.kept, again.changed) == (1, 1, 1)
    assert index.stored == RuleIndex.load(filled).stored
    assert sync_rules(filled, [], index=index) is not None and index.stored == {} == RuleIndex.load(filled).stored
    with pytest.raises(ValueError, match="not both"):
        apply_rules(filled, hide, index=index, story_ids=[1])
