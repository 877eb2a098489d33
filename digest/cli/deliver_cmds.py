"""digest send / run / archive / cron."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from digest.cli import CommandError, Ctx, ExitCode, store_int
from digest.core.textclean import terminal_safe
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.mail import SendReport


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("send", help="deliver the digest by SMTP (freezes the draft into an issue)",
                       description="Freeze the draft into the next issue, archive it and send one message per "
                       "recipient; rerun after a failure to send only to those not yet sent.")
    p.add_argument("--dry-run", action="store_true",
                   help="write the messages into the archive instead of sending; nothing is recorded")
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="send a proof of the draft to ADDR only (repeatable); nothing is frozen or recorded")
    p.add_argument("--force-unknown", action="store_true",
                   help="resend to recipients an interrupted run left in the unknown state (may duplicate)")
    p.add_argument("--json", action="store_true", help="print the delivery report as JSON")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("run", help="the cron job: lock, refresh, select, build, archive, deliver",
                       description="Exit codes: 0 sent or written, 1 a step failed, 2 config error, "
                       "3 nothing new to send, 75 another run holds the lock.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", "-q", action="store_true", help="print nothing unless something failed")
    g.add_argument("--verbose", "-v", action="store_true", help="copy the log to stderr")
    p.add_argument("--dry-run", action="store_true",
                   help="refresh, select and build, but write the messages into archive/N/dry-run/ instead of "
                   "sending; the draft is left as it was and nothing is marked sent, so it can be repeated")
    p.set_defaults(func=cmd_run)

    arch = sub.add_parser("archive", help="past issues: list, show, open")
    asub = arch.add_subparsers(dest="archive_command", metavar="ACTION")
    p = asub.add_parser("list", help="every archived issue, newest first")
    p.add_argument("--json", action="store_true", help="print the issues as JSON")
    p.set_defaults(func=cmd_archive_list)
    p = asub.add_parser("show", help="one issue's manifest: stories, recipients, delivery status")
    p.add_argument("number", type=store_int, help="the issue's number (see `digest archive list`)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=cmd_archive_show)
    p = asub.add_parser("open", help="open an issue's HTML in the browser (prints its path)")
    p.add_argument("number", type=store_int, help="the issue's number (see `digest archive list`)")
    p.set_defaults(func=cmd_archive_open)
    arch.set_defaults(func=lambda ctx, a: _help(arch, ctx))

    p = sub.add_parser("cron", help="print a crontab line and a systemd user timer for `digest run`")
    p.add_argument("--at", default="07:00", metavar="HH:MM", help="time of day (default 07:00, local time)")
    p.add_argument("--weekly", action="store_true", help="once a week instead of daily")
    p.add_argument("--day", help="the weekday (mon ... sun, or the full name); implies --weekly (default mon)")
    p.add_argument("--json", action="store_true", help="print the schedule as JSON")
    p.set_defaults(func=cmd_cron)


def _help(parser: argparse.ArgumentParser, ctx: Ctx) -> int:
    parser.print_help(ctx.stdout)
    return ExitCode.USAGE


def cmd_send(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core import mail, smtp
    from digest.core.lock import LockHeld
    from digest.core.logsetup import setup_logging
    from digest.core.run import graceful_stop

    setup_logging(ctx.paths)  # every delivery attempt is in the log file, as for `digest run`

    to = smtp.parse_recipients(args.to) if args.to else None
    if args.to and not to:
        raise CommandError("--to: no email address given", ExitCode.USAGE)
    if to:
        from digest.core.subscribers import SubscriberError, valid_address

        try:  # as `subscribers add` checks them: "bad addr" is no proof reader
            for r in to:
                valid_address(r)
        except SubscriberError as e:
            raise CommandError(f"--to: {e} (given: {', '.join(repr(v) for v in args.to)})", ExitCode.USAGE) from None
    show = ctx.tty and not args.json

    def progress(done: int, total: int, recipient: str, status: str) -> None:
        print(f"\r{done}/{total} {status:<8} {terminal_safe(recipient)[:60]:<60}", end="", file=ctx.stderr, flush=True)

    try:
        with graceful_stop() as stop:
            report = mail.send_digest(ctx.store, ctx.config, ctx.paths, dry_run=args.dry_run, to=to,
                                      force_unknown=args.force_unknown, on_progress=progress if show else None,
                                      stop=stop)
    except mail.MailConfigError as e:
        raise CommandError(f"cannot send: {e}", ExitCode.USAGE) from None
    except mail.NothingToSend as e:
        raise CommandError(str(e), ExitCode.NOTHING_TO_SEND) from None
    except LockHeld as e:
        raise CommandError(str(e), ExitCode.LOCKED) from None
    finally:
        if show:
            print(file=ctx.stderr)
    if args.json:
        ctx.json(report.to_json())
    else:
        ctx.out(report.summary_line() + _notes_count(report))
        if report.notes and report.archive_dir is None:  # a dry run or a proof keeps no manifest: shown here
            for note in report.notes:
                ctx.out(f"  note: {terminal_safe(note)}")
    return ExitCode.FAILURE if report.failed else ExitCode.OK


def _notes_count(report: SendReport) -> str:
    """What `digest run` adds to its line (run._noted): how many notes the build made, and where they are
    (the issue's manifest, shown by `digest archive show N`; below the line when there is none)."""
    n = len(report.notes)
    if not n:
        return ""
    where = f"see `digest archive show {report.digest_number}`" if report.archive_dir else "below"
    return f"; {count(n, 'build note')} ({where})"


def cmd_run(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.mail import UNKNOWN_MARK
    from digest.core.run import run_once

    code, line = run_once(ctx.paths, quiet=args.quiet, verbose=args.verbose, dry_run=args.dry_run)
    if code not in (ExitCode.OK, ExitCode.NOTHING_TO_SEND):
        ctx.err(f"digest run: {line}")  # a failure goes to stderr, quiet or not: cron mails it
    elif not args.quiet:
        ctx.out(line)
    elif UNKNOWN_MARK in line:
        ctx.err(f"digest run: {line}")  # recipients who may lack the issue
    return code


def cmd_archive_list(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.archive import list_issues

    issues = list_issues(ctx.paths)
    if args.json:
        ctx.json(issues)
        return ExitCode.OK
    if not issues:
        ctx.out(f"no issues archived yet ({ctx.paths.archive_dir})")
        return ExitCode.OK
    for m in issues:
        counts = m["delivery_counts"]
        if m["delivery"] == "smtp":
            deliv = f"{counts.get('sent', 0)}/{m['recipients']} sent"
            extra = [f"{counts[k]} {k}" for k in ("failed", "unknown", "queued") if counts.get(k)]
            deliv += f" ({', '.join(extra)})" if extra else ""
        else:
            deliv = "files only"
        date = (m["sent_at"] or m["date"] or "")[:10]
        stories = "story  " if m["stories"] == 1 else "stories"  # the column stays as wide
        ctx.out(f"#{m['number']:<4} {date}  {m['status']:<5} {m['stories']:>3} {stories}  {deliv:<16} {m['subject']}")
    ctx.out(f"index: {ctx.paths.archive_dir / 'index.html'}")
    return ExitCode.OK


def cmd_archive_show(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.archive import issue_dir, load_manifest

    m = load_manifest(ctx.paths, args.number)
    assert m is not None
    if args.json:
        ctx.json(m)
        return ExitCode.OK
    ctx.out(f"#{m['number']}  {m['subject']}")
    ctx.out(f"status {m['status']}; frozen {m['date']}; sent {m.get('sent_at') or '-'}; theme {m.get('theme', '')}")
    ctx.out(f"files: {issue_dir(ctx.paths, args.number)}")
    notes = m.get("notes") or []  # what the build noted (`digest run` counts them in its line)
    if notes:
        ctx.out(f"\n{count(len(notes), 'build note')}:")
        for note in notes:
            ctx.out(f"  {note}")
    n = len(m["stories"])
    ctx.out(f"\n{count(n, 'story', 'stories')}:")
    for s in m["stories"]:
        ctx.out(f"  [{s['section']}] {s['headline']}  <{s['url']}>")
    if m.get("recipients"):
        ctx.out(f"\n{len(m['recipients'])} recipients:")
        for r in m["recipients"]:
            ctx.out(f"  {r['status']:<7} {r['address']}  {r['reply']}")
    else:
        ctx.out("\nnot sent by SMTP (files only)")
    return ExitCode.OK


def cmd_archive_open(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.archive import issue_html_path

    path = issue_html_path(ctx.paths, args.number)
    ctx.out(str(path))
    if ctx.tty:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            ctx.err("digest: no browser found; open the file above")
    return ExitCode.OK


def cmd_cron(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.run import schedule, schedule_text

    try:
        # `--day fri` alone means weekly on Friday: printing a daily schedule would ignore it silently
        sched = schedule(at=args.at, weekly=args.weekly or args.day is not None, day=args.day or "mon",
                         python=sys.executable)
    except ValueError as e:
        raise CommandError(str(e), ExitCode.USAGE) from None
    if args.json:
        ctx.json(sched)
    else:
        ctx.stdout.write(schedule_text(sched))
    return ExitCode.OK
