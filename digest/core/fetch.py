"""Fetching feeds the way servers and users want: concurrent but polite, conditional, bounded.

libcurl (through pycurl) does the HTTP: one multi handle drives every feed of a refresh, each transfer
in C, so a request costs ~0.1 ms of CPU (a pure-Python client on asyncio took ~1-3 ms, most of an all-304
refresh).
Around it, this module keeps the rules:

- a global limit and a per-host limit on concurrent requests; a feed waiting for its host's turn is
  not on the clock;
- conditional GET with ETag / Last-Modified stored exactly as received (bytes as latin-1 text) and sent
  back byte for byte; 304 means "not modified";
- redirects followed by hand so permanent ones (301/308) can update the stored URL, loops end with an
  error and only http/https targets are followed;
- connect and stall timeouts, a total per-feed time limit over every hop, and a body limit enforced
  while reading: the body is decompressed here in bounded steps, so a gzip bomb or an endless body is
  cut off, never loaded;
- a fetch that began on a public address is never led on to a loopback, private, link-local or
  reserved one (a redirect, or `private_ok=False` for links written by others): checked on the address
  connected to, before each request is sent (digest.core.addresses);
- no proxy from the environment (a cron job's proxy variables are not ours to follow silently); the
  CA certificates are SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
import zlib
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import pycurl

from digest import __version__
from digest.core.addresses import address_refusal
from digest.core.models import FetchResult
from digest.core.textclean import clean_line

USER_AGENT = f"digest/{__version__} (newsletter digest feed reader; libcurl)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
MAX_REDIRECTS = 10  # what browsers and curl allow
# Decompression never produces more than this per step.
CHUNK = 64 * 1024
# A connection that takes longer to open, or a body that stalls longer, fails before the total limit.
STEP_S = 10.0
REDIRECTS = (301, 302, 303, 307, 308)


class BodyTooLarge(Exception):
    pass


def is_local(url: str) -> bool:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # "http://[::1/feed": not a file either; fetching it says what is wrong
        return False
    return url.startswith("file://") or not scheme or (len(url) > 1 and url[1] == ":")


def local_path(url: str) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    return Path(url).expanduser()


def fetch_local(url: str, *, max_bytes: int, last_modified: str | None = None) -> FetchResult:
    """A feed file on disk; its mtime plays the part of Last-Modified, so an unchanged file is
    'not modified' and costs no parse."""
    path = local_path(url)
    try:
        st = path.stat()
        stamp = f"mtime:{st.st_mtime_ns}:{st.st_size}"
        if last_modified == stamp:
            return FetchResult("not_modified", last_modified=stamp, final_url=url)
        if st.st_size > max_bytes:
            return FetchResult("error", error=f"file larger than {max_bytes:,} bytes", final_url=url)
        with path.open("rb") as f:
            body = f.read(max_bytes + 1)
    except FileNotFoundError:
        return FetchResult("error", error=f"no such file: {path}", final_url=url)
    except IsADirectoryError:
        return FetchResult("error", error=f"is a folder, not a feed file: {path}", final_url=url)
    except OSError as e:
        return FetchResult("error", error=f"cannot read {path}: {e.strerror or e}", final_url=url)
    if len(body) > max_bytes:
        return FetchResult("error", error=f"file larger than {max_bytes:,} bytes", final_url=url)
    return FetchResult("ok", body=body, last_modified=stamp, final_url=url)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 10.2.3). Capped at a week, so a typo on
    the server does not silence a feed for ever."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = float(value)
    else:
        import email.utils  # here: ~6 ms to import (email.charset, calendar, ...), for a rare header

        try:
            dt = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        delay = dt.timestamp() - now
    return now + max(0.0, min(delay, 7 * 86_400))


class _Decoder:
    """Content-Encoding decoding in bounded steps. Done here rather than by libcurl (which is asked for
    no decoding): each received chunk is inflated CHUNK bytes at a time and the body limit is checked
    between steps, so a gzip bomb is cut off after about `limit` decoded bytes, never inflated whole."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.lower().strip()
        if enc in ("", "identity"):
            self.z = None
        elif enc in ("gzip", "x-gzip"):
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self.z = zlib.decompressobj()
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self.raw_deflate_tried = False

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        if self.z is None:
            return [data]
        out = []
        try:
            chunk = self.z.decompress(data, CHUNK)
            out.append(chunk)
            total = len(chunk)
            while self.z.unconsumed_tail:
                if total > limit:
                    raise BodyTooLarge
                chunk = self.z.decompress(self.z.unconsumed_tail, CHUNK)
                total += len(chunk)
                out.append(chunk)
        except zlib.error:
            if not self.raw_deflate_tried and isinstance(self.z, type(zlib.decompressobj())):
                # some servers send raw deflate without the zlib header
                self.raw_deflate_tried = True
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise
        return out


