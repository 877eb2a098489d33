"""digest rules list / test / apply: the reader rules of the config ([[rules]], digest.core.rules) on the
stored stories. Nothing here asks anything: cron may run `digest rules apply`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from digest.cli import CommandError, Ctx, ExitCode, positive_int
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.rules import Rule

# digest.core.rules is imported by the commands that use it: build_parser imports this module for every
# command, and the rules' modules (~8 ms, hashlib included) would be every command's start, cron's refresh too.


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="reader rules ([[rules]] in the config): list, test, apply")
    rsub = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    p = rsub.add_parser("list", help="each rule with how many stored stories it matches")
    p.set_defaults(func=cmd_rules_list)
    p = rsub.add_parser("test", help="what each rule (or rule N) matches among the stored stories")
    p.add_argument("n", nargs="?", type=int, metavar="N", help="only the rule rules[N] (0 is the first)")
    p.add_argument("--limit", type=positive_int, default=5, metavar="K",
                   help="titles shown per rule, newest first (default 5)")
    p.set_defaults(func=cmd_rules_test)
    p = rsub.add_parser("apply", help="apply the rules to every stored story now (a refresh does it too)")
    p.set_defaults(func=cmd_rules_apply)
    rules.set_defaults(func=lambda ctx, a: _help(rules, ctx))


def _help(parser: argparse.ArgumentParser, ctx: Ctx) -> int:
    parser.print_help(ctx.stdout)
    return ExitCode.USAGE


def _rules(ctx: Ctx) -> list[Rule]:
    rules = ctx.config.rules  # a bad rule raises ConfigError: exit 2 naming rules[i].key
    if not rules:
        ctx.err(f"no [[rules]] in {ctx.paths.config_file} (see README, \"Rules\")")
    return rules


def _state(ctx: Ctx, rules: list[Rule]) -> str:
    from digest.core.rules import rules_hash

    applied = ctx.store.applied_rules_hash() == rules_hash(rules)
    return "applied to the stored stories" if applied else (
        "NOT yet applied to the stored stories: the next refresh, `digest rules apply` or the TUI does it")


def cmd_rules_list(ctx: Ctx, args: argparse.Namespace) -> int:
    rules = _rules(ctx)
    if not rules:
        return ExitCode.OK
    from digest.core.rules import RuleIndex, needed_fields

    index = RuleIndex.load(ctx.store, fields=needed_fields(rules))
    for i, rule in enumerate(rules):
        name = f"{rule.name}: " if rule.name else ""
        matches = count(len(index.matches(rule)), "stored story", "stored stories", grouped=True)
        ctx.out(f"rules[{i}]  {name}{rule.describe()}  (matches {matches})")
    ctx.out(f"{count(len(rules), 'rule')}, {_state(ctx, rules)}")
    return ExitCode.OK


def cmd_rules_test(ctx: Ctx, args: argparse.Namespace) -> int:
    rules = _rules(ctx)
    if not rules:
        return ExitCode.OK
    if args.n is not None and not 0 <= args.n < len(rules):
        raise CommandError(f"rules test: no rule {args.n} (the config has rules[0] to rules[{len(rules) - 1}])",
                           ExitCode.USAGE)
    from digest.core.rules import RuleIndex, needed_fields

    index = RuleIndex.load(ctx.store, fields=needed_fields(rules))
    chosen = [(args.n, rules[args.n])] if args.n is not None else list(enumerate(rules))
    # the config's keep rules, not the marks stored (which may be of an older rule set)
    kept = {sid for r in rules if r.action == "keep" for sid in index.matches(r)}
    for i, rule in chosen:
        ids = index.matches(rule)
        what = count(len(ids), "story", "stories", grouped=True)
        hides = sum(1 for sid in ids if sid not in kept) if rule.action == "hide" else len(ids)
        if hides != len(ids):
            what += f" (would hide {hides:,}: the others are kept by a keep rule)"
        ctx.out(f"rules[{i}] {rule.label()}: {what}")
        newest = sorted(ids, reverse=True)[:args.limit]  # ids grow with time: the newest stored first
        rows = {r[0]: r for r in ctx.store.list_rows(newest)}
        for sid in newest:
            if sid in rows:
                ctx.out(f"  {sid:>7}  {str(rows[sid][3])[:22]:<22}  {rows[sid][2]}")
    if args.n is None:
        marks = index.outcome(rules).values()
        hidden, n_kept = sum(m[0] for m in marks), sum(m[1] for m in marks)
        boosted = sum(1 for m in marks if m[2])
        ctx.out(f"all rules together: {hidden:,} hidden, {n_kept:,} kept, {boosted:,} boosted of "
                f"{count(len(index), 'story', 'stories', grouped=True)}; {_state(ctx, rules)}")
    return ExitCode.OK


def cmd_rules_apply(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.rules import sync_rules

    rules = ctx.config.rules
    result = sync_rules(ctx.store, rules, force=True)
    assert result is not None  # forced: always applied
    ctx.out(result.line() if rules else f"no rules: marks cleared from "
                                        f"{count(result.changed, 'story', 'stories', grouped=True)} "
                                        f"in {result.seconds:.2f} s")
    return ExitCode.OK
