"""Refresh: fetch every feed concurrently (libcurl, on the calling thread), parse and store in workers,
report each feed as it finishes.

One bad feed never stops the others: every failure becomes that feed's status and error. Each feed's
stories and status are written in short transactions, so a refresh killed half-way leaves the store
consistent (the feeds done so far are stored; the rest keep their old state).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from digest.core.config import Config
from digest.core.ingest import (
    PARSE_CPU_BUDGET_S,
    WORKER_MODULES,
    FeedResult,
    WriterLock,
    apply_feed_updates,
    close_worker_stores,
    ingest_jobs,
    init_worker,
    warm_up_worker,
)
from digest.core.models import Feed, FetchResult
from digest.core.store import Store

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# pycurl (with digest.core.fetch, which needs it) is imported once the parse workers are on their way
# (Refresher.run): a forked worker then does not carry it, and its import overlaps the workers' start.

# Below this many feeds one ingest thread is as fast as a process pool (cold refreshes of the 75 KB
# benchmark feeds, 2 idle cores, 8 interleaved rounds, median wall):
# - a pool forked from this process (the CLI, cron, the TUI's refresh process): 8 feeds 0.161 s pool /
#   0.162 s thread, 12 feeds 0.182 / 0.189, 16 feeds 0.188 / 0.202, 24 feeds 0.222 / 0.260, 48 feeds
#   0.333 / 0.391;
# - a pool from a fork server (a process with other threads), which takes ~0.2 s more to start: 20 feeds
#   0.60 s pool / 0.57 s thread, 50 feeds 0.81 / 0.87, 100 feeds 1.17 / 1.57 (measured in an earlier
#   version).
POOL_THRESHOLD = 12
POOL_THRESHOLD_FORKSERVER = 24
# The most feeds one parse job takes (Refresher.run's dispatch).
BATCH_FEEDS = 4
# Fetched bodies waiting for a parse worker, at most (per worker) and in bytes: fetching pauses there, so
# memory stays flat however many feeds there are (libcurl fetches far faster than the workers parse).
READY_PER_WORKER = 8
READY_BYTES = 32_000_000
WORKER_DIED = (f"the parse worker died while storing this feed, twice (out of memory, or past the "
               f"{PARSE_CPU_BUDGET_S} s of CPU a feed may take?)")
# New stories the parse workers store between two checkpoints of the WAL, and the WAL's length (4 KB
# pages) at which it is made to start over (see Checkpointer).
CHECKPOINT_STORIES = 500
WAL_RESTART_FRAMES = 2000


@dataclass(slots=True)
class RefreshReport:
    results: list[FeedResult] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, *statuses: str) -> int:
        return sum(1 for r in self.results if r.status in statuses)

    @property
    def ok(self) -> int:
        return self._count("ok")

    @property
    def not_modified(self) -> int:
        return self._count("not_modified")

    @property
    def failed(self) -> int:
        return self._count("error", "gone")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def new(self) -> int:
        return sum(r.new for r in self.results)

    @property
    def errors(self) -> list[FeedResult]:
        return [r for r in self.results if r.status in ("error", "gone")]

    def summary_line(self) -> str:
        parts = [f"{len(self.results)} feeds", f"{self.ok} ok", f"{self.not_modified} not modified",
                 f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return f"refreshed {', '.join(parts)}; {self.new} new stories in {self.seconds:.1f}s"

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": len(self.results), "ok": self.ok, "not_modified": self.not_modified, "failed": self.failed,
            "skipped": self.skipped, "new_stories": self.new, "seconds": round(self.seconds, 3),
            "results": [r.to_json() for r in self.results],
        }


Progress = Callable[[FeedResult, int, int], None]


class Refresher:
    def __init__(self, store: Store, config: Config, *, now: float | None = None) -> None:
        self.store = store
        self.cfg = config.refresh
        self.now = time.time() if now is None else now

    def run(self, feeds: list[Feed], on_progress: Progress | None, *, force: bool = False,
            executor: Executor | None = None) -> RefreshReport:
        """Refresh feeds: fetch on this thread (libcurl), parse and store in executor (made here when not
        given: see parse_executor), report each feed as it finishes."""
        from digest.core.fetch import Fetcher, fetch_local, is_local

        start = time.perf_counter()
        report = RefreshReport()
        parsing: Executor = executor or parse_executor(feeds)
        workers = _workers(parsing)
        started: dict[int, float] = {}
        Batch = list[tuple[Feed, FetchResult]]
        ready: deque[tuple[Feed, FetchResult]] = deque()  # bodies waiting for a parse worker
        Job = Future[list[tuple[FeedResult, str | None]]]
        parsed: SimpleQueue[tuple[Batch, Job, Executor]] = SimpleQueue()
        in_workers = 0
        # A parse worker that dies (the OOM killer, a crash in a parser library) takes its pool with it,
        # and every job under way fails. Their feeds are parsed again in a new pool, one at a time with
        # nothing beside them, so a second death names its feed: that one gets the error, and the refresh
        # goes on.
        retry: deque[tuple[Feed, FetchResult]] = deque()
        retried: set[int] = set()
        retrying = False  # a retried feed's job is under way
        broken: list[Executor] = []
        checkpointer: Checkpointer | None = None  # made at the first results from worker processes

        def finish(feed: Feed, res: FeedResult) -> None:
            res.seconds = time.perf_counter() - started.get(feed.id, start)
            report.results.append(res)
            if on_progress:
                on_progress(res, len(report.results), len(feeds))

        ready_bytes = 0

        def fetched(feed: Feed, result: FetchResult) -> None:
            nonlocal ready_bytes
            if result.status == "ok":
                ready.append((feed, result))
                ready_bytes += len(result.body)
                return
            res = FeedResult(feed.id, feed.url, feed.title, "error", http_status=result.http_status)
            self._store_other(feed, result, res)
            finish(feed, res)

        def replace_broken(pool: Executor) -> None:
            nonlocal parsing
            if pool is parsing:
                broken.append(parsing)
                parsing = self._new_pool(workers)

        def dispatch() -> None:
            """Hand bodies to the workers: one job each and one queued behind them. While bodies pile up
            (fetching outruns parsing), a job takes several, stored in one commit (see ingest_jobs);
            what is left at the end is split evenly, so no worker is left with a long last job."""
            nonlocal in_workers, ready_bytes, retrying
            while (retry or ready) and in_workers <= workers and not retrying:
                if retry:
                    if in_workers:
                        break  # the failed jobs are still coming back
                    batch = [retry.popleft()]
                    retrying = True
                else:
                    size = max(1, min(BATCH_FEEDS, len(ready) // workers))
                    batch = [ready.popleft() for _ in range(size)]
                    ready_bytes -= sum(len(result.body) for _, result in batch)
                try:
                    job = parsing.submit(ingest_jobs, str(self.store.path), batch, self.now)
                except BrokenExecutor:  # the pool saw its worker die before the failed jobs came back
                    replace_broken(parsing)
                    job = parsing.submit(ingest_jobs, str(self.store.path), batch, self.now)
                in_workers += 1

                def stored(job: Job, batch: Batch = batch, by: Executor = parsing) -> None:
                    parsed.put((batch, job, by))  # on an executor's thread
                    fetcher.wake()

                job.add_done_callback(stored)
            fetcher.paused = len(ready) >= READY_PER_WORKER * workers or ready_bytes >= READY_BYTES

        try:
            with Fetcher(concurrency=self.cfg.concurrency, per_host=self.cfg.per_host,
                         timeout_s=self.cfg.timeout_s, max_bytes=self.cfg.max_bytes, now=self.now,
                         user_agent=self.cfg.user_agent) as fetcher:
                by_id = {feed.id: feed for feed in feeds}
                for feed in feeds:
                    started[feed.id] = time.perf_counter()
                    skipped = self._skip(feed, force)
                    if skipped:
                        finish(feed, skipped)
                    elif is_local(feed.url):
                        fetched(feed, fetch_local(feed.url, max_bytes=self.cfg.max_bytes,
                                                  last_modified=feed.last_modified))
                    else:
                        fetcher.add(feed.id, feed.url, etag=feed.etag, last_modified=feed.last_modified)
                dispatch()
                while fetcher.busy or in_workers:
                    for feed_id, result in fetcher.poll(None):
                        fetched(by_id[feed_id], result)
                    while not parsed.empty():
                        batch, job, by = parsed.get()
                        in_workers -= 1
                        retrying = False
                        try:
                            # a StoreError (a full disk...) ends the refresh here
                            results = job.result()
                        except BrokenExecutor:
                            replace_broken(by)
                            for feed, result in batch:
                                if feed.id not in retried:
                                    retried.add(feed.id)
                                    retry.append((feed, result))
                                    continue
                                failed = FetchResult("error", error=WORKER_DIED, http_status=result.http_status)
                                res = FeedResult(feed.id, feed.url, feed.title, "error",
                                                 http_status=result.http_status)
                                self._store_other(feed, failed, res)
                                finish(feed, res)
                            continue
                        if _is_pool(parsing):
                            # after the pool is made: a fork pool is only made while this is the one thread
                            checkpointer = checkpointer or Checkpointer(str(self.store.path))
                            # the last jobs: copy now, beside them, what the close would copy after them
                            checkpointer.committed(sum(res.new for res, _ in results),
                                                   last=not (ready or fetcher.busy))
                        for (feed, result), (res, error) in zip(batch, results, strict=True):
                            if error:  # the body was not a feed
                                failed = FetchResult("error", error=error, http_status=result.http_status)
                                res = FeedResult(feed.id, feed.url, feed.title, "error",
                                                 http_status=result.http_status)
                                self._store_other(feed, failed, res)
                            finish(feed, res)
                    dispatch()
        finally:
            for used in (*broken, parsing):
                used.shutdown(wait=True, cancel_futures=True)
            close_worker_stores()
            if checkpointer:
                checkpointer.close()
        report.seconds = time.perf_counter() - start
        return report

    @staticmethod
    def _new_pool(workers: int) -> Executor:
        """A pool in place of one a dead worker broke (other threads run by then: a fork-server pool)."""
        return _process_pool(workers)

    def _skip(self, feed: Feed, force: bool) -> FeedResult | None:
        if feed.disabled and not force:
            return FeedResult(feed.id, feed.url, feed.title, "skipped",
                              error="disabled (the server said the feed is gone)")
        if feed.retry_after and feed.retry_after > self.now:
            until = time.strftime('%H:%M UTC', time.gmtime(feed.retry_after))
            return FeedResult(feed.id, feed.url, feed.title, "skipped", error=f"server asked to wait until {until}")
        return None

    def _store_other(self, feed: Feed, fetched: FetchResult, res: FeedResult) -> None:
        """304, errors, 410 and 429: only the feed's status row changes; its stories stay as they were."""
        if fetched.status == "not_modified":
            res.status = "not_modified"
            updates: dict[str, Any] = {
                "last_status": "not_modified", "last_error": "", "consecutive_failures": 0,
                "last_success_at": self.now, "last_fetch_at": self.now, "retry_after": None, "disabled": False,
            }
            # a server may send a fresh validator with its 304; keep whatever it last gave us
            if fetched.etag:
                updates["etag"] = fetched.etag
            if fetched.last_modified:
                updates["last_modified"] = fetched.last_modified
            self._apply(feed, updates, fetched.new_url)
            return
        res.status = "gone" if fetched.status == "gone" else "error"
        res.error = fetched.error
        self._apply(feed, {
            "last_status": res.status, "last_error": fetched.error, "last_fetch_at": self.now,
            "consecutive_failures": feed.consecutive_failures + 1, "retry_after": fetched.retry_after,
            "disabled": fetched.status == "gone" or feed.disabled,
        }, fetched.new_url if fetched.status == "gone" else None)

    def _apply(self, feed: Feed, updates: dict[str, Any], new_url: str | None) -> None:
        apply_feed_updates(self.store, feed, updates, new_url)


