"""A real SMTP server (aiosmtpd) on 127.0.0.1 with switchable faults, and small store fixtures.

Shared by tests/test_mail.py, test_run.py, test_archive.py, test_cron.py and tests/bench/bench_send.py.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.core.config import Config, NewsletterConfig, SmtpConfig
from digest.core.models import ParsedStory
from digest.core.store import Store

USER, PASSWORD = "digest-user", "s3cret-Pa55word!"


def free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to check it is up)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Recorder:
    """The handler. Faults:
    reject: address -> "5xx text" answered to RCPT TO;
    tempfail: address -> how many times to answer 451 before accepting;
    drop_at_mail: the Nth MAIL FROM (1-based, counted over the server's life) closes the connection;
    hold_data_for: address whose DATA is stored, then the reply waits for `release` (a test kills the
    client meanwhile: the message was accepted but the client never hears it);
    hold_at_mail: the Nth MAIL FROM waits for `release` before answering (killed before DATA: not sent);
    drop_after_data_for: address whose message is stored, then the connection closes with no reply."""

    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    tempfail: dict[str, int] = field(default_factory=dict)
    drop_at_mail: set[int] = field(default_factory=set)
    hold_data_for: str = ""
    hold_at_mail: int = 0
    data_delay: float = 0.0  # seconds each DATA reply waits (gives a killer something to hit)
    drop_after_data_for: str = ""
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    mails: int = 0
    connections: int = 0
    auth_logins: list[str] = field(default_factory=list)
    tls_sessions: int = 0

    def by_rcpt(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for r in self.received:
            for a in r.rcpt_tos:
                out.setdefault(a, []).append(r)
        return out

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
                          ) -> list[str]:
        session.host_name = hostname
        if not getattr(session, "_counted", False):
            session._counted = True
            self.connections += 1
        if session.ssl is not None:
            self.tls_sessions += 1
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.mails += 1
        if self.mails == self.hold_at_mail:
            self.held.set()
            await self._wait_release()
        if self.mails in self.drop_at_mail:
            server.transport.close()
            return "421 4.4.2 closing (test fault)"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.reject:
            return self.reject[address]
        if self.tempfail.get(address, 0) > 0:
            self.tempfail[address] -= 1
            return "451 4.7.1 greylisted, try again (test fault)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        if self.drop_after_data_for and self.drop_after_data_for in envelope.rcpt_tos:
            self.drop_after_data_for = ""
            server.transport.close()
            return "250 never heard (test fault)"
        if self.hold_data_for and self.hold_data_for in envelope.rcpt_tos:
            self.held.set()
            await self._wait_release()
        if self.data_delay:
            import asyncio

            await asyncio.sleep(self.data_delay)
        return f"250 2.0.0 queued as test-{len(self.received)}"


    async def _wait_release(self) -> None:
        import asyncio

        while not self.release.is_set():
            await asyncio.sleep(0.02)


class Authenticator:
    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, pw = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((login, pw))
        ok = (login, pw) == (USER, PASSWORD)
        # handled=False: the server sends the 235/535 reply itself (True would leave the client waiting)
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(
    handler: Recorder | None = None,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: Authenticator | None = None,
    auth_require_tls: bool = True,
) -> Iterator[tuple[Controller, Recorder]]:
    handler = handler or Recorder()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        kwargs.update(ssl_context=implicit_tls)
    if auth is not None:
        kwargs.update(authenticator=auth, auth_required=True, auth_require_tls=auth_require_tls)
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="mx.test", **kwargs)
    ctl.start()
    try:
        yield ctl, handler
    finally:
        if isinstance(handler, Recorder):
            handler.release.set()
        ctl.stop()


def tls_pair(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 from a throwaway CA, and the CA's PEM
    (clients trust it through SSL_CERT_FILE, the way a user would add a private CA)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    pem = tmp / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return server, pem


def make_config(port: int, recipients: list[str], **smtp: Any) -> Config:
    nl = NewsletterConfig(
        title="Test Digest", from_="Test Digest <digest@example.org>", to=list(recipients),
        postal_address="1 Test Way, Testville", unsubscribe_url="https://example.org/unsub",
    )
    s = SmtpConfig(host="127.0.0.1", port=port, security="none", password_env="DIGEST_TEST_SMTP_PW",
                   timeout_s=10.0)
    for k, v in smtp.items():
        setattr(s, k, v)
    return Config(newsletter=nl, smtp=s)


def config_toml(port: int, recipients: list[str], **smtp: Any) -> str:
    """The same settings as make_config, as a config.toml for subprocess runs."""
    lines = [
        "[newsletter]", 'title = "Test Digest"', 'from = "Test Digest <digest@example.org>"',
        "to = [" + ", ".join(f'"{r}"' for r in recipients) + "]",
        'postal_address = "1 Test Way, Testville"', 'unsubscribe_url = "https://example.org/unsub"',
        "", "[smtp]", 'host = "127.0.0.1"', f"port = {port}", 'security = "none"',
        'password_env = "DIGEST_TEST_SMTP_PW"', "timeout_s = 10",
    ]
    for k, v in smtp.items():
        lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    return "\n".join(lines) + "\n"


def make_draft(store: Store, n: int = 3, *, section: str = "Top Stories", prefix: str = "Story") -> list[int]:
    """n stories in a disabled feed (refresh skips it: no network), all flagged into the draft."""
    url = f"http://127.0.0.1:9/{prefix.lower()}-feed.xml"
    feed = store.feed_by_url(url) or store.add_feed(url, title=f"{prefix} Feed", section=section)
    store.update_feed(feed.id, disabled=True)
    now = time.time()
    store.save_stories(feed.id, [
        ParsedStory(guid=f"{prefix}-{i}", link=f"https://news.example.org/{prefix.lower()}/{i}",
                    canonical_link=f"https://news.example.org/{prefix.lower()}/{i}",
                    title=f"{prefix} number {i} about things", summary=f"The summary of {prefix.lower()} {i}.",
                    author="A. Writer", published_at=now - 60 * i)
        for i in range(n)
    ])
    ids = [s.id for s in store.stories() if s.guid.startswith(f"{prefix}-")]
    for sid in sorted(ids):
        store.flag(sid, section)
    return sorted(ids)


def recipients(n: int, domain: str = "example.net") -> list[str]:
    return [f"reader{i}@{domain}" for i in range(1, n + 1)]


def wait_for(cond: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())
