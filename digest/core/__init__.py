"""The headless core. It never imports textual or rich (tests/test_boundaries.py checks this)."""

import sys

# httpx's __init__ imports its optional command-line tool (click + rich: ~180 ms of a ~280 ms import,
# measured with `python -X importtime -c "import httpx"`) whenever those are installed, and rich always
# is, beside Textual. digest never uses that tool. A None entry makes that one import fail at once,
# which httpx handles (its `httpx.main` then explains how to install the CLI), so `digest refresh` from
# cron pays neither the time nor the UI library.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
