"""Refresh: fetch every feed concurrently (libcurl, on the calling thread), parse and store in workers,
report each feed as it finishes.

One bad feed never stops the others: every failure becomes that feed's status and error. Each feed's
stories and status are written in short transactions, so a refresh killed half-way leaves the store
consistent (the feeds reported so far are stored; the rest keep their old state). The status rows of
feeds with no stories to store (304s, errors) are written by the refreshing process a batch at a time
(_Run.flush), and reported once committed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import field
from functools import partial
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, TypeAlias

from digest.core import clock
from digest.core.checkpoint import Checkpointer
from digest.core.config import Config
from digest.core.ingest import PARSE_CPU_BUDGET_S, FeedResult, apply_feed_updates, close_worker_stores, ingest_jobs
from digest.core.models import Feed, FetchResult
from digest.core.pool import Executor, is_pool, parse_executor, process_pool, workers_of
from digest.core.record import record
from digest.core.store import Store
from digest.core.wording import count

if TYPE_CHECKING:
    from concurrent.futures import Future

    from digest.core.fetch import Fetcher

# pycurl (with digest.core.fetch, which needs it) is imported once the parse workers are on their way
# (Refresher.run): a forked worker then does not carry it, and its import overlaps the workers' start.
# The pool itself (digest.core.pool) and the WAL's checkpointer (digest.core.checkpoint) have their own
# modules; this one runs a refresh over them.

# The most feeds one parse job takes (_Run.dispatch), stored in one commit. Every commit writes the index
# and FTS pages it touched to the WAL again, and the checkpointer copies them once more: at 4 feeds a job
# the WAL took ~6 KB a story, at 16 ~3.5 KB. Cold refreshes of generated feeds, interleaved runs, fastest
# of each (this machine's neighbours make the medians drift): 500 feeds 226-233 us of CPU a story (whole
# tree) at 4 feeds a job, 213 at 8, 207 at 16; peak RSS of the tree at 100 feeds 92, 97 and 105 MB (the
# bodies waiting, and each worker's parsed job). 8 is the middle: most of the CPU saved, under half the memory.
BATCH_FEEDS = 8
# Fetched bodies waiting for a parse worker, at most (per worker) and in bytes: fetching pauses there, so
# memory stays flat however many feeds there are (libcurl fetches far faster than the workers parse). Two
# full jobs a worker, so a job of BATCH_FEEDS is ready when a worker asks.
READY_PER_WORKER = 2 * BATCH_FEEDS
READY_BYTES = 32_000_000
# Status rows of feeds with nothing to parse (a 304, an error) wait for one transaction together, at
# most this many and this long: a commit each cost ~50 us of CPU, half of an all-304 refresh's work per
# feed. A refresh killed meanwhile loses only statuses not yet reported: those feeds keep their old state.
FLUSH_FEEDS = 64
FLUSH_S = 0.2
WORKER_DIED = (f"the parse worker died while storing this feed, twice (out of memory, or past the "
               f"{PARSE_CPU_BUDGET_S} s of CPU a feed may take?)")


@record
class RefreshReport:
    """What a refresh did: one result a feed, and the totals."""

    results: list[FeedResult] = field(default_factory=list)
    seconds: float = 0.0
    # the articles of new stories of full_text feeds (digest.core.articles): fetched, and failed of those
    articles: int = 0
    articles_failed: int = 0
    pruned: int = 0  # old stories retention removed after the refresh
    hidden: int = 0  # stories reader rules hid after the refresh (digest.core.rules.after_refresh)

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
        n = len(self.results)
        parts = [count(n, "feed"), f"{self.ok} ok", f"{self.not_modified} not modified",
                 f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        line = (f"refreshed {', '.join(parts)}; {count(self.new, 'new story', 'new stories')} "
                f"in {self.seconds:.1f}s")
        if self.articles:
            line += f"; {self.articles} full articles fetched" + (
                f" ({self.articles_failed} failed)" if self.articles_failed else "")
        if self.hidden:
            line += f"; {self.hidden} hidden by rules"
        return line + (f"; {self.pruned} old stories pruned" if self.pruned else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": len(self.results), "ok": self.ok, "not_modified": self.not_modified, "failed": self.failed,
            "skipped": self.skipped, "new_stories": self.new, "pruned": self.pruned, "hidden": self.hidden,
            "seconds": round(self.seconds, 3), "articles": self.articles, "articles_failed": self.articles_failed,
            "results": [r.to_json() for r in self.results],
        }


Progress = Callable[[FeedResult, int, int], None]
Batch = list[tuple[Feed, FetchResult]]
Job: TypeAlias = "Future[list[tuple[FeedResult, str | None]]]"


class Refresher:
    def __init__(self, store: Store, config: Config, *, now: float | None = None) -> None:
        self.store = store
        self.cfg = config.refresh
        self.now = clock.now() if now is None else now

    def run(self, feeds: list[Feed], on_progress: Progress | None, *, force: bool = False,
            executor: Executor | None = None) -> RefreshReport:
        """Refresh feeds: fetch on this thread (libcurl), parse and store in executor (made here when not
        given: see parse_executor), report each feed as it finishes."""
        from digest.core.fetch import Fetcher

        run = _Run(self, feeds, on_progress, executor)
        try:
            with Fetcher(concurrency=self.cfg.concurrency, per_host=self.cfg.per_host,
                         timeout_s=self.cfg.timeout_s, max_bytes=self.cfg.max_bytes, now=self.now,
                         user_agent=self.cfg.user_agent) as fetcher:
                run.go(fetcher, force)
        finally:
            run.close()
        run.report.seconds = time.perf_counter() - run.start
        return run.report

    @staticmethod
    def _new_pool(workers: int) -> Executor:
        """A pool in place of one a dead worker broke (other threads run by then: a fork-server pool)."""
        return process_pool(workers)

    def _skip(self, feed: Feed, force: bool) -> FeedResult | None:
        if feed.disabled and not force:
            return FeedResult(feed.id, feed.url, feed.title, "skipped",
                              error="disabled (the server said the feed is gone)")
        if feed.retry_after and feed.retry_after > self.now:
            until = time.strftime('%H:%M UTC', time.gmtime(feed.retry_after))
            return FeedResult(feed.id, feed.url, feed.title, "skipped", error=f"server asked to wait until {until}")
        return None

    def _store_other(self, feed: Feed, fetched: FetchResult, res: FeedResult) -> None:
        """Errors, 410 and 429, and a 304 after a redirect: only the feed's status row changes; its stories
        stay as they were. In the caller's transaction (_Run.flush writes many at once; the 304s at the
        address the feed has are written there, with Store.mark_not_modified)."""
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



class _Run:
    """One refresh under way. The fetcher hands bodies over (fetched); they wait in `ready` until dispatch
    gives them to a parse worker; a finished job is put on `parsed` by the executor's thread, which wakes
    the fetcher's poll, and collect() reports its feeds. All of it but _job_done runs on the refreshing
    thread, so the counters need no lock.

    A parse worker that dies (the OOM killer, a crash in a parser library) takes its pool with it, and
    every job under way fails. Their feeds are parsed again in a new pool, one at a time with nothing
    beside them, so a second death names its feed: that one gets the error, and the refresh goes on."""

    def __init__(self, refresher: Refresher, feeds: list[Feed], on_progress: Progress | None,
                 executor: Executor | None) -> None:
        self.refresher = refresher
        self.feeds = feeds
        self.on_progress = on_progress
        self.start = time.perf_counter()
        self.report = RefreshReport()
        self.parsing: Executor = executor or parse_executor(feeds)
        self.workers = workers_of(self.parsing)
        self.started: dict[int, float] = {}
        self.ready: deque[tuple[Feed, FetchResult]] = deque()  # bodies waiting for a parse worker
        self.ready_bytes = 0
        self.parsed: SimpleQueue[tuple[Batch, Executor, Job]] = SimpleQueue()
        self.in_workers = 0  # jobs handed out and not yet collected
        self.retry: deque[tuple[Feed, FetchResult]] = deque()  # feeds whose pool broke under them
        self.retried: set[int] = set()
        self.retrying = False  # a retried feed's job is under way
        self.broken: list[Executor] = []
        self.checkpointer: Checkpointer | None = None  # made at the first results from worker processes
        self.fetcher: Fetcher | None = None
        # feeds whose status (a 304, an error) waits for flush(), and when the first of them came
        self.unwritten: list[tuple[Feed, FetchResult, FeedResult]] = []
        self.unwritten_since = 0.0

    def go(self, fetcher: Fetcher, force: bool) -> None:
        """Start every feed's fetch (or skip it), then hand bodies over and collect results until every
        feed is done."""
        from digest.core.localfeeds import fetch_local, is_local

        self.fetcher = fetcher
        cfg = self.refresher.cfg
        by_id = {feed.id: feed for feed in self.feeds}
        for feed in self.feeds:
            self.started[feed.id] = time.perf_counter()
            skipped = self.refresher._skip(feed, force)
            if skipped:
                self.finish(feed, skipped)
            elif is_local(feed.url):
                self.fetched(feed, fetch_local(feed.url, max_bytes=cfg.max_bytes, last_modified=feed.last_modified))
            else:
                fetcher.add(feed.id, feed.url, etag=feed.etag, last_modified=feed.last_modified)
        self.dispatch()
        while fetcher.busy or self.in_workers:
            for feed_id, result in fetcher.poll(self.flush_due()):
                self.fetched(by_id[feed_id], result)
            while not self.parsed.empty():
                self.collect(*self.parsed.get())
            self.dispatch()
            if self.flush_due() == 0:
                self.flush()
        self.flush()

    def finish(self, feed: Feed, res: FeedResult, *, timed: bool = False) -> None:
        """Report a feed (timed: its seconds were taken already)."""
        if not timed:
            res.seconds = time.perf_counter() - self.started.get(feed.id, self.start)
        self.report.results.append(res)
        if self.on_progress:
            self.on_progress(res, len(self.report.results), len(self.feeds))

    def fetched(self, feed: Feed, result: FetchResult) -> None:
        if result.status == "ok":
            self.ready.append((feed, result))
            self.ready_bytes += len(result.body)
            return
        self.other(feed, result, FeedResult(feed.id, feed.url, feed.title, "error", http_status=result.http_status))

    def other(self, feed: Feed, result: FetchResult, res: FeedResult) -> None:
        """A feed with no stories to store: its status row waits for flush(), and so does its report."""
        now = time.perf_counter()
        res.seconds = now - self.started.get(feed.id, self.start)  # the feed's own time, not the wait
        if not self.unwritten:
            self.unwritten_since = now
        self.unwritten.append((feed, result, res))

    def flush_due(self) -> float | None:
        """Seconds until the waiting status rows are due to be written (0: now; None: none wait)."""
        if not self.unwritten:
            return None
        if len(self.unwritten) >= FLUSH_FEEDS:
            return 0
        return max(0.0, self.unwritten_since + FLUSH_S - time.perf_counter())

    def flush(self) -> None:
        """Write the waiting status rows in one transaction, then report their feeds."""
        if not self.unwritten:
            return
        done, self.unwritten = self.unwritten, []
        refresher = self.refresher
        plain = []  # 304s at the address the feed has: most of an all-304 refresh, in one statement
        with refresher.store.tx():
            for feed, result, res in done:
                if result.status == "not_modified" and not result.new_url:
                    res.status = "not_modified"
                    # a server may send a fresh validator with its 304; keep whatever it last gave us
                    plain.append((feed.id, result.etag or None, result.last_modified or None))
                else:
                    refresher._store_other(feed, result, res)
            if plain:
                refresher.store.mark_not_modified(plain, refresher.now)
        for feed, _, res in done:
            self.finish(feed, res, timed=True)

    def dispatch(self) -> None:
        """Hand bodies to the workers: one job each and one queued behind them. While bodies pile up
        (fetching outruns parsing), a job takes several, stored in one commit (see ingest_jobs); what is
        left at the end is split evenly, so no worker is left with a long last job."""
        assert self.fetcher is not None
        while (self.retry or self.ready) and self.in_workers <= self.workers and not self.retrying:
            if self.retry:
                if self.in_workers:
                    break  # the failed jobs are still coming back
                batch = [self.retry.popleft()]
                self.retrying = True
            else:
                size = max(1, min(BATCH_FEEDS, len(self.ready) // self.workers))
                batch = [self.ready.popleft() for _ in range(size)]
                self.ready_bytes -= sum(len(result.body) for _, result in batch)
            db, now = str(self.refresher.store.path), self.refresher.now
            from concurrent.futures import BrokenExecutor  # here: a refresh with nothing to parse never loads it

            try:
                job = self.parsing.submit(ingest_jobs, db, batch, now)
            except BrokenExecutor:  # the pool saw its worker die before the failed jobs came back
                self.replace_broken(self.parsing)
                job = self.parsing.submit(ingest_jobs, db, batch, now)
            self.in_workers += 1
            job.add_done_callback(partial(self._job_done, batch, self.parsing))
        self.fetcher.paused = (len(self.ready) >= READY_PER_WORKER * self.workers
                               or self.ready_bytes >= READY_BYTES)

    def _job_done(self, batch: Batch, by: Executor, job: Job) -> None:
        """On an executor's thread: queue the job for collect() and wake the refreshing thread."""
        self.parsed.put((batch, by, job))
        assert self.fetcher is not None
        self.fetcher.wake()

    def collect(self, batch: Batch, by: Executor, job: Job) -> None:
        """A job came back: report its feeds, or queue them for a retry when its pool broke."""
        from concurrent.futures import BrokenExecutor

        assert self.fetcher is not None
        self.in_workers -= 1
        self.retrying = False
        try:
            results = job.result()  # a StoreError (a full disk...) ends the refresh here
        except BrokenExecutor:
            self.replace_broken(by)
            for feed, result in batch:
                if feed.id not in self.retried:
                    self.retried.add(feed.id)
                    self.retry.append((feed, result))
                else:
                    self._failed(feed, result, WORKER_DIED)
            return
        if is_pool(self.parsing):
            # after the pool is made: a fork pool is only made while this is the one thread
            self.checkpointer = self.checkpointer or Checkpointer(str(self.refresher.store.path))
            # the last jobs: copy now, beside them, what the close would copy after them
            self.checkpointer.committed(sum(res.new for res, _ in results),
                                        last=not (self.ready or self.fetcher.busy))
        for (feed, result), (res, error) in zip(batch, results, strict=True):
            if error:  # not a feed
                self._failed(feed, result, error)
            else:
                self.finish(feed, res)

    def _failed(self, feed: Feed, result: FetchResult, error: str) -> None:
        """A fetched feed's failure in parsing: its status and error, stored and reported with the others."""
        failed = FetchResult("error", error=error, http_status=result.http_status)
        self.other(feed, failed, FeedResult(feed.id, feed.url, feed.title, "error", http_status=result.http_status))

    def replace_broken(self, pool: Executor) -> None:
        """A new pool in place of a broken one (unless it was already replaced)."""
        if pool is self.parsing:
            self.broken.append(self.parsing)
            self.parsing = self.refresher._new_pool(self.workers)

    def close(self) -> None:
        """Stop every pool used, close the workers' stores (a thread's) and the checkpointer."""
        for used in (*self.broken, self.parsing):
            used.shutdown(wait=True, cancel_futures=True)
        close_worker_stores()
        if self.checkpointer:
            self.checkpointer.close()


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
        report = refresher.run(feeds, on_progress, force=feed_ids is not None, executor=executor)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # run() shuts it down; this covers a run never begun
    full_text = [f.id for f in feeds if f.full_text]
    if full_text and report.new:
        from digest.core.articles import fetch_new_articles

        start = time.perf_counter()
        got = fetch_new_articles(store, config, full_text, since=refresher.now)
        report.articles, report.articles_failed = len(got), sum(1 for a in got if not a.ok)
        report.seconds += time.perf_counter() - start
    # Reader rules, before the prune, which spares what a keep rule matches. digest.core.rules (the rules'
    # parser and matcher, ~8 ms to import with hashlib) loads only when there are rules, or were at the
    # last refresh (their hash is stored: what they hid is shown again).
    if config.rules or store.applied_rules_hash():
        from digest.core.rules import after_refresh

        report.hidden = after_refresh(store, config.rules, since=refresher.now, new=report.new)
    report.pruned = prune_after_refresh(store, config, now=now)
    return report


def prune_after_refresh(store: Store, config: Config, *, now: float | None = None) -> int:
    """Retention at the end of every refresh (the CLI's, cron's `digest run`, the TUI's refresh process),
    in short batches (store/retention.py) that a TUI writing a flag meanwhile waits on for milliseconds.
    A prune that cannot write (a full disk, a lock held too long) leaves the stories for the next one."""
    from digest.core.store import StoreError
    from digest.core.store.retention import Retention

    try:
        return store.prune(Retention.of(config.store), now=now).stories
    except StoreError as e:
        import logging  # here: ~3 ms of every refresh's start, for a prune that failed

        logging.getLogger("digest").warning("retention: %s", e)
        return 0
