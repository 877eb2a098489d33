"""Logging for unattended runs: a rotating file in the log dir, never colours or progress bars.

Cron mails whatever a job prints, so the file gets the detail and stdout gets one line.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

from digest.core.fsutil import PRIVATE_FILE, private_dir, tighten
from digest.core.paths import Paths

LOGGER = "digest"
LOG_NAME = "digest.log"
# 1 MB x 5 files keeps months of daily runs (a run logs a few KB) and bounds the disk use.
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class _LogFile(logging.handlers.RotatingFileHandler):
    """The run's log file. When it cannot be written (a full disk), the run goes on and still prints
    its one-line result: logging's default reports each failed record with a traceback on stderr,
    which cron would mail on top of that line."""

    def _open(self):  # type: ignore[no-untyped-def]
        """The log file (and each one rotation starts) owner-only, whatever the umask: failure lines
        name recipients."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE)
        tighten(self.baseFilename)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115 - the handler closes it

    def handleError(self, record: logging.LogRecord) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)


def setup_logging(paths: Paths, *, verbose: bool = False) -> logging.Logger:
    """Attach the rotating file handler (once per process and file) to the `digest` logger.

    verbose also copies the log to stderr (plain text, no colours) so a person can watch a run."""
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    private_dir(paths.log_dir)
    path = paths.log_dir / LOG_NAME
    for f in (path, *(path.with_name(f"{LOG_NAME}.{i}") for i in range(1, BACKUPS + 1))):
        tighten(f)  # an older digest's log (0644) holds the same recipients' addresses
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) and h.baseFilename == str(path.resolve())
               for h in log.handlers):
        for old in [h for h in log.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
            log.removeHandler(old)  # a different DIGEST_HOME in the same process (tests)
            old.close()
        fh = _LogFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        fh.setFormatter(logging.Formatter(FORMAT))
        log.addHandler(fh)
    stream = [h for h in log.handlers if getattr(h, "_digest_stderr", False)]
    if verbose and not stream:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        sh._digest_stderr = True  # type: ignore[attr-defined]
        log.addHandler(sh)
    elif not verbose:
        for h in stream:
            log.removeHandler(h)
    return log


def log_path(paths: Paths) -> str:
    return str(paths.log_dir / LOG_NAME)
