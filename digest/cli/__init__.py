"""The command line: every step of the pipeline as a command, usable from cron with no terminal.

Each group of commands lives in its own module with a `register(subparsers)` function; a command is a
function `(ctx, args) -> ExitCode`. Textual is imported only when the TUI opens, and Jinja2 only when
a digest is rendered, so `digest refresh` from cron stays light.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Any

from digest import __version__
from digest.core.config import Config, ConfigError, load_config
from digest.core.exitcode import ExitCode
from digest.core.paths import Paths, get_paths
from digest.core.record import record
from digest.core.store import NewerStoreError, NotFoundError, Store, StoreDamagedError, StoreError, is_damage
from digest.core.textclean import json_escape_controls, terminal_text

# Commands that only read the store: they open it as it is. Every other command checks the whole file
# first (Store.verify), so a damaged store gets one line and no write...
READING_COMMANDS = frozenset({"cmd_stories", "cmd_feeds_list", "cmd_feeds_export", "cmd_tui",
                              "cmd_rules_list", "cmd_rules_test",
                              # the store's own care: check names the damage, a backup copies what is there
                              "cmd_store_stats", "cmd_store_check", "cmd_store_backup"})
# ...except a refresh, which cron runs every hour: reading the whole file would cost more than the refresh
# (~3 s at 200k stories against 0.5 s for an all-304 refresh). It checks the table it updates for every
# feed; a damaged page it meets while storing stories rolls that write back, and no write follows.
CHECKED_TABLES = {"cmd_refresh": ("feeds",)}


class CommandError(Exception):
    """A failure to report as one line on stderr with the given exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.code = code


@record
class Ctx:
    """What a command runs with: the paths, the output streams, the config and the store."""

    paths: Paths
    stdout: Any = field(default_factory=lambda: sys.stdout)
    stderr: Any = field(default_factory=lambda: sys.stderr)
    _config: Config | None = None
    _store: Store | None = None
    verify_store: bool = True  # check the store (PRAGMA quick_check) when opening it: see READING_COMMANDS
    verify_tables: tuple[str, ...] | None = None  # only these tables (None: all)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.paths)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self.paths.ensure()
            except OSError:
                if not self.paths.db_file.exists():
                    raise
                # read-only media: an existing store can still be read (Store opens it read-only)
            store = Store(self.paths.db_file)
            if self.verify_store:
                try:
                    store.verify(self.verify_tables)
                except StoreError:
                    store.close()
                    raise
            self._store = store
        return self._store

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stdout, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"

    # Every line a command prints holds data (titles, names, URLs, error text from servers): whatever
    # slipped past ingestion's cleaning (a row stored by an older digest) is made inert here, so no
    # terminal sequence from a feed ever reaches the user's terminal (digest.core.textclean).
    def out(self, text: str = "") -> None:
        print(terminal_text(text), file=self.stdout)

    def err(self, text: str) -> None:
        print(terminal_text(text), file=self.stderr)

    def json(self, data: Any) -> None:
        # json escapes C0 controls itself; C1 and bidi controls are written as \u escapes too (the same
        # JSON value, nothing raw on a terminal)
        self.stdout.write(json_escape_controls(json.dumps(data, indent=2, ensure_ascii=False)))
        self.stdout.write("\n")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


Command = Callable[[Ctx, argparse.Namespace], int]

# SQLite integers are signed 64-bit: a larger number cannot name a row, and binding one raises
# OverflowError deep in the store, so arguments are held to this range when they are parsed.
SQLITE_MAX_INT = 2**63 - 1


