"""digest article: the full article behind a story (fetched once, then read from the store)."""

from __future__ import annotations

import argparse
import time

from digest.cli import CommandError, Ctx, ExitCode, store_int
from digest.core import clock


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("article", help="the full article behind a story (fetched once, then stored)")
    p.add_argument("id", type=store_int, help="the story's id (see `digest stories`)")
    p.add_argument("--json", action="store_true", help="print the article as a JSON object")
    p.add_argument("--refetch", action="store_true", help="fetch the page again, even if it is stored")
    p.set_defaults(func=cmd_article)


def cmd_article(ctx: Ctx, args: argparse.Namespace) -> int:
    from digest.core.articles import fetch_article

    story = ctx.store.get_story(args.id)  # NotFoundError names the id
    start = clock.now()
    try:
        article = fetch_article(ctx.store, ctx.config, story.id, refetch=args.refetch)
    except LookupError as e:
        raise CommandError(str(e)) from None
    if not article.ok:
        when = ""
        if article.retry_at and article.fetched_at < start:  # the stored failure, not a fetch just now
            retry = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(article.retry_at))
            when = f" (recorded earlier; tried again after {retry} or with --refetch)"
        if args.json:
            ctx.json(article.to_json())
        raise CommandError(f"article {article.url}: {article.error}{when}")
    if args.json:
        ctx.json(article.to_json())
        return ExitCode.OK
    head = [article.title or story.title]
    byline = " · ".join(x for x in (article.site_name, article.author) if x)
    if byline:
        head.append(byline)
    head.append(article.canonical_url or article.url)
    ctx.out("\n".join(head) + "\n")
    ctx.out(article.text or article.description)
    return ExitCode.OK
