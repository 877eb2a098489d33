"""Every command, argument and option says what it is for in --help, and `digest completion` prints a
working completion script for bash, zsh and fish (made by shtab from the same parser)."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
from collections.abc import Iterator

import pytest

from digest.cli import Ctx, ExitCode, build_parser, main
from digest.cli.completion_cmds import SHELLS
from digest.core.paths import Paths


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str | None]]:
    """(prog of the command, its help) for every command and sub-command."""
    for p in _parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    yield f"{p.prog} {choice.dest}", choice.help


def test_every_command_argument_and_option_has_help() -> None:
    parser = build_parser()
    missing = [f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
               for p in _parsers(parser) for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert not missing, f"arguments without help text: {missing}"
    bare = [prog for prog, text in _commands(parser) if not (text or "").strip()]
    assert not bare, f"commands without help text: {bare}"
    # the walk saw the whole command line (guards the walk itself)
    progs = {p.prog for p in _parsers(parser)}
    assert {"digest feeds add", "digest stories", "digest completion"} <= progs


def test_help_shows_the_texts(capsys: pytest.CaptureFixture[str]) -> None:
    """What the issue found bare: `feeds add --help` named only `url`, `stories --help` only the options."""
    with pytest.raises(SystemExit):
        main(["feeds", "add", "--help"])
    out = capsys.readouterr().out
    assert "url   " in out and "a feed's URL" in out
    with pytest.raises(SystemExit):
        main(["stories", "--help"])
    out = capsys.readouterr().out
    for line in ("--feed ID", "--flagged", "--limit N", "--json"):
        [shown] = [ln for ln in out.splitlines() if ln.strip().startswith(line)]
        assert len(shown.strip()) > len(line) + 5, shown


def _script(shell: str, paths: Paths) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert main(["completion", shell], ctx=Ctx(paths, stdout=out, stderr=err)) == ExitCode.OK, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_name_every_command_and_option(shell: str, digest_home: Paths) -> None:
    script = _script(shell, digest_home)
    words = set(re.findall(r"\w[\w-]*", script))  # fish names an option without its dashes
    for prog, _ in _commands(build_parser()):
        assert prog.split()[-1] in words, prog
    assert {"flagged", "limit", "dry-run", "force-unknown"} <= words


def test_the_bash_script_parses_and_completes(digest_home: Paths) -> None:
    """bash -n reads it; sourced, its function completes commands, options and the completion shells."""
    script = _script("bash", digest_home)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        code = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
                f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; _shtab_digest; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        r = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("digest", "fe") == ["feeds"]
    assert "--flagged" in complete("digest", "stories", "--fl")
    assert complete("digest", "completion", "") == list(SHELLS)


def test_completion_of_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "powershell"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "invalid choice: 'powershell'" in err and "Traceback" not in err