class Checkpointer:
    """Copies the WAL back into the database while parse workers write, on a thread of the refreshing
    process.

    SQLite's own checkpoint runs inside the COMMIT that crosses 1,000 pages: inside a parse worker, under
    the WriterLock the other workers wait on. What is left at the end is copied when the last connection
    closes, after the refresh. So the workers turn theirs off (ingest._worker_store), and this thread
    runs a PASSIVE checkpoint (it takes no write lock: it copies what is committed while the workers go
    on appending) every CHECKPOINT_STORIES new stories, and once more beside the last jobs, so the close
    has little left to copy. Measured on 100 feeds: the close took 22-25 ms after the workers' own
    checkpoints, 5-9 ms after this thread's."""

    def __init__(self, db_path: str) -> None:
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._writer_lock = WriterLock(db_path)
        self._pending = 0  # new stories not yet checkpointed
        self._due = False
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="digest-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, stories: int, *, last: bool = False) -> None:
        """The workers committed this many new stories; `last`: nothing more will be handed to them, so
        copy what there is now rather than at the close."""
        with self._wake:
            self._pending += stories
            if self._pending >= CHECKPOINT_STORIES or (last and self._pending):
                self._due = True
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due and not self._closed:
                    self._wake.wait()
                if not self._due:
                    return
                self._due = False
                self._pending = 0
            # only an early copy: should it fail, the next checkpoint or the close copies the same pages
            with contextlib.suppress(sqlite3.Error):
                self._checkpoint()

    def _checkpoint(self) -> None:
        _, frames, _ = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= WAL_RESTART_FRAMES:
            # Workers commit while a checkpoint copies, so one rarely ends with every frame copied, and the
            # WAL only starts over (from its first frame) when one does: it grew to 150 MB over 500 feeds.
            # Under the workers' writer lock nothing is committed meanwhile, and what the copy above left
            # is soon copied: the next commit then starts the WAL over.
            with self._writer_lock:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        """Ends the thread once a checkpoint already asked for is done."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        self._db.close()
        self._writer_lock.close()


def _is_pool(executor: Executor) -> bool:
    return isinstance(executor, LazyPool) or type(executor).__name__ == "ProcessPoolExecutor"


def parse_executor(feeds: list[Feed]) -> Executor:
    """Where a refresh of these feeds parses and stores: a process pool when there are many feeds and
    cores (started now, in the background, when bodies are sure to come; else made at the first body),
    one thread otherwise."""
    cpus = os.cpu_count() or 1
    threshold = pool_threshold()
    if len(feeds) >= threshold and cpus > 1 and _real_stdio():
        workers = min(cpus, 8)
        if sum(1 for f in feeds if not f.etag and not f.last_modified) >= threshold:
            pool = _process_pool(workers)
            _warm_up(pool, workers)
            return pool
        return LazyPool(workers)
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-ingest")


def pool_threshold() -> int:
    """The fewest feeds a refresh parses in a process pool (see POOL_THRESHOLD)."""
    return POOL_THRESHOLD if _single_threaded() else POOL_THRESHOLD_FORKSERVER


def _process_pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing  # here, with the process pool: an all-304 refresh needs neither (~8 ms)
    from concurrent.futures import ProcessPoolExecutor

    if _single_threaded():
        # The CLI, cron and the TUI's refresh process: only this thread exists, so forking is safe, and
        # the workers start at once (no fork server or resource tracker to boot first: two interpreters,
        # ~0.1 s before the first parse). They import the parser themselves, beside this process's work.
        ctx: Any = multiprocessing.get_context("fork")
    else:
        # Other threads run (a host application, the test suite's servers): a forked child could inherit
        # a lock one of them holds. The fork server imports the parser once, and every worker is forked
        # from it ready to parse, sharing those pages.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_MODULES)
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker)


def _workers(executor: Executor) -> int:
    """How many jobs the executor runs at once: a pool's processes, or its one thread."""
    return int(getattr(executor, "_max_workers", None) or getattr(executor, "_workers", None) or 1)


