"""The one wall clock the core reads.

Everything that stamps or compares a date (a story first seen, a feed's Retry-After, a digest's send time,
retention's cut-off) asks clock.now() instead of time.time(), so a test or a simulation can run a year of
days in minutes by setting the clock (set_clock) instead of sleeping. Durations (how long a step took, a
timeout) use time.monotonic() and are not this clock's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch, as time.time() gives them (or as the clock set by set_clock says)."""
    return _source()


def now_utc() -> datetime:
    return datetime.fromtimestamp(_source(), UTC)


def now_local() -> datetime:
    """An aware datetime in the machine's time zone (the date a reader sees in a digest's header)."""
    return datetime.fromtimestamp(_source()).astimezone()


def set_clock(source: Callable[[], float] | None) -> None:
    """Make now() call `source` (None: back to the real clock). A process forked afterwards (the refresh's
    parse workers) inherits the setting."""
    global _source
    _source = time.time if source is None else source
