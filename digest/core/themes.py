"""Themes: finding them (built-in and the user's), the Jinja2 environment, and the filters templates use.

A theme is a folder with theme.toml, email.html.j2, email.txt.j2 and style.css (themes/README.md). User
themes may extend built-in ones; a broken template is reported with its file and line (ThemeError).
"""

from __future__ import annotations

import html as htmllib
import re
import sys
import tomllib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
import jinja2
import nh3
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from digest.core.paths import Paths, builtin_themes_dir
from digest.core.record import record
from digest.core.sanitize import bound_depth
from digest.core.textclean import clean_line

BLURB_CHARS = 300  # about three lines in a 600 px column
TEXT_WIDTH = 72
ASSUMED_RATIO = 2 / 3  # news photos without dimensions are almost always 3:2
SAFE_SCHEMES = ("http", "https", "mailto")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+")
# A period after one of these is an abbreviation, not a sentence end: news copy is full of them ("Microsoft
# Corp. President Brad Smith", "Redmond, Wash., the company"), and a blurb cut there reads as finished.
_ABBREVIATION_WORDS = (
    "mr mrs ms dr prof sr jr st mt ft rev gov sen rep gen lt col capt sgt pres inc corp co ltd llc plc bros "
    "dept univ assn no vs approx est fig al jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed "
    "thu thur thurs fri sat sun ala ariz ark calif colo conn del fla ga ill ind kan ky la md mass mich minn "
    "miss mo mont neb nev okla ore pa tenn tex va vt wash wis wyo"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_ABBREVIATED = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")  # an initial ("J.") or a dotted one ("U.S.", "B.C.")


class ThemeError(Exception):
    """A theme that cannot be used; the message names the theme file and line when there is one."""


@record
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


@lru_cache(maxsize=8)
def environment(user_dir: Path, sandboxed: bool = True) -> jinja2.Environment:
    """One environment per user-theme folder (compiled templates are cached; auto_reload sees edits).
    Template names are "<theme>/<file>"; "builtin/<theme>/<file>" always means the shipped one.

    A user theme is a template someone may have shared, and a plain Jinja2 template can walk from any
    object to Python's internals (`cycler.__init__.__globals__.os`) and run commands. So user themes are
    rendered sandboxed (jinja2.sandbox): attributes starting with "_" and the internals of functions
    are refused, and a template reaches only its context and the filters below. The built-in themes,
    which ship with digest, render in a plain environment whose loader sees the built-in folder only
    (no user file can end up in it): the sandbox's checks on every attribute and call made the geekwire
    template 1.2-1.75x slower (tests/bench/bench_build.py, "sandbox" line). Use `environment_for`."""
    builtin = str(builtin_themes_dir())
    shipped: list[jinja2.BaseLoader] = [
        jinja2.FileSystemLoader(builtin),
        jinja2.PrefixLoader({"builtin": jinja2.FileSystemLoader(builtin)}),
    ]
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(user_dir)), *shipped] if sandboxed else shipped)
    kind = SandboxedEnvironment if sandboxed else jinja2.Environment
    env = kind(
        loader=loader,
        autoescape=lambda name: bool(name and not name.endswith(".txt.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(wrap=wrap, fit=fit, datefmt=datefmt, trim=trim_text, linkify=linkify, upper_first=upper_first)
    return env


def environment_for(chain: list[ThemeInfo], user_dir: Path) -> jinja2.Environment:
    """The sandboxed environment when any theme of the chain is the user's, else the built-ins' own."""
    return environment(user_dir, sandboxed=not all(t.builtin for t in chain))


def run_template(chain: list[ThemeInfo], env: jinja2.Environment, file: str, ctx: dict[str, Any]) -> str:
    found = find_file(chain, file)
    if found is None:
        raise ThemeError(f"theme {chain[0].name!r} has no {file} (looked in {chain[0].path})")
    try:
        return env.get_template(found[1]).render(ctx)
    except jinja2.TemplateSyntaxError as e:
        raise ThemeError(f"{e.filename or found[1]}:{e.lineno}: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise ThemeError(f"{found[0].path / file}: template {e.name!r} not found") from None
    except SecurityError as e:  # the sandbox refused what the template reached for
        where = template_frame(sys.exc_info()[2])
        at = f"{where[0]}:{where[1]}" if where else found[0].path / file
        raise ThemeError(f"{at}: refused by the theme sandbox: {e}") from None
    except Exception as e:  # an error inside a template: report the template's file and line
        where = template_frame(sys.exc_info()[2])
        if where is None:
            raise
        raise ThemeError(f"{where[0]}:{where[1]}: {type(e).__name__}: {e}") from e


def template_frame(tb: Any) -> tuple[str, int] | None:
    where = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return where


@lru_cache(maxsize=16)
def inliner(css: str) -> css_inline.CSSInliner:
    # keep_at_rules leaves @media (responsive, dark mode) in one <style> in <head>; remote stylesheets
    # are never fetched (a build must not touch the network).
    return css_inline.CSSInliner(extra_css=css, keep_at_rules=True, load_remote_stylesheets=False)


def theme_css(chain: list[ThemeInfo]) -> str:
    found = find_file(chain, "style.css")
    return (found[0].path / "style.css").read_text(encoding="utf-8") if found else ""


# -- safe values --------------------------------------------------------------------------------------


def safe_url(url: str | None, schemes: tuple[str, ...] = SAFE_SCHEMES) -> str | None:
    """The URL if it is absolute and http/https/mailto, else None. Control characters and spaces are
    removed first, as browsers do, so "java\\tscript:" is seen for what it is."""
    if not url:
        return None
    url = _CONTROL.sub("", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return url


def plain(text: str | None) -> str:
    """Text that may contain markup, as plain text: nh3 drops tags (and script/style bodies). Control
    characters go too (a row stored before ingestion cleaned them must not reach a Subject)."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        # nesting bounded first: nh3's parser is quadratic in depth (digest.core.sanitize.bound_depth)
        text = htmllib.unescape(nh3.clean(bound_depth(text), tags=set()))
    out = " ".join(text.split())
    return out if out.isprintable() else clean_line(out)


def typed(text: str | None) -> str:
    """What the editor typed (a headline of their own, a blurb), as one line: their words are text, not
    HTML. Through `plain`, "grew from <5% to 12%; a<b and the <kelp> farm" lost "<b and the <kelp>" to the
    HTML parser; the templates escape it like any other string."""
    if not text:
        return ""
    out = " ".join(text.split())
    return out if out.isprintable() else clean_line(out)


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    """Whether the punctuation before `m` (a _SENTENCE_END match) ends a sentence. Wrong guesses cost
    differently: a missed end only moves the cut to an earlier sentence or a word with "…", while a false
    one ("... in Vancouver, B.C.") leaves a blurb that stops mid-sentence and looks complete."""
    following = text[m.end():m.end() + 1]
    if following and following.islower():  # "B.C. over the next year": the sentence goes on
        return False
    before = text[:m.start()].rstrip("\"'”’)")
    if not before.endswith("."):
        return True  # ! ? …
    word = before[:-1].rsplit(" ", 1)[-1].lstrip("\"'“‘(")
    return not (word.lower() in _ABBREVIATIONS or _ABBREVIATED.fullmatch(word))


def trim_text(text: str, limit: int = BLURB_CHARS) -> str:
    """Cut at the last sentence end before `limit`, else at a word, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    ends = [m.start() for m in _SENTENCE_END.finditer(head) if _ends_sentence(text, m)]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]].rstrip()
    cut = head.rsplit(" ", 1)[0] if " " in head else head[:limit]
    return cut.rstrip(" ,;:-–—") + "…"


def fit(image: dict[str, Any] | None, width: int) -> tuple[int, int]:
    """(width, height) to show an image at `width` px, keeping its ratio."""
    if not image:
        return width, round(width * ASSUMED_RATIO)
    return width, max(1, round(width * image["height"] / image["width"]))


def datefmt(value: datetime | None, fmt: str = "%b %-d, %Y") -> str:
    return value.strftime(fmt) if value else ""


def wrap(text: str, width: int = TEXT_WIDTH, indent: str = "", first: str | None = None) -> str:
    """Greedy word wrap for the text part. URLs and long words are never broken (a broken URL is a dead
    link). Hand-rolled because textwrap was a third of the build time with 50 stories."""
    lines: list[str] = []
    cur = indent if first is None else first
    empty = True
    for word in str(text).split():
        if not empty and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur, empty = indent + word, False
        else:
            cur, empty = (cur + word) if empty else f"{cur} {word}", False
    if not empty:
        lines.append(cur)
    return "\n".join(lines)


def upper_first(s: str) -> str:
    return s[:1].upper() + s[1:]


_URL = re.compile(r"(?:https?|mailto):[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain text as HTML: escaped, line breaks kept, http(s)/mailto URLs made links (plain theme)."""
    out, pos = [], 0
    for m in _URL.finditer(text):
        out.append(escape(text[pos:m.start()]))
        url = m.group(0).rstrip(".,;:)")
        safe = safe_url(url)
        out.append(Markup('<a href="{0}">{0}</a>').format(url) if safe else escape(url))
        pos = m.start() + len(url)
    out.append(escape(text[pos:]))
    return Markup("").join(out).replace("\n", Markup("<br>\n"))
