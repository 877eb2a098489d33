"""digest feeds / refresh / stories / flag / unflag / config, and the TUI entry."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from digest.cli import CommandError, Ctx, ExitCode, positive_int, store_int
from digest.core import clock
from digest.core.config import SAMPLE_CONFIG, config_as_dict
from digest.core.fsutil import atomic_write
from digest.core.models import Story
from digest.core.store import StoryQuery
from digest.core.textclean import terminal_safe
from digest.core.wording import count


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    feeds = sub.add_parser("feeds", help="add, list, remove, import and export feeds")
    fsub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION")
    p = fsub.add_parser("add", help="add a feed URL, a feed file, or a website (its feed is found)")
    p.add_argument("url", help="a feed's URL, a path to a feed file, or a website (its feed is found)")
    p.add_argument("--section", default="", help="the digest section its stories go to")
    p.add_argument("--title", default="", help="a name for the feed (default: the feed's own title)")
    p.add_argument("--full-text", action="store_true",
                   help="fetch the full article of each new story at refresh (for feeds that send only a teaser)")
    p.set_defaults(func=cmd_feeds_add)
    p = fsub.add_parser("list", help="every feed with its health")
    p.add_argument("--json", action="store_true", help="print the feeds as JSON")
    p.set_defaults(func=cmd_feeds_list)
    p = fsub.add_parser("remove", help="remove a feed and its stories")
    p.add_argument("id", type=store_int, help="the feed's id (see `digest feeds list`)")
    p.set_defaults(func=cmd_feeds_remove)
    p = fsub.add_parser("import", help="add the feeds of an OPML file (http and https URLs)")
    p.add_argument("file", help="the OPML file to read")
    p.add_argument("--allow-files", action="store_true",
                   help="also import local feed files, if they are inside the OPML file's folder")
    p.set_defaults(func=cmd_feeds_import)
    p = fsub.add_parser("export", help="write the feeds as OPML (to stdout or FILE)")
    p.add_argument("file", nargs="?", help="the file to write (default: stdout)")
    p.set_defaults(func=cmd_feeds_export)
    feeds.set_defaults(func=lambda ctx, a: _help(feeds, ctx))

    p = sub.add_parser("refresh", help="fetch every feed (or one) and store new stories")
    p.add_argument("--feed", type=store_int, action="append", help="only this feed id (repeatable)")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("stories", help="list stories, newest first")
    p.add_argument("--since", help="only stories newer than this: 24h, 3d, 2w, 90m or an ISO date")
    p.add_argument("--feed", type=store_int, metavar="ID", help="only stories of this feed id")
    p.add_argument("--section", help="only stories of feeds in this section")
    p.add_argument("--search", metavar="Q", help='search titles and summaries: every word, "a phrase", '
                   "a OR b, -word (write --search=-word)")
    p.add_argument("--flagged", action="store_true", help="only stories flagged for the next digest")
    p.add_argument("--unread", action="store_true", help="only unread stories")
    p.add_argument("--hidden", action="store_true",
                   help="only the stories reader rules hide ([[rules]]; they are left out otherwise)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="at most N stories (default: all)")
    p.add_argument("--json", action="store_true", help="print the stories as JSON")
    p.set_defaults(func=cmd_stories)

    p = sub.add_parser("flag", help="put a story in the next digest")
    p.add_argument("id", type=store_int, help="the story's id (see `digest stories`)")
    p.add_argument("--section", help="digest section (default: the feed's section, else the first one)")
    p.add_argument("--blurb", help="your own words about the story")
    p.add_argument("--headline", help="a headline to use instead of the feed's")
    p.add_argument("--force", action="store_true",
                   help="also a story an earlier issue carried (without --force: exit 2, nothing changed)")
    p.set_defaults(func=cmd_flag)
    p = sub.add_parser("unflag", help="take a story out of the next digest")
    p.add_argument("id", type=store_int, help="the story's id (see `digest stories --flagged`)")
    p.add_argument("--force", action="store_true",
                   help="also when it has your blurb or headline (they go with it; without --force: exit 2)")
    p.set_defaults(func=cmd_unflag)

    cfg = sub.add_parser("config", help="where the config is, what it says, whether it is valid")
    csub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    csub.add_parser("path", help="print the config file's path").set_defaults(func=cmd_config_path)
    p = csub.add_parser("show", help="print the settings in force")
    p.add_argument("--json", action="store_true", help="print the settings as JSON")
    p.set_defaults(func=cmd_config_show)
    p = csub.add_parser("check", help="validate the config (and, with --smtp, the mail server)",
                        description="Exit 0 when the config is usable, warnings included (an accent colour "
                        "with low contrast, which the build corrects); 2 for an error, each named on stderr.")
    p.add_argument("--smtp", action="store_true", help="also connect to the SMTP server and log in")
    p.set_defaults(func=cmd_config_check)
    csub.add_parser("init", help="write a commented starter config if none exists").set_defaults(func=cmd_config_init)
    cfg.set_defaults(func=lambda ctx, a: _help(cfg, ctx))


def _help(parser: argparse.ArgumentParser, ctx: Ctx) -> int:
    parser.print_help(ctx.stdout)
    return ExitCode.USAGE


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.I)


def parse_since(value: str, now: float | None = None) -> float:
    now = clock.now() if now is None else now
    m = _SINCE.match(value)
    if m:
        n, unit = float(m.group(1)), m.group(2).lower()
        return now - n * {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--since: expected 24h, 3d, 2w, 90m or an ISO date, got {value!r}",
                           ExitCode.USAGE) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


# -- feeds ------------------------------------------------------------------------------------------


def cmd_feeds_add(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.feeds import FeedAddError, add_feed

    try:
        feed = add_feed(ctx.store, ctx.config, args.url, section=args.section, title=args.title,
                        full_text=args.full_text)
    except FeedAddError as e:
        raise CommandError(f"cannot add feed: {e}") from None
    ctx.out(f"added feed {feed.id}: {feed.name} <{feed.url}>" + (f" [{feed.section}]" if feed.section else "")
            + (" (full articles fetched at refresh)" if feed.full_text else ""))
    return ExitCode.OK


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    d = max(0, now - ts)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if d >= size:
            return f"{int(d // size)}{unit} ago"
    return "just now"


def cmd_feeds_list(ctx: Ctx, args: argparse.Namespace) -> int:
    feeds = ctx.store.list_feeds()
    if args.json:
        ctx.json([f.to_json() for f in feeds])
        return ExitCode.OK
    if not feeds:
        ctx.out("no feeds yet: `digest feeds add URL` or `digest feeds import FILE.opml`")
        return ExitCode.OK
    now = clock.now()
    # The one listing whose columns are bare values (a section name, a count, an HTTP status), so the one
    # with a header row; like `subscribers list`, `archive list` and `rules list` it ends with a count line.
    # Both are printed to a pipe as well: the text is for people (`--json` is for scripts) and reads the
    # same in `| less`.
    row = "{:>4}  {:<40}  {:<14}  {:>7}  {:<9}  {}"
    ctx.out(row.format("ID", "FEED", "SECTION", "STORIES", "LAST OK", "STATUS (URL below)"))
    states = {"ok": 0, "failing": 0, "disabled": 0, "never fetched": 0}
    for f in feeds:
        health = f.last_status or "never fetched"
        if f.disabled:  # first: a feed that answered 410 Gone is not fetched again, so not "failing"
            health, state = f"disabled: {f.last_error}", "disabled"
        elif f.consecutive_failures:
            health, state = f"FAILING x{f.consecutive_failures}: {f.last_error}", "failing"
        else:
            state = "ok" if f.last_status else "never fetched"
        states[state] += 1
        ctx.out(row.format(f.id, f.name[:40], f.section[:14], f.story_count, _ago(f.last_success_at, now), health))
        ctx.out(f"      {f.url}")
    ctx.out(f"{count(len(feeds), 'feed')}: "
            + ", ".join(f"{n} {state}" for state, n in states.items() if n))
    return ExitCode.OK


def cmd_feeds_remove(ctx: Ctx, args: argparse.Namespace) -> int:
    feed = ctx.store.remove_feed(args.id)
    ctx.out(f"removed feed {feed.id}: {feed.name} and its {count(feed.story_count, 'story', 'stories')}")
    return ExitCode.OK


def cmd_feeds_import(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.feeds import import_opml
    from digest.core.opml import OpmlError

    try:
        result = import_opml(ctx.store, args.file, allow_files=args.allow_files)
    except OpmlError as e:
        raise CommandError(str(e)) from None
    except FileNotFoundError:
        raise CommandError(f"{args.file}: no such file") from None
    added, skipped, refused = result.added, result.skipped, result.refused
    repeated = sum(d.in_file for d in skipped)
    # every entry counted once, so the parts add up to the file's entries
    parts = [f"{len(added)} imported"] + [f"{n} {what}" for n, what in (
        (len(skipped) - repeated, "already subscribed"), (repeated, "repeated in the file"),
        (len(refused), "refused")) if n]
    ctx.out(f"imported {count(len(added), 'feed')} from {args.file}"
            + (f" ({result.entries} entries: {', '.join(parts)})" if skipped or refused else "")
            + ("; run `digest refresh` to fetch them" if added else ""))
    for d in skipped:  # not a problem (stdout), but named: the user may wonder where an entry went
        title = f'"{terminal_safe(d.title)[:80]}" ' if d.title else ""
        same = (f"repeated in the file (imported above as feed {d.feed.id})" if d.in_file
                else f"already subscribed as feed {d.feed.id} ({terminal_safe(d.feed.name)[:80]})")
        ctx.out(f"  skipped {title}<{terminal_safe(d.entry)[:200]}>: {same}")
    for entry, why in refused:
        ctx.err(f"  refused {terminal_safe(entry)[:200]}: {why}")
    # a file whose every entry was refused did nothing: say so in the exit status too
    return ExitCode.FAILURE if refused and not added and not skipped else ExitCode.OK


def cmd_feeds_export(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.feeds import export_opml

    text = export_opml(ctx.store)
    if args.file:
        atomic_write(Path(args.file), text)
        ctx.out(f"wrote {len(ctx.store.list_feeds())} feeds to {args.file}")
    else:
        ctx.stdout.write(text)
    return ExitCode.OK


# -- refresh ----------------------------------------------------------------------------------------


class _Bar:
    """A one-line progress bar for terminals; cron (no TTY) gets none."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __call__(self, result: Any, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        name = terminal_safe(result.name)[:40]
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name:<40}")
        self.stream.flush()
        if done == total:
            self.stream.write("\r" + " " * (width + 55) + "\r")
            self.stream.flush()


