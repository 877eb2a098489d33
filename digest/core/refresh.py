"""Refresh: fetch every feed concurrently, parse off the event loop, store each feed as it finishes.

One bad feed never stops the others: every failure becomes that feed's status and error. Each feed's
stories and status are written in short transactions, so a refresh killed half-way leaves the store
consistent (the feeds done so far are stored; the rest keep their old state).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from digest.core.config import Config
from digest.core.ingest import (
    WORKER_MODULES,
    FeedResult,
    apply_feed_updates,
    close_worker_stores,
    ingest_job,
    init_worker,
    warm_up_worker,
)
from digest.core.models import Feed, FetchResult
from digest.core.store import Store

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import httpx

    from digest.core.fetch import HostLimiter

# asyncio and httpx (with digest.core.fetch, which needs it) are imported once the parse workers are on
# their way (refresh, Refresher.run): their ~80 ms of imports then overlap the fork server's start
# instead of delaying it, and the workers are ready when the first bodies arrive.

# Process pools pay ~0.2 s to start workers that import the parser; below this many feeds one ingest
# thread is as fast. Measured on 2 idle cores (75 KB feeds): 20 feeds 0.60 s pool / 0.57 s thread,
# 50 feeds 0.81 / 0.87, 100 feeds 1.17 / 1.57, 500 feeds 4.45 / 6.86.
POOL_THRESHOLD = 24


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

    async def run(self, feeds: list[Feed], on_progress: Progress | None, *, force: bool = False,
                  executor: Executor | None = None) -> RefreshReport:
        """Refresh feeds; parse in executor (made here when not given: see parse_executor)."""
        import asyncio

        from digest.core.fetch import HostLimiter, make_client

        start = time.perf_counter()
        report = RefreshReport()
        executor = executor or parse_executor(feeds)

        sem = asyncio.Semaphore(self.cfg.concurrency)
        hosts = HostLimiter(self.cfg.per_host)
        try:
            async with make_client(concurrency=self.cfg.concurrency, timeout_s=self.cfg.timeout_s,
                                   user_agent=self.cfg.user_agent) as client:
                async def one(feed: Feed) -> FeedResult:
                    async with sem:
                        return await self._refresh_feed(client, hosts, executor, feed, force=force)

                tasks = [asyncio.ensure_future(one(f)) for f in feeds]
                try:
                    for done, fut in enumerate(asyncio.as_completed(tasks), 1):
                        result = await fut
                        report.results.append(result)
                        if on_progress:
                            on_progress(result, done, len(feeds))
                except BaseException:
                    # the store failed (a full disk...) or the refresh was cancelled: the other feeds stop
                    # here, and their own failures are not printed as "never retrieved" on the way out
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            close_worker_stores()
        report.seconds = time.perf_counter() - start
        return report

    async def _refresh_feed(
        self, client: httpx.AsyncClient, hosts: HostLimiter, executor: Executor, feed: Feed, *, force: bool
    ) -> FeedResult:
        import asyncio

        import httpx

        t0 = time.perf_counter()
        res = FeedResult(feed.id, feed.url, feed.title, "error")
        if feed.disabled and not force:
            res.status, res.error = "skipped", "disabled (the server said the feed is gone)"
            return res
        if feed.retry_after and feed.retry_after > self.now:
            res.status = "skipped"
            res.error = f"server asked to wait until {time.strftime('%H:%M UTC', time.gmtime(feed.retry_after))}"
            return res
        try:
            fetched = await self._fetch(client, hosts, feed)
        except TimeoutError:
            fetched = FetchResult("error", error=f"timed out after {self.cfg.timeout_s:g}s")
        except httpx.HTTPError as e:
            fetched = FetchResult("error", error=http_error_text(e))
        except (httpx.InvalidURL, ValueError) as e:
            fetched = FetchResult("error", error=f"invalid URL: {e}")
        except OSError as e:
            fetched = FetchResult("error", error=f"network error: {e.strerror or e}")
        res.http_status = fetched.http_status
        if fetched.status == "ok":
            loop = asyncio.get_running_loop()
            res, error = await loop.run_in_executor(executor, ingest_job, str(self.store.path), feed, fetched, self.now)
            if error:
                fetched = FetchResult("error", error=error, http_status=fetched.http_status)
        if fetched.status != "ok":
            self._store_other(feed, fetched, res)
        res.seconds = time.perf_counter() - t0
        return res

    async def _fetch(self, client: httpx.AsyncClient, hosts: HostLimiter, feed: Feed) -> FetchResult:
        import asyncio

        from digest.core.fetch import fetch_http, fetch_local, is_local

        if is_local(feed.url):
            return await asyncio.wait_for(asyncio.to_thread(
                fetch_local, feed.url, max_bytes=self.cfg.max_bytes, last_modified=feed.last_modified
            ), timeout=self.cfg.timeout_s)
        # the time limit runs inside fetch_http, from the moment the per-host limit lets the request go
        return await fetch_http(
            client, feed.url, etag=feed.etag, last_modified=feed.last_modified,
            max_bytes=self.cfg.max_bytes, host_limit=hosts, now=self.now, timeout_s=self.cfg.timeout_s,
        )

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


def parse_executor(feeds: list[Feed]) -> Executor:
    """Where a refresh of these feeds parses and stores: a process pool when there are many feeds and
    cores (started now, in the background, when bodies are sure to come; else made at the first body),
    one thread otherwise."""
    cpus = os.cpu_count() or 1
    if len(feeds) >= POOL_THRESHOLD and cpus > 1 and _real_stdio():
        workers = min(cpus, 8)
        if sum(1 for f in feeds if not f.etag and not f.last_modified) >= POOL_THRESHOLD:
            pool = _process_pool(workers)
            _warm_up(pool, workers)
            return pool
        return LazyPool(workers)
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-ingest")


def _process_pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing  # here, with the process pool: an all-304 refresh needs neither (~8 ms)
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: never fork a process that may be running Textual's threads. The fork server imports
    # the parser once and every worker is forked from it ready to parse: the imports (lxml, nh3,
    # feedparser's date reader, the store; ~70 ms) are paid once instead of once per worker, and the
    # workers share those pages.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_MODULES)
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker)


class LazyPool(Executor):
    """A process pool made at the first job. Making one starts multiprocessing's resource tracker (another
    Python, 14 MB) even before any worker; a refresh where every feed answers 304 parses nothing and so
    never pays for it."""

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
    """Start the parse workers now, from a thread, when bodies are sure to come (feeds never fetched, with
    no validators to answer 304 to). Started by the first parse job instead, the fork server's and the
    workers' start-up (~0.2 s: two interpreters, the parser's imports) sat between the first body and
    the first parse, and the submit blocked the event loop while the fork server came up."""

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


def http_error_text(e: httpx.HTTPError) -> str:
    import httpx

    if isinstance(e, httpx.TimeoutException):
        return f"timed out ({type(e).__name__})"
    if isinstance(e, httpx.ConnectError):
        return f"cannot connect: {e}" if str(e) else "cannot connect"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"connection broken: {e}" if str(e) else "connection closed by the server"
    if isinstance(e, httpx.UnsupportedProtocol):
        return f"unsupported URL: {e}"
    if isinstance(e, httpx.InvalidURL):
        return f"invalid URL: {e}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


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
    """Synchronous entry point (CLI, cron, TUI thread workers): runs its own event loop.

    The parse workers are started before asyncio is imported (see the note at the top)."""
    feeds = select_feeds(store, feed_ids)
    executor = parse_executor(feeds)
    try:
        import asyncio

        refresher = Refresher(store, config, now=now)
        return asyncio.run(refresher.run(feeds, on_progress, force=feed_ids is not None, executor=executor))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # run() shuts it down; this covers a run never begun
