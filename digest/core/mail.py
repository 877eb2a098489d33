"""SMTP delivery: one message per recipient over one reused connection, every attempt recorded.

Delivery guarantee (the README quotes this):
  * Each recipient's delivery of an issue is a row in `deliveries`: queued -> sending -> sent | failed.
    'sending' is committed after the server accepted MAIL FROM and RCPT TO and *before* the DATA command.
  * A recipient whose row is 'sent' never gets the issue again, whatever is rerun.
  * A failed or still-queued recipient is retried by the next `digest send` / `digest run`, which resumes
    the same frozen issue (same content, same Message-ID) before building a new one. An address refused
    for good (5xx to RCPT TO) twice running, while others got the issue, no longer holds it open.
  * A row left in 'sending' means the process died (or the connection broke) after the message may have
    reached the server: it is treated as possibly delivered (at most once), is NOT resent automatically,
    and is reported as "unknown". `digest send --force-unknown` resends those, with the same Message-ID,
    which most mailbox providers use to drop the duplicate.
  So nobody gets two copies from digest, and nobody is silently skipped: the only recipients who can miss
  an issue are the ones reported as unknown.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from digest.core import archive, clock, subscribers
from digest.core.archive import NothingToSend as NothingToSend  # raised by send_digest; its home is archive
from digest.core.config import Config, NewsletterConfig
from digest.core.lock import RunLock
from digest.core.message import POLICY, build_message, make_message_id
from digest.core.paths import Paths
from digest.core.smtp import (
    Connection,
    MailConfigError,
    SmtpFailure,
    config_problems,
    smtp_password,
)
from digest.core.store import Store
from digest.core.store import address_key as address_key  # was defined here; the store dedupes by it
from digest.core.wording import count

log = logging.getLogger("digest.mail")
# A library logs and lets the front end decide where: without this, Python's last-resort handler would
# print warnings onto the TUI's screen. `digest send` / `digest run` attach the rotating file (logsetup).
logging.getLogger("digest").addHandler(logging.NullHandler())

# Backoff between attempts at one recipient within a run: a dropped connection or a 4xx greylisting
# answer often clears in seconds; four attempts over ~45 s. Longer waits are the next cron run's job
# (RFC 5321 4.5.4.1 asks MTAs to wait 30 min, which a single run cannot).
RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0, 30.0)

UNKNOWN_MARK = "unknown (interrupted mid-send"  # callers look for it: a person must hear about these
ProgressFn = Callable[[int, int, str, str], None]  # (done, total, recipient, status)


@dataclass
class SendReport:
    digest_number: int
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # recipient -> reason
    skipped: list[str] = field(default_factory=list)  # sent by an earlier run: no second copy
    dry_run_paths: list[Path] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # interrupted after DATA: possibly delivered, not resent
    subject: str = ""
    story_count: int = 0
    archive_dir: Path | None = None
    resumed: bool = False  # an issue frozen by an earlier run was finished
    proof: bool = False  # --to: a proof copy, nothing recorded
    marked_sent: bool = False
    refused: list[str] = field(default_factory=list)  # the server refused the address itself (5xx to RCPT TO)
    given_up: list[str] = field(default_factory=list)  # refused again: the issue was finished without them
    notes: list[str] = field(default_factory=list)  # the build's notes (also in the archive's manifest.json)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary_line(self) -> str:
        n = f"digest #{self.digest_number}"
        if self.dry_run_paths:
            where = self.dry_run_paths[0].parent
            return f"{n}: dry run, wrote {len(self.dry_run_paths)} message(s) to {where} (nothing sent)"
        total = len(self.sent) + len(self.failed) + len(self.skipped) + len(self.unknown)
        if self.proof:
            line = f"{n}: proof sent to {', '.join(self.sent) or 'nobody'}"
        elif not self.failed and not self.unknown:
            line = f"{n} sent to {len(self.sent)} recipient(s)"
            if self.skipped:
                line += f" ({len(self.skipped)} already had it)"
        else:
            line = f"{n} sent to {len(self.sent) + len(self.skipped)} of {total} recipient(s)"
        if self.story_count:
            line += f", {count(self.story_count, 'story', 'stories')}"
        if self.failed:
            line += "; failed: " + "; ".join(f"{r} ({why})" for r, why in self.failed.items())
        if self.given_up:
            line += (f"; refused twice, so the issue is finished without {', '.join(self.given_up)} "
                     "(remove or correct the address)")
        if self.unknown:
            line += f"; {UNKNOWN_MARK}, not resent; `digest send --force-unknown` resends): " + ", ".join(self.unknown)
        if self.archive_dir:
            line += f"; archive {self.archive_dir}"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "digest_number": self.digest_number, "sent": self.sent, "failed": self.failed,
            "skipped": self.skipped, "unknown": self.unknown,
            "dry_run_paths": [str(p) for p in self.dry_run_paths], "subject": self.subject,
            "story_count": self.story_count, "archive_dir": str(self.archive_dir) if self.archive_dir else None,
            "resumed": self.resumed, "proof": self.proof, "marked_sent": self.marked_sent, "notes": self.notes,
            "given_up": self.given_up,
        }


# -- deliveries table (the rows live in the store: digest.core.store.deliveries) ---------------------

def deliveries(store: Store, digest_id: int) -> list[dict[str, Any]]:
    return store.deliveries(digest_id)


# -- sending ----------------------------------------------------------------------------------------

def send_digest(
    store: Store,
    config: Config,
    paths: Paths,
    *,
    dry_run: bool = False,
    to: list[str] | None = None,
    on_progress: ProgressFn | None = None,
    force_unknown: bool = False,
    retry_delays: Sequence[float] | None = None,
    now: float | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Deliver the issue: finish the one an earlier run froze, else freeze the draft (flags made from now
    on go into a new draft), render and archive it, send one message per recipient, then mark it sent.

    dry_run writes the per-recipient messages into the archive instead; `to` sends a proof of the
    current draft to those addresses only, recording nothing and freezing nothing. Setting `stop` (SIGTERM,
    a Cancel button) lets the message in flight finish and leaves the rest queued for the next run.
    Raises MailConfigError, NothingToSend, or LockHeld while another process is delivering."""
    delays = RETRY_DELAYS if retry_delays is None else tuple(retry_delays)
    if dry_run or to is not None:
        issue = archive.preview_issue(store, config, paths, now=now)
        recipients = list(to) if to is not None else subscribers.recipients(store, config)
        if not recipients:
            raise MailConfigError("no recipients: newsletter.to is empty and there are no subscribers "
                                  "(or give --to ADDR)")
        report = SendReport(issue.number, subject=issue.subject, story_count=issue.story_count,
                            proof=to is not None and not dry_run, notes=list(issue.notes))
        base = _base_message(config, issue.subject, issue.html, issue.text, issue.number, paths)
        if dry_run:
            out = archive.dry_run_dir(paths, issue.number)
            for i, r in enumerate(recipients, 1):
                data = _personalise(base, r, make_message_id(config.newsletter.from_, f"digest{issue.number}"))
                path = archive.write_dry_run(out, i, r, data)
                report.dry_run_paths.append(path)
                if on_progress:
                    on_progress(i, len(recipients), r, "written")
            return report
        password = _ready(config, need_recipients=False)
        rows = [{"recipient": r, "status": "queued",
                 "message_id": make_message_id(config.newsletter.from_, f"proof{issue.number}")}
                for r in recipients]
        _deliver(None, None, config, password, base, rows, report, on_progress, delays, stop=stop)
        return report

    # newsletter.to's addresses are checked when it has any; the list may also be empty with subscribers
    password = _ready(config, need_recipients=bool(config.newsletter.to))
    if not config.newsletter.to and not subscribers.recipients(store, config) and archive.pending_digest(store) is None:
        raise MailConfigError("no recipients: newsletter.to is empty and there are no subscribers "
                              "(`digest subscribers add ADDR`)")
    with RunLock(paths.lock_file):  # raises LockHeld (exit 75) while another process delivers
        report = _send_issue(store, config, paths, password, on_progress, delays, force_unknown, now, stop)
    log.info("%s", report.summary_line())
    return report


