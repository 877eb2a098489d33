"""The part of a refresh that runs in parse workers: parse a fetched body and store its stories.

Worker processes import this module to run ingest_jobs, so it imports only the parser and the store
(not pycurl, which the fetching side needs): each worker starts faster and holds less memory.
The fetching process imports it too, for FeedResult; the parser is loaded where a body is parsed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from digest.core.models import Feed, FetchResult, ParsedStory
from digest.core.record import record
from digest.core.store import Store
from digest.core.textclean import clean_feed


@record
class FeedResult:
    """One feed's outcome in a refresh: what the CLI reports and the TUI's refresh runner streams. It is
    made here because a worker returns it (pickled) with the stories it stored."""

    feed_id: int
    url: str
    title: str
    status: str  # ok | not_modified | error | skipped | gone
    new: int = 0
    stories: int = 0
    error: str = ""
    http_status: int | None = None
    seconds: float = 0.0
    warning: str = ""

    @property
    def name(self) -> str:
        return self.title or self.url

    def to_json(self) -> dict[str, Any]:
        return {
            "feed_id": self.feed_id, "url": self.url, "title": self.title, "status": self.status,
            "new": self.new, "stories": self.stories, "error": self.error, "http_status": self.http_status,
            "seconds": round(self.seconds, 3), "warning": self.warning,
        }


# CPU seconds one feed may take to parse and store in a worker process. Parsing is bounded in bytes
# (max_bytes) and in nesting (sanitize.bound_depth), so a 10 MB feed takes a few seconds; a feed that
# still runs away (a quadratic path in a parser library we have not met yet) is stopped by the kernel:
# past this budget the worker gets SIGXCPU and dies, refresh replaces it, and the feed that killed it
# twice gets WORKER_DIED as its error while the other feeds are stored (refresh.Refresher.run). Thread
# workers (refreshes of a few feeds) cannot be stopped this way; the byte and depth bounds hold there.
PARSE_CPU_BUDGET_S = 30

_worker_stores: dict[str, Store] = {}
_worker_lock = threading.Lock()
# True in parse worker processes (init_worker): they take a WriterLock in turn to write, see ingest_jobs.
_lock_writes = False
_writer_locks: dict[str, AbstractContextManager[Any]] = {}


class WriterLock:
    """An exclusive flock(2) on a file beside the store, which parse workers hold around each feed's
    transaction.

    The workers of a refresh write to the same store. Left to SQLite, a worker that finds the write lock
    taken sleeps in steps of 1 to 25 ms before it tries again, long after the other has committed (a
    100-feed refresh measured 25-75 ms of such waits per worker, single waits up to 21 ms). A worker
    blocked on flock wakes the moment the other lets go. The kernel also lets go for a worker that dies
    (kill -9, the OOM killer), and the file is an ordinary empty file: nothing is left behind the way a
    named semaphore is left in /dev/shm when a whole process group is killed.

    Other processes (the TUI, the CLI's own writes) still meet the workers on SQLite's busy timeout."""

    def __init__(self, db_path: str) -> None:
        import fcntl  # POSIX only, as the fork-server pool that uses this lock is

        self._fcntl = fcntl
        self._fd = os.open(f"{db_path}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with contextlib.suppress(OSError):  # owner-only like the store beside it (older ones were 0644)
            os.fchmod(self._fd, 0o600)

    def __enter__(self) -> None:
        self._fcntl.flock(self._fd, self._fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self._fcntl.flock(self._fd, self._fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def _writer_lock(db_path: str) -> AbstractContextManager[Any]:
    if not _lock_writes:
        return nullcontext()  # one ingest thread in the refreshing process: nobody to queue behind
    lock = _writer_locks.get(db_path)
    if lock is None:
        lock = _writer_locks[db_path] = WriterLock(db_path)
    return lock


def _worker_store(db_path: str) -> Store:
    """One connection per worker thread or process (sqlite connections are not shared across threads)."""
    key = f"{os.getpid()}:{threading.get_ident()}:{db_path}"
    with _worker_lock:
        store = _worker_stores.get(key)
        if store is None:
            store = _worker_stores[key] = Store(db_path)
            if _lock_writes:
                store.disable_autocheckpoint()  # see checkpoint.Checkpointer
    return store


def ingest_jobs(db_path: str, jobs: list[tuple[Feed, FetchResult]], now: float) -> list[tuple[FeedResult, str | None]]:
    """Parse fetched bodies and store their stories and the feeds' new status, in a worker.

    Parsing and the SQLite writes (FTS indexing is most of their cost) both happen here, so on a
    multi-core machine they run beside the loop that keeps fetching. Returns each feed's result and,
    when its body was not a feed, the error for the caller to record.

    The feeds of one call are stored in one transaction: each feed's stories go in with the validators
    that stand for them (a refresh killed between the two could otherwise keep a new ETag without its
    stories), and several feeds share the commit. Every commit rewrites the index pages it touched
    into the WAL: one feed a commit wrote 36 MB of WAL for the 3,000 benchmark stories, five 21 MB,
    and took ~10 us less per story."""
    from digest.core.parse import parse_job  # here, not at the top: a refresh where every feed answers 304
    # never parses, and its process need not load the parser (nh3, html.entities, ...)

    out: list[tuple[FeedResult, str | None]] = []
    to_store: list[tuple[Feed, FetchResult, FeedResult, list[ParsedStory], dict[str, Any]]] = []
    for feed, fetched in jobs:
        res = FeedResult(feed.id, feed.url, feed.title, "error", http_status=fetched.http_status)
        with _cpu_budget(PARSE_CPU_BUDGET_S if _lock_writes else None):
            parsed = parse_job(fetched.body, fetched.final_url or feed.url, fetched.content_type, now)
        if isinstance(parsed, str):
            out.append((res, parsed))
            continue
        clean_feed(parsed)  # no terminal or bidi controls from a feed are ever stored
        updates: dict[str, Any] = {
            "etag": fetched.etag, "last_modified": fetched.last_modified, "last_status": "ok", "last_error": "",
            "consecutive_failures": 0, "last_success_at": now, "last_fetch_at": now, "retry_after": None,
            "disabled": False,  # a feed once gone (410) that answers again is back
        }
        if not feed.title and parsed.title:
            updates["title"] = parsed.title
        if not feed.site_url and parsed.site_url:
            updates["site_url"] = parsed.site_url
        res.stories = len(parsed.stories)
        res.status = "ok"
        res.warning = parsed.warning
        res.title = updates.get("title", res.title)
        out.append((res, None))
        to_store.append((feed, fetched, res, parsed.stories, updates))
    if not to_store:
        return out
    store = _worker_store(db_path)
    # the write lock, which the other workers queue for, is taken once for all of them
    with _writer_lock(db_path), store.tx():
        for feed, fetched, res, stories, updates in to_store:
            res.new = store.save_stories(feed.id, stories, now=now)
            apply_feed_updates(store, feed, updates, fetched.new_url)
    return out


@contextmanager
def _cpu_budget(seconds: float | None) -> Iterator[None]:
    """In a worker process: the kernel ends the process if this block uses more than `seconds` of CPU
    (RLIMIT_CPU counts the process's CPU time, so the limit is set from what it has used so far)."""
    if not seconds:
        yield
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def apply_feed_updates(store: Store, feed: Feed, updates: dict[str, Any], new_url: str | None) -> None:
    if new_url and new_url != feed.url and store.feed_by_url(new_url) is None:
        updates["url"] = new_url  # permanent redirect: remember where the feed lives now
    store.update_feed(feed.id, **updates)


def init_worker() -> None:
    """Process-pool initializer: end with the parent, and write under a WriterLock."""
    global _lock_writes
    _lock_writes = True
    exit_with_parent()
    import resource
    import signal

    # a worker ended by its CPU budget (SIGXCPU, whose default action is to end the process) leaves no
    # core file behind
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))


