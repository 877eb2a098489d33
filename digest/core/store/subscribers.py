"""The subscribers table: addresses added from the CLI or a CSV, and the record of who unsubscribed.

Tokens are computed by digest.core.subscribers (an HMAC with the data folder's secret) and stored here
so an unsubscribe by token is one indexed lookup."""

from __future__ import annotations

from typing import Any

from digest.core import clock
from digest.core.store.connection import Connection
from digest.core.store.deliveries import address_key

SUBSCRIBER_COLUMNS = "id, address, name, status, token, source, added_at, unsubscribed_at"


class SubscribersMixin(Connection):
    def subscribers(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every subscriber (or those with `status`), in the order they were added."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.db.execute(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers {where} ORDER BY id", args)
        return [dict(r) for r in rows]

    def subscriber(self, address: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE key = ?",
                              (address_key(address),)).fetchone()
        return dict(row) if row else None

    def subscriber_by_token(self, token: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE token = ?", (token,)).fetchone()
        return dict(row) if row else None

    def add_subscribers(self, rows: list[tuple[str, str, str]], source: str) -> tuple[int, int]:
        """(address, name, token) rows, in one transaction: (added, already there). An address that
        unsubscribed stays unsubscribed: re-adding it (a stale CSV) must not undo the reader's choice."""
        added = 0
        now = clock.now()
        with self.tx() as db:
            for address, name, token in rows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO subscribers(key, address, name, token, source, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (address_key(address), address.strip(), name, token, source, now))
                added += cur.rowcount
        return added, len(rows) - added

    def import_subscribers(self, active: list[tuple[str, str, str]], unsubscribed: list[tuple[str, str, str]],
                           source: str) -> tuple[int, int, int]:
        """A CSV's rows in one transaction: the active ones added as add_subscribers does, and the ones
        marked unsubscribed recorded so (kept unsubscribed if already, turned unsubscribed if active):
        (added, already there, newly unsubscribed). A list exported by `digest subscribers export` carries
        its unsubscribes; importing it elsewhere must not make them readers again."""
        now = clock.now()
        newly = 0
        with self.tx() as db:
            added, known = self.add_subscribers(active, source)
            for address, name, token in unsubscribed:
                key = address_key(address)
                db.execute("INSERT OR IGNORE INTO subscribers(key, address, name, token, source, added_at, status) "
                           "VALUES (?, ?, ?, ?, ?, ?, 'active')", (key, address.strip(), name, token, source, now))
                cur = db.execute("UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ? "
                                 "WHERE key = ? AND status = 'active'", (now, key))
                newly += cur.rowcount
        return added, known, newly

    def remove_subscriber(self, address: str) -> bool:
        """Forget an active subscriber. An unsubscribed one is kept: the record is what stops the
        address being sent to again (from newsletter.to, a CSV import, or a resumed issue)."""
        with self.tx() as db:
            cur = db.execute("DELETE FROM subscribers WHERE key = ? AND status = 'active'", (address_key(address),))
        return cur.rowcount == 1

    def mark_unsubscribed(self, address: str, token: str, source: str) -> bool:
        """Record the unsubscribe (inserting the address if it came from newsletter.to); False when it was
        already recorded."""
        now = clock.now()
        key = address_key(address)
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO subscribers(key, address, token, source, added_at, status) "
                       "VALUES (?, ?, ?, ?, ?, 'active')", (key, address.strip(), token, source, now))
            cur = db.execute("UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ? "
                             "WHERE key = ? AND status = 'active'", (now, key))
        return cur.rowcount == 1

    def delivered_addresses(self) -> list[str]:
        """Every address an issue was ever queued for (to resolve the token of an old link)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT recipient FROM deliveries")]

    def unsubscribed_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM subscribers WHERE status = 'unsubscribed'")}

    def drop_queued_deliveries(self, digest_id: int, keys: set[str]) -> list[str]:
        """Take the not-yet-sent rows of these addresses out of an issue's queue (they unsubscribed after
        it was frozen); the recipients dropped."""
        dropped = []
        with self.tx() as db:
            rows = db.execute("SELECT recipient FROM deliveries WHERE digest_id = ? AND status IN ('queued', 'failed')",
                              (digest_id,)).fetchall()
            for (recipient,) in rows:
                if address_key(recipient) in keys:
                    db.execute("DELETE FROM deliveries WHERE digest_id = ? AND recipient = ?", (digest_id, recipient))
                    dropped.append(recipient)
        return dropped
