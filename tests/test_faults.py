"""The fault suite (issue 6): ONE refresh over loopback servers where every feed misbehaves in its own way.

tests/test_refresh.py checks each fault alone, next to two healthy neighbours. Here they all happen in
the same refresh, as they do for a user with a few hundred feeds: a slow server holding a per-host slot,
a gzip bomb and an endless body being read at once, a 10,000-item feed parsing in a worker while hostile
XML parses in another. For every feed: a per-feed error or the right stories; the good feeds stored;
nothing written outside the data dir; bounded memory and time. A second refresh then checks what must
persist (410 gone, 429 Retry-After, no duplicates for feeds without guids or dates).

The hypothesis tests at the end extend tests/test_properties.py (which covers parse_feed with random
bytes, mutated samples and random JSON Feed items) to the lxml fast path and to mutations of the real
JSON Feed sample.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from feedserver import (
    FeedServer,
    RawServer,
    Response,
    atom,
    broken_chunks,
    endless,
    gzip_bomb,
    reset_mid_body,
    rss,
    simple_rss,
    trickle,
)
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from digest.core import pool as pool_mod
from digest.core.config import Config, RefreshConfig
from digest.core.fastparse import fast_parse
from digest.core.models import Story
from digest.core.parse import ParseError, parse_feed, parse_xml_feed
from digest.core.refresh import FeedResult, RefreshReport, refresh
from digest.core.store import Store, StoryQuery

TIMEOUT_S = 2.0  # config.refresh.timeout_s for the whole suite: the slow feeds cost seconds, not minutes
MAX_BYTES = 10_000_000  # the default body limit; the 50 MB body and the 50 MB gzip bomb must stop here
MEMORY_LIMIT = 150_000_000  # growth of the test process's peak RSS over the whole refresh
WORKER_MEMORY_LIMIT = 250_000_000  # a parse worker's peak RSS, its ~60 MB of imports included
SECRET = "DIGEST-XXE-MARKER-7f3a9c"  # in a local file an external entity points at; must never be stored
try:  # what an entity pointing at /etc/passwd would bring in
    PASSWD_LINE = Path("/etc/passwd").read_text().splitlines()[0]
except (OSError, IndexError):
    PASSWD_LINE = "root:x:0:0"
LINUX_PROC = Path("/proc/self/status").exists()

CAFE_TITLE = "Caf\u00e9 \u00fcber na\u00efve"  # non-ASCII in every charset case


def config() -> Config:
    defaults = RefreshConfig()
    assert defaults.max_bytes == MAX_BYTES, "the suite assumes the documented 10 MB default"
    return Config(refresh=replace(defaults, timeout_s=TIMEOUT_S))


# -- the feeds ----------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One misbehaving (or good) feed and what a refresh must make of it."""

    name: str
    path: str
    expect: str  # ok | error | gone (410) | retry (429) | ok-or-error (either, if nothing leaks)
    error: str = ""  # for errors: a regex the stored error must match (case-insensitive)
    stories: int | None = None  # for ok: exactly this many stories stored
    check: Callable[[list[Story]], str] | None = None  # for ok: returns a problem, or ""
    slow: bool = False  # may use its whole time limit (counts towards the time bound)
    url: str = ""
    feed_id: int = 0


def _titles_are(*want: str) -> Callable[[list[Story]], str]:
    def check(stories: list[Story]) -> str:
        got = sorted(s.title for s in stories)
        return "" if got == sorted(want) else f"titles {got!r}, expected {sorted(want)!r}"
    return check


def _cafe(stories: list[Story]) -> str:
    """The charset cases: the text must arrive as written, not as mojibake ("CafÃ©") or U+FFFD."""
    if [s.title for s in stories] != [CAFE_TITLE]:
        return f"titles {[s.title for s in stories]!r}, expected {[CAFE_TITLE]!r}"
    if "na\u00efve" not in stories[0].summary:
        return f"summary {stories[0].summary!r}"
    return ""


def _cafe_rss(encoding_decl: str = "UTF-8") -> str:
    doc = rss("Caf\u00e9 feed", [{"title": CAFE_TITLE, "link": "https://cafe.example/1", "guid": "cafe-1",
                                  "date": "Wed, 25 Nov 2026 10:00:00 GMT", "description": "<p>na\u00efve</p>"}])
    return doc.decode().replace('encoding="UTF-8"', f'encoding="{encoding_decl}"')


def _json_feed(n: int) -> bytes:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "JSON good",
        "home_page_url": "https://json.example/",
        "items": [{"id": f"j{i}", "url": f"https://json.example/{i}", "title": f"JSON story {i}",
                   "content_html": f"<p>Body {i}</p>", "date_published": "2026-11-25T10:00:00Z"}
                  for i in range(n)],
    }).encode()


def _big_feed(n: int) -> bytes:
    return rss("Ten thousand", [
        {"title": f"Item {i}", "link": f"https://big.example/{i}", "guid": f"big-{i}",
         "date": "Wed, 25 Nov 2026 10:00:00 GMT", "description": f"<p>Item number {i} of {n}.</p>"}
        for i in range(n)
    ])