def _send_issue(store: Store, config: Config, paths: Paths, password: str | None,
                on_progress: ProgressFn | None, delays: Sequence[float], force_unknown: bool,
                now: float | None, stop: threading.Event | None) -> SendReport:
    if force_unknown:
        unknown = archive.issue_with_unknown(store, config, paths)
        if unknown is None:
            raise NothingToSend("no recipient is in the unknown state: nothing to resend")
        issue = unknown
    else:
        issue = archive.issue_for_delivery(store, config, paths, recipients=subscribers.recipients(store, config),
                                           now=now)
    report = SendReport(issue.number, subject=issue.subject, story_count=issue.story_count,
                        archive_dir=issue.dir, resumed=issue.resumed, notes=list(issue.notes))
    # whoever unsubscribed since the issue was frozen (a resumed run) is never sent to
    for gone in store.drop_queued_deliveries(issue.digest_id, store.unsubscribed_keys()):
        log.info("digest #%s: %s unsubscribed; not sent", issue.number, gone)
    rows = store.deliveries(issue.digest_id)
    # addresses the server refused before: in an earlier run of this issue, or in the issue before it
    refused_before = {r["recipient"] for r in rows if r["status"] == "failed" and _address_refusal(r["reply"])}
    refused_before |= store.refused_in_previous_issue(issue.digest_id, _ADDRESS_REFUSALS)
    todo = []
    for row in rows:
        st = row["status"]
        if st == "sent":
            report.skipped.append(row["recipient"])
        elif st == "sending" and not force_unknown:
            report.unknown.append(row["recipient"])
            log.warning("digest #%s: %s was being sent when an earlier run stopped; not resent",
                        issue.number, row["recipient"])
        else:
            todo.append(row)
    base = _base_message(config, issue.subject, issue.html, issue.text, issue.number, paths)
    try:
        _deliver(store, issue.digest_id, config, password, base, todo, report, on_progress, delays,
                 done_before=len(rows) - len(todo), force_unknown=force_unknown, stop=stop)
    finally:
        archive.update_manifest(store, paths, issue.digest_id)
    # One dead address (550 no such user) must not hold back every later issue: every run would resume
    # this one, fail on it again and never build another. Refused by two runs (a mailbox disabled for a
    # day gets a second chance) while someone else got the issue, it is finished without that address.
    # A refusal of everyone (a relay that will not relay for us) is a setting to fix: the issue waits.
    given_up = [r for r in report.failed if r in report.refused and r in refused_before]
    if report.failed and len(given_up) == len(report.failed) and (report.sent or report.skipped):
        report.given_up = given_up
        log.warning("digest #%s: finished without %s (refused twice)", issue.number, ", ".join(given_up))
    if not report.failed or report.given_up:
        archive.complete_issue(store, config, paths, issue.digest_id, issue.story_ids)
        report.marked_sent = True
    return report


