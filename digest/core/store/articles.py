"""The articles table: the page behind a story, one row per story (schema migration 2).

Its own table, not columns of `stories`: the extracted text and HTML are tens of KB a story, and story
lists, search and Trending read the stories table row by row. A failed fetch is a row too, with its reason
and when to try again, so the TUI and the build do not refetch a broken link at every keypress.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from digest.core.models import Article
from digest.core.store.connection import Connection

_COLUMNS = ("story_id", "url", "status", "fetched_at", "attempts", "retry_at", "title", "text", "html",
            "image_url", "image_width", "image_height", "description", "author", "published_at", "site_name",
            "canonical_url", "error")


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    """Sorted, distinct ids 500 at a time: SQLite's default limit on host parameters is 999."""
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), 500):
        yield ordered[i:i + 500]


def _marks(chunk: list[int]) -> str:
    return ",".join("?" * len(chunk))


class ArticlesMixin(Connection):
    def save_article(self, a: Article) -> None:
        """Insert or replace the story's row; `attempts` counts failures in a row (a success resets it)."""
        values = (a.story_id, a.url, a.status, a.fetched_at, a.attempts, a.retry_at, a.title, a.text, a.html,
                  a.image_url, a.image_width, a.image_height, a.description, a.author, a.published_at,
                  a.site_name, a.canonical_url, a.error)
        with self.tx() as db:
            db.execute(f"INSERT OR REPLACE INTO articles({', '.join(_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)

    def get_article(self, story_id: int) -> Article | None:
        row = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM articles WHERE story_id = ?",
                              (story_id,)).fetchone()
        if row is None:
            return None
        a = _article(row)
        a.text_words = len(a.text.split())
        return a

    def articles_for(self, story_ids: Iterable[int], *, brief: bool = False) -> dict[int, Article]:
        """The rows of these stories, by story id. `brief` leaves out the HTML and cuts the text to 2,000
        characters (a build needs the picture, the description and the first sentences only)."""
        cols = [c for c in _COLUMNS if c not in ("text", "html")] if brief else list(_COLUMNS)
        select = ", ".join(cols) + (", substr(text, 1, 2000) AS text, '' AS html, length(text) AS text_chars"
                                    if brief else "")
        out: dict[int, Article] = {}
        for chunk in _chunks(story_ids):
            for row in self.db.execute(f"SELECT {select} FROM articles WHERE story_id IN ({_marks(chunk)})", chunk):
                a = _article(row)
                # ~6 characters a word in English text, spaces included: enough for a reading time
                a.text_words = row["text_chars"] // 6 if brief else len(a.text.split())
                out[row["story_id"]] = a
        return out

    def article_states(self, story_ids: Iterable[int]) -> dict[int, tuple[str, float | None, int]]:
        """story id -> (status, retry_at, attempts): whether a fetch is due, without reading the text."""
        out: dict[int, tuple[str, float | None, int]] = {}
        for chunk in _chunks(story_ids):
            for sid, status, retry_at, attempts in self.db.execute(
                f"SELECT story_id, status, retry_at, attempts FROM articles WHERE story_id IN ({_marks(chunk)})",
                chunk,
            ):
                out[sid] = (status, retry_at, attempts)
        return out

    def article_targets(self, story_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """story id -> (its link, its feed's URL) for the stories that have an http(s) link (the feed's URL
        decides whether a private address is allowed: an intranet feed's stories live on the intranet)."""
        out: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(story_ids):
            for sid, link, canonical, feed_url in self.db.execute(
                "SELECT s.id, s.link, s.canonical_link, f.url FROM stories s JOIN feeds f ON f.id = s.feed_id "
                f"WHERE s.id IN ({_marks(chunk)})", chunk,
            ):
                url = link if link.startswith(("http://", "https://")) else canonical
                if url.startswith(("http://", "https://")):
                    out[sid] = (url, feed_url)
        return out

    def new_story_ids(self, feed_ids: Iterable[int], *, since: float) -> list[int]:
        """Stories of these feeds first seen at or after `since` that have no article row yet."""
        ids = sorted(set(feed_ids))
        if not ids:
            return []
        return [r[0] for r in self.db.execute(
            "SELECT s.id FROM stories s LEFT JOIN articles a ON a.story_id = s.id "
            f"WHERE s.feed_id IN ({_marks(ids)}) AND s.fetched_at >= ? AND a.story_id IS NULL "
            "ORDER BY s.id", (*ids, since))]


def _article(r: sqlite3.Row) -> Article:
    return Article(**{c: r[c] for c in _COLUMNS})