def _fifty_mb() -> Iterator[bytes]:
    """50 MB of well-formed RSS items, made as it is sent (the server holds none of it)."""
    yield b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>huge</title>'
    block = b"".join(b"<item><title>filler %d</title><guid>f%d</guid></item>" % (i, i) for i in range(1000))
    for _ in range(50_000_000 // len(block) + 1):
        yield block
    yield b"</channel></rss>"


def _xxe_docs(secret_file: Path, server: FeedServer) -> dict[str, bytes]:
    item = ("<item><title>T &xxe;</title><link>https://xxe.example/1</link><guid>xxe-1</guid>"
            "<description>D &xxe;</description></item>")
    tail = f'<rss version="2.0"><channel><title>X &xxe;</title>{item}</channel></rss>'
    lol = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10))
    return {
        "xxe-file": (f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>\n'
                     + tail).encode(),
        "xxe-passwd": ('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                       + tail).encode(),
        # parameter entities and external DTDs: fetching them is server-side request forgery
        "xxe-remote": (f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{server.url("/evil.dtd")}" ['
                       f'<!ENTITY % remote SYSTEM "{server.url("/evil-param.dtd")}"> %remote;'
                       f'<!ENTITY xxe SYSTEM "{server.url("/ext.txt")}">]>\n' + tail).encode(),
        "billion-laughs": (f'<?xml version="1.0"?>\n<!DOCTYPE rss [{lol}<!ENTITY xxe "&lol9;">]>\n'
                           + tail).encode(),
        # one 50 KB entity referenced 20,000 times: a gigabyte if expanded
        "quadratic-blowup": ('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe "' + "x" * 50_000 + '">]>\n'
                             '<rss version="2.0"><channel><title>Q</title><item><title>q</title>'
                             "<link>https://xxe.example/q</link><description>" + "&xxe;" * 20_000
                             + "</description></item></channel></rss>").encode(),
    }


def _no_secret(stories: list[Story]) -> str:
    for s in stories:
        blob = "\n".join((s.title, s.summary, s.content, s.author, s.link, s.guid))
        if SECRET in blob or PASSWD_LINE in blob or "lollollol" in blob:
            return f"an entity was expanded into story {s.guid!r}: {blob[:200]!r}"
    return ""


def setup_faults(server: FeedServer, raw: RawServer, garbage: RawServer, closed_port: int, secret_file: Path,
                 sample_feeds_dir: Path) -> list[Fault]:
    """Routes on the server and the expectations for each; returns the faults in the order added."""
    ct = {"Content-Type": "application/rss+xml; charset=utf-8"}
    faults: list[Fault] = []

    def add(fault: Fault, response: Response | None = None) -> None:
        if response is not None:
            server.route(fault.path, response)
        fault.url = fault.url or server.url(fault.path)
        faults.append(fault)

    # good feeds: HTTP RSS with validators, Atom, JSON Feed, and a local sample file
    server.feed("/good-rss.xml", simple_rss("good", 5), etag='"good-v1"')
    add(Fault("good-rss", "/good-rss.xml", "ok", stories=5))
    server.feed("/good.atom", atom("Good atom", [
        {"id": f"urn:a:{i}", "title": f"Atom {i}", "link": f"https://atom.example/{i}",
         "updated": "2026-11-25T10:00:00Z", "content": f"<p>Atom body {i}</p>"} for i in range(3)
    ]), content_type="application/atom+xml", last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
    add(Fault("good-atom", "/good.atom", "ok", stories=3))
    server.feed("/good.json", _json_feed(4), content_type="application/feed+json", etag='"j1"')
    add(Fault("good-json", "/good.json", "ok", stories=4))
    add(Fault("good-local", "", "ok", url=str(sample_feeds_dir / "devlog.atom"),
              check=lambda s: "" if len(s) >= 3 else f"{len(s)} stories from devlog.atom"))

    # the network misbehaving
    add(Fault("timeout", "/timeout.xml", "error", r"timed out", slow=True),
        Response(200, ct, simple_rss("late"), delay=30))
    add(Fault("reset-mid-body", "", "error", r"reset|closed|broken|incomplete|ReadError",
              url=raw.url("/reset.xml")))
    add(Fault("not-http-at-all", "", "error", r"connection broken|protocol|invalid|illegal",
              url=garbage.url("/garbage.xml")))
    add(Fault("connection-refused", "", "error", r"cannot connect|refused", url=f"http://127.0.0.1:{closed_port}/x"))
    add(Fault("trickle-past-the-total-limit", "/trickle.xml", "error", r"timed out", slow=True),
        Response(200, ct, trickle(simple_rss("trickle", 20), step=64, interval=0.25)))
    body = simple_rss("broken", 50)
    add(Fault("closed-mid-chunked-body", "/closed.xml", "error", r"closed|broken|incomplete|peer"),
        Response(200, ct, broken_chunks(body, after=len(body) // 2)))
    add(Fault("http-500", "/500.xml", "error", r"HTTP 500"), Response(500, {"Content-Type": "text/plain"}, b"boom"))
    add(Fault("http-404", "/404.xml", "error", r"HTTP 404"))  # no route: the server's own 404
    add(Fault("http-410", "/410.xml", "gone", r"410"), Response(410, {"Content-Type": "text/plain"}, b"gone"))
    add(Fault("http-429", "/429.xml", "retry", r"HTTP 429.*retry after"),
        Response(429, {"Retry-After": "3600", "Content-Type": "text/plain"}, b"slow down"))
    add(Fault("body-50mb", "/50mb.xml", "error", r"larger than 10,000,000 bytes"),
        Response(200, {"Content-Type": "application/rss+xml"}, _fifty_mb()))
    add(Fault("gzip-bomb", "/bomb.xml", "error", r"larger than 10,000,000 bytes"),
        Response(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}, gzip_bomb(50_000_000)))
    add(Fault("endless-chunked", "/endless.xml", "error", r"larger than 10,000,000 bytes"),
        Response(200, {"Content-Type": "application/rss+xml"}, endless()))
    server.redirect("/loop-b.xml", "/loop-a.xml", 302)
    add(Fault("redirect-loop", "/loop-a.xml", "error", r"redirect loop \(2 hops back to "),
        Response(301, {"Location": server.url("/loop-b.xml"), "Content-Length": "0"}))
    add(Fault("redirect-to-itself", "/loop-self.xml", "error", r"redirect loop \(1 hop back to "),
        Response(302, {"Location": server.url("/loop-self.xml"), "Content-Length": "0"}))
    add(Fault("redirect-file-scheme", "/to-file.xml", "error", r"non-http"),
        Response(302, {"Location": "file:///etc/passwd", "Content-Length": "0"}))

    # bodies that are feeds, labelled or encoded unusually: all must be read, text intact
    add(Fault("content-type-html", "/ct-html.xml", "ok", stories=1, check=_cafe),
        Response(200, {"Content-Type": "text/html; charset=utf-8"}, _cafe_rss().encode()))
    add(Fault("content-type-json", "/ct-json.xml", "ok", stories=1, check=_cafe),
        Response(200, {"Content-Type": "application/json"}, _cafe_rss().encode()))
    add(Fault("json-feed-as-text-plain", "/ct-plain.json", "ok", stories=2),
        Response(200, {"Content-Type": "text/plain"}, _json_feed(2)))
    add(Fault("latin1-declared-utf8", "/latin1.xml", "ok", stories=1, check=_cafe),
        Response(200, ct, _cafe_rss().encode("latin-1")))
    add(Fault("utf8-declared-latin1", "/utf8.xml", "ok", stories=1, check=_cafe),
        Response(200, {"Content-Type": "application/rss+xml; charset=iso-8859-1"}, _cafe_rss().encode()))
    add(Fault("utf8-bom", "/bom.xml", "ok", stories=1, check=_cafe),
        Response(200, ct, b"\xef\xbb\xbf" + _cafe_rss().encode()))
    add(Fault("utf16", "/utf16.xml", "ok", stories=1, check=_cafe),
        Response(200, {"Content-Type": "application/rss+xml"}, _cafe_rss("UTF-16").encode("utf-16")))
    add(Fault("utf16-declared-utf8", "/utf16-lie.xml", "ok", stories=1, check=_cafe),
        Response(200, ct, _cafe_rss("UTF-16").encode("utf-16")))
    # text/xml with no charset means us-ascii by the letter of RFC 3023; the bytes say otherwise
    add(Fault("utf16be-no-bom-as-text-xml", "/utf16be.xml", "ok", stories=1, check=_cafe),
        Response(200, {"Content-Type": "text/xml"}, _cafe_rss("UTF-16BE").encode("utf-16-be")))

    # bodies that are not feeds
    add(Fault("html-page", "/page.xml", "error", r"HTML page"),
        Response(200, {"Content-Type": "text/html"},
                 b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Not a feed</p></body></html>"))
    add(Fault("empty-200", "/empty.xml", "error", r"empty"), Response(200, ct, b""))

    # identity without guid or date: stored once, never duplicated by the next refresh
    add(Fault("no-guid-no-date", "/noguid.xml", "ok", stories=4,
              check=_titles_are(*(f"Undated {i}" for i in range(4)))),
        Response(200, ct, rss("undated", [{"title": f"Undated {i}", "link": f"https://undated.example/{i}",
                                           "description": f"<p>Undated body {i}</p>"} for i in range(4)])))
    # RSS allows items with only a description (microblogs): nothing but the text tells them apart
    add(Fault("description-only-items", "/desc-only.xml", "ok", stories=4),
        Response(200, ct, rss("notes", [{"description": f"<p>Note number {i}</p>"} for i in range(4)])))
    add(Fault("ten-thousand-items", "/big.xml", "ok", stories=10_000),
        Response(200, ct, _big_feed(10_000)))

    # hostile XML: whatever is stored must not contain what an entity pointed at
    for name, doc in _xxe_docs(secret_file, server).items():
        add(Fault(name, f"/{name}.xml", "ok-or-error", check=_no_secret), Response(200, ct, doc))
    return faults


# -- measuring ----------------------------------------------------------------------------------------


def _status_kb(pid: int | str, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process ended between listing and reading
        return 0
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # the command name (field 2) may hold spaces and parentheses: split after its last ')'
            parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


class MemoryWatch:
    """Peak RSS of this process (VmHWM, reset first through /proc/self/clear_refs) and of every worker
    process the refresh starts (their VmHWM, read while they are alive: on each progress callback).

    Where the peak cannot be reset (no /proc, or clear_refs refused), this process's RSS is sampled on
    each callback instead: a peak left by an earlier test must not count against this refresh."""

    def __init__(self) -> None:
        self.before = 0
        self.sampled_peak = 0
        self.reset = False
        self.worker_peak = 0
        self.workers: set[int] = set()
        self.maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def start(self) -> None:
        if LINUX_PROC:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
                self.reset = True
            except OSError:
                pass
            self.before = self.sampled_peak = _status_kb("self", "VmRSS") * 1024

    def sample(self) -> None:
        if not LINUX_PROC:
            return
        self.sampled_peak = max(self.sampled_peak, _status_kb("self", "VmRSS") * 1024)
        for pid in _descendants(os.getpid()):
            self.workers.add(pid)
            self.worker_peak = max(self.worker_peak, _status_kb(pid, "VmHWM") * 1024)

    def growth(self) -> int:
        if self.reset:
            return _status_kb("self", "VmHWM") * 1024 - self.before
        if LINUX_PROC:
            self.sample()
            return self.sampled_peak - self.before
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.maxrss_before


def _listing(root: Path, *, skip: Path | None = None) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in filenames + dirnames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def _user_dirs() -> dict[str, bool]:
    """Where digest would write without DIGEST_HOME: it must not create any of them."""
    import platformdirs

    dirs = [platformdirs.user_config_dir("digest"), platformdirs.user_data_dir("digest"),
            platformdirs.user_cache_dir("digest"), platformdirs.user_log_dir("digest")]
    return {d: os.path.exists(d) for d in dirs}


# -- the refresh ----------------------------------------------------------------------------------------


@pytest.fixture
def scratch_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temp files of this process and its workers go here, where the test can see them."""
    tmp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _not_http(conn: object) -> None:
    """Something else listening where a feed should be (an SSH server on the port, say)."""
    import socket

    assert isinstance(conn, socket.socket)
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nnot http\r\n\r\n")


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check(fault: Fault, res: FeedResult, store: Store) -> str:
    """'' when the stored outcome is what this fault should give, else what went wrong."""
    row = store.get_feed(fault.feed_id)
    stories = store.stories(StoryQuery(feed_id=fault.feed_id))
    if fault.expect in ("ok", "ok-or-error") and res.status == "ok":
        if row.last_status != "ok" or row.last_error or row.consecutive_failures:
            return f"ok, but the row says {row.last_status!r} {row.last_error!r}"
        if fault.stories is not None and len(stories) != fault.stories:
            return f"{len(stories)} stories stored, expected {fault.stories}"
        if fault.expect == "ok" and not stories:
            return "ok with no stories"
        return fault.check(stories) if fault.check else ""
    if fault.expect == "ok":
        return f"expected stories, got {res.status}: {res.error}"
    wanted = {"ok-or-error": "error", "error": "error", "retry": "error", "gone": "gone"}[fault.expect]
    if res.status != wanted:
        return f"expected {wanted}, got {res.status} {res.error!r}"
    if row.last_status != wanted or row.last_error != res.error or row.consecutive_failures != 1:
        return f"row: {row.last_status!r} {row.last_error!r} failures={row.consecutive_failures}"
    if fault.error and not re.search(fault.error, res.error, re.I):
        return f"error {res.error!r} does not match {fault.error!r}"
    if stories:
        return f"{len(stories)} stories stored from a failed fetch"
    if fault.expect == "gone" and not row.disabled:
        return "410, but the feed is not disabled"
    if fault.expect == "retry" and not (row.retry_after and row.retry_after > time.time() + 3000):
        return f"429 with Retry-After: 3600, but retry_after={row.retry_after}"
    return fault.check(stories) if fault.check else ""


@pytest.mark.parametrize("workers", ["processes", "thread"])
def test_one_refresh_survives_every_fault_at_once(
    store: Store, digest_home, feed_server: FeedServer, sample_feeds_dir: Path, scratch_tmp: Path,
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, workers: str,
) -> None:
    """'processes': parsing in the process pool (many feeds, several cores). 'thread': in one thread of
    this process (few feeds, or one core, as in the TUI and many CI machines), where a parser's memory
    shows in this process's peak."""
    if workers == "thread":
        monkeypatch.setattr(pool_mod, "POOL_THRESHOLD", 1_000_000)
        monkeypatch.setattr(pool_mod, "POOL_THRESHOLD_FORKSERVER", 1_000_000)
    secret_dir = tmp_path_factory.mktemp("secret")
    secret_file = secret_dir / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)  # a relative path written anywhere would land here

    body = simple_rss("reset", 200)
    with (RawServer(reset_mid_body(body[: len(body) // 3], declared=len(body))) as raw,
          RawServer(_not_http) as garbage):
        faults = setup_faults(feed_server, raw, garbage, _closed_port(), secret_file, sample_feeds_dir)
        for f in faults:
            f.feed_id = store.add_feed(f.url, title=f.name).id
        home_before = _listing(digest_home.config_dir, skip=digest_home.data_dir)
        user_dirs = _user_dirs()
        samples_before = {p.name: p.stat().st_mtime_ns for p in sample_feeds_dir.iterdir()}

        watch = MemoryWatch()
        watch.start()
        t0 = time.monotonic()
        report = refresh(store, config(), on_progress=lambda r, done, total: watch.sample())
        elapsed = time.monotonic() - t0
        growth = watch.growth()

    # every feed: the outcome it should have, all collected so one run shows every problem
    by_id = {r.feed_id: r for r in report.results}
    assert len(report.results) == len(faults)
    problems = [f"{f.name}: {p}" for f in faults if (p := _check(f, by_id[f.feed_id], store))]

    # entities never fetched over the network, never expanded into anything stored
    for path in ("/evil.dtd", "/evil-param.dtd", "/ext.txt"):
        if feed_server.requests_for(path):
            problems.append(f"the parser fetched {path} (an external entity or DTD)")
    dump = "\n".join(str(tuple(r)) for t in ("stories", "feeds") for r in store.db.execute(f"SELECT * FROM {t}"))
    if SECRET in dump or PASSWD_LINE in dump:
        problems.append("a local file's content reached the store through an external entity")
    if "lollollol" in dump or "x" * 100_000 in dump:
        problems.append("an entity expansion payload was expanded into the store")
    assert not problems, "\n".join(problems)

    # nothing written outside the data dir
    assert _listing(digest_home.config_dir, skip=digest_home.data_dir) == home_before
    assert _listing(cwd) == set()
    # multiprocessing's forkserver keeps its socket in a pymp-* folder of the temp dir (the stdlib's own)
    assert {p for p in _listing(scratch_tmp) if not p.startswith("pymp-")} == set()
    assert _user_dirs() == user_dirs
    assert {p.name: p.stat().st_mtime_ns for p in sample_feeds_dir.iterdir()} == samples_before
    assert secret_file.read_text() == SECRET + "\n"

    # bounded time: no feed may take longer than timeout_s once its request goes out, and all of them
    # share one host (per_host requests at a time); generous slack for worker start-up and parsing
    # (the feeds that can use their whole limit, one more for the waits around them, and 20 s of slack)
    slow = sum(f.slow for f in faults)
    bound = TIMEOUT_S * (slow + 1) + 20
    assert elapsed < bound, f"refresh took {elapsed:.1f}s (bound {bound:.0f}s)"
    # bounded memory: three 10 MB-capped bodies in flight at most, not 150 MB of inflated bomb
    assert growth < MEMORY_LIMIT, f"peak RSS grew {growth / 1e6:.0f} MB"
    assert watch.worker_peak < WORKER_MEMORY_LIMIT, f"a parse worker peaked at {watch.worker_peak / 1e6:.0f} MB"
    print(f"\nfault refresh: {len(faults)} feeds in {elapsed:.2f}s, RSS +{growth / 1e6:.0f} MB, "
          f"worker peak {watch.worker_peak / 1e6:.0f} MB ({len(watch.workers)} child processes)")

    _second_refresh(store, feed_server, faults)


def _second_refresh(store: Store, server: FeedServer, faults: list[Fault]) -> None:
    """What must persist: 410 and 429 feeds are not fetched, nothing is stored twice, errors count up."""
    counts = {f.name: store.count_stories(StoryQuery(feed_id=f.feed_id)) for f in faults}
    requests = {f.name: len(server.requests_for(f.path)) for f in faults if f.path}
    report: RefreshReport = refresh(store, config())
    by_name = {f.name: next(r for r in report.results if r.feed_id == f.feed_id) for f in faults}
    problems = []
    for name in ("http-410", "http-429"):
        if by_name[name].status != "skipped":
            problems.append(f"{name}: fetched again ({by_name[name].status})")
        if len(server.requests_for(next(f.path for f in faults if f.name == name))) != requests[name]:
            problems.append(f"{name}: a request went out")
    for f in faults:
        res = by_name[f.name]
        now_count = store.count_stories(StoryQuery(feed_id=f.feed_id))
        if now_count != counts[f.name]:
            problems.append(f"{f.name}: {counts[f.name]} stories became {now_count}")
        if res.status == "ok" and res.new:
            problems.append(f"{f.name}: {res.new} 'new' stories on an unchanged feed")
        if f.expect == "error" and store.get_feed(f.feed_id).consecutive_failures != 2:
            problems.append(f"{f.name}: consecutive_failures is not 2 after two failures")
    for name in ("good-rss", "good-json", "good-atom"):
        if by_name[name].status != "not_modified":
            problems.append(f"{name}: validators were not used ({by_name[name].status})")
    assert not problems, "\n".join(problems)


# -- the bugs this suite found, each alone (so a failure names its cause) -----------------------------


def test_rss_served_as_json_is_still_read(store: Store, feed_server: FeedServer) -> None:
    """A server labelling its RSS application/json: the body starts with '<', so it is markup."""
    feed_server.route("/f.xml", Response(200, {"Content-Type": "application/json"}, _cafe_rss().encode()))
    feed = store.add_feed(feed_server.url("/f.xml"))
    report = refresh(store, config())
    assert report.results[0].status == "ok", report.results[0].error
    assert _cafe(store.stories(StoryQuery(feed_id=feed.id))) == ""


def test_items_with_only_a_description_are_all_kept() -> None:
    """RSS items need only a title or a description. Items with no guid, link, title or date must not
    all hash to one identity (which kept the first and silently dropped the rest)."""
    doc = rss("notes", [{"description": f"<p>Note number {i}</p>"} for i in range(4)])
    stories = parse_feed(doc, "https://notes.example/rss", "application/rss+xml").stories
    assert len({s.guid for s in stories}) == 4
    again = parse_feed(doc, "https://notes.example/rss", "application/rss+xml").stories
    assert [s.guid for s in again] == [s.guid for s in stories]  # stable: the next refresh adds none


def test_a_character_reference_to_no_character_costs_that_character_not_the_feed() -> None:
    """&#xD800; (a surrogate) or &#x110000; name no character. Found by the mutation test below:
    feedparser's loose parser raised UnicodeEncodeError, so one bad reference lost every story."""
    doc = rss("refs", [{"title": "fine", "link": "https://refs.example/1", "guid": "1"},
                       {"title": "bad", "link": "https://refs.example/2", "guid": "2"}])
    doc = doc.replace(b"<title>bad</title>", b"<title>bad &#xD800; &#1114112; &#99999999999999999999999;</title>")
    feed = parse_feed(doc, "https://refs.example/rss", "application/rss+xml")
    assert [s.guid for s in feed.stories] == ["1", "2"]
    for s in feed.stories:
        s.title.encode("utf-8")


def test_a_link_urljoin_cannot_read_is_read_as_feedparser_reads_it() -> None:
    """An Atom link of "http://[::1" made urljoin raise ValueError out of fast_parse, so parse_feed
    raised instead of reading the feed. The fast path now reads such a link as feedparser does (as no
    link), and both paths store the same stories."""
    doc = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:1</id><title>one</title>'
           b'<link href="http://[::1"/></entry><entry><id>urn:2</id><title>two</title>'
           b'<link href="https://v6.example/2"/></entry></feed>')
    assert fast_parse(doc, "https://v6.example/atom") is not None
    feed = parse_feed(doc, "https://v6.example/atom", "application/atom+xml", now=1_800_000_000.0)
    assert [(s.title, s.link) for s in feed.stories] == [("one", ""), ("two", "https://v6.example/2")]
    slow = parse_xml_feed(doc, "https://v6.example/atom", now=1_800_000_000.0, fast=False)
    assert [(s.title, s.link, s.guid) for s in slow.stories] == [(s.title, s.link, s.guid) for s in feed.stories]


def test_a_redirect_hop_waiting_for_the_per_host_limit_does_not_time_out(store: Store,
                                                                          feed_server: FeedServer) -> None:
    """Found by the combined refresh: a redirect loop reported "timed out" instead of "redirect loop".
    Each hop waits for a per-host slot again, and that wait counted against the feed's time limit
    (the first request's wait no longer did). With per_host=1 and three feeds that each answer in
    0.8 s, the second hop of an ordinary redirect waits 2.4 s: past a 2 s limit, for no fault of its
    server. Feeds redirect all the time (http to https, old paths, FeedBurner)."""
    feed_server.redirect("/a-moved.xml", "/a-here.xml", 301)
    feed_server.feed("/a-here.xml", simple_rss("moved"))
    store.add_feed(feed_server.url("/a-moved.xml"), title="a redirecting feed")
    for i in range(3):
        feed_server.route(f"/slow{i}.xml", Response(200, {"Content-Type": "application/rss+xml"},
                                                    simple_rss(f"slow{i}"), delay=0.8))
        store.add_feed(feed_server.url(f"/slow{i}.xml"), title=f"b slow {i}")
    report = refresh(store, Config(refresh=replace(RefreshConfig(), timeout_s=TIMEOUT_S, per_host=1)))
    assert [(r.title, r.error) for r in report.results if r.status != "ok"] == []
    assert store.feed_by_url(feed_server.url("/a-here.xml")) is not None  # the 301 was remembered


# -- hypothesis: the fast path and JSON Feed mutations ------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "sample_feeds"
XML_SAMPLES = {p.name: p.read_bytes() for p in sorted(SAMPLES.iterdir()) if p.suffix in (".xml", ".atom")}
JSON_SAMPLE = json.loads((SAMPLES / "climate.json").read_text(encoding="utf-8"))
NOW = 1_795_600_000.0

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate), suppress_health_check=[HealthCheck.too_slow])

XML_INSERTS = [
    b"<", b">", b"&", b"&amp;", b"]]>", b"<![CDATA[", b"</item>", b"<item>", b"<entry>", b"</entry>", b"\x00",
    b"\xff", b"\xc3", b"\xef\xbb\xbf", b'"', b"'", b"<title>", b"</title>", b"<guid>", b"<guid isPermaLink=\"true\">x",
    b"<link>javascript:alert(1)</link>", b"<pubDate>31 Feb 2026 99:99</pubDate>", b"<pubDate>\xff</pubDate>",
    b'<enclosure url="x" type="image/png"/>', b'<media:content url="//x" width="-1" height="1e9"/>',
    b'<category term="a"/>', b"<b>markup</b>", b'<content type="xhtml"><div>x</div></content>',
    b'<link rel="alternate"/>', b'xml:base="javascript:x"', b'xml:base="http://[::1"', b"&#0;", b"&#xD800;",
    b"<!DOCTYPE x>", b"<?xml version='1.0' encoding='latin-1'?>", b'<rss version="0.91">', b"\r\n",
]


@st.composite
def mutated_xml(draw: st.DrawFn) -> bytes:
    data = bytearray(XML_SAMPLES[draw(st.sampled_from(sorted(XML_SAMPLES)))])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup", "swap-tag"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 300))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(XML_INSERTS))
        elif op == "truncate":
            del data[pos:]
        elif op == "dup" and data:
            data[pos:pos] = data[pos:min(len(data), pos + draw(st.integers(1, 800)))]
        elif op == "swap-tag":  # rename one element: unknown tags, mismatched pairs, wrong namespaces
            m = list(re.finditer(rb"<(/?)([A-Za-z:]+)", bytes(data)))
            if m:
                hit = m[draw(st.integers(0, len(m) - 1))]
                new = draw(st.sampled_from([b"item", b"entry", b"title", b"description", b"content:encoded",
                                            b"media:group", b"summary", b"x:y", b"channel", b"feed"]))
                data[hit.start(2):hit.end(2)] = new
    return bytes(data)


def _check_fast(data: bytes, content_type: str) -> None:
    """fast_parse returns None (feedparser will read it) or well-formed entries; it never raises. When it
    accepts a document, the whole parse through it must also succeed."""
    got = fast_parse(data, "https://feed.example/rss", content_type)
    if got is None:
        return
    kind, title, site, entries = got
    assert kind in ("rss20", "atom10")
    assert isinstance(title, str) and isinstance(site, str)
    for e in entries:
        assert isinstance(e, dict)
        for key in ("title", "id", "link", "summary", "author"):
            assert isinstance(e.get(key, ""), str)
    feed = parse_xml_feed(data, "https://feed.example/rss", content_type, now=NOW)
    assert len(feed.stories) == len(entries)
    for s in feed.stories:
        assert s.guid and isinstance(s.title, str)
        for text in (s.guid, s.title, s.link, s.summary, s.content, s.author, *s.categories):
            text.encode("utf-8")  # storable: no lone surrogates
        assert "<script" not in s.content.lower()
        assert not s.link or s.link.split(":", 1)[0].lower() in ("http", "https", "mailto")


@FAST
@given(st.binary(max_size=3000))
@example(b'<rss version="2.0"><channel><item><guid/></item></channel></rss>')
@example(b'<rss version="2.0"><channel><item><guid isPermaLink="false"></guid><link/></item></channel></rss>')
@example(b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content src="x"/></entry></feed>')
@example(b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="http://[::1"/></entry></feed>')
@example(b'<rss version="2.0"><channel><item><pubDate>Wed, 99 Nov 99999 10:00:00 GMT</pubDate></item></channel></rss>')
def test_fast_parse_random_bytes_never_raise(data: bytes) -> None:
    _check_fast(data, "")


@FAST
@given(mutated_xml(), st.sampled_from(["", "application/rss+xml", "text/xml; charset=utf-8", "text/html",
                                       "application/xml; charset=iso-8859-1"]))
@example(b'<rss version="2.0"><channel><item><title>a&#xD800;</title></item></channel></rss>', "")  # found here
def test_fast_parse_mutated_samples_never_raise(data: bytes, content_type: str) -> None:
    _check_fast(data, content_type)
    with contextlib.suppress(ParseError):  # the full path (fast, else feedparser): only ParseError escapes
        parse_feed(data, "https://feed.example/rss", content_type, now=NOW)


@settings(FAST, max_examples=100)
@given(mutated_xml())
def test_fast_path_agrees_with_feedparser_on_what_it_accepts(data: bytes) -> None:
    """test_fastparse.py checks that both readers store the same stories on the samples; mutated samples
    must not make them disagree either (a story the fast path reads differently would change identity
    the day a feed flips between the two)."""
    if fast_parse(data, "https://feed.example/rss", "application/rss+xml") is None:
        return
    fast = parse_xml_feed(data, "https://feed.example/rss", "application/rss+xml", now=NOW)
    slow = parse_xml_feed(data, "https://feed.example/rss", "application/rss+xml", now=NOW, fast=False)
    # identity and what a reader sees first; authors and categories may differ on mangled namespaces
    # (feedparser matches a misspelt Dublin Core URI by its prefix, lxml does not), which is harmless
    for key in ("guid", "link", "title", "published_at"):
        assert [getattr(s, key) for s in fast.stories] == [getattr(s, key) for s in slow.stories], key


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | st.sampled_from([
    "", "javascript:alert(1)", "//cdn.example/x.png", "2026-13-45T99:99:99Z", "\ud800", "<script>x</script>",
    "https://jsonfeed.org/version/1", "https://jsonfeed.org/version/9", "1e999",
])
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                           max_size=3), max_leaves=8)


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_json_feed(draw: st.DrawFn) -> bytes:
    """The real sample JSON Feed with parts replaced, deleted or duplicated, then maybe byte-damaged."""
    doc = copy.deepcopy(JSON_SAMPLE)
    for _ in range(draw(st.integers(1, 5))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths[1:])) if len(paths) > 1 else ()
        if not path:
            break
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if op == "replace":
            parent[path[-1]] = draw(json_value)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    text = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from([b"", b"\x00", b"\xff", b"}", b'"', b"\\u"])) + text[pos + 1:]
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"  \n"])) + text


@settings(FAST, max_examples=200)
@given(mutated_json_feed(), st.sampled_from(["", "application/feed+json", "application/json", "text/plain"]))
@example(b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": 1e400}]}', "")
@example(b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"date_published": "9999-12-31T23:59:59+99:00"}]}',
         "")
