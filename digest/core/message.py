"""The MIME message of a digest: multipart/alternative, text part first, then HTML (NEWSLETTER.md #9)."""

from __future__ import annotations

import email.policy
import email.utils
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import quote

from digest.core.config import NewsletterConfig

POLICY = email.policy.SMTP.clone(max_line_length=998)


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
    msg["Date"] = email.utils.formatdate(date, usegmt=True)
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
