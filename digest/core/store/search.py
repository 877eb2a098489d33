"""What a person types into search (the TUI's `/`, `digest stories --search`) as SQL over the FTS5 index.

    kelp farm        both words, anywhere in the title or summary, the last as a prefix (search-as-you-type)
    "series a"       a phrase: these words next to each other, in this order
    rust OR go       either (OR, in capitals, joins the terms either side of it)
    -jobs            none of the stories with this word

Case, accents and punctuation never matter: words are split the way FTS5's unicode61 tokenizer splits them
(letters and digits; anything else separates), so "AT&T" is AT + T and "don't" is don + t. Each term is
quoted for FTS5, so its syntax characters never raise errors.

The index keeps no token positions (detail='column' in schema.py: it halves the cost of indexing), so FTS5
cannot match a phrase itself: it finds the stories with all of the phrase's words, and digest_phrase (a SQL
function every Store connection registers) keeps those where the words stand together in the title or the
summary, folded as reader rules fold them. That check reads only the stories FTS5 found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_SEPARATORS = re.compile(r"[\W_]+")
_ITEMS = re.compile(r'"([^"]*)("?)|(\S+)')  # a quoted phrase (its closing quote, if typed) or a bare item


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a prefix being typed or a quoted phrase of a search."""

    words: tuple[str, ...]
    phrase: bool = False  # quoted with two words or more: they must stand together
    prefix: bool = False  # the last word as a prefix (the last term, still being typed)

    def fts(self) -> str:
        quoted = [f'"{w}"' for w in self.words]
        if self.prefix:
            quoted[-1] += "*"
        return quoted[0] if len(quoted) == 1 else "(" + " ".join(quoted) + ")"

    def pattern(self) -> str:
        """A regex for folded text: the words with only separators between them, whole words (the last may
        be a prefix)."""
        from digest.core.rulespec import fold

        body = r"[\W_]+".join(re.escape(fold(w)) for w in self.words)
        return r"(?<![^\W_])" + body + ("" if self.prefix else r"(?![^\W_])")


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed search: the groups every hit must match, and the terms none may contain."""

    groups: tuple[tuple[Term, ...], ...]  # every group must match; a group of several: any of them (OR)
    exclude: tuple[Term, ...]             # no hit may contain any of these (all of a term's words)

    def match(self) -> str:
        """The FTS5 query of the groups without phrases ('' when none)."""
        return " ".join(_group_fts(g) for g in self.groups if not any(t.phrase for t in g))


def _group_fts(group: tuple[Term, ...]) -> str:
    return group[0].fts() if len(group) == 1 else "(" + " OR ".join(t.fts() for t in group) + ")"


def parse_search(text: str) -> Search:
    items: list[Term | str] = []  # terms, and "OR" between them
    exclude: list[Term] = []
    for m in _ITEMS.finditer(text):
        if m.group(3) is None:  # "a phrase", closed or still being typed
            words = tuple(w for w in _SEPARATORS.split(m.group(1)) if w)
            if words:
                items.append(Term(words, phrase=len(words) > 1, prefix=not m.group(2)))
            continue
        item = m.group(3)
        if item == "OR":
            items.append("OR")
        elif item.startswith("-") and len(item) > 1:
            words = tuple(w for w in _SEPARATORS.split(item) if w)
            if words:
                exclude.append(Term(words))
        else:
            items.extend(Term((w,)) for w in _SEPARATORS.split(item) if w)
    terms_at = [i for i, it in enumerate(items) if isinstance(it, Term)]
    if terms_at:  # the last term is being typed: a prefix, unless it is a closed phrase
        last = items[terms_at[-1]]
        assert isinstance(last, Term)
        if not last.phrase and len(last.words) == 1 and not _closed(text):
            items[terms_at[-1]] = Term(last.words, prefix=True)
    groups: list[list[Term]] = []
    joining = False
    for it in items:
        if it == "OR":
            joining = bool(groups)  # an OR with no term before it (or after it, below) is ignored
        elif isinstance(it, Term):
            if joining:
                groups[-1].append(it)
            else:
                groups.append([it])
            joining = False
    return Search(tuple(tuple(g) for g in groups), tuple(dict.fromkeys(exclude)))


def _closed(text: str) -> bool:
    """True when the text ends with a closed quote: its last term is complete, not a prefix being typed."""
    stripped = text.rstrip()
    return stripped.endswith('"') and stripped.count('"') % 2 == 0


def fts_query(text: str) -> str:
    """The FTS5 query for what a person typed, leaving out phrases and exclusions (see search_clauses)."""
    return parse_search(text).match()


def search_clauses(text: str, story: str = "s") -> tuple[list[str], list[Any]]:
    """SQL conditions on the stories table (aliased `story`) and their arguments: every one must hold.
    Nothing to search for (only punctuation, say) is no condition."""
    search = parse_search(text)
    in_fts = f"{story}.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?)"
    clauses: list[str] = []
    args: list[Any] = []
    match = search.match()
    if match:
        clauses.append(in_fts)
        args.append(match)
    for group in search.groups:
        if not any(t.phrase for t in group):
            continue
        alternatives = []
        for t in group:
            alt = in_fts
            args.append(t.fts())
            if t.phrase:
                alt += f" AND digest_phrase({story}.title, digest_summary({story}.body), ?)"
                args.append(t.pattern())
            alternatives.append(alt)
        clauses.append("(" + " OR ".join(f"({a})" for a in alternatives) + ")")
    if search.exclude:
        clauses.append(f"{story}.id NOT IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ?)")
        args.append(" OR ".join(t.fts() for t in search.exclude))
    return clauses, args


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def phrase_in(title: str | None, summary: str | None, pattern: str) -> bool:
    """digest_phrase(title, summary, pattern): the phrase in the folded title or summary."""
    from digest.core.rulespec import fold

    found = _compiled(pattern).search
    return bool(found(fold(title or "")) or found(fold(summary or "")))
