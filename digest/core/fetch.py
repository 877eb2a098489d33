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
import math
import os
import select
import time
import zlib
from collections import deque
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import pycurl

from digest import __version__
from digest.core import clock
from digest.core.addresses import address_refusal
from digest.core.fetchwire import BodyTooLarge, Decoder, ca_options, wire_url
from digest.core.models import TOO_LARGE, FetchResult
from digest.core.textclean import clean_line
from digest.core.transfer import Transfer, answer, err, failure
from digest.core.wording import count

USER_AGENT = f"digest/{__version__} (newsletter digest feed reader; libcurl)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
MAX_REDIRECTS = 10  # what browsers and curl allow
# A connection that takes longer to open, or a body that stalls longer, fails before the total limit.
STEP_S = 10.0
REDIRECTS = (301, 302, 303, 307, 308)


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
        self._ca = ca_options()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        # the sockets curl asks to watch (_on_socket) and the wake-up pipe: select.poll's calls are C, where
        # a selectors.Selector is Python around them (4 % of an all-304 refresh's instructions)
        self._poll = select.poll()
        self._watched: dict[int, int] = {}  # fd: the poll events it was registered for
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poll.register(self._wake_r, select.POLLIN)
        self._timer: float | None = None  # when curl wants socket_action(SOCKET_TIMEOUT)
        self._waiting: dict[str, deque[Transfer]] = {}  # by host, in the order feeds were added
        self._host_running: dict[str, int] = {}
        self._running: dict[pycurl.Curl, Transfer] = {}
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
        self._queue(Transfer(key, url, etag, last_modified, self.timeout_s, private_ok))

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
            for fd, mask in self._poll.poll(None if wait is None else math.ceil(wait * 1000)):
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 512):
                            pass
                    continue
                if mask & select.POLLNVAL:  # closed without a word from curl: never asked about again
                    self._poll.unregister(fd)
                    self._watched.pop(fd, None)
                    continue
                # an error or a hang-up wakes the socket for what it waits for (as curl's own poll and
                # selectors read it), and curl finds out what happened when it reads or writes
                if mask & ~(select.POLLIN | select.POLLOUT):
                    mask = self._watched.get(fd, 0)
                ev = (pycurl.CSELECT_IN if mask & select.POLLIN else 0) | \
                     (pycurl.CSELECT_OUT if mask & select.POLLOUT else 0)
                self._multi.socket_action(fd, ev)
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
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling ----------------------------------------------------------------------------------

    def _queue(self, t: Transfer, *, first: bool = False) -> None:
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
            self._finish(t, err(f"invalid URL {t.current!r}: {e}", t.code or None, t.current))
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

    def _start(self, t: Transfer) -> None:
        try:
            url = wire_url(t.current)
        except ValueError as e:
            self._finish(t, err(f"invalid URL {t.current!r}: {e}", None, t.current))
            return
        t.seen.append(t.current)
        t._reset_response()
        h = self._spare.pop() if self._spare else self._handle()
        headers = list(self._headers)
        # validators go back byte for byte as they came (see Transfer.header)
        if t.etag:
            headers.append(b"If-None-Match: " + t.etag.encode("latin-1", "replace"))
        if t.last_modified:
            headers.append(b"If-Modified-Since: " + t.last_modified.encode("latin-1", "replace"))
        # what differs from one request to the next; the rest is set once a handle (_handle)
        setopt = h.setopt
        setopt(pycurl.URL, url)
        setopt(pycurl.HTTPHEADER, headers)
        setopt(pycurl.HEADERFUNCTION, partial(self._on_header, t))
        setopt(pycurl.WRITEFUNCTION, partial(self._on_body, t))
        # after the connection is made (or a kept-alive one is picked) and before the request goes out
        setopt(pycurl.PREREQFUNCTION, partial(self._on_prereq, t))
        setopt(pycurl.TIMEOUT_MS, max(1, int(t.remaining * 1000)))
        self._host_running[t.host] = self._host_running.get(t.host, 0) + 1
        self._running[h] = t
        t.hop_start = time.monotonic()
        self._multi.add_handle(h)

    def _handle(self) -> pycurl.Curl:
        """A new easy handle with the options every request of this fetcher shares. A handle is used
        again for the next request without curl_easy_reset, so these are set once, not for each request
        (each setopt is a call into pycurl)."""
        h = pycurl.Curl()
        setopt = h.setopt
        setopt(pycurl.NOSIGNAL, 1)
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.FOLLOWLOCATION, 0)
        setopt(pycurl.PROXY, "")
        setopt(pycurl.HTTP_CONTENT_DECODING, 0)
        step = min(self.timeout_s, STEP_S)
        setopt(pycurl.CONNECTTIMEOUT_MS, int(step * 1000))
        setopt(pycurl.LOW_SPEED_LIMIT, 1)
        setopt(pycurl.LOW_SPEED_TIME, max(1, int(step)))
        for option, value in self._ca:
            if value is None:
                h.unsetopt(option)
            else:
                setopt(option, value)
        return h

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
        self._spare.append(h)  # its callbacks hold t until the next request sets its own
        if errno:
            self._finish(t, failure(t, errno, message, self.timeout_s))
        elif code in REDIRECTS:
            self._redirect(t, code)
        else:
            self._finish(t, answer(t, code, self.now))

    def _finish(self, t: Transfer, result: FetchResult) -> None:
        result.final_url = result.final_url or t.current
        result.private_ok = t.private_ok
        t._reset_response()  # the body's pieces, the decoder: a spare handle's callbacks still hold t
        self._finished.append((t.key, result))

    # -- curl's callbacks ----------------------------------------------------------------------------

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            with contextlib.suppress(KeyError, ValueError):
                self._poll.unregister(fd)
            self._watched.pop(fd, None)
            return
        # registers the socket, or changes what it waits for
        events = self._watched[fd] = (select.POLLIN if what & pycurl.POLL_IN else 0) | \
            (select.POLLOUT if what & pycurl.POLL_OUT else 0)
        self._poll.register(fd, events)

    def _on_timer(self, ms: int) -> None:
        self._timer = None if ms < 0 else time.monotonic() + ms / 1000

    def _on_prereq(self, t: Transfer, primary_ip: str, local_ip: str, primary_port: int,
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

    def _on_header(self, t: Transfer, line: bytes) -> int | None:
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
            t.abort = f"{TOO_LARGE} {self.max_bytes:,} bytes ({int(declared):,} declared)"
            return 0
        try:
            t.decoder = Decoder(t.header("content-encoding") or "")
        except ValueError as e:
            t.abort = str(e)
            return 0
        return None

    def _on_body(self, t: Transfer, data: bytes) -> int | None:
        if t.decoder is None:  # not a 2xx answer: the body is not kept, but it is still bounded
            t.total += len(data)
            if t.total > self.max_bytes:
                t.abort = f"{TOO_LARGE} {self.max_bytes:,} bytes: cut off"
                return 0
            return None
        try:
            for piece in t.decoder.feed(data, self.max_bytes - t.total):
                t.total += len(piece)
                if t.total > self.max_bytes:
                    raise BodyTooLarge
                t.parts.append(piece)
        except BodyTooLarge:
            t.abort = f"{TOO_LARGE} {self.max_bytes:,} bytes: cut off"
            return 0
        except zlib.error as e:
            t.abort = f"corrupt compressed body: {e}"
            return 0
        return None

    # -- outcomes ------------------------------------------------------------------------------------

    def _redirect(self, t: Transfer, code: int) -> None:
        location = t.header("location")
        if not location:
            return self._finish(t, err(f"HTTP {code} redirect without a Location", code, t.current))
        try:
            target = urljoin(t.current, location)
            scheme = urlsplit(target).scheme.lower()
        except ValueError as e:
            return self._finish(t, err(f"unusable URL in the server's answer: {e}", code, t.current))
        if scheme not in ("http", "https"):
            return self._finish(t, err(f"redirect to a non-http URL ({scheme}:) refused", code, t.current))
        if target in t.seen:
            hops = len(t.seen)
            return self._finish(t, err(f"redirect loop ({count(hops, 'hop')} back to {target})", code,
                                       t.current))
        if len(t.seen) > MAX_REDIRECTS:
            return self._finish(t, err(f"too many redirects (more than {MAX_REDIRECTS})", code, target))
        t.permanent = t.permanent and code in (301, 308)
        t.current = target
        if t.remaining <= 0:
            return self._finish(t, err(f"timed out after {self.timeout_s:g}s", None, target))
        self._queue(t, first=True)

def fetch_one(url: str, *, timeout_s: float, max_bytes: int, user_agent: str = "",
              etag: str | None = None, last_modified: str | None = None, now: float | None = None,
              private_ok: bool | None = None) -> FetchResult:
    """One URL, on its own (adding a feed, tests). private_ok as in Fetcher.add."""
    with Fetcher(concurrency=1, per_host=1, timeout_s=timeout_s, max_bytes=max_bytes,
                 now=clock.now() if now is None else now, user_agent=user_agent) as fetcher:
        fetcher.add(0, url, etag=etag, last_modified=last_modified, private_ok=private_ok)
        while True:
            for _, result in fetcher.poll(None):
                return result
