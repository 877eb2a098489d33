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
import re
import secrets
from dataclasses import dataclass
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


ADDRESS_HEADERS = ("email", "e-mail", "email address", "e-mail address", "address", "mail")
NAME_HEADERS = ("name", "full name")
# a `status` column (ours, from `digest subscribers export`, or a mailing tool's): what each value means
ACTIVE_STATUSES = ("", "active", "subscribed")
UNSUBSCRIBED_STATUSES = ("unsubscribed", "unsubscribe")


@dataclass
class CsvRow:
    line: int  # the file's line the row starts on, as an editor counts
    address: str
    name: str
    unsubscribed: bool


class CsvError(SubscriberError):
    """Every row of a CSV that cannot be used, each naming its line (the file is fixed in one go)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _delimiter(first_line: str) -> str:
    """',' unless the first line has more unquoted ';' or tabs: Excel in much of Europe writes ';', and a
    ';' file read as ',' loses its names or joins two columns into one value."""
    bare = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: bare.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def read_csv(path: Path) -> list[CsvRow]:
    """The rows of a CSV from a signup form or a mailing tool: UTF-8 (a BOM is fine), ',' ';' or tab.

    A first row with no '@' in any cell is a header: the address is the column named email/address/...
    (else the first column whose cell holds an '@'), the name `name` / `full name` or `first name` +
    `last name`, and `status` says who unsubscribed. Without a header, a second column is the name.
    Every bad row is named with its line (CsvError)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SubscriberError(f"{path}: cannot read: {e}") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(first))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for r in reader:
            if any(c.strip() for c in r):
                rows.append((start, r))
            start = reader.line_num + 1
    except csv.Error as e:
        raise SubscriberError(f"{path}: line {reader.line_num}: {e}") from None
    if not rows:
        return []
    header: list[str] = []
    if not any("@" in c for c in rows[0][1]):
        header = [h.strip().lower() for h in rows.pop(0)[1]]
    probe = rows[0][1] if rows else []

    def column(names: tuple[str, ...]) -> int | None:
        return next((i for i, h in enumerate(header) if h in names), None)

    col = column(ADDRESS_HEADERS)
    if col is None:
        col = next((i for i, c in enumerate(probe) if "@" in c), 0)
    name_col, status_col = column(NAME_HEADERS), column(("status",))
    if not header and len(probe) == 2:  # "Eve,eve@example.net" or "eve@example.net,Eve": the other one
        name_col = 1 - col
    first_col, last_col = column(("first name", "firstname", "given name")), column(("last name", "lastname",
                                                                                    "surname", "family name"))

    def cell(r: list[str], i: int | None) -> str:
        return r[i].strip() if i is not None and i < len(r) else ""

    out: list[CsvRow] = []
    problems: list[str] = []
    for n, r in rows:
        status = cell(r, status_col).lower()
        try:
            if col >= len(r):
                raise SubscriberError("no address column")
            address = valid_address(r[col])
            if status not in ACTIVE_STATUSES + UNSUBSCRIBED_STATUSES:
                raise SubscriberError(f"status {shown(status)} is neither active nor unsubscribed")
        except SubscriberError as e:
            problems.append(f"{path}: line {n}: {e}")
            continue
        name = (cell(r, name_col) or " ".join(p for p in (cell(r, first_col), cell(r, last_col)) if p)
                or parseaddr(r[col])[0].strip())  # "Ann <ann@example.com>" in the address column
        out.append(CsvRow(n, address, name, status in UNSUBSCRIBED_STATUSES))
    if problems:
        raise CsvError(problems)
    return out


def import_rows(store: Store, paths: Paths, rows: list[CsvRow], source: str) -> tuple[int, int, int]:
    """A CSV's rows in one transaction: (added, already there, newly unsubscribed). Rows marked
    unsubscribed are recorded so, never added as readers."""
    key = secret(paths)
    active = [(r.address, r.name, token_for(key, r.address))
              for r in rows if not r.unsubscribed]
    gone = [(r.address, r.name, token_for(key, r.address)) for r in rows if r.unsubscribed]
    return store.import_subscribers(active, gone, source)


def write_csv(rows: list[dict[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["email", "name", "status", "source", "token"])
    for r in rows:
        w.writerow([r["address"], r["name"], r["status"], r["source"], r["token"]])
    return buf.getvalue()


def personal_url(template: str, key: bytes, address: str) -> str:
    return template.replace(TOKEN_PLACEHOLDER, token_for(key, address))