def store_int(value: str) -> int:
    """argparse type for an id or a count that goes to the store: a usage error (exit 2) when it is not
    a whole number or does not fit in the store."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not -SQLITE_MAX_INT - 1 <= n <= SQLITE_MAX_INT:
        raise argparse.ArgumentTypeError(f"out of range: {value[:30]}{'...' if len(value) > 30 else ''} "
                                         "(the largest is 9223372036854775807)")
    return n


def positive_int(value: str) -> int:
    """store_int, 1 or more (--limit)."""
    n = store_int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, with the terminal's width found as shutil.get_terminal_size finds it but
    without importing shutil, which loads bz2 and lzma: argparse makes a formatter for every argument
    it adds, so every command paid ~1.7 ms of start-up for a width only --help uses."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        where = self.prog.removeprefix("digest").strip()
        raise CommandError(f"{where}: {message}" if where else message, ExitCode.USAGE)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command` (the first argument), that command's parser only, as long
    as there is such a command (else the whole, for argparse's "invalid choice" message).

    Each command's parser is a full ArgumentParser, and building all of them took ~7 ms of every run's
    start, a refresh from cron included; `digest --help` still builds all."""
    from digest.cli import (
        article_cmds,
        build_cmds,
        completion_cmds,
        core_cmds,
        deliver_cmds,
        rule_cmds,
        store_cmds,
        subscriber_cmds,
    )

    p = _Parser(prog="digest", description="Read feeds, curate the best stories, send an email digest.")
    p.add_argument("--version", action="version", version=f"digest {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    only = _OneCommand(sub, command) if command else None
    for module in (core_cmds, build_cmds, deliver_cmds, subscriber_cmds, store_cmds, completion_cmds, article_cmds,
                   rule_cmds):
        module.register(only or sub)
    if only and not only.found:
        return build_parser()
    return p


class _OneCommand:
    """Stands for build_parser's subparsers: makes the named command's parser, and for the others hands
    back a stand-in that takes whatever register() does to a parser and builds nothing."""

    def __init__(self, sub: argparse._SubParsersAction, command: str) -> None:  # type: ignore[type-arg]
        self._sub = sub
        self._command = command
        self.found = False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._command:
            return _Skipped()
        self.found = True
        return self._sub.add_parser(name, **kwargs)


class _Skipped:
    def __getattr__(self, name: str) -> Callable[..., _Skipped]:
        return lambda *args, **kwargs: self


def console() -> int:
    """The `digest` command (and `python -m digest`): main, then a quicker exit.

    On exit Python collects garbage over every object the run made before it frees the modules:
    20-30 ms after a refresh, a tenth of an all-304 refresh of 100 feeds. Nothing needs collecting by
    then (files, the store and sockets are closed; atexit handlers such as logging's still run before
    this matters), so the objects are frozen out of the collector's reach. Tests call main, which does
    not do this: a process that goes on running must keep its collector.

    Freeing the modules and their objects after that cost another ~6 ms of every run (an all-304 refresh
    of 100 feeds: ~100 ms). When only this thread is left, the exit does what the interpreter's would do
    that matters (atexit handlers: logging's flush, multiprocessing's; stdout and stderr flushed), then
    ends the process without the teardown."""
    import gc
    import threading

    code = main()
    gc.freeze()
    if threading.active_count() > 1 or sys.getprofile() or sys.gettrace():
        # a thread to wait for (the interpreter's exit joins it), or a profiler or debugger (python -m
        # cProfile writes its figures after the code it ran returns)
        return code
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return code  # the interpreter's exit reports it as before
    os._exit(int(code))


def main(argv: Sequence[str] | None = None, *, ctx: Ctx | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ctx = ctx or Ctx(get_paths())
    try:
        if not argv:
            from digest.cli.core_cmds import cmd_tui

            return int(cmd_tui(ctx, argparse.Namespace()))
        args = build_parser(None if argv[0].startswith("-") else argv[0]).parse_args(argv)
        if getattr(args, "func", None) is None:
            build_parser().print_help(ctx.stdout)
            return ExitCode.USAGE
        name = getattr(args.func, "__name__", "")
        ctx.verify_store = name not in READING_COMMANDS
        ctx.verify_tables = CHECKED_TABLES.get(name)
        return int(args.func(ctx, args))
    except CommandError as e:
        ctx.err(f"digest: {e}")
        return e.code
    except ConfigError as e:
        ctx.err(f"digest: config error: {e}")
        return ExitCode.USAGE
    except NotFoundError as e:
        ctx.err(f"digest: {e}")
        return ExitCode.FAILURE
    except StoreDamagedError as e:
        ctx.err(f"digest: {e}")
        return ExitCode.FAILURE
    except NewerStoreError as e:  # not an error of the store: this digest is too old for it
        ctx.err(f"digest: {e}")
        return ExitCode.USAGE
    except StoreError as e:
        ctx.err(f"digest: store error: {e}")
        return ExitCode.FAILURE
    except sqlite3.DatabaseError as e:  # met while reading (a write would have raised StoreError)
        if is_damage(e):
            ctx.err(f"digest: {StoreDamagedError(ctx.paths.db_file, str(e))}")
        else:
            ctx.err(f"digest: store error: {ctx.paths.db_file}: {e}")
        return ExitCode.FAILURE
    except BrokenPipeError:  # `digest stories | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        ctx.err(f"digest: cannot write or read{where}: {e.strerror or e}")
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        ctx.err("digest: interrupted")
        return ExitCode.INTERRUPTED
    finally:
        ctx.close()
