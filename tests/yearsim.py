"""A year of cron in minutes: a generated world of feeds on 127.0.0.1 and one `digest run` a simulated day.

Shared by tests/test_year.py (the assertions) and tests/bench/bench_year.py (the curves). Nothing sleeps:
the core reads its wall clock through digest.core.clock, which the simulation sets to 07:00 UTC of each
simulated day before that day's run (in this process, so the run is `digest run`'s own code path, run_once).

The world (seeded, so every run sees the same year): each feed posts at its own rate and carries its newest
WINDOW items; some feeds die (404 or 500 for ever), some move (301 to a new address, which digest
remembers), some answer 410 Gone, one kind reuses its guids in a cycle, another republishes an item that
left its window weeks ago. Every feed has an ETag, so a feed with nothing new answers 304.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from feedserver import FeedServer, Request, Response

from digest.core import clock

DAY = 86_400.0
START = datetime(2025, 1, 1, 7, 0, tzinfo=UTC).timestamp()  # day 0's run, 07:00 UTC
WINDOW = 6  # items a feed carries
SECTIONS = ("Top Stories", "Startups", "Cloud", "Policy")


@dataclass
class SimFeed:
    i: int
    rate: float  # chance of a new item each day
    fate: str = ""  # "" | dies404 | dies500 | moves | gone | reuse | republish
    fate_day: int = 10**9
    posts: list[tuple[int, float]] = field(default_factory=list)  # (item number, posted at)

    @property
    def path(self) -> str:
        return f"/f/{self.i}.xml"

    @property
    def moved_path(self) -> str:
        return f"/moved/{self.i}.xml"

    def guid(self, n: int) -> str:
        if self.fate == "reuse":
            return f"post-{n % 12}"  # a CMS that recycles a dozen ids
        return f"https://site{self.i}.sim.example/p/{n}"


class World:
    """The feeds and what each answers on the current simulated day (World.day, set by the driver)."""

    def __init__(self, n_feeds: int = 300, seed: int = 16) -> None:
        rng = random.Random(seed)
        fates = ["dies404", "dies500", "moves", "gone", "reuse", "republish"]
        self.feeds: list[SimFeed] = []
        for i in range(n_feeds):
            f = SimFeed(i, rate=rng.choice((0.1, 0.2, 0.3, 0.5)))
            if i % 25 < len(fates):
                f.fate = fates[i % 25]
                f.fate_day = 0 if f.fate in ("reuse", "republish") else rng.randrange(30, 330)
            if f.fate == "republish":
                f.rate = 0.5  # 40-59 posts back is then 80-118 days: old enough to be pruned once read
            self.feeds.append(f)
        self.day = -1
        self._rng = random.Random(seed + 1)

    def advance(self, day: int) -> None:
        """Move to `day`: each feed may post one new item at a time of the night before the run."""
        self.day = day
        for f in self.feeds:
            if self._rng.random() < f.rate:
                f.posts.append((len(f.posts), START + (day - 1) * DAY + self._rng.uniform(0, DAY - 600)))

    def carried(self, f: SimFeed) -> list[tuple[int, float]]:
        items = f.posts[-WINDOW:]
        if f.fate == "republish" and self.day % 15 < 3 and len(f.posts) > 60:
            # for three days in every fifteen the feed lists again an item that left its window months ago
            # (within keep_unread_days of when it last carried it: digest remembers pruned guids that long)
            old = f.posts[len(f.posts) - 40 - (self.day // 15) % 20]
            items = [old, *items]
        return items

    def body(self, f: SimFeed) -> bytes:
        out = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>',
               f"<title>Sim feed {f.i}</title><link>https://site{f.i}.sim.example/</link>"]
        for n, at in reversed(self.carried(f)):
            # a reused guid carries a new story: new title and link, the old id
            link = f"https://site{f.i}.sim.example/p/{n}"
            out.append(
                f"<item><title>Feed {f.i} story {n} about {SECTIONS[(f.i + n) % 4].lower()}</title>"
                f"<link>{link}</link><guid>{f.guid(n)}</guid>"
                f"<pubDate>{format_datetime(datetime.fromtimestamp(at, UTC), usegmt=True)}</pubDate>"
                f"<description>&lt;p&gt;Story {n} of feed {f.i}: what happened on day "
                f"{int((at - START) // DAY) + 1}, told in a sentence or two.&lt;/p&gt;</description></item>")
        out.append("</channel></rss>")
        return "".join(out).encode()

    def handler(self, f: SimFeed, moved: bool) -> Callable[[Request], Response]:
        def answer(req: Request) -> Response:
            after = self.day >= f.fate_day
            if after and f.fate == "dies404":
                return Response(404, {"Content-Type": "text/plain"}, b"not found")
            if after and f.fate == "dies500":
                return Response(500, {"Content-Type": "text/plain"}, b"internal error")
            if after and f.fate == "gone":
                return Response(410, {"Content-Type": "text/plain"}, b"gone")
            if f.fate == "moves" and not moved and after:
                return Response(301, {"Location": f.moved_path, "Content-Length": "0"}, b"")
            body = self.body(f)
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if req.header("If-None-Match") == etag:
                return Response(304, {"ETag": etag, "Content-Length": "0"}, b"")
            return Response(200, {"Content-Type": "application/rss+xml", "ETag": etag}, body)
        return answer

    def serve(self, srv: FeedServer) -> None:
        for f in self.feeds:
            srv.route(f.path, self.handler(f, moved=False))
            if f.fate == "moves":
                srv.route(f.moved_path, self.handler(f, moved=True))

        def to_day(req: Request) -> Response:
            day = int(req.path.rsplit("=", 1)[1])
            while self.day < day:
                self.advance(self.day + 1)
            return Response(200, {"Content-Type": "text/plain"}, b"ok")

        srv.route("/_day", to_day)

    def opml(self, base: str) -> str:
        return ('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
            f'<outline type="rss" text="Sim feed {f.i}" category="{SECTIONS[f.i % 4]}" '
            f'xmlUrl="{base}{f.path}"/>' for f in self.feeds) + "</body></opml>")


class _Mailbox:
    """aiosmtpd handler: every message accepted is written to folder/NNNNNN.eml."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.n += 1
        rcpt = ",".join(envelope.rcpt_tos)
        (self.folder / f"{self.n:06d}.eml").write_bytes(f"X-Rcpt: {rcpt}\r\n".encode() + envelope.content)
        return "250 2.0.0 queued"