def cmd_refresh(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.refresh import refresh

    store = ctx.store
    if args.feed:
        for fid in args.feed:
            store.get_feed(fid)  # NotFoundError names the id
    if store.feed_count() == 0:
        ctx.out("no feeds to refresh: `digest feeds add URL` first")
        return ExitCode.OK
    show_bar = ctx.tty and not args.json and getattr(ctx.stderr, "isatty", lambda: False)()
    report = refresh(store, ctx.config, args.feed, _Bar(ctx.stderr) if show_bar else None)
    if args.json:
        ctx.json(report.to_json())
    else:
        ctx.out(report.summary_line())
        for r in report.errors:
            ctx.err(f"  feed {r.feed_id} {r.name}: {r.error}")
    return ExitCode.FAILURE if report.results and report.failed == len(report.results) else ExitCode.OK


# -- stories and flags ------------------------------------------------------------------------------


def cmd_stories(ctx: Ctx, args: argparse.Namespace) -> int:
    q = StoryQuery(
        since=parse_since(args.since) if args.since else None, feed_id=args.feed, section=args.section,
        search=args.search, flagged=args.flagged, unread=args.unread, limit=args.limit, hidden=args.hidden,
    )
    stories = ctx.store.stories(q)
    if args.json:
        ctx.json([s.to_json() for s in stories])
        return ExitCode.OK
    for s in stories:
        ctx.out(_story_line(s))
    if not stories:
        ctx.err("no stories match")
    return ExitCode.OK


def _story_line(s: Story) -> str:
    mark = "*" if s.flagged else ("." if not s.read else " ")
    date = s.published.strftime("%Y-%m-%d %H:%M")
    return f"{s.id:>6} {mark} {date}  {s.feed_title[:22]:<22}  {s.title}"


def default_section(ctx: Ctx, story: Story) -> str:
    cfg = ctx.config
    sec = cfg.section(story.feed_section) if story.feed_section else None
    return sec.name if sec else cfg.sections[0].name


def cmd_flag(ctx: Ctx, args: argparse.Namespace) -> int:
    story = ctx.store.get_story(args.id)
    section = args.section or story.draft_section or default_section(ctx, story)
    known = ctx.config.section(section)
    if known is None:
        names = ", ".join(ctx.config.section_names())
        raise CommandError(f"--section: no section {section!r} in the config (sections: {names})", ExitCode.USAGE)
    sent = None if story.flagged or args.force else ctx.store.sent_in(story.id)
    if sent is not None:
        # digest sends a story once; a flag is a person's choice, so it may be sent again, but not by accident
        raise CommandError(f"story {story.id} went out in digest #{sent} already: `digest flag {story.id} --force` "
                           "puts it in the next one too (nothing changed)", ExitCode.USAGE)
    ctx.store.flag(story.id, known.name, blurb=args.blurb, headline=args.headline)
    draft = ctx.store.draft()
    n = len(ctx.store.digest_items(draft.id)) if draft else 0
    ctx.out(f"flagged {story.id} for digest #{draft.number if draft else '?'} [{known.name}]: {story.title} "
            f"({count(n, 'story', 'stories')} in the draft)")
    return ExitCode.OK


def cmd_unflag(ctx: Ctx, args: argparse.Namespace) -> int:
    story = ctx.store.get_story(args.id)
    mine = [what for what, value in (("blurb", story.blurb), ("headline", story.headline)) if value]
    if story.flagged and mine and not args.force:
        # nothing lost by one command: the words typed into a blurb are the editor's work
        raise CommandError(f"story {story.id} has your {' and '.join(mine)}: `digest unflag {story.id} --force` "
                           f"drops {'them' if len(mine) > 1 else 'it'} with the story (nothing changed)",
                           ExitCode.USAGE)
    if ctx.store.unflag(story.id):
        ctx.out(f"unflagged {story.id}: {story.title}")
    else:
        ctx.out(f"story {story.id} was not flagged")
    return ExitCode.OK


# -- config -----------------------------------------------------------------------------------------


def cmd_config_path(ctx: Ctx, args: argparse.Namespace) -> int:
    ctx.out(str(ctx.paths.config_file))
    return ExitCode.OK


def cmd_config_show(ctx: Ctx, args: argparse.Namespace) -> int:
    data = config_as_dict(ctx.config)
    if args.json:
        ctx.json(data)
        return ExitCode.OK
    ctx.out(f"# {ctx.paths.config_file}" + ("" if ctx.config.source else " (not present: defaults in force)"))
    for table in ("newsletter", "refresh", "select", "articles", "smtp", "store"):
        ctx.out(f"\n[{table}]")
        for k, v in data[table].items():
            ctx.out(f"{k} = {_toml_value(v)}")
    for s in data["sections"]:
        ctx.out("\n[[sections]]")
        for k, v in s.items():
            ctx.out(f"{k} = {_toml_value(v)}")
    if data["keys"]:
        ctx.out("\n[keys]")
        for k, v in data["keys"].items():
            ctx.out(f"{k} = {_toml_value(v)}")
    for r in data["rules"]:
        ctx.out("\n[[rules]]")
        for k, v in r.items():
            ctx.out(f"{k} = {_toml_value(v)}")
    ctx.out(f"\n# data: {ctx.paths.data_dir}\n# logs: {ctx.paths.log_dir}")
    return ExitCode.OK


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, ensure_ascii=False)