def test_mutated_json_feed_only_raises_parse_error(data: bytes, content_type: str) -> None:
    try:
        feed = parse_feed(data, "https://climate.example/feed.json", content_type, now=NOW)
    except ParseError:
        return
    for s in feed.stories:
        assert s.guid and isinstance(s.title, str)
        for text in (s.guid, s.title, s.link, s.summary, s.content, s.author, *s.categories):
            text.encode("utf-8")
        assert s.published_at is None or math.isfinite(s.published_at)
        assert not s.link or s.link.split(":", 1)[0].lower() in ("http", "https", "mailto")


if __name__ == "__main__":  # pragma: no cover - handy for a quick look at one fault
    sys.exit(pytest.main([__file__, "-q", "-s"]))


# -- a full disk ---------------------------------------------------------------------------------------

def _fill_up_worker_stores(monkeypatch: pytest.MonkeyPatch, spare_pages: int) -> None:
    """The ingest thread's store connection may grow the file by spare_pages pages, no more: SQLite then
    fails the write with SQLITE_FULL ("database or disk is full"), as it does when the disk is full."""
    from digest.core import ingest

    real = ingest._worker_store

    def limited(db_path: str) -> Store:
        store = real(db_path)
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
        return store

    monkeypatch.setattr(ingest, "_worker_store", limited)


