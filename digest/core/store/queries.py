"""Read-only queries for the digest's selection (Trending, the [select] rules) and the TUI's story list:
each shaped by what its caller measured to be fast, so they return plain tuples rather than models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from digest.core.store.connection import Connection
from digest.core.store.rows import DRAFT_ID, NOT_SENT, marks

Group = tuple[set[int], set[int], float]  # story ids, feed ids, newest published_at


def _headline(column: str, min_chars: int, min_words: int) -> str:
    """SQL: true where a title_key is enough of a headline to match another feed's ("Jobs" is not)."""
    return f"length({column}) >= {int(min_chars)} AND {column} LIKE '{'% ' * (int(min_words) - 1)}%'"


class QueriesMixin(Connection):
    def cross_feed_groups(self, since: float, *, min_title_chars: int, min_title_words: int) -> list[Group]:
        """(story ids, feed ids, newest published_at) for each link group and headline group published
        since `since` that spans two or more feeds, hidden stories (reader rules) left out. Two steps per
        column: a GROUP BY on the indexed column finds the keys seen at least twice in the window (no
        per-group aggregation, which was half the time on 100k stories), then only those keys' rows are
        read to count distinct feeds. A headline counts only with `min_title_chars` and `min_title_words`
        ("Jobs" recurs in unrelated feeds)."""
        out: list[Group] = []
        for column, extra in (
            ("canonical_link", "canonical_link != ''"),
            ("title_key", _headline("title_key", min_title_chars, min_title_words)),
        ):
            keys = [r[0] for r in self.db.execute(
                f"SELECT {column} FROM stories WHERE published_at >= ? AND {extra} "
                f"GROUP BY {column} HAVING count(*) >= 2", (since,))]
            groups: dict[str, tuple[set[int], set[int], list[float]]] = {}
            for i in range(0, len(keys), 500):  # SQLite's default limit on host parameters is 999
                chunk = keys[i:i + 500]
                # hidden stories (reader rules) leave here, where rows are read anyway, and not in the
                # GROUP BY above, which reads only its index
                for key, sid, feed, published in self.db.execute(
                    f"SELECT {column}, id, feed_id, published_at FROM stories "
                    f"WHERE {column} IN ({marks(len(chunk))}) AND published_at >= ? AND hidden = 0",
                    (*chunk, since),
                ):
                    ids, feeds, newest = groups.setdefault(key, (set(), set(), [0.0]))
                    ids.add(sid)
                    feeds.add(feed)
                    newest[0] = max(newest[0], published)
            out.extend((ids, feeds, newest[0]) for ids, feeds, newest in groups.values() if len(feeds) >= 2)
        return out

    def selection_candidates(self, after: float, until: float, *, min_title_chars: int, min_title_words: int,
                             seen_after: float | None = None, seen_published_after: float = 0.0,
                             ) -> list[tuple[int, float, str, int, int]]:
        """(id, published_at, feed section, feed id, boost) of every story published in (after, until] (or,
        with `seen_after`, first seen after it and published after `seen_published_after`) in an
        enabled feed with a link, never sent before and not hidden by a reader rule. Never sent: not the
        story, not its canonical link, and not its headline, when an issue carried the same headline (as
        Trending matches one: `min_title_chars` and `min_title_words`) from another feed. Ranking needs
        only these; the text is read only for rows a keyword rule has to check (reading and case-folding
        200k summaries was most of a 2.7 s selection)."""
        # the headlines issues carried: SQLite makes the subquery's list once and looks each row up in it
        sent_headlines = (
            "SELECT t.title_key FROM digest_items x JOIN digests d ON d.id = x.digest_id "
            "JOIN stories t ON t.id = x.story_id "
            f"WHERE d.status = 'sent' AND {_headline('t.title_key', min_title_chars, min_title_words)}")
        rows = self.db.execute(
            "SELECT s.id, s.published_at, f.section, s.feed_id, s.boost "
            "FROM stories s JOIN feeds f ON f.id = s.feed_id "
            "WHERE (s.published_at > ? OR (s.fetched_at > ? AND s.published_at > ?)) AND s.published_at <= ? "
            "AND f.disabled = 0 AND s.hidden = 0 "
            f"AND s.link != '' AND {NOT_SENT} AND s.title_key NOT IN ({sent_headlines})",
            # fetched_at > +inf never holds: without seen_after only the date counts
            (after, float("inf") if seen_after is None else seen_after, seen_published_after, until),
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def story_title_link(self, story_id: int) -> tuple[str, str]:
        """A story's title and link, for the ad rule ([select] skip_ads)."""
        row = self.db.execute("SELECT title, link FROM stories WHERE id = ?", (story_id,)).fetchone()
        return (row[0], row[1]) if row else ("", "")

    def story_text(self, story_id: int) -> str:
        """Title, summary and categories (JSON) of one story on three lines, for keyword rules."""
        row = self.db.execute("SELECT title, digest_summary(body) AS summary, categories FROM stories WHERE id = ?",
                              (story_id,)).fetchone()
        return f"{row[0]}\n{row[1]}\n{row[2]}" if row else ""

    def list_rows(self, ids: Sequence[int]) -> list[list[Any]]:
        """[id, feed_id, title, feed title (or its URL), published_at, read, flagged, headline] for the
        given story ids: one line of the TUI's story list each, no content or summary.

        Each chunk comes back as ONE row of JSON. The sqlite3 module drops and retakes the GIL around every
        row it steps; while a worker thread runs Python (turning 100k ids into ints during a refresh) each
        retake can wait a whole switch interval, and a 200-row page took 109 ms on the UI thread
        (tests/bench/bench_tui.py, event-loop gaps). One step means one wait at most."""
        out: list[list[Any]] = []
        ids = list(ids)
        for start in range(0, len(ids), 500):  # SQLite's default host-parameter limit is 999
            chunk = ids[start:start + 500]
            sql = (
                "SELECT json_group_array(json_array(s.id, s.feed_id, s.title, "
                "coalesce(nullif(f.title, ''), f.url), s.published_at, s.read, di.story_id IS NOT NULL, "
                "di.headline)) FROM stories s JOIN feeds f ON f.id = s.feed_id "
                f"LEFT JOIN digest_items di ON di.story_id = s.id AND di.digest_id = {DRAFT_ID} "
                f"WHERE s.id IN ({marks(len(chunk))})"
            )
            row = self.db.execute(sql, chunk).fetchone()
            out.extend(json.loads(row[0]) if row and row[0] else [])
        return out
