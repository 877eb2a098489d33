"""digest subscribers list|add|remove|import|export|unsubscribe."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digest.cli import CommandError, Ctx, ExitCode
from digest.core.wording import count


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    subs = sub.add_parser("subscribers", help="who gets the digest besides newsletter.to, and who unsubscribed")
    ssub = subs.add_subparsers(dest="subscribers_command", metavar="ACTION")
    p = ssub.add_parser("list", help="subscribers and unsubscribed addresses (newsletter.to is in the config)")
    p.add_argument("--json", action="store_true", help="print them as JSON")
    p.add_argument("--recipients", action="store_true",
                   help="the addresses the next issue goes to: newsletter.to + subscribers - unsubscribed")
    p.set_defaults(func=cmd_list)
    p = ssub.add_parser("add", help="add addresses")
    p.add_argument("address", nargs="+", help="email address(es), e.g. ann@example.com or 'Ann <ann@example.com>'")
    p.add_argument("--name", default="", help="the name (with one address)")
    p.set_defaults(func=cmd_add)
    p = ssub.add_parser("remove", help="forget a subscriber (an unsubscribed address stays recorded)")
    p.add_argument("address", help="the subscriber's email address")
    p.set_defaults(func=cmd_remove)
    p = ssub.add_parser("import", help="add the addresses of a CSV (column email/address, optional name)")
    p.add_argument("csv", type=Path, help="the CSV file")
    p.set_defaults(func=cmd_import)
    p = ssub.add_parser("export", help="every subscriber as CSV (to FILE, or standard output)")
    p.add_argument("file", nargs="?", type=Path, help="where to write (default: standard output)")
    p.set_defaults(func=cmd_export)
    p = ssub.add_parser(
        "unsubscribe", help="record unsubscribes: tokens from the links, or addresses "
                            "('-' reads one per line from standard input)",
        description="Record unsubscribes. Every token or address understood is recorded, whatever the "
        "others are; each one that is not (an unknown token, not an address) is named on stderr with its "
        "argument or line number. With more than one value, a summary follows: 'N unsubscribed, M lines "
        "not understood'. Blank lines are skipped; empty input prints nothing. Exit codes: 0 every value "
        "recorded (or already unsubscribed), 1 some value not understood (the rest are recorded), "
        "2 a usage error.")
    p.add_argument("value", nargs="+", metavar="TOKEN|ADDRESS",
                   help="a token from an unsubscribe link, an address, or - for one per line on standard input")
    p.set_defaults(func=cmd_unsubscribe)
    subs.set_defaults(func=lambda ctx, a: (subs.print_help(ctx.stdout), ExitCode.USAGE)[1])


def _error(e: Exception, then: str = "") -> CommandError:
    """Exit 2 with the error; `then`: what became of the rest (an import or an add is all or nothing)."""
    return CommandError(f"{e} ({then})" if then else str(e), ExitCode.USAGE)


def cmd_list(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core import subscribers

    if args.recipients:
        rec = subscribers.recipients(ctx.store, ctx.config)
        if args.json:
            ctx.json(rec)
        else:
            for address in rec:
                ctx.out(address)
        return ExitCode.OK
    rows = ctx.store.subscribers()
    if args.json:
        from digest.core.models import iso_utc

        # dates as `feeds list --json` and `stories --json` give them
        ctx.json([{**r, "added_at": iso_utc(r["added_at"]), "unsubscribed_at": iso_utc(r["unsubscribed_at"])}
                  for r in rows])
        return ExitCode.OK
    for r in rows:
        name = f" ({r['name']})" if r["name"] else ""
        ctx.out(f"{r['status']:<12} {r['address']}{name}")
    active = sum(r["status"] == "active" for r in rows)
    ctx.out(f"{active} active, {len(rows) - active} unsubscribed; newsletter.to lists {len(ctx.config.newsletter.to)}")
    return ExitCode.OK


def cmd_add(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core import subscribers

    pairs = [(a, args.name if len(args.address) == 1 else "") for a in args.address]
    try:
        added, known = subscribers.add(ctx.store, ctx.paths, pairs, "cli")
    except subscribers.SubscriberError as e:
        raise _error(e, "nothing added" if len(pairs) > 1 else "") from None
    ctx.out(f"added {added}" + (f", {known} already listed" if known else ""))
    return ExitCode.OK


def cmd_remove(ctx: Ctx, args: argparse.Namespace) -> int:
    if not ctx.store.remove_subscriber(args.address):
        row = ctx.store.subscriber(args.address)
        why = "it unsubscribed (the record stays, so it is never sent to again)" if row else "no such subscriber"
        raise CommandError(f"{args.address}: not removed: {why}", ExitCode.FAILURE)
    ctx.out(f"removed {args.address}")
    return ExitCode.OK


def cmd_import(ctx: Ctx, args: argparse.Namespace) -> int:
    """All or nothing, as `add` is: a file with a bad row stores none, and every bad row is named (one
    line each on stderr), so the file is fixed in one go rather than one error per run."""
    from digest.core import subscribers
    from digest.core.store.deliveries import address_key

    try:
        rows = subscribers.read_csv(args.csv)
    except subscribers.CsvError as e:
        if len(e.problems) == 1:
            raise _error(e, "nothing imported") from None
        for problem in e.problems:
            ctx.err(f"digest: {problem}")
        raise CommandError(f"{args.csv}: {count(len(e.problems), 'row')} not understood (nothing imported)",
                           ExitCode.USAGE) from None
    except subscribers.SubscriberError as e:
        raise _error(e, "nothing imported") from None
    added, known, gone = subscribers.import_rows(ctx.store, ctx.paths, rows, f"import:{args.csv.name}")
    # one address written twice in the file (in any case) is one reader: a repeat, not "already listed",
    # which would say the store had it before
    active = [address_key(r.address) for r in rows if not r.unsubscribed]
    repeated = len(active) - len(set(active))
    marked = len(rows) - len(active)
    parts = [f"{added} added", f"{known - repeated} already listed"]
    if repeated:
        parts.append(f"{repeated} repeated in the file")
    if marked:
        parts.append(f"{marked} marked unsubscribed ({gone} newly recorded)")
    ctx.out(f"{args.csv}: {count(len(rows), 'address', 'addresses')}, " + ", ".join(parts))
    return ExitCode.OK


def cmd_export(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core import subscribers
    from digest.core.fsutil import atomic_write

    text = subscribers.write_csv(ctx.store.subscribers())
    if args.file:
        atomic_write(args.file, text)
        ctx.out(f"wrote {args.file}")
    else:
        ctx.stdout.write(text)
    return ExitCode.OK


def _unsubscribe_values(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(where, value) for every value to record: each argument, and each non-blank line of standard
    input for `-`. `where` names it in an error ("standard input line 3: ", "argument 2: ", or "")."""
    out: list[tuple[str, str]] = []
    for n, arg in enumerate(args.value, 1):
        if arg != "-":  # a lone argument needs no "argument 1": the message quotes it
            out.append((f"argument {n}: " if len(args.value) > 1 else "", arg))
            continue
        # bytes, decoded leniently: a web form's file with a stray Latin-1 byte must not stop the good lines
        # (the line with it is reported as not understood, like any other bad line)
        stream = getattr(sys.stdin, "buffer", None)
        text = stream.read().decode("utf-8", "replace") if stream is not None else sys.stdin.read()
        # numbered as an editor or `sed -n Np` counts lines (str.splitlines also splits at \f, \x1c...)
        out += [(f"standard input line {i}: ", line.strip()) for i, line in enumerate(text.split("\n"), 1)
                if line.strip()]
    return out


def cmd_unsubscribe(ctx: Ctx, args: argparse.Namespace) -> int:
    """Every value understood is recorded, whatever the others are: an unsubscribe must not wait for a
    clean file. A value that is not understood is named on stderr and makes the exit status 1 (a failure,
    as `digest send` exits 1 when some recipients failed and the rest got the issue), not 2: the command
    line was right, a line of the data was not. The summary line counts both."""
    from digest.core import subscribers

    values = _unsubscribe_values(args)
    new = already = bad = 0
    for where, v in values:
        try:
            address, recorded = subscribers.unsubscribe(ctx.store, ctx.paths, ctx.config, v)
        except subscribers.SubscriberError as e:
            ctx.err(f"digest: {where}{e}")
            bad += 1
            continue
        new += recorded
        already += not recorded
        ctx.out(f"{'unsubscribed' if recorded else 'already unsubscribed'}: {address}")
    if len(values) > 1 or ("-" in args.value and values):  # one argument's line above says it all
        noun = "line" if "-" in args.value else "value"
        ctx.out(f"{new} unsubscribed" + (f", {already} already unsubscribed" if already else "")
                + (f", {count(bad, noun)} not understood" if bad else ""))
    return ExitCode.FAILURE if bad else ExitCode.OK
