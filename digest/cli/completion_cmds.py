"""digest completion: the shell's tab completion script, generated from the command line itself (shtab),
so every command, option and choice another module registers is completed without a list to keep."""

from __future__ import annotations

import argparse
from pathlib import Path

from digest.cli import Ctx, ExitCode

SHELLS = ("bash", "zsh", "fish")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("completion", help="print the tab completion script for bash, zsh or fish",
                       description="Print a completion script for SHELL; the README's \"Shell completion\" "
                       "says where to put it (e.g. `digest completion bash > "
                       "~/.local/share/bash-completion/completions/digest`).")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in: %(choices)s")
    p.set_defaults(func=cmd_completion)


def cmd_completion(ctx: Ctx, args: argparse.Namespace) -> int:
    ctx.stdout.write(completion_script(args.shell))
    return ExitCode.OK


def completion_script(shell: str) -> str:
    """The whole command line's completion script for shell (one of SHELLS)."""
    import shtab  # only here: no other command pays for it

    from digest.cli import build_parser

    parser = build_parser()  # every command, not only `completion`'s (see build_parser)
    _complete_paths(parser, shtab)
    return str(shtab.complete(parser, shell=shell))


def _complete_paths(parser: argparse.ArgumentParser, shtab: object) -> None:
    """Arguments that name files complete as paths: a folder for an option typed Path (--out), a file
    for an argument called `file`. shtab reads the `complete` attribute of an action."""
    for action in parser._actions:  # argparse publishes no walk over a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _complete_paths(child, shtab)
        elif action.type is Path:
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif action.dest == "file":
            action.complete = shtab.FILE  # type: ignore[attr-defined]
