"""Finding themes: the built-in and the user's, and the chain of themes one extends (no Jinja2 here).

Kept apart from themes.py, which loads Jinja2 and css-inline (~30-50 ms): `digest run` checks its theme
before the refresh, and `digest config check` checks it too, without paying for the renderer.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.core.paths import Paths, builtin_themes_dir


class ThemeError(Exception):
    """A theme that cannot be used; the message names the theme file and line when there is one."""


@dataclass(slots=True)
class ThemeInfo:
    name: str
    description: str
    path: Path
    builtin: bool
    extends: str | None


# -- themes -----------------------------------------------------------------------------------------


def read_theme(d: Path, builtin: bool) -> ThemeInfo | None:
    if not (d / "email.html.j2").is_file() and not (d / "theme.toml").is_file():
        return None
    meta: dict[str, Any] = {}
    if (d / "theme.toml").is_file():
        try:
            meta = tomllib.loads((d / "theme.toml").read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ThemeError(f"{d / 'theme.toml'}: {e}") from None
    extends = meta.get("extends")
    return ThemeInfo(d.name, str(meta.get("description", "")), d, builtin, str(extends) if extends else None)


def list_themes(paths: Paths) -> list[ThemeInfo]:
    """Built-in themes, then the user's; a user theme with a built-in's name replaces it."""
    found: dict[str, ThemeInfo] = {}
    for root, builtin in ((builtin_themes_dir(), True), (paths.user_themes_dir, False)):
        if root.is_dir():
            for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
                info = read_theme(d, builtin)
                if info:
                    found[info.name] = info
    return sorted(found.values(), key=lambda t: (not t.builtin, t.name))


def template_name(t: ThemeInfo, file: str) -> str:
    return f"{'builtin/' if t.builtin else ''}{t.name}/{file}"


def theme_chain(name: str, themes: dict[str, ThemeInfo]) -> list[ThemeInfo]:
    """The theme and the themes it extends, nearest first. A user theme extending a built-in of its own
    name gets the built-in (that is the only way to reach it once shadowed)."""
    if name not in themes:
        raise ThemeError(f"unknown theme {name!r} (available: {', '.join(sorted(themes))})")
    out = [themes[name]]
    while out[-1].extends:
        parent = out[-1].extends
        if parent == out[-1].name or (parent in themes and themes[parent] in out):
            builtin_dir = builtin_themes_dir() / parent
            info = read_theme(builtin_dir, True) if builtin_dir.is_dir() else None
            if info is None or info in out:
                raise ThemeError(f"{out[-1].path / 'theme.toml'}: extends {parent!r}, which is a loop")
            out.append(info)
        elif parent in themes:
            out.append(themes[parent])
        else:
            raise ThemeError(f"{out[-1].path / 'theme.toml'}: extends unknown theme {parent!r}")
    return out


def find_file(chain: list[ThemeInfo], file: str) -> tuple[ThemeInfo, str] | None:
    for t in chain:
        if (t.path / file).is_file():
            return t, template_name(t, file)
    return None
