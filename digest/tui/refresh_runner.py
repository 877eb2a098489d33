"""`python -m digest.tui.refresh_runner`: the TUI's refresh, in a process of its own.

Why a process and not a thread: refresh() does pure-Python work for every feed (its bookkeeping, and the
parsing itself when too few feeds call for a process pool). In a thread of the TUI process it held the GIL
often enough that the UI's event loop waited up to ~600 ms for it during a 500-feed refresh (measured with
an earlier fetcher on asyncio; tests/bench/bench_tui.py). In its own process it competes only for a
CPU, and the UI keeps painting.

Protocol: stdin gets one JSON object {"db", "config" (config_as_dict), "feed_ids"}; stdout gets one JSON line
per finished feed ({"type": "feed", ...FeedResult fields, "done", "total"}) and a last line
{"type": "done", "report": RefreshReport.to_json(), "summary": ...}. Imports no Textual.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from digest.core.exitcode import ExitCode

# The refresh (this process and its parse workers, which inherit it) yields the CPU to the app: on two
# cores a refresh keeps three processes busy, and at equal priority the UI thread waited up to ~110 ms
# for a time slice (tests/bench/bench_tui.py, event-loop gaps).
NICENESS = 10


def main() -> int:
    with contextlib.suppress(OSError, AttributeError):  # not on every platform; a refresh still works
        os.nice(NICENESS)
    from digest.core.config import parse_config
    from digest.core.refresh import refresh
    from digest.core.store import Store, StoreDamagedError, StoreError

    payload = json.loads(sys.stdin.read())
    config = parse_config(payload["config"])

    def progress(result: Any, done: int, total: int) -> None:
        line = {"type": "feed", "feed_id": result.feed_id, "title": result.title, "url": result.url,
                "status": result.status, "new": result.new, "error": result.error, "done": done, "total": total}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    try:
        with Store(payload["db"]) as store:
            report = refresh(store, config, payload.get("feed_ids"), on_progress=progress)
    except StoreDamagedError as e:  # says what it is and what to do, in one line
        print(e, file=sys.stderr)  # the app shows this last line of stderr
        return ExitCode.FAILURE
    except StoreError as e:  # a store it cannot open or write (a full disk): the feeds done so far are stored
        print(f"store error: {e}", file=sys.stderr)
        return ExitCode.FAILURE
    sys.stdout.write(json.dumps({"type": "done", "summary": report.summary_line(), "report": report.to_json()})
                     + "\n")
    sys.stdout.flush()
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
