"""The process exit codes of `digest`: one definition for the CLI and `digest run` (core/run.py), which
reports its result as a code the CLI passes on unchanged."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The cron user's contract (DESIGN.md, the README's "Exit codes"): never renumber."""

    OK = 0
    FAILURE = 1
    USAGE = 2  # usage or config error
    NOTHING_TO_SEND = 3
    LOCKED = 75  # EX_TEMPFAIL: another run holds the lock
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout left (`digest stories | head`)
