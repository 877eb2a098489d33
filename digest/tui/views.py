"""What the story list shows: one typed value for a sidebar view (All, Unread, Flagged, Trending, Hidden, a
section, a feed), plus the list's own options (hide read, sort order).

The sidebar, the main screen and the saved UI state all use View; the only string form is View.token,
written to the state file and parsed back in one place (View.parse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from digest.core.store import StoryQuery

Kind = Literal["all", "unread", "flagged", "trending", "hidden", "section", "feed"]
NO_SECTION = "(no section)"
SORTS = ("newest", "oldest", "feed", "score")  # the order s cycles through
SORT_LABELS = {"newest": "newest first", "oldest": "oldest first", "feed": "by feed", "score": "by Trending score"}


@dataclass(frozen=True, slots=True)
class View:
    kind: Kind
    section: str = ""  # kind == "section": its name (NO_SECTION: feeds with none)
    feed_id: int = 0  # kind == "feed"

    @classmethod
    def of_section(cls, name: str) -> View:
        return cls("section", section=name)

    @classmethod
    def of_feed(cls, feed_id: int) -> View:
        return cls("feed", feed_id=feed_id)

    @property
    def token(self) -> str:
        """The string form kept in the state file: all | unread | ... | section:NAME | feed:ID."""
        if self.kind == "section":
            return f"section:{self.section}"
        if self.kind == "feed":
            return f"feed:{self.feed_id}"
        return self.kind

    @classmethod
    def parse(cls, token: str) -> View | None:
        """The View a token names, or None for anything else (a state file from another version)."""
        kind, _, rest = token.partition(":")
        if kind in ("all", "unread", "flagged", "trending", "hidden") and not rest:
            return cls(kind)  # type: ignore[arg-type]
        if kind == "section" and rest:
            return cls.of_section(rest)
        if kind == "feed" and rest.isdigit():
            return cls.of_feed(int(rest))
        return None

    def query(self, search: str = "", *, hide_read: bool = False) -> StoryQuery:
        """The store query for this view (hide_read: unread stories only, in any view)."""
        q = StoryQuery(search=search or None, unread=hide_read or self.kind == "unread",
                       flagged=self.kind == "flagged")
        if self.kind == "hidden":
            q.hidden = True  # what the rules hid (`digest stories --hidden` in the CLI)
        if self.kind == "section":
            q.section = "" if self.section == NO_SECTION else self.section
        elif self.kind == "feed":
            q.feed_id = self.feed_id
        return q


ALL = View("all")
UNREAD = View("unread")
FLAGGED = View("flagged")
TRENDING = View("trending")
HIDDEN = View("hidden")
