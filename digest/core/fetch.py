"""Fetching feeds the way servers and users want: concurrent but polite, conditional, bounded.

- one httpx.AsyncClient (keep-alive reuse), a global limit and a per-host limit on concurrent requests;
- conditional GET with ETag / Last-Modified stored exactly as received; 304 means "not modified";
- redirects followed by hand so permanent ones (301/308) can update the stored URL, loops end with an
  error and only http/https targets are followed;
- connect/read timeouts, a total per-feed time limit, and a body limit enforced while reading: the body
  is decompressed here in bounded steps, so a gzip bomb or an endless body is cut off, never loaded.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import ssl
import threading
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from digest import __version__
from digest.core.models import FetchResult

USER_AGENT = f"digest/{__version__} (newsletter digest feed reader; python-httpx)"
MAX_REDIRECTS = 10  # what browsers and curl allow
# Read in steps of this size; decompression never produces more than this per step.
CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


def is_local(url: str) -> bool:
    return url.startswith("file://") or not urlsplit(url).scheme or (len(url) > 1 and url[1] == ":")


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
        try:
            dt = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        delay = dt.timestamp() - now
    return now + max(0.0, min(delay, 7 * 86_400))


class _Decoder:
    """Content-Encoding decoding in bounded steps (httpx would inflate a whole chunk at once)."""

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


async def fetch_http(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    host_limit: HostLimiter,
    now: float,
    timeout_s: float | None = None,
) -> FetchResult:
    """timeout_s: the total time for this feed (every hop and the body), raising TimeoutError."""
    seen: list[str] = []
    permanent = True
    current = url
    async with asyncio.timeout(None) as limit:
        for _ in range(MAX_REDIRECTS + 1):
            headers: dict[bytes, bytes] = {b"Accept-Encoding": b"gzip, deflate"}
            # validators go back byte for byte as they came (see _raw_header)
            if etag:
                headers[b"If-None-Match"] = etag.encode("latin-1", "replace")
            if last_modified:
                headers[b"If-Modified-Since"] = last_modified.encode("latin-1", "replace")
            seen.append(current)
            try:
                parts = urlsplit(current)
                _ = parts.port  # raises ValueError for a port out of range, before any socket is made
                host = parts.netloc.lower()
                req = client.build_request("GET", current, headers=headers)
            except (ValueError, httpx.InvalidURL) as e:
                return _err(f"invalid URL {current!r}: {e}", None, current)
            # the clock runs only while a request may go out: waiting behind other feeds of the same
            # host (per-host limit) is not this server being slow, for the first request and for every
            # redirect hop after it (a hop queues again, and could time out behind slow neighbours)
            loop = asyncio.get_running_loop()
            deadline = limit.when()
            remaining = timeout_s if deadline is None else deadline - loop.time()
            limit.reschedule(None)
            async with host_limit.slot(host):
                if remaining is not None:
                    limit.reschedule(loop.time() + remaining)
                try:
                    resp = await client.send(req, stream=True)
                except httpx.InvalidURL as e:
                    # httpx parses a redirect's Location even with redirects off, and refuses some
                    # (javascript:alert(1)); either way it is not a place a feed can move to
                    return _err(f"unusable URL in the server's answer: {e}", None, current)
                try:
                    code = resp.status_code
                    if code in (301, 302, 303, 307, 308):
                        location = resp.headers.get("location")
                        if not location:
                            return _err(f"HTTP {code} redirect without a Location", code, current)
                        target = urljoin(current, location)
                        scheme = urlsplit(target).scheme.lower()
                        if scheme not in ("http", "https"):
                            return _err(f"redirect to a non-http URL ({scheme}:) refused", code, current)
                        if target in seen:
                            return _err(f"redirect loop ({len(seen)} hops back to {target})", code, current)
                        permanent = permanent and code in (301, 308)
                        current = target
                        continue
                    result = await _finish(resp, max_bytes=max_bytes, now=now)
                    result.final_url = current
                    if current != url and permanent:
                        result.new_url = current
                    return result
                finally:
                    await resp.aclose()
        return _err(f"too many redirects (more than {MAX_REDIRECTS})", None, current)


def _err(msg: str, code: int | None, url: str) -> FetchResult:
    return FetchResult("error", error=msg, http_status=code, final_url=url)


async def _finish(resp: httpx.Response, *, max_bytes: int, now: float) -> FetchResult:
    code = resp.status_code
    if code == 304:
        return FetchResult("not_modified", http_status=304,
                           etag=_raw_header(resp, b"etag"), last_modified=_raw_header(resp, b"last-modified"))
    if code in (429, 503):
        retry = parse_retry_after(resp.headers.get("retry-after"), now)
        when = f", retry after {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(retry))}" if retry else ""
        return FetchResult("retry", http_status=code, retry_after=retry,
                           error=f"HTTP {code} {resp.reason_phrase or ''}".strip() + when)
    if code == 410:
        return FetchResult("gone", http_status=code, error="HTTP 410 Gone: the feed was removed; no longer fetched")
    if code >= 400 or code < 200:
        return FetchResult("error", http_status=code, error=f"HTTP {code} {resp.reason_phrase or ''}".strip())
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        return FetchResult("error", http_status=code,
                           error=f"body larger than {max_bytes:,} bytes ({int(declared):,} declared)")
    try:
        decoder = _Decoder(resp.headers.get("content-encoding", ""))
    except ValueError as e:
        return FetchResult("error", http_status=code, error=str(e))
    parts: list[bytes] = []
    total = 0
    try:
        async for raw in resp.aiter_raw(CHUNK):
            for piece in decoder.feed(raw, max_bytes - total):
                total += len(piece)
                if total > max_bytes:
                    raise BodyTooLarge
                parts.append(piece)
    except BodyTooLarge:
        return FetchResult("error", http_status=code, error=f"body larger than {max_bytes:,} bytes: cut off")
    except zlib.error as e:
        return FetchResult("error", http_status=code, error=f"corrupt compressed body: {e}")
    return FetchResult(
        "ok", body=b"".join(parts), http_status=code, content_type=resp.headers.get("content-type", ""),
        etag=_raw_header(resp, b"etag"), last_modified=_raw_header(resp, b"last-modified"),
    )


def _raw_header(resp: httpx.Response, name: bytes) -> str | None:
    """A validator exactly as received. HTTP header bytes are not always ASCII; latin-1 maps every byte
    to one character and back, so what we send in If-None-Match is what the server sent."""
    for key, value in resp.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class HostLimiter:
    """At most `per_host` requests at once to one host (politeness), on top of the global limit."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._sems: dict[str, asyncio.Semaphore] = {}

    def slot(self, host: str) -> asyncio.Semaphore:
        sem = self._sems.get(host)
        if sem is None:
            sem = self._sems[host] = asyncio.Semaphore(self.per_host)
        return sem