def _has_subscribers(ctx: Ctx) -> bool:
    from digest.core.store import StoreError

    try:
        return bool(ctx.store.subscribers("active"))
    except StoreError:  # a damaged store is reported by `digest store check`; the config is judged alone
        return False


def cmd_config_check(ctx: Ctx, args: argparse.Namespace) -> int:
    cfg = ctx.config  # raises ConfigError (exit 2) naming the key
    problems: list[str] = []
    from digest.core.themes import ThemeError, list_themes, theme_chain

    theme = cfg.newsletter.theme  # a name, never a path: parse_config refused "/etc" or "../x"
    try:  # the theme and every theme it extends, as a build finds them
        theme_chain(theme, {t.name: t for t in list_themes(ctx.paths)})
    except ThemeError as e:
        problems.append(f"newsletter.theme: {e}")
    from digest.core.emailcss import accent_palette, accent_unreadable

    # A colour that cannot be read is ignored by the build (the default is used): an error. A readable one
    # with low contrast is corrected by the build (darker labels, dark text on the band) and only noted
    # there, so here it is a warning too: it must not fail a cron job that checks the config first.
    warnings: list[str] = []
    unreadable = accent_unreadable(cfg.newsletter.accent_color)
    if unreadable:
        problems.append(unreadable)
    else:
        warnings += accent_palette(cfg.newsletter.accent_color).problems  # the setting, colours and ratios
    if cfg.keys:
        from digest.tui.keys import check_keymap  # the binding ids live in the TUI

        problems += check_keymap(cfg.keys)
    if args.smtp or cfg.smtp.host:
        from digest.core import smtp

        # the settings always; with --smtp also a real connect + TLS + AUTH (nothing is sent)
        problems += smtp.config_check_smtp(cfg) if args.smtp else smtp.smtp_problems(cfg)
        if smtp.NO_RECIPIENTS in problems and ctx.paths.db_file.exists() and _has_subscribers(ctx):
            problems.remove(smtp.NO_RECIPIENTS)  # digest subscribers add: the table is the list
    where = str(ctx.paths.config_file) if cfg.source else f"{ctx.paths.config_file} (absent: defaults)"
    for w in warnings:
        ctx.err(f"digest: config warning: {w}")
    if problems:
        for p in problems:
            ctx.err(f"digest: config: {p}")
        return ExitCode.USAGE
    counted = f" ({count(len(warnings), 'warning')})" if warnings else ""
    ctx.out(f"config ok: {where}{counted}")
    return ExitCode.OK


def cmd_config_init(ctx: Ctx, args: argparse.Namespace) -> int:
    path = ctx.paths.config_file
    if path.exists():
        raise CommandError(f"{path} exists already; edit it, or remove it first")
    atomic_write(path, SAMPLE_CONFIG)
    ctx.out(f"wrote {path}")
    return ExitCode.OK


# -- the TUI ----------------------------------------------------------------------------------------


def cmd_tui(ctx: Ctx, args: argparse.Namespace) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise CommandError("the TUI needs a terminal; from cron or scripts use a command, e.g. `digest run` "
                           "(see `digest --help`)", ExitCode.USAGE)
    ctx.config  # noqa: B018 - a bad config fails here with the key named, before the screen opens
    ctx.store  # noqa: B018 - and a store that is not a readable database, with its one line
    ctx.close()
    from digest.tui.app import run_app  # deferred: Textual costs ~150 ms to import

    return int(run_app(ctx.paths))
