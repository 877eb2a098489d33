"""The MIME message of a digest: multipart/alternative, text part first, then HTML (NEWSLETTER.md #9).

Line lengths follow the RFCs, because spam filters score the breaches (SpamAssassin MIME_QP_LONG_LINE):
quoted-printable body lines at most 76 characters (RFC 2045 6.7), header lines folded near 78 (RFC 5322
2.1.1). The email package applies one max_line_length to both; 76 satisfies both. List-* headers hold
URLs that must reach the client verbatim, so they are folded by hand between their <...> items and never
RFC 2047-encoded (which the stock folding does to a long word, and which breaks one-click unsubscribe).
"""

from __future__ import annotations

import email.policy
import email.utils
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from urllib.parse import quote

from digest.core import clock
from digest.core.config import NewsletterConfig

QP_LINE_MAX = 76  # RFC 2045 6.7 (2): encoded lines no longer than 76 characters
_VERBATIM = ("list-unsubscribe", "list-unsubscribe-post", "list-id", "list-archive", "list-help")


class _Policy(EmailPolicy):
    """email.policy.SMTP at 76 columns, with List-* headers folded between items, never encoded."""

    def fold(self, name: str, value: str) -> str:
        folded = _fold_list(name, str(value), self.max_line_length or QP_LINE_MAX, self.linesep)
        return folded if folded is not None else super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = _fold_list(name, str(value), self.max_line_length or QP_LINE_MAX, self.linesep)
        return folded.encode("ascii") if folded is not None else super().fold_binary(name, value)


def _fold_list(name: str, value: str, width: int, linesep: str) -> str | None:
    """`Name: <a>, <b>` folded after each comma that would overflow; None when the header is not one
    of ours or is not plain ASCII (then the stock folding applies)."""
    if name.lower() not in _VERBATIM or not value.isascii() or "\n" in value or "\r" in value:
        return None
    items = [i.strip() for i in value.split(",")] if name.lower() == "list-unsubscribe" else [value.strip()]
    # one URL longer than the line stays whole (RFC 5322 allows 998); a URL cannot be folded inside
    lines = [f"{name}: {items[0]}"]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += f", {item}"
        else:
            lines[-1] += ","
            lines.append(f" {item}")
    return linesep.join(lines) + linesep


POLICY = _Policy(linesep="\r\n", max_line_length=QP_LINE_MAX)  # email.policy.SMTP's settings, at 76


def sender_domain(from_: str) -> str:
    addr = parseaddr(from_)[1]
    return addr.rpartition("@")[2] or "localhost"


def make_message_id(from_: str, idstring: str | None = None) -> str:
    return email.utils.make_msgid(idstring=idstring, domain=sender_domain(from_))


def build_message(
    nl: NewsletterConfig,
    *,
    subject: str,
    html: str,
    text: str,
    to: list[str] | str,
    message_id: str | None = None,
    date: float | None = None,
) -> EmailMessage:
    """A complete message. One recipient per message in delivery (no exposed lists); a built .eml
    addresses the configured list so it can be opened and read as-is."""
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = nl.from_
    msg["To"] = ", ".join(to) if isinstance(to, list) else to
    if nl.reply_to:
        msg["Reply-To"] = nl.reply_to
    msg["Date"] = email.utils.formatdate(clock.now() if date is None else date, usegmt=True)
    msg["Message-ID"] = message_id or make_message_id(nl.from_)
    unsub = list_unsubscribe(nl)
    if unsub:
        msg["List-Unsubscribe"] = unsub
        if nl.unsubscribe_url:
            # RFC 8058 one-click: only meaningful with an https URL the relay can POST to
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def list_unsubscribe(nl: NewsletterConfig) -> str:
    parts = []
    if nl.unsubscribe_url:
        parts.append(f"<{nl.unsubscribe_url}>")
    mailto = nl.unsubscribe_mailto or (
        f"mailto:{parseaddr(nl.from_)[1]}?subject={quote('unsubscribe')}" if nl.unsubscribe_url else ""
    )
    if mailto:
        if not mailto.startswith("mailto:"):
            mailto = f"mailto:{mailto}"
        parts.append(f"<{mailto}>")
    return ", ".join(parts)
