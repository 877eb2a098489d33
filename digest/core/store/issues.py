"""Issues: the draft frozen ('built', its recipients queued), given back when rendering it fails, and
marked 'sent' at the end; the one place the digest's status changes besides update_digest.

core/archive.py decides when (and writes the files); these methods make each step one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from digest.core import clock
from digest.core.models import Digest
from digest.core.store.deliveries import queue_in_tx
from digest.core.store.drafts import DraftsMixin, draft_id_in_tx, renumber
from digest.core.store.rows import DRAFT_ID, digest_row


class IssuesMixin(DraftsMixin):
    def pending_issue(self) -> Digest | None:
        """An issue frozen by an earlier send that did not finish (status 'built' with an archive path).
        `digest build` leaves the draft a draft, so a built status always comes from a freeze."""
        row = self.db.execute(
            "SELECT * FROM digests WHERE status = 'built' AND json_extract(paths, '$.archive') IS NOT NULL "
            "ORDER BY number LIMIT 1"
        ).fetchone()
        return digest_row(row) if row else None

    def freeze_draft(self, recipients: Sequence[str], from_: str, *, archive_path: Callable[[int], str],
                     now: float | None = None) -> Digest | None:
        """Turn the draft into an issue: status 'built', its archive path (archive_path(number)) recorded
        and the recipients queued, in one transaction. None when there is no draft or it has no stories."""
        now = clock.now() if now is None else now
        with self.tx() as db:
            row = db.execute("SELECT id, number FROM digests WHERE status = 'draft'").fetchone()
            if row is None:
                return None
            if not db.execute("SELECT 1 FROM digest_items WHERE digest_id = ? LIMIT 1", (row["id"],)).fetchone():
                return None
            db.execute(
                "UPDATE digests SET status = 'built', built_at = ?, paths = json_set(paths, '$.archive', ?) "
                "WHERE id = ?", (now, archive_path(row["number"]), row["id"]),
            )
            queue_in_tx(db, row["id"], row["number"], from_, recipients)
        return self.get_digest(digest_id=row["id"])

    def unfreeze(self, digest_id: int) -> None:
        """A just-frozen issue back to being the draft (its rendering failed), its deliveries dropped;
        flags made meanwhile in a newer draft are merged into it."""
        with self.tx() as db:
            newer = draft_id_in_tx(db)
            if newer is not None:
                db.execute("UPDATE OR IGNORE digest_items SET digest_id = ? WHERE digest_id = ?", (digest_id, newer))
                db.execute("DELETE FROM digest_items WHERE digest_id = ?", (newer,))
                db.execute("DELETE FROM digests WHERE id = ?", (newer,))
            db.execute("DELETE FROM deliveries WHERE digest_id = ?", (digest_id,))
            db.execute("UPDATE digests SET status = 'draft', built_at = NULL, paths = '{}' WHERE id = ?",
                       (digest_id,))
            renumber(db, digest_id)

    def move_items_to_draft(self, digest_id: int, story_ids: Sequence[int]) -> None:
        """Move these items of an issue to the end of the draft (created if needed): flagged into the issue
        after it was rendered, they were never sent."""
        with self.tx() as db:
            draft_id = draft_id_in_tx(db, create=True)
            for sid in story_ids:
                db.execute("UPDATE OR IGNORE digest_items SET digest_id = ?, position = 1000000 "
                           "WHERE digest_id = ? AND story_id = ?", (draft_id, digest_id, sid))
                db.execute("DELETE FROM digest_items WHERE digest_id = ? AND story_id = ?", (digest_id, sid))
            assert draft_id is not None
            renumber(db, draft_id)

    def restore_items(self, digest_id: int, sections: Mapping[int, str]) -> None:
        """Put these stories (id -> section) back into an issue, taking them out of the draft: unflagged
        after the issue was rendered, they were sent with it."""
        with self.tx() as db:
            for pos, (sid, section) in enumerate(sections.items(), start=1_000_000):
                db.execute("INSERT OR IGNORE INTO digest_items(digest_id, story_id, section, position) "
                           "SELECT ?, id, ?, ? FROM stories WHERE id = ?", (digest_id, section, pos, sid))
                db.execute(f"DELETE FROM digest_items WHERE story_id = ? AND digest_id = {DRAFT_ID}", (sid,))
            renumber(db, digest_id)

    def mark_sent(self, digest_id: int, *, at: float | None = None) -> None:
        """The issue went out: status 'sent', its links remembered (never picked again, even if the story
        rows are pruned later) and its stories marked read."""
        at = clock.now() if at is None else at
        with self.tx() as db:
            db.execute("UPDATE digests SET status = 'sent', sent_at = ? WHERE id = ?", (at, digest_id))
            db.execute(
                "INSERT OR IGNORE INTO sent_links(canonical_link, digest_id, at) "
                "SELECT s.canonical_link, ?, ? FROM digest_items di JOIN stories s ON s.id = di.story_id "
                "WHERE di.digest_id = ? AND s.canonical_link != ''",
                (digest_id, at, digest_id),
            )
            db.execute(
                "UPDATE stories SET read = 1 WHERE id IN (SELECT story_id FROM digest_items WHERE digest_id = ?)",
                (digest_id,),
            )
