"""Who gets the digest: `newsletter.to` merged with the subscribers table, minus everyone who unsubscribed;
and the per-reader unsubscribe token.

The token is an HMAC-SHA256 of the address (digest.core.store.deliveries.token_subject) with a secret
made once in the data folder (`subscribers.key`, mode 0600), cut to 128 bits and base32-encoded: it
identifies the reader to the unsubscribe page without putting the address in a URL (RFC 8058 wants the
one-click URL to identify the recipient). `newsletter.unsubscribe_url` may hold `{token}`; each message
then carries its reader's token in List-Unsubscribe and in the footer link. Whatever receives the click
(a web form, a mail rule) hands the token back: `digest subscribers unsubscribe TOKEN`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import os
import secrets
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from digest.core.store.deliveries import address_key, token_subject

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.paths import Paths
    from digest.core.store import Store

SECRET_NAME = "subscribers.key"
TOKEN_PLACEHOLDER = "{token}"


class SubscriberError(Exception):
    """Bad input: an address, a token or a CSV that cannot be used (the message names it)."""


def secret(paths: Paths) -> bytes:
    """The HMAC key: created on first use with O_EXCL and mode 0600 (two processes racing get one key)."""
    path = paths.data_dir / SECRET_NAME
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def token_for(key: bytes, address: str) -> str:
    digest = hmac.new(key, token_subject(address).encode("utf-8"), hashlib.sha256).digest()[:16]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()  # 26 URL-safe characters


def shown(value: str, limit: int = 60) -> str:
    """A value quoted for an error message, cropped: a line of a web form's file may be any length, and
    the first 60 characters are enough to find it (the message names its line too)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def valid_address(address: str) -> str:
    """The bare address, or SubscriberError naming what is wrong with it.

    parseaddr alone is too forgiving for a list people are mailed at: it keeps the first of
    "ann@x.org, bob@y.org" and drops Bob without a word, joins "ann@exa mple.com" into another domain,
    and takes "ann@x..org". The value must hold exactly one address, written as it is used."""
    value = address.strip()
    parts = [(name, addr) for name, addr in getaddresses([value]) if name or addr]
    if sum("@" in addr for _, addr in parts) > 1:
        raise SubscriberError(f"more than one address in {shown(value)} (one address per value)")
    addr = parts[0][1] if len(parts) == 1 else ""
    local, _, domain = addr.rpartition("@")
    labels = domain.split(".")
    if (not local or len(labels) < 2 or not all(labels) or addr not in value
            or any(c.isspace() or c in '<>()[],;:"\\' for c in addr)):
        raise SubscriberError(f"not an email address: {shown(value)}")
    return addr


def recipients(store: Store, config: Config) -> list[str]:
    """`newsletter.to`, then the active subscribers not already listed, minus every unsubscribed address."""
    gone = store.unsubscribed_keys()
    out: list[str] = []
    seen: set[str] = set()
    for r in [*config.newsletter.to, *(s["address"] for s in store.subscribers("active"))]:
        key = address_key(r)
        if key and key not in seen and key not in gone:
            seen.add(key)
            out.append(r)
    return out


def add(store: Store, paths: Paths, addresses: list[tuple[str, str]], source: str) -> tuple[int, int]:
    """(address, name) pairs, all checked before any is stored: (added, already there)."""
    key = secret(paths)
    # "Ann <ann@example.com>" keeps Ann as the name when none is given
    rows = [(valid_address(a), (name or parseaddr(a)[0]).strip(), token_for(key, valid_address(a)))
            for a, name in addresses]
    return store.add_subscribers(rows, source)


def unsubscribe(store: Store, paths: Paths, config: Config, token_or_address: str) -> tuple[str, bool]:
    """Record an unsubscribe by token (what the link carries) or by address: (address, newly recorded).
    Tokens of addresses outside the table (newsletter.to, now or when an old issue went out) are
    computed and compared: every address ever queued for delivery is a candidate."""
    value = token_or_address.strip()
    key = secret(paths)
    if "@" in value:
        address = valid_address(value)
    else:
        row = store.subscriber_by_token(value.lower())
        if row is not None:
            address = row["address"]
        else:
            candidates = [*config.newsletter.to, *store.delivered_addresses()]
            given = value.lower().encode("utf-8")  # bytes: compare_digest refuses non-ASCII str
            matches = [a for a in candidates if hmac.compare_digest(token_for(key, a).encode("ascii"), given)]
            if not matches:
                raise SubscriberError(f"unknown unsubscribe token {shown(value)} (no subscriber or newsletter.to "
                                      "address has it)")
            address = parseaddr(matches[0])[1]
    return address, store.mark_unsubscribed(address, token_for(key, address), "unsubscribe")


def read_csv(path: Path) -> list[tuple[str, str]]:
    """(address, name) from a CSV: a column named email/address/e-mail (else the first column), and
    name if there is one. A header row is recognised by having no '@' in its first cell."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SubscriberError(f"{path}: cannot read: {e}") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        return []
    col, name_col, first = 0, None, 1
    if "@" not in rows[0][0]:
        first = 2
        header = [h.strip().lower() for h in rows.pop(0)]
        col = next((i for i, h in enumerate(header) if h in ("email", "e-mail", "address", "email address")), 0)
        name_col = next((i for i, h in enumerate(header) if h in ("name", "full name")), None)
    out = []
    for n, r in enumerate(rows, first):
        if col >= len(r):
            raise SubscriberError(f"{path}: line {n}: no address column")
        try:
            name = r[name_col].strip() if name_col is not None and name_col < len(r) else ""
            out.append((valid_address(r[col]), name))
        except SubscriberError as e:
            raise SubscriberError(f"{path}: line {n}: {e}") from None
    return out


def write_csv(rows: list[dict[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["email", "name", "status", "source", "token"])
    for r in rows:
        w.writerow([r["address"], r["name"], r["status"], r["source"], r["token"]])
    return buf.getvalue()


def personal_url(template: str, key: bytes, address: str) -> str:
    return template.replace(TOKEN_PLACEHOLDER, token_for(key, address))