def exit_with_parent() -> None:
    """End this parse worker when the process that made the pool exits. When a refresh is killed (kill -9,
    timeout(1)'s SIGTERM, the OOM killer) nothing tells its workers (orphans, or children of the fork
    server), and they wait for work for ever, holding their memory, and keeping a fork server and its
    resource tracker alive too (each worker holds their pipes).
    multiprocessing hands every worker a sentinel that becomes ready when the process that started it
    exits: a thread waits on it and ends the worker."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)  # mid-transaction or not: SQLite rolls back what was not committed

    threading.Thread(target=watch, name="digest-exit-with-parent", daemon=True).start()


def close_worker_stores() -> None:
    """Thread workers' connections (process workers' die with their processes)."""
    with _worker_lock:
        for key in [k for k in _worker_stores if k.startswith(f"{os.getpid()}:")]:
            _worker_stores.pop(key).close()


# What a parse worker needs: a fork server imports these before it forks any worker (refresh's
# _process_pool), so does the refreshing process before it forks a pool it warms up (pool.warm_up), and
# a worker forked at the first body imports them in warm_up_worker. lxml
# comes with the fast parser. feedparser is left out: the fast parser reads common dates itself (feeddates), and a
# feed that needs feedparser imports it in the worker that gets it.
WORKER_MODULES = ["digest.core.ingest", "digest.core.parse", "digest.core.fastparse"]


def warm_up_worker() -> None:
    """A first job for each new worker: loading the parser's modules is the work."""
    import importlib

    for name in WORKER_MODULES:
        importlib.import_module(name)
