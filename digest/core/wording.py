"""Counted nouns in what digest prints: "1 story", "2 stories", "1 feed", "3 feeds"."""

from __future__ import annotations


def count(n: int, one: str, many: str = "", *, grouped: bool = False) -> str:
    """`n` and the noun that goes with it: `many` for every n but 1 (one + "s" unless given); `grouped`
    separates thousands ("12,400 stories"), as the TUI's counts do."""
    return (f"{n:,}" if grouped else str(n)) + f" {one if n == 1 else many or one + 's'}"
