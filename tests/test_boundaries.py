"""The core never imports the UI; the CLI imports Textual only when the TUI opens (STYLE.md, Boundaries).

Each module is imported in a fresh interpreter, so one module's imports cannot hide another's.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE_MODULES = sorted(f"digest.core.{m.name}" for m in pkgutil.iter_modules([str(REPO / "digest" / "core")]))
FORBIDDEN = ("textual", "rich")


def loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def ui_modules(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in FORBIDDEN and "." not in m)


def test_core_modules_are_found() -> None:
    assert {"digest.core.store", "digest.core.parse", "digest.core.fetch", "digest.core.refresh"} <= set(CORE_MODULES)


@pytest.mark.parametrize("module", [*CORE_MODULES, "digest", "digest.core", "digest.cli", "digest.cli.core_cmds"])
def test_module_does_not_import_the_ui(module: str) -> None:
    assert ui_modules(loaded_after(f"import {module}")) == []


def test_cli_parser_and_headless_commands_do_not_import_the_ui(tmp_path: Path) -> None:
    """Building the whole parser (every command module) and running a headless command stays UI-free."""
    code = f"""
import os
os.environ["DIGEST_HOME"] = {str(tmp_path)!r}
from digest.cli import build_parser, main
build_parser()
assert main(["feeds", "list", "--json"]) == 0
assert main(["stories", "--json"]) == 0
assert main(["config", "show"]) == 0
"""
    assert ui_modules(loaded_after(code)) == []


def test_refresh_from_cron_imports_no_ui_and_no_templates(tmp_path: Path) -> None:
    """`digest refresh` from cron stays light: no UI, no template engine."""
    feed = REPO / "sample_feeds" / "jobs.xml"
    code = f"""
import os
os.environ["DIGEST_HOME"] = {str(tmp_path)!r}
from digest.cli import main
assert main(["feeds", "add", {str(feed)!r}]) == 0
assert main(["refresh"]) == 0
"""
    mods = loaded_after(code)
    assert ui_modules(mods) == []
    assert "jinja2" not in mods
