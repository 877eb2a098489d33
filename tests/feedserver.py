"""A real HTTP server on 127.0.0.1 for tests and benchmarks: feeds with real headers.

ThreadingHTTPServer in a daemon thread, HTTP/1.1 (keep-alive and chunked bodies), port 0. Routes are set
per test; every request is recorded with its headers, so a test can check what the client sent
(If-None-Match, If-Modified-Since, User-Agent, Accept-Encoding).

    with FeedServer() as srv:
        srv.feed("/a.xml", rss_bytes, etag='"v1"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
        srv.redirect("/old", "/a.xml", 301)
        srv.route("/custom", lambda req: Response(500, body=b"boom"))
        url = srv.url("/a.xml")
"""

from __future__ import annotations

import gzip as gzip_mod
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    client: tuple[str, int] = ("", 0)  # the client's address: one port per TCP connection (keep-alive checks)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""  # an iterable is sent chunked (Transfer-Encoding: chunked)
    delay: float = 0.0  # seconds to wait before sending the status line


Handler = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle's algorithm the body waited for the client's
    # delayed ACK of the headers, 40 ms a request on Linux
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        path = self.path
        req = Request(self.command, path, {k.lower(): v for k, v in self.headers.items()},
                      tuple(self.client_address[:2]))  # type: ignore[arg-type]
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(req)
            handler = owner.routes.get(path) or owner.routes.get(path.split("?", 1)[0])
        resp = handler(req) if handler else Response(404, {"Content-Type": "text/plain"}, b"not found")
        if resp.delay and owner.stopping.wait(resp.delay):
            return
        try:
            self.send_response(resp.status)
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if isinstance(resp.body, bytes | bytearray):
                if not any(k.lower() == "content-length" for k in resp.headers):
                    self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(resp.body)
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in resp.body:
                    if owner.stopping.is_set():
                        return
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, size limits)
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up mid-response is expected in these tests


class FeedServer:
    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        """tls: a server context (tests/helpers_smtp.tls_pair makes one) to serve https instead. host:
        another loopback address (127.0.0.2) stands for a private host in the address-check tests."""
        self.scheme = "https" if tls else "http"
        self.host = host
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feedserver", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routes ----------------------------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler | Response) -> None:
        if isinstance(handler, Response):
            fixed = handler
            handler = lambda req: fixed  # noqa: E731
        with self.lock:
            self.routes[path] = handler

    def feed(
        self,
        path: str,
        body: bytes,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str = "application/rss+xml; charset=utf-8",
        gzip: bool = False,
        honour_conditional: bool = True,
    ) -> None:
        """A feed with validators; answers 304 when the client sends them back (as a real server does)."""

        def handler(req: Request) -> Response:
            if honour_conditional:
                inm, ims = req.header("if-none-match"), req.header("if-modified-since")
                if (etag and inm == etag) or (not etag and last_modified and ims == last_modified):
                    headers = {"ETag": etag} if etag else {}
                    return Response(304, headers)
            headers = {"Content-Type": content_type}
            if etag:
                headers["ETag"] = etag
            if last_modified:
                headers["Last-Modified"] = last_modified
            data = body
            if gzip and "gzip" in (req.header("accept-encoding") or ""):
                data = gzip_mod.compress(body)
                headers["Content-Encoding"] = "gzip"
            return Response(200, headers, data)

        self.route(path, handler)

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        target = location if "://" in location or ":" in location.split("/", 1)[0] else self.url(location)
        self.route(path, Response(status, {"Location": target, "Content-Length": "0"}))

    def requests_for(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path]


# -- feed documents -----------------------------------------------------------------------------------


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def rss(title: str, items: list[dict[str, str]], *, link: str = "https://site.example/",
        extra_ns: str = "") -> bytes:
    """A small RSS 2.0 document. Item keys: title, link, guid, date (RFC 822), description, author."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" {extra_ns}><channel>',
             f"<title>{escape(title)}</title><link>{escape(link)}</link><description>test</description>"]
    for it in items:
        parts.append("<item>")
        if "title" in it:
            parts.append(f"<title>{escape(it['title'])}</title>")
        if "link" in it:
            parts.append(f"<link>{escape(it['link'])}</link>")
        if "guid" in it:
            parts.append(f'<guid isPermaLink="false">{escape(it["guid"])}</guid>')
        if "date" in it:
            parts.append(f"<pubDate>{escape(it['date'])}</pubDate>")
        if "author" in it:
            parts.append(f"<author>{escape(it['author'])}</author>")
        if "description" in it:
            parts.append(f"<description><![CDATA[{it['description']}]]></description>")
        parts.append(it.get("raw", ""))
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


class SlowFeed:
    """A route handler that answers with a small feed after `delay` seconds, and counts how many requests
    it was serving at once (`peak`): for the concurrency limits."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.peak = 0
        self._active = 0
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)
        time.sleep(self.delay)
        with self._lock:
            self._active -= 1
        return Response(200, {"Content-Type": "application/rss+xml"}, simple_rss(req.path.strip("/")))