# how Connection.send words a refusal of the address itself (SmtpFailure.address_refused), as stored
# in a delivery's reply
_ADDRESS_REFUSALS = ("RCPT TO refused: 5", "non-ASCII address ")


def _address_refusal(reply: str) -> bool:
    return reply.startswith(_ADDRESS_REFUSALS)


def _ready(config: Config, *, need_recipients: bool) -> str | None:
    """Raise MailConfigError listing every missing setting; return the password (password_cmd runs once)."""
    problems = config_problems(config, need_recipients=need_recipients, check_password=False)
    password = None
    if config.smtp.username:
        try:
            password = smtp_password(config.smtp)
        except MailConfigError as e:
            problems.append(str(e))
        else:
            if password is None:
                problems.append(f"smtp.username is set but the environment variable {config.smtp.password_env} "
                                "is not set (set it, or use smtp.password_cmd)")
    if problems:
        raise MailConfigError("; ".join(problems))
    return password


def _base_message(config: Config, subject: str, html: str, text: str, number: int,
                  paths: Paths | None = None) -> _Template:
    base = _Template(build_message(config.newsletter, subject=subject, html=html, text=text,
                                   to="undisclosed-recipients:;",
                                   message_id=make_message_id(config.newsletter.from_, f"digest{number}")))
    nl = config.newsletter
    if paths is not None and any(subscribers.TOKEN_PLACEHOLDER in x for x in (html, text, nl.unsubscribe_url)):
        base.personal = (subscribers.secret(paths), nl, subject, html, text)
    return base


class _Template:
    """The issue flattened once; each recipient's copy swaps only To, Message-ID and Date.

    Flattening a ~20 KB MIME message costs ~2 ms in the email package; for 1,000 recipients that was
    most of the send time (tests/bench/bench_send.py). Header lines are folded by the same policy, so a
    copy is byte-for-byte what EmailMessage.as_bytes() would give for that recipient."""

    SWAP = ("to", "message-id", "date")
    # (HMAC key, newsletter, subject, html, text) when the unsubscribe URL carries {token}: then each
    # reader's copy is built whole, since the token sits inside the quoted-printable body
    personal: tuple[bytes, NewsletterConfig, str, str, str] | None = None

    def __init__(self, msg: EmailMessage) -> None:
        raw = bytes(msg.as_bytes(policy=POLICY))
        head, sep, body = raw.partition(b"\r\n\r\n")
        fields: list[bytes] = []
        for line in (head + b"\r\n").splitlines(keepends=True):
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1] += line  # a folded continuation
            else:
                fields.append(line)
        self.fields = fields
        self.body = b"\r\n" + body if sep else b""
        self.index = {name: i for i, f in enumerate(fields)
                      if (name := f.split(b":", 1)[0].strip().lower().decode("ascii", "replace")) in self.SWAP}
        missing = set(self.SWAP) - set(self.index)
        if missing:
            raise ValueError(f"message lacks headers {sorted(missing)}")

    def render(self, recipient: str, message_id: str, date: float | None = None) -> bytes:
        if self.personal is not None:
            key, nl, subject, html, text = self.personal
            token, mark = subscribers.token_for(key, recipient), subscribers.TOKEN_PLACEHOLDER
            mine = dataclasses.replace(nl, unsubscribe_url=nl.unsubscribe_url.replace(mark, token))
            msg = build_message(mine, subject=subject, html=html.replace(mark, token),
                                text=text.replace(mark, token), to=recipient,
                                message_id=message_id, date=clock.now() if date is None else date)
            return bytes(msg.as_bytes(policy=POLICY))
        fields = list(self.fields)
        for name, value in (("To", recipient), ("Message-ID", message_id),
                            ("Date", format_datetime(datetime.fromtimestamp(
                                clock.now() if date is None else date, UTC)))):
            if "\r" in value or "\n" in value:  # what EmailMessage.__setitem__ refuses: header injection
                raise ValueError(f"{name}: line breaks are not allowed in a header: {value!r}")
            header = POLICY.header_factory(name, value)  # parsed like msg[name] = value: RFC 2047, folding
            fields[self.index[name.lower()]] = POLICY.fold_binary(name, header)
        return b"".join(fields) + self.body