# curl errors, by what they mean for the feed's error line
_CONNECT = {pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_HOST, pycurl.E_COULDNT_RESOLVE_PROXY}
_BROKEN = {8, 16, 18, 52, 55, 56, 61, 92, 95}  # weird reply, HTTP/2, partial file, got nothing, send, recv...
_TLS = {35, 51, 53, 54, 58, 59, 60, 64, 66, 80, 82, 83, 90, 91, 98}
_CA_FILE = 77  # CURLE_SSL_CACERT_BADFILE


class _Transfer:
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
        self.decoder: _Decoder | None = None
        self.parts: list[bytes] = []
        self.total = 0
        self.abort = ""

    def header(self, name: str) -> str | None:
        """A header's value exactly as received (latin-1 maps every byte to one character and back)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Fetcher:
    """Fetches many feeds at once on one libcurl multi handle, driven by poll() from the caller's loop.

    add() queues a feed; poll() waits for network events (or wake(), from another thread) and returns
    the feeds that finished, with their FetchResult. Nothing raises for a feed: every failure is a
    FetchResult with status "error" and a one-line reason."""

    def __init__(self, *, concurrency: int, per_host: int, timeout_s: float, max_bytes: int, now: float,
                 user_agent: str = "", accept: str = ACCEPT) -> None:
        self.concurrency, self.per_host = concurrency, per_host
        self.timeout_s, self.max_bytes, self.now = timeout_s, max_bytes, now
        self._headers = [f"User-Agent: {user_agent or USER_AGENT}".encode("latin-1", "replace"),
                         f"Accept: {accept}".encode(), b"Accept-Encoding: gzip, deflate"]
        self._ca = _ca_options()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._timer: float | None = None  # when curl wants socket_action(SOCKET_TIMEOUT)
        self._waiting: dict[str, deque[_Transfer]] = {}  # by host, in the order feeds were added
        self._host_running: dict[str, int] = {}
        self._running: dict[pycurl.Curl, _Transfer] = {}
        self._spare: list[pycurl.Curl] = []
        self._finished: list[tuple[int, FetchResult]] = []
        # Set by the caller while it holds as many fetched bodies as it wants: requests under way finish,
        # no new one starts (so a refresh of 2,000 feeds does not hold 2,000 bodies while it parses).
        self.paused = False

    # -- the caller's side ---------------------------------------------------------------------------

    def add(self, key: int, url: str, *, etag: str | None = None, last_modified: str | None = None,
            private_ok: bool | None = None) -> None:
        """Queue a fetch. private_ok: None for a URL the user gave (its first hop may be private, and if
        it is, so may the rest); False for a link written by others (a feed's article or image link, a
        page's feed link found from a public page): every hop must connect to a public address; True to
        allow any address (a link found on an intranet feed, or a setting that says so)."""
        self._queue(_Transfer(key, url, etag, last_modified, self.timeout_s, private_ok))

    @property
    def busy(self) -> bool:
        return bool(self._running or self._waiting or self._finished)

    def poll(self, timeout: float | None) -> list[tuple[int, FetchResult]]:
        """Wait up to `timeout` seconds (None: until something happens) and return the feeds finished."""
        self._fill()
        if not self._finished:
            wait = timeout
            if self._timer is not None:
                due = max(0.0, self._timer - time.monotonic())
                wait = due if wait is None else min(wait, due)
            for key, mask in self._sel.select(wait):
                if key.fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 512):
                            pass
                    continue
                ev = (pycurl.CSELECT_IN if mask & selectors.EVENT_READ else 0) | \
                     (pycurl.CSELECT_OUT if mask & selectors.EVENT_WRITE else 0)
                self._multi.socket_action(key.fd, ev)
            if self._timer is not None and time.monotonic() >= self._timer:
                self._timer = None  # curl sets the next one from inside socket_action
                self._multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            self._collect()
            self._fill()
        done, self._finished = self._finished, []
        return done

    def wake(self) -> None:
        """Make a poll() in progress return now; safe from any thread."""
        with contextlib.suppress(OSError):  # the pipe is full (a wake-up is already pending) or closed
            os.write(self._wake_w, b"\0")

    def close(self) -> None:
        for handle in list(self._running):
            self._multi.remove_handle(handle)
            handle.close()
        self._running.clear()
        for handle in self._spare:
            handle.close()
        self._spare.clear()
        self._multi.close()
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling ----------------------------------------------------------------------------------

    def _queue(self, t: _Transfer, *, first: bool = False) -> None:
        """Check the URL the next hop goes to and queue it behind its host's other feeds."""
        try:
            parts = urlsplit(t.current)
            _ = parts.port  # raises ValueError for a port out of range
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise ValueError(f"only http and https are fetched, not {scheme or 'no scheme'}")
            if not parts.hostname:
                raise ValueError("no host")
        except ValueError as e:
            self._finish(t, _err(f"invalid URL {t.current!r}: {e}", t.code or None, t.current))
            return
        t.host = parts.netloc.lower()
        q = self._waiting.get(t.host)
        if q is None:
            q = self._waiting[t.host] = deque()
        if first:
            q.appendleft(t)
        else:
            q.append(t)

    def _fill(self) -> None:
        """Start waiting feeds while the global and per-host limits allow."""
        while not self.paused and len(self._running) < self.concurrency and self._waiting:
            for host, q in self._waiting.items():
                if self._host_running.get(host, 0) < self.per_host:
                    t = q.popleft()
                    if not q:
                        del self._waiting[host]
                    break
            else:
                return  # every waiting host is at its limit
            self._start(t)

    def _start(self, t: _Transfer) -> None:
        try:
            url = _wire_url(t.current)
        except ValueError as e:
            self._finish(t, _err(f"invalid URL {t.current!r}: {e}", None, t.current))
            return
        t.seen.append(t.current)
        t._reset_response()
        h = self._spare.pop() if self._spare else pycurl.Curl()
        headers = list(self._headers)
        # validators go back byte for byte as they came (see _Transfer.header)
        if t.etag:
            headers.append(b"If-None-Match: " + t.etag.encode("latin-1", "replace"))
        if t.last_modified:
            headers.append(b"If-Modified-Since: " + t.last_modified.encode("latin-1", "replace"))
        setopt = h.setopt
        setopt(pycurl.URL, url)
        setopt(pycurl.HTTPHEADER, headers)
        setopt(pycurl.HEADERFUNCTION, partial(self._on_header, t))
        setopt(pycurl.WRITEFUNCTION, partial(self._on_body, t))
        # after the connection is made (or a kept-alive one is picked) and before the request goes out
        setopt(pycurl.PREREQFUNCTION, partial(self._on_prereq, t))
        setopt(pycurl.NOSIGNAL, 1)
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.FOLLOWLOCATION, 0)
        setopt(pycurl.PROXY, "")
        setopt(pycurl.HTTP_CONTENT_DECODING, 0)
        step = min(self.timeout_s, STEP_S)
        setopt(pycurl.CONNECTTIMEOUT_MS, int(step * 1000))
        setopt(pycurl.LOW_SPEED_LIMIT, 1)
        setopt(pycurl.LOW_SPEED_TIME, max(1, int(step)))
        setopt(pycurl.TIMEOUT_MS, max(1, int(t.remaining * 1000)))
        for option, value in self._ca:
            if value is None:
                h.unsetopt(option)
            else:
                setopt(option, value)
        self._host_running[t.host] = self._host_running.get(t.host, 0) + 1
        self._running[h] = t
        t.hop_start = time.monotonic()
        self._multi.add_handle(h)

    def _collect(self) -> None:
        while True:
            queued, ok, failed = self._multi.info_read()
            for h in ok:
                self._hop_done(h, 0, "")
            for h, errno, message in failed:
                self._hop_done(h, errno, message)
            if not queued:
                return

    def _hop_done(self, h: pycurl.Curl, errno: int, message: str) -> None:
        t = self._running.pop(h)
        self._multi.remove_handle(h)
        self._host_running[t.host] -= 1
        t.remaining -= time.monotonic() - t.hop_start
        code = h.getinfo(pycurl.RESPONSE_CODE) if not errno else t.code
        h.reset()
        self._spare.append(h)
        if errno:
            self._finish(t, self._failure(t, errno, message))
        elif code in REDIRECTS:
            self._redirect(t, code)
        else:
            self._finish(t, self._answer(t, code))

    def _finish(self, t: _Transfer, result: FetchResult) -> None:
        result.final_url = result.final_url or t.current
        result.private_ok = t.private_ok
        self._finished.append((t.key, result))

    # -- curl's callbacks ----------------------------------------------------------------------------

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(fd)
            return
        events = (selectors.EVENT_READ if what & pycurl.POLL_IN else 0) | \
                 (selectors.EVENT_WRITE if what & pycurl.POLL_OUT else 0)
        try:
            self._sel.modify(fd, events)
        except KeyError:
            self._sel.register(fd, events)

    def _on_timer(self, ms: int) -> None:
        self._timer = None if ms < 0 else time.monotonic() + ms / 1000

    def _on_prereq(self, t: _Transfer, primary_ip: str, local_ip: str, primary_port: int,
                   local_port: int) -> int:
        """The address check of every hop, on the address this request is about to go to."""
        why = address_refusal(primary_ip)
        if t.private_ok is None:  # the first hop of a URL the user gave: it sets the rule for the rest
            t.private_ok = why is not None
        elif why and not t.private_ok:
            t.abort = (f"refused: {t.current} leads to {why}; links from public addresses are never "
                       "followed to private ones")
            return int(pycurl.PREREQFUNC_ABORT)
        return int(pycurl.PREREQFUNC_OK)

    def _on_header(self, t: _Transfer, line: bytes) -> int | None:
        if line.startswith(b"HTTP/"):  # a new response: an interim 1xx, or the final answer
            t._reset_response()
            fields = line.split(None, 2)
            try:
                t.code = int(fields[1])
            except (IndexError, ValueError):
                t.code = 0
            # the reason phrase is the server's text, shown in error lines: no control characters
            t.reason = clean_line(fields[2].decode("latin-1")).strip() if len(fields) > 2 else ""
            return None
        text = line.decode("latin-1")
        name, sep, value = text.partition(":")
        if sep:
            t.headers.append((name.strip().lower(), value.strip()))
            return None
        if text.strip() or not 200 <= t.code < 300:
            return None
        # the end of a 2xx answer's headers: refuse a body too large or not decodable before reading it
        declared = t.header("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            t.abort = f"body larger than {self.max_bytes:,} bytes ({int(declared):,} declared)"
            return 0
        try:
            t.decoder = _Decoder(t.header("content-encoding") or "")
        except ValueError as e:
            t.abort = str(e)
            return 0
        return None

    def _on_body(self, t: _Transfer, data: bytes) -> int | None:
        if t.decoder is None:  # not a 2xx answer: the body is not kept, but it is still bounded
            t.total += len(data)
            if t.total > self.max_bytes:
                t.abort = f"body larger than {self.max_bytes:,} bytes: cut off"
                return 0
            return None
        try:
            for piece in t.decoder.feed(data, self.max_bytes - t.total):
                t.total += len(piece)
                if t.total > self.max_bytes:
                    raise BodyTooLarge
                t.parts.append(piece)
        except BodyTooLarge:
            t.abort = f"body larger than {self.max_bytes:,} bytes: cut off"
            return 0
        except zlib.error as e:
            t.abort = f"corrupt compressed body: {e}"
            return 0
        return None

    # -- outcomes ------------------------------------------------------------------------------------

    def _redirect(self, t: _Transfer, code: int) -> None:
        location = t.header("location")
        if not location:
            return self._finish(t, _err(f"HTTP {code} redirect without a Location", code, t.current))
        try:
            target = urljoin(t.current, location)
            scheme = urlsplit(target).scheme.lower()
        except ValueError as e:
            return self._finish(t, _err(f"unusable URL in the server's answer: {e}", code, t.current))
        if scheme not in ("http", "https"):
            return self._finish(t, _err(f"redirect to a non-http URL ({scheme}:) refused", code, t.current))
        if target in t.seen:
            return self._finish(t, _err(f"redirect loop ({len(t.seen)} hops back to {target})", code, t.current))
        if len(t.seen) > MAX_REDIRECTS:
            return self._finish(t, _err(f"too many redirects (more than {MAX_REDIRECTS})", code, target))
        t.permanent = t.permanent and code in (301, 308)
        t.current = target
        if t.remaining <= 0:
            return self._finish(t, _err(f"timed out after {self.timeout_s:g}s", None, target))
        self._queue(t, first=True)

    def _answer(self, t: _Transfer, code: int) -> FetchResult:
        etag, last_modified = t.header("etag"), t.header("last-modified")
        if code == 304:
            result = FetchResult("not_modified", http_status=304, etag=etag, last_modified=last_modified)
        elif code in (429, 503):
            retry = parse_retry_after(t.header("retry-after"), self.now)
            when = f", retry after {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(retry))}" if retry else ""
            return FetchResult("retry", http_status=code, retry_after=retry,
                               error=f"HTTP {code} {t.reason}".strip() + when, final_url=t.current)
        elif code == 410:
            return FetchResult("gone", http_status=code, final_url=t.current,
                               error="HTTP 410 Gone: the feed was removed; no longer fetched")
        elif code >= 400 or code < 200:
            return _err(f"HTTP {code} {t.reason}".strip(), code, t.current)
        else:
            result = FetchResult("ok", body=b"".join(t.parts), http_status=code,
                                 content_type=t.header("content-type") or "", etag=etag, last_modified=last_modified)
        result.final_url = t.current
        if t.current != t.url and t.permanent:
            result.new_url = t.current
        return result

    def _failure(self, t: _Transfer, errno: int, message: str) -> FetchResult:
        code = t.code or None
        if t.abort:
            return _err(t.abort, code, t.current)
        if errno == pycurl.E_OPERATION_TIMEDOUT:
            if t.remaining <= 0.05:
                return _err(f"timed out after {self.timeout_s:g}s", code, t.current)
            return _err(f"timed out: {message}", code, t.current)
        if errno in _CONNECT:
            return _err(f"cannot connect: {message}", code, t.current)
        if errno in _BROKEN:
            return _err(f"connection broken: {message}", code, t.current)
        if errno == _CA_FILE:
            return _err(f"cannot load the CA certificates ({_ca_source()}): {message}", code, t.current)
        if errno in _TLS:
            return _err(f"TLS error: {message}", code, t.current)
        if errno == pycurl.E_URL_MALFORMAT:
            return _err(f"invalid URL {t.current!r}: {message}", code, t.current)
        if errno == pycurl.E_UNSUPPORTED_PROTOCOL:  # the scheme was checked: the answer was not HTTP
            return _err(f"protocol error: {message}", code, t.current)
        return _err(f"network error: {message} (curl error {errno})", code, t.current)


def _err(msg: str, code: int | None, url: str) -> FetchResult:
    return FetchResult("error", error=msg, http_status=code, final_url=url)


def _wire_url(url: str) -> str:
    """The URL as it goes on the wire: curl takes ASCII, so a host is IDNA-encoded and the rest
    percent-encoded, as browsers do."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise ValueError(f"bad host name {host!r}: {e}") from None
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1].replace(host, ascii_host, 1) if host else netloc[-1]
    userinfo = quote(netloc[0], safe=":%") + "@" if len(netloc) == 2 else ""
    safe = "/:@!$&'()*+,;=%~-._?"
    return urlunsplit((parts.scheme, userinfo + hostport, quote(parts.path, safe=safe),
                       quote(parts.query, safe=safe), quote(parts.fragment, safe=safe)))


def _ca_source() -> str:
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    named = " and ".join(f"{k}={v}" for k, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)) if v)
    if cafile and not os.path.isfile(cafile):
        named += ": no such file"
    return named or "certifi"


def _ca_options() -> list[tuple[int, str | None]]:
    """Where certificates are verified against: SSL_CERT_FILE / SSL_CERT_DIR when either is set (only
    those, as OpenSSL and Python read them), else certifi's bundle (what requests and pip use). libcurl
    caches the parsed store on the multi handle, so it is read once per refresh."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return [(pycurl.CAINFO, cafile or None), (pycurl.CAPATH, capath or None)]
    import certifi

    return [(pycurl.CAINFO, certifi.where())]


def fetch_one(url: str, *, timeout_s: float, max_bytes: int, user_agent: str = "",
              etag: str | None = None, last_modified: str | None = None, now: float | None = None,
              private_ok: bool | None = None) -> FetchResult:
    """One URL, on its own (adding a feed, tests). private_ok as in Fetcher.add."""
    with Fetcher(concurrency=1, per_host=1, timeout_s=timeout_s, max_bytes=max_bytes,
                 now=time.time() if now is None else now, user_agent=user_agent) as fetcher:
        fetcher.add(0, url, etag=etag, last_modified=last_modified, private_ok=private_ok)
        while True:
            for _, result in fetcher.poll(None):
                return result