def simple_rss(name: str, n: int = 3, *, host: str = "site.example") -> bytes:
    """n distinct, dated stories; enough for 'the other feeds still work' checks."""
    return rss(f"{name} feed", [
        {"title": f"{name} story {i}", "link": f"https://{host}/{name}/{i}", "guid": f"{name}-{i}",
         "date": f"Wed, 2{i % 5} Nov 2026 1{i % 10}:00:00 GMT", "description": f"<p>About {name} {i}.</p>"}
        for i in range(n)
    ])


def atom(title: str, entries: list[dict[str, str]], *, base: str = "") -> bytes:
    xb = f' xml:base="{escape(base)}"' if base else ""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{xb}>',
             f"<title>{escape(title)}</title><id>urn:test:{escape(title)}</id>"
             "<updated>2026-11-25T10:00:00Z</updated>"]
    for e in entries:
        parts.append("<entry>")
        parts.append(f"<title>{escape(e.get('title', ''))}</title><id>{escape(e['id'])}</id>")
        if "link" in e:
            parts.append(f'<link rel="alternate" href="{escape(e["link"])}"/>')
        if "updated" in e:
            parts.append(f"<updated>{e['updated']}</updated>")
        if "published" in e:
            parts.append(f"<published>{e['published']}</published>")
        if "content" in e:
            parts.append(f'<content type="html">{escape(e["content"])}</content>')
        parts.append("</entry>")
    parts.append("</feed>\n")
    return "".join(parts).encode()


def gzip_bomb(inflated: int = 50_000_000) -> bytes:
    """`inflated` zero bytes, gzipped (~1000:1), built without holding the inflated data in memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * 1_000_000
    out = [z.compress(block) for _ in range(inflated // len(block))]
    out.append(z.flush())
    return b"".join(out)


def endless(chunk: bytes = b"<item><title>again</title></item>" * 100) -> Iterator[bytes]:
    """An endless chunked body (a misbehaving server); the client must stop reading, not the server."""
    yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>endless</title>'
    while True:
        yield chunk


def trickle(data: bytes, *, step: int = 1, interval: float = 0.2) -> Iterator[bytes]:
    """A body sent a few bytes at a time: each read is quick, the whole takes long (total-time limits)."""
    import time

    for i in range(0, len(data), step):
        time.sleep(interval)
        yield data[i:i + step]


# -- raw sockets: faults an HTTP library cannot produce (appended for tests/test_faults.py) ------------


class RawServer:
    """A bare TCP server on 127.0.0.1 whose every connection is handed to `answer(conn)` once the
    request head has been read. For faults a well-behaved HTTP server never makes: a connection reset
    (RST) in the middle of a body, a status line that never ends.

        with RawServer(reset_mid_body(b"<rss ...", declared=100_000)) as raw:
            url = raw.url("/anything")
    """

    def __init__(self, answer: Callable[[object], None]) -> None:
        import socket

        self.answer = answer
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rawserver", daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: object) -> None:
        import socket

        assert isinstance(conn, socket.socket)
        try:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.answer(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


def reset_mid_body(body: bytes, *, declared: int,
                   content_type: str = "application/rss+xml") -> Callable[[object], None]:
    """Send the head (Content-Length: declared) and `body` (shorter than declared), then reset the
    connection: SO_LINGER with a zero timeout makes close() send RST instead of FIN."""
    import socket
    import struct
    import time

    def answer(conn: object) -> None:
        assert isinstance(conn, socket.socket)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode() +
                     b"\r\nContent-Length: " + str(declared).encode() + b"\r\n\r\n" + body)
        time.sleep(0.05)  # let the client read what was sent, so the reset comes mid-body
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return answer


def broken_chunks(data: bytes, *, after: int) -> Iterator[bytes]:
    """A chunked body that stops after `after` bytes without its last chunk: the handler raises, so
    the connection closes (FIN) mid-body."""
    yield data[:after]
    raise ConnectionAbortedError("feedserver: body broken off on purpose")
