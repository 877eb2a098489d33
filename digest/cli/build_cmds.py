"""digest build / themes. Jinja2 and css-inline are imported inside the commands, so commands that do not
render (refresh from cron) never pay for them."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from digest.cli import CommandError, Ctx, ExitCode
from digest.core import clock
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.build import BuildResult


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("build", help="render the current draft into HTML, text and .eml files")
    p.add_argument("--theme", help="theme name (default: newsletter.theme in the config)")
    p.add_argument("--out", type=Path, help="folder for the files (default: the data dir's out/)")
    p.add_argument("--open", action="store_true", help="open the HTML in your browser")
    p.add_argument("--auto", action="store_true", help="when nothing is flagged, select by the [select] rules")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--format", choices=("email", "md"), default="email",
                   help="email: HTML, text and .eml (default); md: Markdown for Buttondown, Ghost or Substack")
    p.set_defaults(func=cmd_build)

    themes = sub.add_parser("themes", help="list themes or preview one with the sample feeds")
    tsub = themes.add_subparsers(dest="themes_command", metavar="ACTION")
    p = tsub.add_parser("list", help="built-in and your own themes")
    p.add_argument("--json", action="store_true", help="print the themes as JSON")
    p.set_defaults(func=cmd_themes_list)
    p = tsub.add_parser("preview", help="render the sample feeds with a theme and open the result")
    p.add_argument("name", help="the theme to preview (see `digest themes list`)")
    p.add_argument("--out", type=Path, help="folder for the preview files (default: the cache dir)")
    p.add_argument("--no-open", action="store_true", help="only write the files and print their paths")
    p.set_defaults(func=cmd_themes_preview)
    p = tsub.add_parser("check", help="build the sample feeds with a theme and check it against mail clients' "
                                      "support (caniemail.com data) and the accent colour's contrast")
    p.add_argument("name", help="the theme (built-in or yours)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_themes_check)
    themes.set_defaults(func=lambda ctx, a: (themes.print_help(ctx.stdout), ExitCode.USAGE)[1])


def _check_theme(ctx: Ctx, name: str | None) -> str:
    from digest.core.themes import ThemeError, list_themes

    name = name or ctx.config.newsletter.theme
    try:
        names = [t.name for t in list_themes(ctx.paths)]
    except ThemeError as e:
        raise CommandError(str(e), ExitCode.USAGE) from None
    if name not in names:
        raise CommandError(f"unknown theme {name!r} (available: {', '.join(names)})", ExitCode.USAGE)
    return name


def _open(path: Path) -> None:
    import webbrowser  # not at import: it pulls in subprocess and shutil for every command

    webbrowser.open(path.resolve().as_uri())


def cmd_build(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.build import BuildError, build_digest
    from digest.core.themes import ThemeError

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {args.out}: not a folder (it is a file)", ExitCode.USAGE)
    if args.format == "md":
        return _build_markdown(ctx, args)
    theme = _check_theme(ctx, args.theme)
    try:
        result = build_digest(ctx.store, ctx.config, ctx.paths, theme=theme, out_dir=args.out, auto=args.auto)
    except BuildError as e:
        raise CommandError(str(e), ExitCode.NOTHING_TO_SEND) from None
    except ThemeError as e:
        raise CommandError(f"theme error: {e}", ExitCode.USAGE) from None
    if args.json:
        ctx.json(result.to_json())
    else:
        n = result.story_count
        ctx.out(f"digest #{result.digest.number}: {count(n, 'story', 'stories')}, "
                f"{result.html_bytes / 1000:.1f} KB HTML, theme {theme}")
        ctx.out(f"  subject: {result.subject}")
        for p in (result.html_path, result.text_path, result.eml_path):
            ctx.out(f"  {p}")
        for note in result.notes:
            ctx.out(f"note: {note}")
    if args.open:
        _open(result.html_path)
    return ExitCode.OK


def _build_markdown(ctx: Ctx, args: argparse.Namespace) -> int:
    """digest-N.md: the draft as Markdown (no theme, no size budget: the newsletter platform styles it)."""

    from digest.core.build import NOTHING_TO_BUILD
    from digest.core.fsutil import atomic_write
    from digest.core.publish import render_markdown
    from digest.core.render import build_context
    from digest.core.select import auto_select, draft_sections

    store, config = ctx.store, ctx.config
    now = clock.now_local()
    draft = store.draft()
    if (draft is None or not store.digest_items(draft.id)) and args.auto:
        auto_select(store, config, now=now.timestamp())
        draft = store.draft()
    if draft is None or not store.digest_items(draft.id):
        raise CommandError(NOTHING_TO_BUILD, ExitCode.NOTHING_TO_SEND)
    text = render_markdown(build_context(store, config, draft, draft_sections(store, config, draft.id), now))
    out = Path(args.out) if args.out is not None else ctx.paths.output_dir
    path = atomic_write(out / f"digest-{draft.number}.md", text)
    if args.json:
        ctx.json({"digest": draft.to_json(), "markdown": str(path)})
    else:
        ctx.out(f"digest #{draft.number}: Markdown for pasting into a newsletter platform")
        ctx.out(f"  {path}")
    return ExitCode.OK


def cmd_themes_list(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.themes import ThemeError, list_themes

    try:
        themes = list_themes(ctx.paths)
    except ThemeError as e:
        raise CommandError(str(e), ExitCode.USAGE) from None
    default = ctx.config.newsletter.theme
    if args.json:
        ctx.json([
            {"name": t.name, "description": t.description, "path": str(t.path), "builtin": t.builtin,
             "extends": t.extends, "default": t.name == default}
            for t in themes
        ])
        return ExitCode.OK
    width = max((len(t.name) for t in themes), default=0)
    for t in themes:
        mark = "*" if t.name == default else " "
        origin = "built-in" if t.builtin else f"yours, {t.path}"
        ext = f", extends {t.extends}" if t.extends else ""
        ctx.out(f"{mark} {t.name:<{width}}  {t.description} ({origin}{ext})")
    return ExitCode.OK


def cmd_themes_preview(ctx: Ctx, args: argparse.Namespace) -> int:
    name = _check_theme(ctx, args.name)
    result = _build_samples(ctx, name, args.out or ctx.paths.cache_dir / "previews" / name)
    ctx.out(f"preview of theme {name}: {result.story_count} sample stories, {result.html_bytes / 1000:.1f} KB")
    for p in (result.html_path, result.text_path, result.eml_path):
        ctx.out(f"  {p}")
    if not args.no_open:
        _open(result.html_path)
    return ExitCode.OK


def cmd_themes_check(ctx: Ctx, args: argparse.Namespace) -> int:
    """The same check the built-in themes pass in tests/test_client_support.py, for any theme."""
    from digest.core.clientsupport import check

    name = _check_theme(ctx, args.name)
    result = _build_samples(ctx, name, ctx.paths.cache_dir / "previews" / name)
    problems, allowed, unknown = check(result.html_path.read_text(encoding="utf-8"))
    notes = [n for n in result.notes if "accent_color" in n]
    if args.json:
        ctx.json({"theme": name, "html": str(result.html_path), "problems": [f.line() for f in problems],
                  "unknown": unknown, "allowed": [{"feature": f.slug, "fallback": f.allowed} for f in allowed],
                  "contrast": notes})
    else:
        for f in problems:
            ctx.out(f"problem: {f.line()}")
        for u in unknown:
            ctx.out(f"unknown to the support data and the allowlist: {u}")
        for n in notes:
            ctx.out(f"contrast: {n}")
        verdict = "fails" if problems or unknown else "ok"
        ctx.out(f"theme {name} {verdict}: {len(problems)} unsupported feature(s), {len(unknown)} unknown, "
                f"{len(allowed)} with a documented fallback (themes/_support/allowlist.toml)")
    return ExitCode.FAILURE if problems or unknown else ExitCode.OK


def _build_samples(ctx: Ctx, name: str, out: Path) -> BuildResult:
    """Build the sample feeds with a theme. The samples go into a throwaway store under the cache dir:
    the user's store is not touched."""
    import shutil
    import tempfile
    from datetime import UTC, datetime, timedelta

    from digest.core.build import build_digest
    from digest.core.feeds import load_sample_feeds
    from digest.core.select import auto_select
    from digest.core.store import Store
    from digest.core.themes import ThemeError

    config = ctx.config
    # a preview shows everything in the samples, however old they are by now
    config = dataclasses.replace(
        config, select=dataclasses.replace(config.select, since_last_digest=False, max_age_hours=24 * 365),
    )
    ctx.paths.cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="preview-", dir=ctx.paths.cache_dir))
    try:
        with Store(tmp / "preview.db") as store:
            load_sample_feeds(store, config)
            newest = store.newest_published()
            now = datetime.fromtimestamp(newest, UTC) + timedelta(hours=1) if newest else clock.now_utc()
            auto_select(store, config, now=now.timestamp())
            try:
                result = build_digest(store, config, ctx.paths, theme=name, out_dir=out, now=now)
            except ThemeError as e:
                raise CommandError(f"theme error: {e}", ExitCode.USAGE) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