def _start_method(pool: ProcessPoolExecutor) -> str:
    ctx: Any = getattr(pool, "_mp_context", None)
    return str(ctx.get_start_method()) if ctx is not None else ""


def _single_threaded() -> bool:
    return threading.active_count() == 1


class LazyPool(Executor):
    """A process pool made at the first job: a refresh where every feed answers 304 parses nothing, and so
    never pays for starting workers (nor, in a process with other threads, the fork server and
    multiprocessing's resource tracker: two more Pythons)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = _process_pool(self._workers)
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _warm_up(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start the parse workers now, when bodies are sure to come (feeds never fetched, with no validators
    to answer 304 to), each importing the parser as its first job. Started by the first parse job
    instead, their start-up sat between the first body and the first parse.

    A fork pool forks its workers at the first submit, here and now, while this is still the only
    thread. A fork-server pool is started from a thread: its submit blocks until the fork server is up."""
    if _start_method(pool) == "fork":
        for _ in range(workers):
            pool.submit(warm_up_worker)
        return

    def start() -> None:
        try:
            for _ in range(workers):
                pool.submit(warm_up_worker)
        except RuntimeError:  # the refresh already ended (every feed failed fast) and shut the pool down
            pass

    threading.Thread(target=start, name="digest-pool-start", daemon=True).start()


def _real_stdio() -> bool:
    """Worker processes inherit stdio file descriptors; under an app that replaced sys.stderr (Textual
    does) fileno() is -1 and starting the pool fails ("bad value(s) in fds_to_keep"): use threads then."""
    try:
        return all(stream is not None and stream.fileno() >= 0 for stream in (sys.stdout, sys.stderr))
    except (AttributeError, ValueError, OSError):
        return False


def select_feeds(store: Store, feed_ids: Iterable[int] | None) -> list[Feed]:
    feeds = store.list_feeds(counts=False)
    if feed_ids is None:
        return feeds
    wanted = set(feed_ids)
    return [f for f in feeds if f.id in wanted]


def refresh(
    store: Store, config: Config, feed_ids: Iterable[int] | None = None, on_progress: Progress | None = None,
    *, now: float | None = None,
) -> RefreshReport:
    """The entry point (CLI, cron, the TUI's refresh process). The parse workers are started before the
    fetching side is imported (see the note at the top)."""
    feeds = select_feeds(store, feed_ids)
    executor = parse_executor(feeds)
    try:
        refresher = Refresher(store, config, now=now)
        return refresher.run(feeds, on_progress, force=feed_ids is not None, executor=executor)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # run() shuts it down; this covers a run never begun