def test_a_full_disk_stops_the_refresh_with_one_line_and_keeps_what_was_stored(
    digest_home, feed_server: FeedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.cli import main

    feed_server.feed("/small.xml", simple_rss("small", 3))
    assert main(["feeds", "add", feed_server.url("/small.xml")]) == 0
    assert main(["refresh"]) == 0
    big = rss("big feed", [{"title": f"big story {i}", "link": f"https://big.example/{i}", "guid": f"big-{i}",
                            "description": "words " * 400} for i in range(300)])
    feed_server.feed("/big.xml", big)
    assert main(["feeds", "add", feed_server.url("/big.xml")]) == 0
    capsys.readouterr()
    _fill_up_worker_stores(monkeypatch, spare_pages=20)

    code = main(["refresh"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [f"digest: store error: {digest_home.db_file}: database or disk is full"]
    with Store(digest_home.db_file) as store:  # the small feed's stories are there; none of the big one's
        stories = store.stories(StoryQuery())
        assert sorted(s.title for s in stories) == [f"small story {i}" for i in range(3)]

    code = main(["run", "--dry-run"])  # cron's pipeline names the step, in one line, and exits non-zero
    out, err = capsys.readouterr()
    assert code == 1
    assert f"refresh: store error: {digest_home.db_file}: database or disk is full" in out + err
    assert "Traceback" not in out + err


# -- CPU: nesting that would make the HTML parser quadratic (issue 20 item 1) ---------------------------


def _nested_rss(depth: int) -> bytes:
    item = "<div>" * depth + "deep <b>text</b> survives" + "</div>" * depth
    return rss("Nested", [{"title": f"nested {depth}", "link": f"https://n.example/{depth}", "guid": f"n{depth}",
                           "date": "Wed, 25 Nov 2026 10:00:00 GMT", "description": item}])


def _nested_json(depth: int) -> bytes:
    item = "<div>" * depth + "deep <b>text</b> survives" + "</div>" * depth
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Nested JSON", "items": [
        {"id": f"j{depth}", "url": f"https://n.example/j{depth}", "title": f"json nested {depth}",
         "content_html": item, "date_published": "2026-11-25T10:00:00Z"}]}).encode()