def _personalise(base: _Template, recipient: str, message_id: str) -> bytes:
    return base.render(recipient, message_id)


def _deliver(store: Store | None, digest_id: int | None, config: Config, password: str | None, base: _Template,
             rows: list[dict[str, Any]], report: SendReport, on_progress: ProgressFn | None,
             delays: Sequence[float], *, done_before: int = 0, force_unknown: bool = False,
             stop: threading.Event | None = None) -> None:
    sender = parseaddr(config.newsletter.from_)[1]
    conn = Connection(config.smtp, password)
    rate = config.smtp.rate_per_s
    interval = 1.0 / rate if rate > 0 else 0.0
    last_start = 0.0
    total = done_before + len(rows)
    done = done_before
    claimable = ("queued", "failed", "sending") if force_unknown else ("queued", "failed")

    def record(recipient: str, status: str, reply: str | None = None, attempt: bool = False) -> None:
        if store is not None and digest_id is not None:
            store.set_delivery(digest_id, recipient, status, reply, attempt=attempt)

    try:
        for i, row in enumerate(rows):
            if stop is not None and stop.is_set():
                for rest in rows[i:]:
                    record(rest["recipient"], "queued", "not sent: stopped before its turn")
                    report.failed[rest["recipient"]] = "not sent: stopped (the next run sends it)"
                log.warning("stopped on request; %d recipient(s) left queued", len(rows) - i)
                return
            recipient = row["recipient"]
            rcpt = parseaddr(recipient)[1]
            data = _personalise(base, recipient, row["message_id"])
            attempts = 0
            status = "failed"
            while True:
                if interval:
                    wait = last_start + interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                last_start = time.monotonic()
                def mark_sending(r: str = recipient) -> bool:
                    if store is None or digest_id is None:
                        return True
                    return store.claim_delivery(digest_id, r, claimable)

                try:
                    reply = conn.send(sender, rcpt, data, mark_sending)
                except SmtpFailure as f:
                    reason = f.reason
                    if f.kind == "claimed":
                        report.skipped.append(recipient)
                        status = "skipped"
                        break
                    if f.kind == "ambiguous":
                        record(recipient, "sending", reason)
                        report.unknown.append(recipient)
                        status = "unknown"
                        break
                    if f.kind == "transient" and attempts < len(delays):
                        log.info("%s: %s; retrying in %.0f s", recipient, reason, delays[attempts])
                        record(recipient, "queued", reason)
                        time.sleep(delays[attempts])
                        attempts += 1
                        continue
                    if f.kind == "transient":
                        reason = f"gave up after {attempts + 1} attempts: {reason}"
                    if f.kind == "fatal" or (f.kind == "transient" and conn.conn is None):
                        # the relay refuses us or is unreachable: no point trying the rest one by one
                        for rest in rows[i:]:
                            record(rest["recipient"], "failed", f"{conn.where}: {reason}")
                            report.failed[rest["recipient"]] = f"{conn.where}: {reason}"
                        log.error("%s: %s; %d recipient(s) not sent", conn.where, reason, len(rows) - i)
                        return
                    record(recipient, "failed", reason)
                    report.failed[recipient] = reason
                    if f.address_refused:
                        report.refused.append(recipient)
                    log.warning("%s: %s", recipient, reason)
                    break
                record(recipient, "sent", reply)
                report.sent.append(recipient)
                status = "sent"
                break
            done += 1
            if on_progress:
                on_progress(done, total, recipient, status)
    finally:
        conn.close()
