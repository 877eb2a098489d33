"""Feed dates for the fast parser, without importing feedparser in every parse.

Nearly every feed dates its items in one of two forms: RFC 822 in RSS ("Sun, 01 Nov 2026 12:48:00 +0000")
and W3C date-time in Atom ("2026-11-01T12:48:00Z"). Those are read here, to the same UTC time tuple that
feedparser's date reader gives, so the fast path and the feedparser path still agree on every date.
Anything else (two-digit years, "Nov 1st", a trailing "(UTC)", a day that does not exist) goes to
feedparser's reader, imported on first use.

Importing the feedparser package costs a parse worker ~50 ms, and the fork server that starts the
workers paid it before any worker could take a body (see pool.pool_context).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
# the zone names both of feedparser's readers know, with their offsets in hours
_ZONES = {"gmt": 0, "ut": 0, "utc": 0, "z": 0, "edt": -4, "est": -5, "cdt": -5, "cst": -6, "mdt": -6,
          "mst": -7, "pdt": -7, "pst": -8}

_RFC822 = re.compile(
    r"\s*(?:(?:mon|tue|wed|thu|fri|sat|sun),\s+)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s+(?:([a-z]{1,3})|([+-])(\d{2})(\d{2}))\s*",
    re.IGNORECASE | re.ASCII,
)
_W3DTF = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})t(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:(z)|([+-])(\d{2}):(\d{2}))\s*",
    re.IGNORECASE | re.ASCII,
)

_fallback: Callable[[str], Any] | None = None


def parse_date(value: str) -> time.struct_time | None:
    """A feed's date as a UTC time tuple, or None when no reader understands it."""
    m = _W3DTF.fullmatch(value)
    if m:
        year, month, day, hour, minute, second, z, sign, tzh, tzm = m.groups()
        hours, minutes = (0, 0) if z else (int(tzh), int(tzm))
    else:
        m = _RFC822.fullmatch(value)
        month_num = _MONTHS.get(m.group(2).lower()) if m else None
        zone = m.group(7) if m else None
        if m is None or month_num is None or (zone is not None and zone.lower() not in _ZONES):
            return _feedparser(value)
        day, _, year, hour, minute, second, _, sign, tzh, tzm = m.groups()
        month = str(month_num)
        hours, minutes = (_ZONES[zone.lower()], 0) if zone is not None else (int(tzh), int(tzm))
    if sign == "-":
        hours, minutes = -hours, -minutes
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        if hours or minutes:  # most feeds write UTC; timedelta(0, s) is timedelta(hours=, minutes=) made cheaper
            stamp -= timedelta(0, 3600 * hours + 60 * minutes)
        return stamp.utctimetuple()
    except (ValueError, OverflowError):  # 31 November, hour 24, a year past 9999 after the offset
        return _feedparser(value)


def _feedparser(value: str) -> time.struct_time | None:
    global _fallback
    if _fallback is None:
        from feedparser.datetimes import _parse_date

        _fallback = _parse_date
    parsed: time.struct_time | None = _fallback(value)  # feedparser is untyped
    return parsed
