"""Ages and dates for the screens. The clock is injected (DigestApp.now) so snapshots are deterministic."""

from __future__ import annotations

from datetime import UTC, datetime


def age(ts: float | None, now: float) -> str:
    """At most 4 cells: "now", "45m", "3h", "6d", "9w", "2y"."""
    if ts is None:
        return ""
    d = max(0.0, now - ts)
    if d < 60:
        return "now"
    for unit, secs in (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if d >= secs:
            return f"{int(d // secs)}{unit}"
    return "now"


def date(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%a %d %b %Y %H:%M UTC")


def short_date(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
