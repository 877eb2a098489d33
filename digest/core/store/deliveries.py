"""The deliveries table: one row per recipient of an issue, queued -> sending -> sent | failed.

'sending' is committed after the server accepted MAIL FROM and RCPT TO and before DATA (core/mail.py
quotes the whole guarantee); every step here is conditional on the row's current state, so a second
sender cannot claim a recipient the first one holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from digest.core import clock
from digest.core.models import Digest
from digest.core.store.connection import Connection
from digest.core.store.rows import digest_row, marks

DELIVERY_STATES = ("queued", "sending", "sent", "failed")


def address_key(recipient: str) -> str:
    """The bare address in lower case, as readers are compared: "Ann <ANN@X.org>" and "ann@x.org" are one
    reader. The part before the @ is folded too: RFC 5321 lets a server tell cases apart there, but the
    mail services readers use do not, and an unsubscribe must hold whatever case a later list spells the
    address in. Unsubscribe tokens are made from token_subject, which is unchanged, so every link ever
    sent still works."""
    subject = token_subject(recipient)
    return subject.lower()


def token_subject(recipient: str) -> str:
    """The bare address with the domain lower-cased: what an unsubscribe token is the HMAC of (the key
    readers were compared by before the part before the @ was folded too)."""
    from email.utils import parseaddr  # here: email.utils costs every command's start ~7 ms (a refresh too)

    addr = parseaddr(recipient)[1]
    local, _, domain = addr.rpartition("@")
    return f"{local}@{domain.lower()}" if local else ""


def queue_in_tx(db: sqlite3.Connection, digest_id: int, number: int, from_: str, recipients: Sequence[str]) -> None:
    """Insert a 'queued' row (with its own Message-ID) per distinct address, inside the caller's
    transaction, so freezing an issue and queueing its recipients commit together."""
    # here, not at the top: digest.core.message loads email.policy and its header machinery (~5 ms),
    # which every command opening the store paid, a refresh from cron included
    from digest.core.message import make_message_id

    now = clock.now()
    seen: set[str] = set()
    for r in recipients:
        key = address_key(r)
        if not key or key in seen:
            continue
        seen.add(key)
        db.execute(
            "INSERT OR IGNORE INTO deliveries(digest_id, recipient, status, message_id, at) "
            "VALUES (?, ?, 'queued', ?, ?)",
            (digest_id, r.strip(), make_message_id(from_, f"digest{number}"), now),
        )


class DeliveriesMixin(Connection):
    def deliveries(self, digest_id: int) -> list[dict[str, Any]]:
        """An issue's recipients in the order they were queued: recipient, status, message_id, reply,
        attempts, at."""
        rows = self.db.execute(
            "SELECT recipient, status, message_id, reply, attempts, at FROM deliveries WHERE digest_id = ? "
            "ORDER BY id", (digest_id,),
        )
        return [dict(r) for r in rows]

    def claim_delivery(self, digest_id: int, recipient: str, allowed: Sequence[str]) -> bool:
        """Move a recipient to 'sending' (one more attempt), only if its row is still in one of the
        `allowed` states; False when someone else got there first."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, at = ? "
                f"WHERE digest_id = ? AND recipient = ? AND status IN ({marks(len(allowed))})",
                (clock.now(), digest_id, recipient, *allowed),
            )
        return cur.rowcount == 1

    def set_delivery(self, digest_id: int, recipient: str, status: str, reply: str | None = None,
                     *, attempt: bool = False) -> None:
        """Record a recipient's new state; `reply` (the server's answer or the reason) replaces the last
        one when given, `attempt` counts one more try."""
        with self.tx() as db:
            db.execute(
                "UPDATE deliveries SET status = ?, reply = coalesce(?, reply), attempts = attempts + ?, at = ? "
                "WHERE digest_id = ? AND recipient = ?",
                (status, reply, int(attempt), clock.now(), digest_id, recipient),
            )

    def refused_in_previous_issue(self, digest_id: int, reply_prefixes: Sequence[str]) -> set[str]:
        """The recipients whose delivery of the issue queued before this one failed with a reply starting
        with one of `reply_prefixes` (the server refused the address)."""
        rows = self.db.execute(
            "SELECT recipient, reply FROM deliveries WHERE status = 'failed' AND digest_id = "
            "(SELECT max(digest_id) FROM deliveries WHERE digest_id < ?)", (digest_id,))
        return {r[0] for r in rows if str(r[1]).startswith(tuple(reply_prefixes))}

    def issue_with_unknown_delivery(self) -> Digest | None:
        """The newest issued digest with a recipient left in 'sending' (what --force-unknown resends)."""
        row = self.db.execute(
            "SELECT d.* FROM digests d WHERE d.status IN ('built', 'sent') AND EXISTS "
            "(SELECT 1 FROM deliveries x WHERE x.digest_id = d.id AND x.status = 'sending') "
            "ORDER BY d.number DESC"
        ).fetchone()
        return digest_row(row) if row else None
