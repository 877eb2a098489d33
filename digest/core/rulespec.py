"""Reader rules as the config states them ([[rules]]): the Rule, its validation with one-line errors naming
rules[i].key, folding and compiling. Pure logic with no store: digest.core.config parses with it, and
digest.core.rules (which re-exports all of this) applies the rules to the store.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from digest.core.configerror import ConfigError

FIELDS = ("title", "summary", "author", "feed", "section", "link", "category")
ACTIONS = ("hide", "keep", "boost")
DEFAULT_FIELDS = ("title", "summary")
MAX_BOOST = 100
_KEYS = ("name", "action", "boost", "fields", "words", "regex", "feeds")
# Bump when matching changes meaning (folding, boundaries): stored marks are then re-applied.
# 2: typographic apostrophes and quotes fold to ASCII ones.
_SEMANTICS = 2

Action = Literal["hide", "keep", "boost"]


# -- folding and compiling ---------------------------------------------------------------------------------

# Combining marks left by NFKD (Latin, Greek, Cyrillic accents and the supplements); removing them is what
# SQLite's unicode61 remove_diacritics does for search, so a rule and a search agree on "cafe".
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


# Feeds write "Tacoma’s" and “quoted” where a person types "tacoma's" and "quoted": NFKD leaves these
# alone, so they are mapped to the ASCII ones, in texts and rules alike (search's tokenizer splits at them).
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u02bc": "'",
                         "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
                         "\u2033": '"'})


def fold(text: str) -> str:
    """Text as rules see it: compatibility forms and accents removed, typographic apostrophes and quotes made
    ASCII ones, lower case, line breaks made spaces (each text is one line of RuleIndex's joined string).
    ASCII skips the Unicode work (str.isascii is O(1))."""
    if not text.isascii():
        text = _MARKS.sub("", unicodedata.normalize("NFKD", text)).translate(_QUOTES)
    return text.lower().replace("\r", " ").replace("\n", " ")


# Matching lower-cased text with case-sensitive patterns is what keeps a scan fast: CPython's re finds a
# pattern's literal prefix with a fast string search (18 ms over 37 MB of summaries), but with IGNORECASE,
# or a pattern that starts with \b or a lookbehind, it tries the pattern at every position (500-1100 ms).
# So a word becomes 'word(?<!\wword)(?!\w)': the literal first, the "no letter before it" check after.

def _word_pattern(word: str) -> str | None:
    r"""One word (or "multi word" phrase) of a rule as a whole-word pattern, or None when it is blank.
    Lookarounds rather than \b, so "c++" and ".net" (ending or starting with a non-word character) work."""
    parts = [re.escape(p) for p in fold(word).split()]
    if not parts:
        return None
    first = parts[0]
    return first + rf"(?<!\w{first})" + "".join(rf"\s+{p}" for p in parts[1:]) + r"(?!\w)"


# \ followed by these is copied as written by _lower_regex (\S is not \s, \N{...} names a character)
_ESCAPE = re.compile(r"\\(N\{[^}]*\}|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)


def _lower_regex(regex: str) -> str:
    r"""A regex for folded text: accents removed from it and its literal letters lowered, escapes kept
    (\S, \W, \D, \B, \A, \Z, \N{...}), as is the P of (?P<name>...) and (?P=name)."""
    out, pos = [], 0
    for m in _ESCAPE.finditer(regex):
        out.append(_lower_plain(regex[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_lower_plain(regex[pos:]))
    return "".join(out)


def _lower_plain(chunk: str) -> str:
    folded = (_MARKS.sub("", unicodedata.normalize("NFKD", chunk)).translate(_QUOTES) if not chunk.isascii()
              else chunk)
    return "(?P".join(part.lower() for part in folded.split("(?P"))


_FLAGS = re.compile(r"\(\?([a-z]+)\)")
_LEADING_WORD = re.compile(r"\\b([a-z0-9]+)")


def _fast_regex(regex: str) -> str:
    r"""The same matches, in a shape re scans fast (see above): a leading (?i) goes (the text and the
    pattern are lower case already), and a leading  before letters moves behind them as a lookbehind:
    'promo(ted)?' -> 'promo(?<!\wpromo)(ted)?'."""
    flags = ""
    m = _FLAGS.match(regex)
    if m:
        rest = m.group(1).replace("i", "")
        flags, regex = (f"(?{rest})" if rest else ""), regex[m.end():]
    m = _LEADING_WORD.match(regex)
    if m:
        lit, after = m.group(1), regex[m.end():]
        if after[:1] in ("?", "*", "+", "{"):  # the quantifier is the last letter's: it stays with it
            lit, after = lit[:-1], lit[-1:] + after
        if lit:
            regex = lit + rf"(?<!\w{lit})" + after
    return flags + regex


def _compile(words: Sequence[str], regex: str) -> tuple[re.Pattern[str], ...]:
    """The patterns a rule's text must match one of (MULTILINE: ^ and $ are the ends of each text). A regex
    is compiled as written first, so an error's position is the user's."""
    if words:
        found = (_word_pattern(w) for w in dict.fromkeys(words))
        return tuple(re.compile(p, re.MULTILINE) for p in found if p)
    plain = re.compile(_lower_regex(regex), re.MULTILINE)
    try:
        return (re.compile(_fast_regex(plain.pattern), re.MULTILINE),)
    except re.error:  # a shape the rewrite did not foresee: the plain one is right, only slower
        return (plain,)


# -- the rule ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    fields: tuple[str, ...]
    words: tuple[str, ...] = ()
    regex: str = ""
    boost: int = 0
    feeds: tuple[str, ...] = ()
    name: str = ""
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The compiled matchers, any of which matching is a match (compiled at parse time; here, once, for
        a Rule built by hand)."""
        if self._patterns:
            return self._patterns
        pats = _compile(self.words, self.regex)
        object.__setattr__(self, "_patterns", pats)
        return pats

    def describe(self) -> str:
        """One line: 'hide: title, summary ~ "sponsored" or "advertorial"'."""
        verb = f"boost +{self.boost}" if self.action == "boost" else self.action
        what = " or ".join(f'"{w}"' for w in self.words) if self.words else f"/{self.regex}/"
        where = f" (feeds: {', '.join(self.feeds)})" if self.feeds else ""
        return f"{verb}: {', '.join(self.fields)} ~ {what}{where}"

    def label(self) -> str:
        return self.name or self.describe()

    def to_toml_table(self) -> dict[str, Any]:
        """What its [[rules]] table holds (defaults left out), for writing the config back."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["action"] = self.action
        if self.action == "boost":
            out["boost"] = self.boost
        if self.fields != DEFAULT_FIELDS:
            out["fields"] = list(self.fields)
        if self.words:
            out["words"] = list(self.words)
        else:
            out["regex"] = self.regex
        if self.feeds:
            out["feeds"] = list(self.feeds)
        return out


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: must be a non-empty list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _rule(i: int, raw: Any) -> Rule:
    at = f"rules[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: must be a table ([[rules]]), got {raw!r}")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(f"{at}.{key}: unknown key (known: {', '.join(_KEYS)})")
    action = raw.get("action")
    if action not in ACTIONS:
        got = "nothing" if action is None else repr(action)
        raise ConfigError(f"{at}.action: must be one of {', '.join(ACTIONS)}, got {got}")
    boost = 0
    if action == "boost":
        boost = raw.get("boost", 1)
        if not isinstance(boost, int) or isinstance(boost, bool) or not 1 <= boost <= MAX_BOOST:
            raise ConfigError(f"{at}.boost: must be a whole number from 1 to {MAX_BOOST}, got {boost!r}")
    elif "boost" in raw:
        raise ConfigError(f'{at}.boost: only with action = "boost" (this rule is {action!r})')
    fields: tuple[str, ...] = DEFAULT_FIELDS
    if "fields" in raw:
        fields = _strings(f"{at}.fields", raw["fields"])
        bad = [f for f in fields if f not in FIELDS]
        if bad:
            raise ConfigError(f"{at}.fields: unknown field {bad[0]!r} (known: {', '.join(FIELDS)})")
        fields = tuple(dict.fromkeys(fields))  # repeated names once, order kept
    if ("words" in raw) == ("regex" in raw):
        raise ConfigError(f"{at}.words: give exactly one of words or regex"
                          + (" (both are set)" if "words" in raw else ""))
    words: tuple[str, ...] = ()
    regex = ""
    if "words" in raw:
        words = _strings(f"{at}.words", raw["words"])
        patterns = _compile(words, "")
    else:
        regex = raw["regex"]
        if not isinstance(regex, str) or not regex:
            raise ConfigError(f"{at}.regex: must be a non-empty string, got {regex!r}")
        try:
            patterns = _compile((), regex)
        except re.error as e:
            raise ConfigError(f"{at}.regex: {e}") from None
        if patterns[0].search("") is not None:
            raise ConfigError(f"{at}.regex: matches empty text, so it would match every story: {regex!r}")
    feeds = _strings(f"{at}.feeds", raw["feeds"]) if "feeds" in raw else ()
    name = raw.get("name", "")
    if not isinstance(name, str) or "\n" in name:
        raise ConfigError(f"{at}.name: must be a one-line string, got {name!r}")
    return Rule(action=cast(Action, action), fields=fields, words=words, regex=regex, boost=boost, feeds=feeds,
                name=name.strip(), _patterns=patterns)


def parse_rules(data: list[Any]) -> list[Rule]:
    """The [[rules]] array of the config; raises ConfigError with one line naming rules[i].key."""
    if not isinstance(data, list):
        raise ConfigError(f"rules: must be an array of tables ([[rules]]), got {data!r}")
    return [_rule(i, raw) for i, raw in enumerate(data)]


def rule_error(rule_dict: dict[str, Any]) -> str | None:
    """For a form: the one-line problem of one rule table (without the "rules[0]." prefix), or None."""
    try:
        _rule(0, rule_dict)
    except ConfigError as e:
        return str(e).removeprefix("rules[0].").removeprefix("rules[0]: ")
    return None


def rules_hash(rules: Sequence[Rule]) -> str:
    """Identifies a rule set (its tables, in order, and the matching semantics): '' for no rules."""
    if not rules:
        return ""
    text = json.dumps([_SEMANTICS, [r.to_toml_table() for r in rules]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
