"""`digest run`: the unattended pipeline for cron and systemd timers.

lock -> (finish an issue an earlier run left half-sent) -> refresh -> select -> freeze + render + archive
-> deliver (or only write the files when no SMTP relay is configured) -> mark sent.

Cron's world: no terminal, a bare environment, nobody to answer a prompt. Nothing here prints colours or
progress; the detail goes to a rotating log file and the caller prints one line.
Exit codes (DESIGN.md): 0 sent or written, 1 a step failed (the line names it), 2 config error,
3 nothing new to send (no empty digest goes out), 75 another run holds the lock.

`digest run --dry-run` is the same pipeline up to delivery (lock, refresh, select, render) but writes the
issue and one message per recipient into archive/N/dry-run/ instead of freezing, sending or marking
anything: the draft is left as it was, so the rehearsal can be repeated and the real run still sends.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from digest.core.config import Config, ConfigError, load_config
from digest.core.exitcode import ExitCode
from digest.core.lock import LockHeld, RunLock
from digest.core.logsetup import log_path, setup_logging
from digest.core.paths import Paths
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.store import Store

def run_once(paths: Paths, *, quiet: bool = False, verbose: bool = False, now: float | None = None,
             dry_run: bool = False) -> tuple[ExitCode, str]:
    """One unattended run; returns (exit code, the one-line result). quiet only lowers what is logged to
    stderr; the caller decides what to print. dry_run writes the messages as files and changes no issue
    (see the module docstring); it still takes the lock, because its refresh writes the store."""
    log = setup_logging(paths, verbose=verbose and not quiet)
    started = time.monotonic()
    try:
        config = load_config(paths)
    except ConfigError as e:
        return _done(log, ExitCode.USAGE, f"config error: {e}")
    lock = RunLock(paths.lock_file)
    try:
        lock.acquire()
    except LockHeld as e:
        return _done(log, ExitCode.LOCKED, str(e))
    except OSError as e:
        return _done(log, ExitCode.FAILURE, f"lock: cannot open {paths.lock_file}: {e.strerror or e}")
    try:
        failing: list[str] = []  # the feeds this run's refresh could not fetch or read
        with graceful_stop() as stop:
            code, line = _pipeline(paths, config, log, now, stop, dry_run, failing)
        if failing and code in (ExitCode.OK, ExitCode.NOTHING_TO_SEND):
            # a feed that fails every day would otherwise be seen only in the log
            line += (f"; {count(len(failing), 'feed')} failed to refresh "
                     f"({', '.join(failing[:3])}{', ...' if len(failing) > 3 else ''}: see `digest feeds list`)")
    finally:
        lock.release()
    log.debug("run took %.1f s", time.monotonic() - started)
    return _done(log, code, line)


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGTERM (systemd stopping the unit) or a first Ctrl-C sets the event: the message in flight finishes
    and the rest stay queued for the next run, so stopping creates no unknown recipient. A second signal
    stops at once. Only the main thread may set handlers; elsewhere the event is just returned."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _done(log: logging.Logger, code: ExitCode, line: str) -> tuple[ExitCode, str]:
    (log.info if code in (ExitCode.OK, ExitCode.NOTHING_TO_SEND) else log.error)("run result (exit %d): %s", code, line)
    return code, line


def _pipeline(paths: Paths, config: Config, log: logging.Logger, now: float | None,
              stop: threading.Event, dry_run: bool = False, failing: list[str] | None = None) -> tuple[ExitCode, str]:
    from digest.core import archive, mail, smtp
    from digest.core.store import NewerStoreError, Store, StoreDamagedError, StoreError, is_damage

    step = "config"
    from digest.core.themes import ThemeError, list_themes, theme_chain

    try:  # a theme that cannot render stops the run here, not after a refresh (as `digest config check`)
        theme_chain(config.newsletter.theme, {t.name: t for t in list_themes(paths)})
    except ThemeError as e:
        return ExitCode.USAGE, f"config error: newsletter.theme: {e}"
    smtp_on = bool(config.smtp.host)
    if smtp_on:
        # the password is resolved once, by send_digest (password_cmd may ask a password manager); a dry run
        # checks the same settings, so a rehearsal that passes means the real run will not stop at config
        problems = smtp.settings_problems(config)
        if problems:
            return ExitCode.USAGE, "config error: " + "; ".join(problems)
    try:
        step = "store"
        paths.ensure()
        store = Store(paths.db_file)
    except StoreDamagedError as e:
        return ExitCode.FAILURE, str(e)
    except NewerStoreError as e:
        return ExitCode.USAGE, str(e)
    except StoreError as e:
        return ExitCode.FAILURE, f"store: {e}"
    try:
        store.verify()  # a damaged store is not written to (the whole file is read: ~0.7 s at 100k stories)
    except StoreDamagedError as e:
        store.close()
        return ExitCode.FAILURE, str(e)
    try:
        step = "resume"
        pending = archive.pending_digest(store)
        if pending is not None:
            log.info("digest #%d is frozen but not finished: delivering it before anything new", pending.number)
            if dry_run:  # what the real run would do now: finish that issue, without a refresh
                step = "dry run"
                return _rehearse(store, config, paths, log, now, resumed=True)
            step = "deliver"
            return _deliver(store, config, paths, log, smtp_on, now, stop, resumed=True)

        step = "refresh"
        from digest.core.refresh import refresh

        report = refresh(store, config)
        log.info("%s", report.summary_line())
        for r in report.errors:
            log.warning("feed %s: %s", r.name, r.error)
        if failing is not None:
            failing.extend(r.name for r in report.errors)

        step = "select"
        draft = store.draft()
        picked: list[int] = []
        if draft is not None and store.digest_items(draft.id):
            log.info("sending the flagged draft (%d stories)", len(store.digest_items(draft.id)))
        else:
            from digest.core.select import auto_select

            added = auto_select(store, config, now=now)
            if added == 0:
                why = "no flagged stories and no new stories by the [select] rules"
                if report.failed and not report.ok and not report.not_modified:
                    why += f" (every feed failed to refresh; see {log_path(paths)})"
                return ExitCode.NOTHING_TO_SEND, f"nothing new to send: {why}"
            log.info("picked %d stories by the [select] rules", added)
            # auto_select only fills an empty draft, so its items are exactly what it added
            picked = [it.story.id for it in store.digest_items()]

        if dry_run:
            step = "dry run"
            try:
                return _rehearse(store, config, paths, log, now, resumed=False)
            finally:
                # Give the draft back as the person left it: the rule picks are not their flags. A story
                # flagged by hand in the TUI between the pick and here stays (it was not in `picked`).
                for story_id in picked:
                    store.unflag(story_id)

        step = "build and deliver" if smtp_on else "build"
        return _deliver(store, config, paths, log, smtp_on, now, stop, resumed=False)
    except mail.MailConfigError as e:
        return ExitCode.USAGE, f"config error: {e}"
    except mail.NothingToSend as e:
        return ExitCode.NOTHING_TO_SEND, str(e)
    except StoreDamagedError as e:
        log.error("step %s failed: %s", step, e)
        return ExitCode.FAILURE, str(e)
    except StoreError as e:  # a full disk, a read-only store: named, with no traceback to read
        log.error("step %s failed: store error: %s", step, e)
        return ExitCode.FAILURE, f"{step}: store error: {e}"
    except Exception as e:  # a run must end with a line naming the step, whatever broke
        if is_damage(e):
            log.error("step %s failed: %s", step, e)
            return ExitCode.FAILURE, str(StoreDamagedError(paths.db_file, str(e)))
        log.error("step %s failed:\n%s", step, traceback.format_exc())
        if isinstance(e, OSError) and e.filename:  # a folder that cannot be written: the path and the reason
            return ExitCode.FAILURE, f"{step}: cannot write {e.filename}: {e.strerror or e}"
        return ExitCode.FAILURE, f"{step}: {type(e).__name__}: {e}"
    finally:
        store.close()


def _deliver(store: Store, config: Config, paths: Paths, log: logging.Logger, smtp_on: bool,
             now: float | None, stop: threading.Event, *, resumed: bool) -> tuple[ExitCode, str]:
    from digest.core import archive, mail

    if not smtp_on:
        pending = archive.pending_digest(store) if resumed else None
        if pending is not None and any(r["status"] != "sent" for r in store.deliveries(pending.id)):
            return ExitCode.USAGE, (f"config error: digest #{pending.number} is part-sent by SMTP but no [smtp] host "
                            "is configured now; restore [smtp] so the rest of its recipients get it")
        issue = archive.issue_files_only(store, config, paths, now=now)
        n = issue.story_count
        line = (f"digest #{issue.number} written to {issue.dir} ({count(n, 'story', 'stories')}; "
                "no [smtp] host configured, nothing sent)")
        return ExitCode.OK, _noted(line, issue.notes, issue.number, paths, log)
    report = mail.send_digest(store, config, paths, now=now, stop=stop)
    line = _noted(report.summary_line(), report.notes, report.digest_number, paths, log)
    if resumed:
        line = "resumed " + line
    if report.failed:
        return ExitCode.FAILURE, f"deliver: {line}"
    return ExitCode.OK, line


def _rehearse(store: Store, config: Config, paths: Paths, log: logging.Logger, now: float | None, *,
              resumed: bool) -> tuple[ExitCode, str]:
    """The dry run's delivery: the issue (index.html, digest.txt) and one .eml per recipient, byte for byte
    what `digest send --dry-run` writes, into archive/N/dry-run/. Nothing is frozen, queued or marked sent.
    A previous rehearsal's files there are replaced, so the folder shows this run only."""
    from digest.core import archive, mail, subscribers
    from digest.core.fsutil import atomic_write
    from digest.core.message import make_message_id

    issue = archive.preview_issue(store, config, paths, now=now)  # raises NothingToSend: exit 3
    out = archive.dry_run_dir(paths, issue.number)
    if out.is_dir():
        for old in out.iterdir():
            if old.is_file() and old.suffix in (".eml", ".html", ".txt"):
                old.unlink()
    atomic_write(out / archive.HTML_NAME, issue.html)
    atomic_write(out / archive.TEXT_NAME, issue.text)
    nl = config.newsletter
    to = subscribers.recipients(store, config)  # newsletter.to + subscribers - unsubscribed
    base = mail._base_message(config, issue.subject, issue.html, issue.text, issue.number, paths)
    for i, recipient in enumerate(to, 1):  # each with its own unsubscribe token, as `send` builds them
        archive.write_dry_run(out, i, recipient,
                              base.render(recipient, make_message_id(nl.from_, f"digest{issue.number}")))
    what = f"{len(to)} message(s)" if to else "the issue (no recipients: newsletter.to and subscribers are empty)"
    line = (f"{'resumed ' if resumed else ''}digest #{issue.number}: dry run, wrote {what} to {out} "
            f"({count(issue.story_count, 'story', 'stories')}; nothing sent, nothing marked sent)")
    line = _noted(line, issue.notes, None, paths, log)
    log.info("%s", line)
    return ExitCode.OK, line


