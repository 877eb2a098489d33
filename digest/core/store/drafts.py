"""The draft: the one digest with status 'draft', and the stories flagged into it (digest_items, by
section and position). Every change happens in one transaction that looks the draft up inside it, so a
cron run freezing the draft at the same moment either sees a flag in its issue or leaves it for the next
draft (store/issues.py does the freezing)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from digest.core import clock
from digest.core.models import Digest, DigestItem
from digest.core.store.connection import NotFoundError
from digest.core.store.rows import NOT_SENT, STORY_COLUMNS, digest_row, real_or_none, story_row
from digest.core.store.stories import StoriesMixin

DIGEST_FIELDS = frozenset({"title", "status", "theme", "paths", "built_at", "sent_at"})


class DraftsMixin(StoriesMixin):
    def draft(self, *, create: bool = False, title: str = "") -> Digest | None:
        row = self.db.execute("SELECT * FROM digests WHERE status = 'draft'").fetchone()
        if row is None and create:
            with self.tx() as db:
                draft_id_in_tx(db, create=True, title=title)
            row = self.db.execute("SELECT * FROM digests WHERE status = 'draft'").fetchone()
        return digest_row(row) if row else None

    def flag(self, story_id: int, section: str, *, blurb: str | None = None, headline: str | None = None,
             position: int | None = None) -> None:
        """Put a story in the draft (or update its section/blurb/headline if it is there already).
        A new item goes to the end of its section unless a position is given."""
        with self.tx() as db:  # a store known to be damaged stops here, before any read of the story
            self.get_story(story_id)  # raises NotFoundError with the id (and rolls back)
            # the draft is looked up inside the write transaction: a cron run that freezes the draft at
            # the same moment either sees this flag in its issue or leaves it for the next draft
            draft_id = draft_id_in_tx(db, create=True)
            assert draft_id is not None  # create=True always gives one
            row = db.execute(
                "SELECT section, position, headline, blurb FROM digest_items WHERE digest_id = ? AND story_id = ?",
                (draft_id, story_id),
            ).fetchone()
            if row is None or row["section"] != section:
                if position is None:
                    position = _end_of(db, draft_id, section)
            else:
                position = row["position"] if position is None else position
            db.execute(
                "INSERT INTO digest_items(digest_id, story_id, section, position, headline, blurb) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest_id, story_id) DO UPDATE SET "
                "section = excluded.section, position = excluded.position, "
                "headline = coalesce(?, digest_items.headline), blurb = coalesce(?, digest_items.blurb)",
                (draft_id, story_id, section, position, headline, blurb, headline, blurb),
            )
            # a blurb or headline set to "" means "clear it"
            if headline == "" or blurb == "":
                db.execute(
                    "UPDATE digest_items SET headline = nullif(headline, ''), blurb = nullif(blurb, '') "
                    "WHERE digest_id = ? AND story_id = ?",
                    (draft_id, story_id),
                )
            renumber(db, draft_id)

    def unflag(self, story_id: int) -> bool:
        with self.tx() as db:
            draft_id = draft_id_in_tx(db)
            if draft_id is None:
                return False
            cur = db.execute("DELETE FROM digest_items WHERE digest_id = ? AND story_id = ?", (draft_id, story_id))
            renumber(db, draft_id)
        return cur.rowcount > 0

    def move_item(self, story_id: int, *, section: str | None = None, delta: int = 0,
                  position: int | None = None) -> None:
        """Move a draft item within its section or to another, in one transaction.

        With `position`, the item goes to that index of `section` (default: its own), counted with the item
        itself taken out: 0 is the top, past the end is the end. Passing another item's position therefore
        puts this one in its place, whether it comes from above or below (a drop in the digest screen).
        Without `position`, another `section` means the end of that section and `delta` moves the item up or
        down within its section, clamped at either end."""
        with self.tx() as db:
            draft_id = draft_id_in_tx(db)
            if draft_id is None:
                raise NotFoundError("there is no draft")
            row = db.execute(
                "SELECT section FROM digest_items WHERE digest_id = ? AND story_id = ?",
                (draft_id, story_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"story {story_id} is not in the draft")
            target = row["section"] if section is None else section
            if position is None and target != row["section"]:
                db.execute(
                    "UPDATE digest_items SET section = ?, position = ? WHERE digest_id = ? AND story_id = ?",
                    (target, _end_of(db, draft_id, target), draft_id, story_id),
                )
            elif position is not None or delta:
                ids = [r[0] for r in db.execute(
                    "SELECT story_id FROM digest_items WHERE digest_id = ? AND section = ? ORDER BY position",
                    (draft_id, target),
                )]
                if position is None:  # a delta moves within the item's own section, so the item is in ids
                    position = ids.index(story_id) + delta
                if story_id in ids:
                    ids.remove(story_id)
                ids.insert(max(0, position), story_id)  # list.insert clamps past the end
                db.executemany(
                    "UPDATE digest_items SET section = ?, position = ? WHERE digest_id = ? AND story_id = ?",
                    [(target, p, draft_id, sid) for p, sid in enumerate(ids)],
                )
            renumber(db, draft_id)

    def digest_items(self, digest_id: int | None = None) -> list[DigestItem]:
        """The items of a digest (default: the draft), ordered by section name then position; callers
        order sections by the config."""
        if digest_id is None:
            draft = self.draft()
            if draft is None:
                return []
            digest_id = draft.id
        rows = self.db.execute(
            f"SELECT {STORY_COLUMNS.replace('di.digest_id AS draft_id', 'di.position, di.digest_id AS draft_id')} "
            "FROM digest_items di JOIN stories s ON s.id = di.story_id JOIN feeds f ON f.id = s.feed_id "
            "WHERE di.digest_id = ? ORDER BY di.section, di.position",
            (digest_id,),
        ).fetchall()
        return [
            DigestItem(story_row(r), r["draft_section"], r["position"], r["headline"], r["blurb"]) for r in rows
        ]

    def item_story_ids(self, digest_id: int) -> list[int]:
        """A digest's story ids in section and position order (no joins: cheap enough to ask often)."""
        return [r[0] for r in self.db.execute(
            "SELECT story_id FROM digest_items WHERE digest_id = ? ORDER BY section, position", (digest_id,))]

    def get_digest(self, *, number: int | None = None, digest_id: int | None = None) -> Digest:
        if number is not None:
            row = self.db.execute("SELECT * FROM digests WHERE number = ?", (number,)).fetchone()
        else:
            row = self.db.execute("SELECT * FROM digests WHERE id = ?", (digest_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no digest number {number}" if number is not None else f"no digest id {digest_id}")
        return digest_row(row)

    def list_digests(self) -> list[Digest]:
        return [digest_row(r) for r in self.db.execute("SELECT * FROM digests ORDER BY number DESC")]

    def update_digest(self, digest_id: int, **fields: Any) -> None:
        bad = set(fields) - DIGEST_FIELDS
        if bad:
            raise ValueError(f"unknown digest fields: {', '.join(sorted(bad))}")
        if "paths" in fields:
            fields["paths"] = json.dumps(fields["paths"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE digests SET {sets} WHERE id = ?", (*fields.values(), digest_id))

    def sent_in(self, story_id: int) -> int | None:
        """The number of the first issue that carried this story (by id, or another story with its
        canonical link), or None when none has."""
        row = self.db.execute(
            "SELECT min(d.number) FROM digests d WHERE d.status = 'sent' AND ("
            "d.id IN (SELECT digest_id FROM digest_items WHERE story_id = ?) OR d.id IN ("
            "SELECT sl.digest_id FROM sent_links sl JOIN stories s ON s.canonical_link = sl.canonical_link "
            "WHERE s.id = ? AND s.canonical_link != ''))", (story_id, story_id)).fetchone()
        return None if row[0] is None else int(row[0])

    def sent_story_filter_sql(self) -> str:
        """SQL condition (on alias s) that is true for stories never sent in an earlier digest."""
        return NOT_SENT

    def last_sent_frozen_at(self) -> float | None:
        """When the newest sent issue's stories were chosen (frozen; its send time when it never was): what
        that issue could carry ends there. Its send time can be days later (a resumed issue after the SMTP
        server was down), and the stories published meanwhile are for the next issue."""
        row = self.db.execute(
            "SELECT max(coalesce(built_at, sent_at)) FROM digests WHERE status = 'sent'").fetchone()
        return real_or_none(row[0])


def draft_id_in_tx(db: sqlite3.Connection, *, create: bool = False, title: str = "") -> int | None:
    """The draft's id, read (and if asked, created) inside the caller's write transaction."""
    row = db.execute("SELECT id FROM digests WHERE status = 'draft'").fetchone()
    if row is None and create:
        number = db.execute("SELECT coalesce(max(number), 0) + 1 FROM digests").fetchone()[0]
        cur = db.execute(
            "INSERT INTO digests(number, title, created_at, status) VALUES (?, ?, ?, 'draft')",
            (number, title, clock.now()),
        )
        return int(cur.lastrowid or 0)
    return int(row[0]) if row else None


def _end_of(db: sqlite3.Connection, digest_id: int, section: str) -> int:
    """The position after the last item of a section."""
    return int(db.execute(
        "SELECT coalesce(max(position), -1) + 1 FROM digest_items WHERE digest_id = ? AND section = ?",
        (digest_id, section),
    ).fetchone()[0])


def renumber(db: sqlite3.Connection, digest_id: int) -> None:
    """Positions 0, 1, 2... within each section, keeping their order."""
    rows = db.execute(
        "SELECT story_id, section FROM digest_items WHERE digest_id = ? ORDER BY section, position, story_id",
        (digest_id,),
    ).fetchall()
    pos: dict[str, int] = {}
    updates = []
    for r in rows:
        p = pos.get(r["section"], 0)
        pos[r["section"]] = p + 1
        updates.append((p, digest_id, r["story_id"]))
    db.executemany("UPDATE digest_items SET position = ? WHERE digest_id = ? AND story_id = ?", updates)
