"""digest store stats | check | prune | vacuum | backup | restore."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from digest.cli import CommandError, Ctx, ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    st = sub.add_parser("store", help="the store file: stats, check, prune, vacuum, backup, restore")
    ssub = st.add_subparsers(dest="store_command", metavar="ACTION")
    p = ssub.add_parser("stats", help="stories by state, bytes per table, oldest story, feeds, WAL size")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(func=cmd_store_stats)
    p = ssub.add_parser("check", help="integrity and search-index consistency (exit 1 naming the problem)")
    p.set_defaults(func=cmd_store_check)
    p = ssub.add_parser("prune", help="remove what the [store] retention settings allow (runs by itself "
                        "after every refresh)")
    p.add_argument("--dry-run", action="store_true", help="say how many stories would go; remove nothing")
    p.set_defaults(func=cmd_store_prune)
    p = ssub.add_parser("vacuum", help="rewrite the file compactly (holds the store while it runs)")
    p.set_defaults(func=cmd_store_vacuum)
    p = ssub.add_parser("backup", help="a consistent copy, safe while the TUI or a refresh runs")
    p.add_argument("file", type=Path, help="the copy to write (replaced if it exists)")
    p.set_defaults(func=cmd_store_backup)
    p = ssub.add_parser("restore", help="put a backup in place of the store (the old file is kept beside it)")
    p.add_argument("file", type=Path, help="a backup written by `digest store backup`")
    p.add_argument("--force", action="store_true",
                   help="restore a backup older than the archive's last issue (its stories may be sent again)")
    p.set_defaults(func=cmd_store_restore)

    def usage(ctx: Ctx, a: argparse.Namespace) -> int:
        st.print_help(ctx.stdout)
        return ExitCode.USAGE

    st.set_defaults(func=usage)


def _mb(n: int | None) -> str:
    return f"{(n or 0) / 1e6:,.1f} MB"


def _date(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") if ts else "-"


def cmd_store_stats(ctx: Ctx, args: argparse.Namespace) -> int:
    stats = ctx.store.stats()
    if args.json:
        ctx.json(stats)
        return ExitCode.OK
    s = stats["stories"]
    ctx.out(f"{stats['path']} (schema {stats['schema']}, auto_vacuum {stats['auto_vacuum']})")
    ctx.out(f"stories: {s['all']:,} ({s['unread']:,} unread, {s['read']:,} read, {s['flagged']:,} flagged, "
            f"{s['issued']:,} in issued digests); oldest first seen {_date(stats['oldest_seen_at'])}")
    ctx.out(f"feeds: {stats['feeds']:,}; digests: {stats['digests']:,}; seen ids of pruned stories: "
            f"{stats['seen_ids']:,}; sent links: {stats['sent_links']:,}")
    a = stats["articles"]
    ctx.out(f"articles: {a['ok']:,} fetched, {a['failed']:,} could not be fetched")
    per = f", {stats['bytes_per_story']:,} bytes a story" if stats["bytes_per_story"] else ""
    ctx.out(f"file: {_mb(stats['file_bytes'])} ({_mb(stats['free_bytes'])} free){per}; "
            f"WAL: {_mb(stats['wal_bytes'])}")
    for name, size in stats["tables"].items():
        ctx.out(f"  {name:<16} {_mb(size):>10}")
    return ExitCode.OK


def cmd_store_check(ctx: Ctx, args: argparse.Namespace) -> int:
    result = ctx.store.check_store()
    if result.ok:
        ctx.out(f"{ctx.store.path}: ok")
        return ExitCode.OK
    for problem in result.problems:
        ctx.err(f"digest: store check: {problem}")
    return ExitCode.FAILURE


def cmd_store_prune(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.store.retention import Retention

    report = ctx.store.prune(Retention.of(ctx.config.store), dry_run=args.dry_run)
    ctx.out(report.summary_line())
    return ExitCode.OK


def cmd_store_vacuum(ctx: Ctx, args: argparse.Namespace) -> int:
    before, after = ctx.store.vacuum()
    ctx.out(f"{ctx.store.path}: {_mb(before)} -> {_mb(after)}")
    return ExitCode.OK


def cmd_store_backup(ctx: Ctx, args: argparse.Namespace) -> int:
    target: Path = args.file
    if target.is_dir():
        raise CommandError(f"store backup: {target} is a folder; name the file to write", ExitCode.USAGE)
    if target.resolve() == ctx.paths.db_file.resolve():
        raise CommandError("store backup: that is the store itself; name another file", ExitCode.USAGE)
    size = ctx.store.backup(target)
    ctx.out(f"backed up {ctx.store.path} to {target} ({_mb(size)})")
    return ExitCode.OK


def cmd_store_restore(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.store import MIGRATIONS
    from digest.core.store.maintenance import check_backup, restore

    ctx.close()  # this process must not hold the store it replaces
    ctx.paths.ensure()
    if not args.force and not check_backup(args.file, len(MIGRATIONS)):
        _refuse_a_backup_behind_the_archive(ctx, args.file)
    aside = restore(ctx.paths.db_file, args.file, len(MIGRATIONS))
    ctx.out(f"restored {ctx.paths.db_file} from {args.file}"
            + (f"; the store it replaced is at {aside}" if aside.exists() else ""))
    return ExitCode.OK


def _refuse_a_backup_behind_the_archive(ctx: Ctx, backup: Path) -> None:
    """A backup from before the last issues went out does not know them: the next run would give its issue
    one of their numbers (overwriting that issue's archive) and send their stories again, since what was
    sent is known only from the store. The archive's manifests say which issues went out."""
    from digest.core.archive import list_issues
    from digest.core.store.maintenance import backup_last_issue

    known = backup_last_issue(backup)
    lacking = [m for m in list_issues(ctx.paths)
               if int(m["number"]) > known and m.get("status") in ("built", "sent")]
    if not lacking:
        return
    newest = lacking[0]
    more = f" and {len(lacking) - 1} before it" if len(lacking) > 1 else ""
    raise CommandError(
        f"store restore: {backup} is older than the archive's issue #{newest['number']}{more} "
        f"({newest['status']} {str(newest.get('sent_at') or newest.get('date') or '')[:10]}): the next issue would "
        f"take its number and send its stories again; restore a newer backup, or pass --force",
        ExitCode.FAILURE)