def _noted(line: str, notes: list[str], number: int | None, paths: Paths, log: logging.Logger) -> str:
    """The run's one line with how many notes the build made (a story moved to fit the size budget, a
    picture kept at its source, the accent colour corrected...) and where to read them: `digest build`
    prints them, and a cron job's one line should not hide them. Only the count, so the line stays one
    readable line; the notes themselves go to the log, and an issue's manifest keeps them for
    `digest archive show N` (a dry run writes no manifest: the log then)."""
    for note in notes:
        log.info("build note: %s", note)
    if not notes:
        return line
    where = f"see `digest archive show {number}`" if number is not None else f"see the log, {log_path(paths)}"
    return f"{line}; {count(len(notes), 'build note')} ({where})"


# -- schedules --------------------------------------------------------------------------------------

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = dict(zip(DAYS, ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                          strict=True))


def parse_at(at: str) -> tuple[int, int]:
    """"07:00" -> (7, 0); ValueError names what is wrong."""
    hh, sep, mm = at.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2:
        raise ValueError(f"--at must be HH:MM (24-hour), got {at!r}")
    h, m = int(hh), int(mm)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"--at must be a time of day from 00:00 to 23:59, got {at!r}")
    return h, m


def _importable_bare(python: str) -> bool:
    """Does the interpreter find this digest package with no PYTHONPATH and cwd=/ (as cron runs it)?"""
    import subprocess
    from pathlib import Path

    import digest

    try:
        out = subprocess.run(
            [python, "-c", "import digest, sys; sys.stdout.write(digest.__file__)"],
            capture_output=True, text=True, timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and Path(out.stdout).resolve() == Path(digest.__file__).resolve()


def schedule(*, at: str = "07:00", weekly: bool = False, day: str = "mon", python: str | None = None,
             env: dict[str, str] | None = None) -> dict[str, str]:
    """A crontab line and systemd user service + timer that run this installation's `digest run`.

    The interpreter path is absolute (cron's PATH is /usr/bin:/bin); DIGEST_HOME is carried over when set;
    PYTHONPATH is added only when the package is not importable without it (a source checkout)."""
    import os
    import shlex
    import sys
    from pathlib import Path

    import digest

    h, m = parse_at(at)
    given, day = day, day.strip().casefold()
    # "mon", "Monday" or "MONDAY"; not "monkey" (whose first three letters are a day) nor "funday"
    day = next((d for d in DAYS if day in (d, _WEEKDAY_NAMES[d])), "")
    if not day:
        raise ValueError(f"--day must be one of {', '.join(DAYS)} (or the day's full name), got {given!r}")
    python = python or sys.executable
    env = dict(os.environ) if env is None else env
    assigns: dict[str, str] = {}
    if env.get("DIGEST_HOME"):
        assigns["DIGEST_HOME"] = str(Path(env["DIGEST_HOME"]).expanduser().resolve())
    if not _importable_bare(python):
        assigns["PYTHONPATH"] = str(Path(digest.__file__).resolve().parent.parent)
    argv = [python, "-m", "digest", "run"]
    when = f"{day.capitalize()} " if weekly else ""
    cron_cmd = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in assigns.items()),
                         *map(shlex.quote, argv), "--quiet"])
    cron_cmd = cron_cmd.replace("%", "\\%")  # cron turns a bare % into a newline
    dow = str((DAYS.index(day) + 1) % 7) if weekly else "*"  # cron: 0 = Sunday
    crontab = f"{m} {h} * * {dow} {cron_cmd}"
    every = f"weekly on {when.strip()}" if weekly else "daily"
    env_lines = "".join(f'Environment="{k}={_sd_escape(v)}"\n' for k, v in assigns.items())
    service = (
        "[Unit]\n"
        "Description=digest: refresh feeds and send the newsletter digest\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"{env_lines}"
        "# the SMTP password: use smtp.password_cmd, or a file of KEY=value lines readable only by you\n"
        "# EnvironmentFile=%h/.config/digest/smtp.env\n"
        f"ExecStart={' '.join(_sd_quote(a) for a in argv)}\n"
        "# 3 = nothing new to send and 75 = another run holds the lock are normal outcomes, not failures\n"
        "SuccessExitStatus=3 75\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=Run digest {every} at {h:02d}:{m:02d}\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={when}*-*-* {h:02d}:{m:02d}:00\n"
        "# catch up after the machine was off at the scheduled time\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {"crontab": crontab, "digest.service": service, "digest.timer": timer, "schedule": every}


def _sd_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def _sd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\;$" for c in arg):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def schedule_text(sched: dict[str, str]) -> str:
    """What `digest cron` prints: ready to paste, with where each part goes."""
    return (
        f"# crontab line ({sched['schedule']}; add with `crontab -e`):\n"
        f"{sched['crontab']}\n"
        "# cron runs it without your shell's variables: an SMTP password in smtp.password_env is not set\n"
        "# there; use smtp.password_cmd (e.g. `pass show smtp`) for a cron job\n"
        "\n"
        "# or systemd user units instead of cron:\n"
        "# ~/.config/systemd/user/digest.service\n"
        f"{sched['digest.service']}"
        "\n"
        "# ~/.config/systemd/user/digest.timer\n"
        f"{sched['digest.timer']}"
        "\n"
        "# then: systemctl --user daemon-reload && systemctl --user enable --now digest.timer\n"
        "#       loginctl enable-linger \"$USER\"    # so the timer also fires while you are logged out\n"
    )