class TrustContext(ssl.SSLContext):
    """The TLS context httpx would make (certificates and host names verified against certifi's CA
    bundle, or the one SSL_CERT_FILE / SSL_CERT_DIR name), with the bundle loaded by a thread.

    Loading it took ~35 ms of every refresh's start (importlib.resources, then OpenSSL parsing ~120
    certificates) on the one thread that also imports, opens the store and sends the first requests.
    OpenSSL releases the GIL while it parses, so the thread runs on another core; the first TLS
    connection waits for it, and a refresh of plain-http feeds never does. Each method that touches the
    context or starts a handshake waits first, so it is never changed from two threads at once."""

    _loader: threading.Thread
    _error: ssl.SSLError | None

    def __new__(cls) -> TrustContext:
        ctx = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
        ctx._error = None
        ctx._loader = threading.Thread(target=ctx._load, name="digest-ca-bundle", daemon=True)
        ctx._loader.start()
        return ctx

    def _load(self) -> None:
        cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
        try:
            if cafile or capath:
                super().load_verify_locations(cafile=cafile or None, capath=capath or None)
            else:
                import certifi  # httpx's own default, a dependency of httpx

                super().load_verify_locations(cafile=certifi.where())
        except (OSError, ssl.SSLError) as e:  # a bad SSL_CERT_FILE: each https feed says so
            where = " and ".join(f"{k}={v}" for k, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)) if v)
            # (errno, text): SSLError's str() is then the text alone
            self._error = ssl.SSLError(0, f"cannot load the CA certificates ({where or 'certifi'}): "
                                          f"{e.strerror or e}")

    def _ready(self) -> None:
        self._loader.join()
        if self._error is not None:
            raise self._error

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._ready()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._ready()
        return super().wrap_socket(*args, **kwargs)

    def set_alpn_protocols(self, protocols: Any) -> None:
        self._loader.join()
        super().set_alpn_protocols(protocols)

    def load_verify_locations(self, *args: Any, **kwargs: Any) -> None:
        self._loader.join()
        super().load_verify_locations(*args, **kwargs)


def make_client(*, concurrency: int, timeout_s: float, user_agent: str = "") -> httpx.AsyncClient:
    # connect and read timeouts are per step; the total per-feed limit is applied by the caller
    step = min(timeout_s, 10.0)
    return httpx.AsyncClient(
        verify=TrustContext(),
        headers={"User-Agent": user_agent or USER_AGENT,
                 "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                 "application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"},
        timeout=httpx.Timeout(timeout_s, connect=step, read=step),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        follow_redirects=False,
        trust_env=False,  # a cron job's proxy variables are not ours to follow silently (TrustContext reads SSL_CERT_*)
    )