def test_deeply_nested_html_is_flattened_not_parsed_for_minutes(store: Store, feed_server: FeedServer) -> None:
    """The probe's feeds: an item of 60k nested <div>s (660 KB) made `refresh` take 13.7 s and 400k
    (4.4 MB, under max_bytes) kept `feeds add` busy past 300 s. With nesting bounded before nh3 they are
    read as text beside the other feeds (the issue's figure for this refresh, under 5 s, is measured on
    an idle machine and printed here; tests assert no times)."""
    from digest.core.sanitize import MAX_DEPTH, max_depth
    from digest.core.themes import plain

    feed_server.feed("/n60k.xml", _nested_rss(60_000))
    feed_server.feed("/n400k.json", _nested_json(400_000), content_type="application/feed+json")
    for i in range(3):
        feed_server.feed(f"/ok{i}.xml", simple_rss(f"ok{i}", 2))
    urls = [feed_server.url(p) for p in ("/n60k.xml", "/n400k.json", "/ok0.xml", "/ok1.xml", "/ok2.xml")]
    for url in urls:
        store.add_feed(url)
    cfg = config()
    started = time.perf_counter()
    report = refresh(store, cfg)
    print(f"\nrefresh of the 60k and 400k nested feeds and 3 others: {time.perf_counter() - started:.2f} s")
    by_url = {r.url: r for r in report.results}
    assert all(by_url[u].status == "ok" for u in urls), [(r.url, r.error) for r in report.results]
    stories = {s.title: s for s in store.stories()}
    assert len(stories) == 2 + 6
    for title in ("nested 60000", "json nested 400000"):
        s = stories[title]
        assert "deep" in s.content and "survives" in s.content and max_depth(s.content) <= MAX_DEPTH
        assert "deep text survives" in s.summary
    # plain() at build time is bounded the same way, on what an older digest may have stored raw
    started = time.perf_counter()
    assert plain("<div>" * 400_000 + "x y" + "</div>" * 400_000) == "x y"
    print(f"plain() of 400k nested divs: {time.perf_counter() - started:.2f} s")


