"""Reader rules in the store (digest.core.rules decides, this module reads and writes): each story's
hidden / kept / boost marks (schema 5), the text the rules match, and the settings row that remembers which
rule set was last applied to every stored story."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from digest.core.store.connection import Connection

# what a rule field reads, per story; "feed" and "section" are the feed's, read once per feed (rule_feeds)
_STORY_FIELDS = {
    "title": "s.title",
    "author": "s.author",
    "link": "s.link",
    # categories are a JSON array (non-ASCII escaped): json_each decodes them in C, one string a story
    "category": "coalesce((SELECT group_concat(value, ', ') FROM json_each(s.categories)), '')",
    "summary": "s.body",  # the packed blob: the caller unpacks only the summary (store/body.summary_of)
}
STORY_FIELDS = tuple(_STORY_FIELDS)

Marks = tuple[int, int, int, int]  # (hidden, kept, boost, story id)
# the settings row holding digest.core.rules.rules_hash of the rule set last applied to every stored story
RULES_HASH_KEY = "rules_hash"
# the settings row holding a JSON array of the ids of stories a refresh changed (a feed edited an item: same
# guid, new title or text) while rules were applied: the next sync gives them the rules again
RULES_PENDING_KEY = "rules_pending"


def note_changed(db: Any, story_ids: Sequence[int]) -> None:
    """Inside save_stories' transaction: remember stories whose text changed, when rules have been applied
    (their marks were made on the old text); after_refresh re-applies the rules to them. Without rules, one
    settings read."""
    if not story_ids or db.execute("SELECT 1 FROM settings WHERE key = ? AND value != ''",
                                   (RULES_HASH_KEY,)).fetchone() is None:
        return
    db.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
        "(SELECT json_group_array(value) FROM (SELECT value FROM json_each(settings.value) "
        "UNION SELECT value FROM json_each(excluded.value)))",
        (RULES_PENDING_KEY, json.dumps(list(story_ids))),
    )


class RulesMixin(Connection):
    def rule_rows(self, fields: Sequence[str], story_ids: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        """(id, feed_id, hidden, kept, boost, *fields) for every story (or those of story_ids), in ONE
        query; `fields` are names of STORY_FIELDS ("summary" comes back as the packed body)."""
        cols = ", ".join(["s.id", "s.feed_id", "s.hidden", "s.kept", "s.boost",
                          *(_STORY_FIELDS[f] for f in fields)])
        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: sqlite3.Row costs ~40% more over 100k rows
        if story_ids is None:
            return cur.execute(f"SELECT {cols} FROM stories s").fetchall()
        # one JSON parameter instead of chunks of 500 marks: no host-parameter limit, one statement
        return cur.execute(f"SELECT {cols} FROM stories s WHERE s.id IN (SELECT value FROM json_each(?))",
                           (json.dumps(list(story_ids)),)).fetchall()

    def rule_feeds(self) -> list[tuple[int, str, str, str]]:
        """(id, title, url, section) of every feed: what the feed and section fields and a rule's `feeds`
        filter match."""
        return [(r[0], r[1], r[2], r[3]) for r in self.db.execute("SELECT id, title, url, section FROM feeds")]

    def set_rule_marks(self, marks: Sequence[Marks]) -> None:
        """Write (hidden, kept, boost) of the given stories in one transaction. The FTS triggers fire only
        on title and body, so this touches no index but the table's."""
        if not marks:
            return
        with self.tx() as db:
            db.executemany("UPDATE stories SET hidden = ?, kept = ?, boost = ? WHERE id = ?", marks)

    def clear_rule_marks(self) -> int:
        """Every story back to no marks (the config has no rules any more); returns how many changed."""
        with self.tx() as db:
            return db.execute("UPDATE stories SET hidden = 0, kept = 0, boost = 0 "
                              "WHERE hidden != 0 OR kept != 0 OR boost != 0").rowcount

    def take_rules_pending(self) -> list[int]:
        """The ids note_changed remembered (those still stored), and forget them, in one transaction."""
        if self.setting(RULES_PENDING_KEY) is None:
            return []
        with self.tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT s.id FROM stories s WHERE s.id IN (SELECT value FROM json_each("
                "(SELECT value FROM settings WHERE key = ?)))", (RULES_PENDING_KEY,))]
            db.execute("DELETE FROM settings WHERE key = ?", (RULES_PENDING_KEY,))
        return ids

    def stories_fetched_since(self, since: float) -> list[int]:
        """Ids of stories first seen at or after `since` (a refresh's new stories; index stories_fetched)."""
        return [r[0] for r in self.db.execute("SELECT id FROM stories WHERE fetched_at >= ?", (since,))]

    def applied_rules_hash(self) -> str:
        """The hash of the rule set last applied to every stored story ("" when none ever was): a refresh
        reads only this when the config has no rules (digest.core.rules is not even imported)."""
        return self.setting(RULES_HASH_KEY) or ""

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