def _serve_world(n_feeds: int, seed: int, mail_dir: str, ports: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller
    from helpers_smtp import free_port

    world = World(n_feeds, seed)
    with FeedServer() as srv:
        world.serve(srv)
        ctl = Controller(_Mailbox(Path(mail_dir)), hostname="127.0.0.1", port=free_port())
        ctl.start()
        ports.put((srv.port, ctl.port))
        stop.wait()
        ctl.stop()


class WorldProcess:
    """`with WorldProcess(folder) as w:` the world's feeds (HTTP) and an SMTP server that files every
    message, both on 127.0.0.1 in a child process: the test process keeps a single thread, as cron's
    `digest run` has (it then forks its parse workers directly), and the servers do not share its GIL."""

    def __init__(self, folder: Path, n_feeds: int = 300, seed: int = 16) -> None:
        self.mail_dir = folder / "mail"
        self.n_feeds, self.seed = n_feeds, seed
        self.world = World(n_feeds, seed)  # the same world, for what the test wants to know about it

    def __enter__(self) -> WorldProcess:
        import multiprocessing

        self.mail_dir.mkdir(parents=True, exist_ok=True)
        ctx = multiprocessing.get_context("fork")
        ports, self._stop = ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(target=_serve_world, daemon=True,
                                 args=(self.n_feeds, self.seed, str(self.mail_dir), ports, self._stop))
        self._proc.start()
        http_port, self.smtp_port = ports.get(timeout=60)
        ports.close()
        ports.join_thread()  # the queue's feeder thread ends: this process is single-threaded again
        self.base = f"http://127.0.0.1:{http_port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()

    def advance(self, day: int) -> None:
        import urllib.request

        with urllib.request.urlopen(f"{self.base}/_day?d={day}", timeout=60) as r:
            r.read()

    def messages(self) -> list[tuple[str, bytes]]:
        """(recipient, message) of every message the SMTP server accepted, in order."""
        out = []
        for p in sorted(self.mail_dir.glob("*.eml")):
            head, _, body = p.read_bytes().partition(b"\r\n")
            out.append((head.decode().split(": ", 1)[1], body))
        return out


def config_toml(smtp_port: int) -> str:
    """The simulated user's config: two recipients on the SMTP server, one section per kind of feed and five
    stories a day. Issued stories are kept for ever, so the issue's size sets how fast a store that has
    levelled off still grows (five a day: ~4 KB a day at this world's ~900 bytes a story)."""
    from helpers_smtp import config_toml as smtp_config
    from helpers_smtp import recipients

    sections = "".join(f'\n[[sections]]\nname = "{name}"\nmax_auto = {2 if i == 0 else 1}\n'
                       for i, name in enumerate(SECTIONS))
    # 300 sites that all live on 127.0.0.1: the per-host politeness limit would queue them one by one
    return smtp_config(smtp_port, recipients(2)) + "\n[refresh]\nper_host = 16\n" + sections


@dataclass
class DayRecord:
    day: int
    code: int
    line: str
    run_s: float
    stories: int
    db_bytes: int
    wal_bytes: int


def store_bytes(db: Path) -> tuple[int, int]:
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


def story_keys(db_path: Path) -> set[tuple[int, str]]:
    """(feed id, guid) of every stored story, read with a plain connection (no digest code in the way)."""
    db = sqlite3.connect(db_path)
    try:
        return set(db.execute("SELECT feed_id, guid FROM stories"))
    finally:
        db.close()


def set_day(day: int) -> float:
    """Set digest's clock to day `day`'s 07:00 UTC run (ticking from there in real seconds)."""
    at = START + day * DAY
    t0 = time.time()
    clock.set_clock(lambda: at + (time.time() - t0))
    return at


@dataclass
class Year:
    """What a simulated year left behind, for the test to check and the benchmark to plot."""

    days: list[DayRecord] = field(default_factory=list)
    pruned: set[tuple[int, str]] = field(default_factory=set)  # (feed id, guid) once stored, later gone
    returned: set[tuple[int, str]] = field(default_factory=set)  # pruned, then stored again: must stay empty
    flagged: set[int] = field(default_factory=set)  # story ids the person flagged
    issued: set[int] = field(default_factory=set)  # story ids in a sent digest
    checks: list[tuple[int, int, str]] = field(default_factory=list)  # (day, exit code, output) of store check


def person(store: object, day: int, year: Year) -> None:
    """What a reader does before the morning run: reads two thirds of yesterday's stories, and every tenth
    day flags two old ones (one read long ago, one never read) for the next issue."""
    from digest.core.store import Store

    assert isinstance(store, Store)
    now = clock.now()
    fresh = [r[0] for r in store.db.execute("SELECT id FROM stories WHERE fetched_at > ? AND id % 3 != 0",
                                            (now - DAY,))]
    store.set_read(fresh)
    if day % 10 == 5:
        # never one an issue carried already: a story flagged by hand goes out again, as the person asked
        fresh_old = "fetched_at < ? AND id NOT IN (SELECT story_id FROM digest_items)"
        picks = [r[0] for r in store.db.execute(
            f"SELECT id FROM (SELECT id FROM stories WHERE read = 1 AND {fresh_old} ORDER BY fetched_at LIMIT 1) "
            f"UNION ALL SELECT id FROM (SELECT id FROM stories WHERE read = 0 AND {fresh_old} "
            "ORDER BY fetched_at LIMIT 1)", (now - 60 * DAY, now - 60 * DAY))]
        for sid in picks:
            store.flag(sid, "Top Stories")
            year.flagged.add(sid)


def run_year(home: Path, world: WorldProcess, days: int, *,
             every_day: Callable[[int, Year], None] | None = None) -> Year:
    """One run_once a simulated day for `days` days, in this process, on the store under `home`
    (DIGEST_HOME must point there and config.toml be written). The feeds are added on day 0."""
    from digest.core.feeds import import_opml
    from digest.core.paths import get_paths
    from digest.core.run import run_once
    from digest.core.store import Store

    paths = get_paths().ensure()
    year = Year()
    opml = home / "sim.opml"
    opml.write_text(world.world.opml(world.base))
    set_day(0)
    with Store(paths.db_file) as store:
        import_opml(store, opml)
    before: set[tuple[int, str]] = set()
    try:
        for day in range(days):
            world.advance(day)
            set_day(day)
            with Store(paths.db_file) as store:
                person(store, day, year)
            t0 = time.monotonic()
            code, line = run_once(paths, quiet=True)
            run_s = time.monotonic() - t0
            keys = story_keys(paths.db_file)
            year.returned |= keys & year.pruned
            year.pruned |= before - keys
            before = keys
            with Store(paths.db_file) as store:
                year.issued |= {r[0] for r in store.db.execute(
                    "SELECT story_id FROM digest_items di JOIN digests d ON d.id = di.digest_id "
                    "WHERE d.status = 'sent'")}
            db_bytes, wal_bytes = store_bytes(paths.db_file)
            year.days.append(DayRecord(day, code, line, run_s, len(keys), db_bytes, wal_bytes))
            if every_day is not None:
                every_day(day, year)
    finally:
        clock.set_clock(None)
    return year
