"""The SMTP side of sending: settings checks, the password, and one connection with the DATA phase split.

digest.core.mail builds on this to deliver an issue to every recipient exactly once.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Callable, Sequence
from email.utils import getaddresses, parseaddr

from digest.core.config import Config, SmtpConfig

# password_cmd may ask a password manager that unlocks a keyring; a minute is generous.
PASSWORD_CMD_TIMEOUT_S = 60
DEFAULT_FROM = "digest@localhost"


class MailError(Exception):
    """Delivery could not start; the message names the key or the step."""


class MailConfigError(MailError):
    """Settings missing or wrong (exit code 2)."""


# -- settings -------------------------------------------------------------------------------------

def smtp_password(smtp: SmtpConfig, env: dict[str, str] | None = None) -> str | None:
    """The password from smtp.password_cmd (first line of its output) or the variable smtp.password_env.
    Raises MailConfigError naming the command's exit status, never its output."""
    env = dict(os.environ) if env is None else env
    if smtp.password_cmd:
        try:
            # sh -c like msmtp's passwordeval, so `pass show smtp | head -1` works
            proc = subprocess.run(["/bin/sh", "-c", smtp.password_cmd], capture_output=True, text=True,
                                  timeout=PASSWORD_CMD_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MailConfigError(f"smtp.password_cmd did not finish in {PASSWORD_CMD_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            # Its output is never shown: a password manager that fails may still print the secret, or
            # a prompt with the account, and this line goes to the terminal and to digest.log.
            raise MailConfigError(f"smtp.password_cmd failed (exit {proc.returncode}); run it by hand to see why")
        lines = proc.stdout.splitlines()
        if not lines or not lines[0]:
            raise MailConfigError("smtp.password_cmd printed no password")
        return lines[0]
    return env.get(smtp.password_env) or None


def _is_address(addr: str) -> bool:
    return bool(re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", addr))


NO_RECIPIENTS = "newsletter.to lists no recipients"  # not a problem when the subscribers table has some


def config_problems(config: Config, *, need_recipients: bool, check_password: bool) -> list[str]:
    smtp, nl = config.smtp, config.newsletter
    out: list[str] = []
    if not smtp.host:
        out.append("smtp.host is not set (the relay to send through, e.g. smtp.example.com)")
    sender = parseaddr(nl.from_)[1]
    if not _is_address(sender):
        out.append(f"newsletter.from is not an email address: {nl.from_!r}")
    elif sender == DEFAULT_FROM:
        out.append("newsletter.from is not set (the default digest@localhost would be rejected by relays)")
    if need_recipients:
        if not nl.to:
            out.append(NO_RECIPIENTS)
        for r in nl.to:
            if not _is_address(parseaddr(r)[1]) or "\n" in r or "\r" in r:
                out.append(f"newsletter.to: {r!r} is not an email address")
    if not nl.postal_address.strip():
        out.append("newsletter.postal_address is not set (required in bulk mail by CAN-SPAM)")
    if not nl.unsubscribe_url:
        out.append("newsletter.unsubscribe_url is not set (needed for List-Unsubscribe and the footer)")
    elif not nl.unsubscribe_url.startswith("https://"):
        out.append(f"newsletter.unsubscribe_url must be an https:// URL (RFC 8058 one-click), "
                   f"got {nl.unsubscribe_url!r}")
    if smtp.username and check_password:
        try:
            if smtp_password(smtp) is None:
                out.append(f"smtp.username is set but the environment variable {smtp.password_env} is not set "
                           "(set it, or use smtp.password_cmd)")
        except MailConfigError as e:
            out.append(str(e))
    if smtp.username and smtp.security == "none" and smtp.host not in ("localhost", "127.0.0.1", "::1"):
        out.append("smtp.security = none would send the password unencrypted; use starttls or ssl")
    return out


def smtp_problems(config: Config) -> list[str]:
    """What is missing before `digest send` can work; [] when ready. Runs password_cmd if set."""
    return config_problems(config, need_recipients=True, check_password=True)


def settings_problems(config: Config) -> list[str]:
    """smtp_problems without running password_cmd or reading the password."""
    return config_problems(config, need_recipients=True, check_password=False)


def _tls_context() -> ssl.SSLContext:
    # The system's CAs; a private relay CA can be added with SSL_CERT_FILE (OpenSSL reads it).
    return ssl.create_default_context()


def check_smtp(config: Config, *, timeout: float = 10) -> list[str]:
    """Connect, TLS and AUTH against the configured relay without sending; each problem names
    host:port and the step that failed. Nothing is sent (QUIT after AUTH)."""
    smtp = config.smtp
    if not smtp.host:
        return ["smtp.host is not set"]
    where = f"{smtp.host}:{smtp.port}"
    try:
        password = smtp_password(smtp) if smtp.username else None
    except MailConfigError as e:
        return [str(e)]
    if smtp.username and password is None:
        return [f"smtp.username is set but the environment variable {smtp.password_env} is not set"]
    conn = Connection(smtp, password, timeout=timeout)
    try:
        conn.open()
    except SmtpFailure as e:
        return [f"{where}: {e.reason}"]
    finally:
        conn.close()
    return []


def config_check_smtp(config: Config) -> list[str]:
    """The SMTP part of `digest config check`: the settings, then (if they are complete enough to try)
    a real connect + TLS + AUTH."""
    problems = smtp_problems(config)
    if config.smtp.host and not any(p.startswith(("smtp.password", "smtp.username")) for p in problems):
        problems += check_smtp(config, timeout=config.smtp.timeout_s)
    return problems


# -- one SMTP connection --------------------------------------------------------------------------

class SmtpFailure(Exception):
    """transient: retry (4xx, dropped connection); permanent: 5xx for this recipient; fatal: stop the
    batch (auth or TLS refused, relay unreachable); ambiguous: the message may have been accepted."""

    def __init__(self, reason: str, kind: str, *, address_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        # the server refused this recipient's address for good (5xx to RCPT TO): the address, not the
        # message or the sender, so the other recipients are not affected
        self.address_refused = address_refused


def _reply(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
    return f"{code} {' '.join(text.split())}".strip()


def _kind(code: int) -> str:
    return "permanent" if 500 <= code < 600 else "transient"


def _no_delay(conn: smtplib.SMTP) -> None:
    """Disable Nagle: SMTP is request/response, and with TLS the last record of a message otherwise waits
    for the server's delayed ACK (~40 ms per message; tests/bench/bench_send.py --tls measured 21 msg/s
    before, see the report there)."""
    if conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Connection:
    """smtplib with the DATA phase split, so a failure before the end-of-data dot (not delivered) is told
    apart from a failure waiting for the final reply (maybe delivered)."""

    def __init__(self, smtp: SmtpConfig, password: str | None, *, timeout: float | None = None) -> None:
        self.cfg = smtp
        self.password = password
        self.timeout = smtp.timeout_s if timeout is None else timeout
        self.conn: smtplib.SMTP | None = None
        self.where = f"{smtp.host}:{smtp.port}"

    def _scrub(self, text: str) -> str:
        if self.password:
            text = text.replace(self.password, "***")
        return text

    def open(self) -> None:
        cfg, step = self.cfg, "connect"
        try:
            if cfg.security == "ssl":
                step = "TLS (ssl)"
                conn: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=self.timeout,
                                                      context=_tls_context())
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout)
            self.conn = conn
            _no_delay(conn)
            step = "EHLO"
            code, msg = conn.ehlo()
            if code != 250:
                raise SmtpFailure(f"EHLO refused: {_reply(code, msg)}", "fatal")
            if cfg.security == "starttls":
                step = "STARTTLS"
                if not conn.has_extn("starttls"):
                    raise SmtpFailure("STARTTLS: the server does not offer it (security = starttls)", "fatal")
                conn.starttls(context=_tls_context())
                conn.ehlo()
            if cfg.username:
                step = "AUTH"
                if not conn.has_extn("auth"):
                    raise SmtpFailure("AUTH: the server offers no AUTH on this connection", "fatal")
                conn.login(cfg.username, self.password or "")
        except SmtpFailure:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as e:
            self.close()
            raise SmtpFailure(self._scrub(f"AUTH failed for {cfg.username}: {_reply(e.smtp_code, e.smtp_error)}"),
                           "fatal") from None
        except ssl.SSLCertVerificationError as e:
            self.close()
            raise SmtpFailure(f"{step}: certificate not trusted: {e.verify_message}", "fatal") from None
        except ssl.SSLError as e:
            self.close()
            hint = " (is this port for STARTTLS? try security = starttls)" if cfg.security == "ssl" else ""
            raise SmtpFailure(f"{step}: TLS failed: {e.reason or e}{hint}", "fatal") from None
        except smtplib.SMTPResponseException as e:
            self.close()
            raise SmtpFailure(self._scrub(f"{step}: {_reply(e.smtp_code, e.smtp_error)}"),
                           "fatal" if e.smtp_code >= 500 else "transient") from None
        except (OSError, smtplib.SMTPException) as e:
            self.close()
            raise SmtpFailure(self._scrub(f"{step} failed: {e}"), "transient") from None

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def _rset(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def send(self, sender: str, rcpt: str, data: bytes, before_data: Callable[[], bool]) -> str:
        """Deliver one message; returns the server's reply to the end of data. before_data records the
        attempt; if it returns False (the row was claimed elsewhere) the transaction is reset unsent."""
        if self.conn is None:
            self.open()
        conn = self.conn
        assert conn is not None
        try:
            code, msg = conn.mail(sender)
            if code != 250:
                self._rset()
                raise SmtpFailure(f"MAIL FROM refused: {_reply(code, msg)}", _kind(code))
            code, msg = conn.rcpt(rcpt)
            if code not in (250, 251):
                if code == 421:
                    self.close()
                else:
                    self._rset()
                raise SmtpFailure(f"RCPT TO refused: {_reply(code, msg)}", _kind(code),
                                  address_refused=_kind(code) == "permanent")
            if not before_data():
                self._rset()
                raise SmtpFailure("another process is delivering to this recipient", "claimed")
            code, msg = conn.docmd("DATA")
            if code != 354:
                self._rset()
                raise SmtpFailure(f"DATA refused: {_reply(code, msg)}", _kind(code))
            body = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r\n|\r|\n", b"\r\n", data))
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            conn.send(body + b".\r\n")  # sendall: on error the final dot never left, so not delivered
        except UnicodeEncodeError:
            self._rset()
            raise SmtpFailure(f"non-ASCII address {rcpt!r} needs SMTPUTF8, which digest does not use",
                           "permanent", address_refused=True) from None
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self.close()
            raise SmtpFailure(f"connection lost before the message was sent: {e or type(e).__name__}",
                           "transient") from None
        try:
            code, msg = conn.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self.close()
            raise SmtpFailure(f"connection lost after the message was sent; delivery unknown: {e}",
                           "ambiguous") from None
        if code != 250:
            if code == 421:
                self.close()
            raise SmtpFailure(f"message refused: {_reply(code, msg)}", _kind(code))
        return _reply(code, msg)


def parse_recipients(values: Sequence[str]) -> list[str]:
    """--to may be given several times or as a comma-separated list."""
    out = []
    for name, addr in getaddresses(list(values)):
        if addr:
            out.append(f"{name} <{addr}>" if name else addr)
    return out
