"""Where a refresh parses and stores: a process pool of parse workers, or one thread.

Kept apart from refresh.py so the choice (how many feeds make a pool worth its start-up, fork or fork
server, started now or at the first body) is read and tested on its own. Importing this module loads
neither multiprocessing nor concurrent.futures: an all-304 refresh needs no pool (~8 ms saved), and
concurrent.futures alone loads logging (~4 ms).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from digest.core.ingest import WORKER_MODULES, init_worker, warm_up_worker
from digest.core.models import Feed

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.context import BaseContext

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


class Executor(Protocol):
    """What a refresh needs of where it parses: concurrent.futures' executors, and LazyPool (which is not
    one of them, so that a refresh where nothing is parsed never imports concurrent.futures)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]: ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...


def parse_executor(feeds: list[Feed]) -> Executor:
    """Where a refresh of these feeds parses and stores: a process pool when there are many feeds and
    cores (started now, in the background, when bodies are sure to come; else made at the first body),
    one thread otherwise."""
    cpus = os.cpu_count() or 1
    threshold = pool_threshold()
    if len(feeds) >= threshold and cpus > 1 and _real_stdio():
        workers = min(cpus, 8)
        if sum(1 for f in feeds if not f.etag and not f.last_modified) >= threshold:
            ctx = pool_context()
            pool = process_pool(workers, ctx)
            warm_up(pool, workers, ctx.get_start_method())
            return pool
        return LazyPool(workers)
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-ingest")


def pool_threshold() -> int:
    """The fewest feeds a refresh parses in a process pool (see POOL_THRESHOLD)."""
    return POOL_THRESHOLD if _single_threaded() else POOL_THRESHOLD_FORKSERVER


def pool_context() -> BaseContext:
    """How parse workers start: forked from this process while it has one thread, else from a fork server."""
    import multiprocessing  # here, with the process pool: an all-304 refresh needs neither (~8 ms)

    if _single_threaded():
        # The CLI, cron and the TUI's refresh process: only this thread exists, so forking is safe, and
        # the workers start at once (no fork server or resource tracker to boot first: two interpreters,
        # ~0.1 s before the first parse). When bodies are sure to come, this process imports the parser
        # before it forks them (warm_up); else each worker imports it at its first job.
        return multiprocessing.get_context("fork")
    # Other threads run (a host application, the test suite's servers): a forked child could inherit
    # a lock one of them holds. The fork server imports the parser once, and every worker is forked
    # from it ready to parse, sharing those pages.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_MODULES)
    return ctx


def process_pool(workers: int, ctx: BaseContext | None = None) -> ProcessPoolExecutor:
    """A pool of parse workers started with ctx (pool_context() when not given)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx or pool_context(), initializer=init_worker)


def is_pool(executor: Executor) -> bool:
    """Whether jobs run in worker processes (by name: importing the class would load multiprocessing)."""
    return isinstance(executor, LazyPool) or type(executor).__name__ == "ProcessPoolExecutor"


def workers_of(executor: Executor) -> int:
    """How many jobs the executor runs at once: a pool's processes, or its one thread. The standard
    executors do not publish their size (only `_max_workers`); ours carry a public `workers`."""
    return int(getattr(executor, "workers", None) or getattr(executor, "_max_workers", None) or 1)


def _single_threaded() -> bool:
    return threading.active_count() == 1


class LazyPool:
    """A process pool made at the first job: a refresh where every feed answers 304 parses nothing, and so
    never pays for starting workers (nor, in a process with other threads, the fork server and
    multiprocessing's resource tracker: two more Pythons)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._pool is None:
                self._pool = process_pool(self.workers)
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def warm_up(pool: ProcessPoolExecutor, workers: int, start_method: str) -> None:
    """Start the parse workers now, when bodies are sure to come (feeds never fetched, with no validators
    to answer 304 to), each importing the parser as its first job. Started by the first parse job
    instead, their start-up sat between the first body and the first parse.

    A fork pool (start_method "fork") forks its workers at the first submit, here and now, while this is
    still the only thread. This process imports the parser first, once, rather than every worker after
    the fork, and the objects it has by then are frozen out of the collector's reach for the fork: a
    worker's collections would otherwise walk them, writing to every page they sit on, and so copy the
    pages it shares with this process. Interleaved cold refreshes of 100 feeds: ~20 us less CPU per story
    for the whole tree (the workers' imports, ~15 ms each), ~4 MB less PSS. A fork-server pool is started
    from a thread: its submit blocks until the fork server is up."""
    if start_method == "fork":
        import gc
        import importlib

        for name in WORKER_MODULES:
            importlib.import_module(name)
        gc.freeze()
        try:
            for _ in range(workers):
                pool.submit(warm_up_worker)
        finally:
            gc.unfreeze()  # the workers are forked: this process collects its garbage as before
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
