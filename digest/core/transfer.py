"""One feed's fetch as digest.core.fetch drives it: its state over every hop (Transfer), and what its
outcome means for the feed (answer, failure): 304, retry later, gone, or a one-line error."""

from __future__ import annotations

import time

import pycurl

from digest.core.fetchwire import Decoder, ca_source, parse_retry_after
from digest.core.models import FetchResult

# curl errors, by what they mean for the feed's error line
_CONNECT = {pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_RESOLVE_PROXY}
_BROKEN = {8, 16, 18, 52, 55, 56, 61, 92, 95}  # weird reply, HTTP/2, partial file, got nothing, send, recv...
_TLS = {35, 51, 53, 54, 58, 59, 60, 64, 66, 80, 82, 83, 90, 91, 98}
_CA_FILE = 77  # CURLE_SSL_CACERT_BADFILE


class Transfer:
    """One feed's fetch: every hop of it. `remaining` is its time left; it runs only while a hop is out."""

    __slots__ = ("key", "url", "etag", "last_modified", "current", "host", "seen", "permanent", "remaining",
                 "hop_start", "code", "reason", "headers", "decoder", "parts", "total", "abort", "private_ok")

    def __init__(self, key: int, url: str, etag: str | None, last_modified: str | None,
                 timeout_s: float, private_ok: bool | None = None) -> None:
        self.key, self.url, self.etag, self.last_modified = key, url, etag, last_modified
        # None: decided by the first hop's address (a feed the user added may be on their intranet)
        self.private_ok = private_ok
        self.current = url
        self.host = ""
        self.seen: list[str] = []
        self.permanent = True
        self.remaining = timeout_s
        self.hop_start = 0.0
        self._reset_response()

    def _reset_response(self) -> None:
        self.code = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.decoder: Decoder | None = None
        self.parts: list[bytes] = []
        self.total = 0
        self.abort = ""

    def header(self, name: str) -> str | None:
        """A header's value exactly as received (latin-1 maps every byte to one character and back)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def answer(t: Transfer, code: int, now: float) -> FetchResult:
    """What a finished transfer's last answer means for the feed (a redirect was followed before)."""
    etag, last_modified = t.header("etag"), t.header("last-modified")
    if code == 304:
        result = FetchResult("not_modified", http_status=304, etag=etag, last_modified=last_modified)
    elif code in (429, 503):
        retry = parse_retry_after(t.header("retry-after"), now)
        when = f", retry after {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(retry))}" if retry else ""
        return FetchResult("retry", http_status=code, retry_after=retry,
                           error=f"HTTP {code} {t.reason}".strip() + when, final_url=t.current)
    elif code == 410:
        return FetchResult("gone", http_status=code, final_url=t.current,
                           error="HTTP 410 Gone: the feed was removed; no longer fetched")
    elif code >= 400 or code < 200:
        return err(f"HTTP {code} {t.reason}".strip(), code, t.current)
    else:
        result = FetchResult("ok", body=b"".join(t.parts), http_status=code,
                             content_type=t.header("content-type") or "", etag=etag, last_modified=last_modified)
    result.final_url = t.current
    if t.current != t.url and t.permanent:
        result.new_url = t.current
    return result


def failure(t: Transfer, errno: int, message: str, timeout_s: float) -> FetchResult:
    """A transfer that libcurl ended with an error, as the feed's one-line error."""
    code = t.code or None
    if t.abort:
        return err(t.abort, code, t.current)
    if errno == pycurl.E_OPERATION_TIMEDOUT:
        if t.remaining <= 0.05:
            return err(f"timed out after {timeout_s:g}s", code, t.current)
        return err(f"timed out: {message}", code, t.current)
    if errno in _CONNECT:
        return err(f"cannot connect: {message}", code, t.current)
    if errno in _BROKEN:
        return err(f"connection broken: {message}", code, t.current)
    if errno == _CA_FILE:
        return err(f"cannot load the CA certificates ({ca_source()}): {message}", code, t.current)
    if errno in _TLS:
        return err(f"TLS error: {message}", code, t.current)
    if errno == pycurl.E_URL_MALFORMAT:
        return err(f"invalid URL {t.current!r}: {message}", code, t.current)
    if errno == pycurl.E_UNSUPPORTED_PROTOCOL:  # the scheme was checked: the answer was not HTTP
        return err(f"protocol error: {message}", code, t.current)
    return err(f"network error: {message} (curl error {errno})", code, t.current)


def err(msg: str, code: int | None, url: str) -> FetchResult:
    return FetchResult("error", error=msg, http_status=code, final_url=url)