def test_a_runaway_parse_is_stopped_by_its_cpu_budget(store: Store, feed_server: FeedServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line of defence, for a slow path in a parser that no bound covers yet: stood in for
    here by switching the nesting bound off in the workers (forked after the switch, so they inherit it)
    and giving each feed 1 s of CPU. The worker parsing the 40k-deep item is ended by the kernel, twice;
    that feed gets the error, the others are stored."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from digest.core import ingest, sanitize
    from digest.core.refresh import WORKER_DIED, Refresher

    monkeypatch.setattr(ingest, "PARSE_CPU_BUDGET_S", 1)
    monkeypatch.setattr(sanitize, "bound_depth", lambda fragment, limit=0: fragment)

    def fork_pool(workers: int = 2) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=ingest.init_worker)

    monkeypatch.setattr(Refresher, "_new_pool", staticmethod(fork_pool))
    feed_server.feed("/runaway.xml", _nested_rss(40_000))
    for i in range(4):
        feed_server.feed(f"/ok{i}.xml", simple_rss(f"ok{i}", 2))
        store.add_feed(feed_server.url(f"/ok{i}.xml"))
    runaway = store.add_feed(feed_server.url("/runaway.xml"))
    report = Refresher(store, config()).run(store.list_feeds(counts=False), None, executor=fork_pool())
    assert (report.ok, report.failed) == (4, 1), [(r.url, r.error) for r in report.results]
    [dead] = report.errors
    assert dead.feed_id == runaway.id and dead.error == WORKER_DIED and "CPU" in WORKER_DIED
    assert {f.url: f.story_count for f in store.list_feeds()}[runaway.url] == 0
    assert len(store.stories()) == 8
