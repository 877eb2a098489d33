"""Every CLI command with hostile arguments, on a sound and a damaged store: a clear line and an exit code,
never a traceback (issue 20).

The commands are found by walking the real argument parser, so a command added later is covered
without touching this file. Each argument slot (positional or option with a value) gets each hostile
value in turn, with the other slots at sane values, against a store with a feed, stories and a draft.
A few runs go through a real `python -m digest` process too, where an uncaught exception would print
its traceback on stderr.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from digest.cli import Ctx, build_parser, main
from digest.core.paths import Paths
from digest.core.store import Store
from tests.helpers_smtp import make_draft

HUGE = "99999999999999999999"
# values that go into any slot; paths are relative to a working folder deep inside tmp_path, so even a
# command that writes cannot reach outside it
HOSTILE = [HUGE, "-" + HUGE, "-1", "0", "abc", "", " ", "\x1b]0;PWN\x07\x1b[2J", "\u202eevil", "x" * 5000,
           "../../etc/passwd", "no/such/dir/x", "a file", "a dir", "%s%n{0}", "1e309", "nan", "0x10", "１２"]
# never toggled: they open a browser or wait for a terminal
NEVER = {"--open", "-h"}


def commands() -> list[tuple[list[str], list[argparse.Action]]]:
    out: list[tuple[list[str], list[argparse.Action]]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out.append((prefix, [a for a in parser._actions
                                 if a.dest != "help" and not set(a.option_strings) & NEVER]))
            return
        for name, sub in subs[0].choices.items():
            walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return out


def slot_argvs(prefix: list[str], actions: list[argparse.Action]) -> list[list[str]]:
    """argv lists: each value slot hostile in turn, the others at a plain value; plus each flag alone."""
    positionals = [a for a in actions if not a.option_strings]
    valued = [a for a in actions if a.option_strings and a.nargs != 0]
    flags = [a for a in actions if a.option_strings and a.nargs == 0]
    plain = ["1" for _ in positionals if True]
    runs: list[list[str]] = [[*prefix, *[p for p in plain if positionals[0].nargs != "?"]]] if positionals else [prefix]
    for i, _ in enumerate(positionals):
        for value in HOSTILE:
            args = list(plain)
            args[i] = value
            runs.append([*prefix, *args])
    for opt in valued:
        for value in HOSTILE:
            runs.append([*prefix, *plain, opt.option_strings[-1], value])
    for flag in flags:
        runs.append([*prefix, *plain, flag.option_strings[-1]])
        runs.append([*prefix, *plain, flag.option_strings[-1], "--", HUGE])
    return runs


@pytest.fixture
def world(digest_home: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    with Store(digest_home.db_file) as store:
        make_draft(store, 3)
    work = tmp_path / "w1" / "w2" / "w3"
    work.mkdir(parents=True)
    (work / "a file").write_text("not a feed")
    (work / "a dir").mkdir()
    monkeypatch.chdir(work)
    # a browser must never open from a test
    monkeypatch.setenv("BROWSER", "true")
    return digest_home


def damage(db: Path, how: str) -> None:
    """8 KB of garbage in the middle of the file, or a schema version no digest wrote."""
    import random
    import sqlite3

    if how == "garbage":
        conn = sqlite3.connect(db)
        conn.execute("VACUUM")  # every page in use: the garbage cannot land on a free page unnoticed
        conn.close()
        size = db.stat().st_size
        with db.open("r+b") as f:
            f.seek(max(0, size // 2 - 4096))
            f.write(random.Random(20).randbytes(8192))
    else:
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA user_version = -5")
        conn.close()


@pytest.mark.parametrize("store_state", ["sound", "garbage", "user_version"])
def test_every_command_with_hostile_arguments(world: Paths, store_state: str) -> None:
    if store_state != "sound":
        damage(world.db_file, store_state)
    seen = damaged_said = 0
    for prefix, actions in commands():
        for argv in slot_argvs(prefix, actions):
            out, err = io.StringIO(), io.StringIO()
            try:
                code = main(argv, ctx=Ctx(world, stdout=out, stderr=err))
            except SystemExit as e:  # argparse's --help/--version exit 0; anything else is a bug
                assert e.code == 0, (argv, err.getvalue())
                continue
            except BaseException as e:  # noqa: BLE001 - the point: nothing may escape main
                pytest.fail(f"digest {argv!r} raised {type(e).__name__}: {e}")
            text = err.getvalue()
            assert "Traceback" not in text, (argv, text)
            assert isinstance(code, int) and 0 <= code < 256, (argv, code)
            if code in (1, 2):  # a failure or a usage error says why (3, nothing to send, may be quiet: -q)
                assert (text + out.getvalue()).strip(), f"digest {argv!r} failed (exit {code}) without saying why"
            seen += 1
            damaged_said += "is damaged" in text
    assert seen > 300  # the walk found the commands
    if store_state != "sound":  # the damage was real, and named
        assert damaged_said > 100, damaged_said


@pytest.mark.parametrize("argv", [
    ["flag", HUGE], ["stories", "--limit", HUGE], ["refresh", "--feed", HUGE], ["archive", "show", HUGE],
    ["feeds", "add", "a dir"], ["feeds", "import", "a file"], ["stories", "--since", "\x1b[2J"],
    ["build", "--theme", "../../etc"], ["feeds", "export", "a dir"],
])
def test_a_real_process_prints_one_line_not_a_traceback(world: Paths, argv: list[str]) -> None:
    env = {**os.environ, "DIGEST_HOME": str(world.config_dir)}
    r = subprocess.run([sys.executable, "-m", "digest", *argv], capture_output=True, text=True, env=env,
                       timeout=120, cwd=os.getcwd())
    assert r.returncode in (1, 2), (argv, r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip()
    lines = [line for line in r.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, r.stderr


@pytest.mark.parametrize("fmt", ["email", "md"])
def test_build_out_that_is_a_file_is_named_as_one(world: Paths, fmt: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", "--out", "a file", "--format", fmt], ctx=Ctx(world, stdout=out, stderr=err))
    assert code == 2 and err.getvalue() == "digest: --out a file: not a folder (it is a file)\n", err.getvalue()
    assert Path("a file").read_text() == "not a feed"
