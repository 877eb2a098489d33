"""Themes and rendering: Jinja2 templates -> email-safe HTML (CSS inlined) and a 72-column text part.

Every feed-supplied string reaches the HTML through Jinja2 autoescaping; text that may carry markup
goes through nh3 first; links are kept only for http, https and mailto; images only with an absolute
http(s) URL and real dimensions (1x1 tracking pixels, SVG and data: URLs are dropped). The HTML has a
size budget (Gmail clips past about 102 KB and hides the footer, unsubscribe link included): past it
blurbs are shortened, then the tail of the list becomes a "More stories" link list, and a note says so.
"""

from __future__ import annotations

import re
from dataclasses import field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jinja2

from digest.core import clock
from digest.core.context import _newsletter, _preheader, _subject, story_context
from digest.core.emailcss import accent_problems, outlook_dark_css
from digest.core.models import Digest, DigestItem, Section
from digest.core.paths import Paths
from digest.core.record import record
from digest.core.select import draft_sections, trending
from digest.core.themes import (
    ThemeInfo,
    environment_for,
    find_file,
    inliner,
    list_themes,
    run_template,
    theme_chain,
    theme_css,
    trim_text,
)
from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.store import Store

# Gmail clips HTML past ~102 KB (NEWSLETTER.md #7); 90 KB leaves room for the MIME encoding's growth.
BUDGET_BYTES = 90_000
HEAD_STYLE_LIMIT = 16_000  # Gmail drops a <style> block larger than 16 KB (NEWSLETTER.md #3)
SHORT_BLURB_CHARS = 140  # the budget's first step: one sentence
TRENDING_LIMIT = 5
TRENDING_WINDOW = timedelta(days=7)  # as select.trending: a week of reports


@record
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str
    notes: list[str] = field(default_factory=list)
    story_count: int = 0


@record
class _Material:
    """Everything the context is assembled from, computed once per render (the budget's retries only
    re-assemble and re-render)."""

    newsletter: dict[str, Any]
    sections: list[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]]  # name, kind, full, short
    trending: list[dict[str, Any]]


_TRENDING_CACHE: dict[tuple[int, str, int, int, int, bool, int], list[Any]] = {}


def _trending(store: Store, since: float, skip_ads: bool = True, limit: int = TRENDING_LIMIT) -> list[Any]:
    """Trending for the digest, cached while the store is unchanged: the TUI's live preview renders
    on every edit, and Trending is the one query that grows with the store (~0.1 s at 100k stories).
    The key has this connection's change count and SQLite's data_version (bumped by other
    connections' commits), and `since` to the minute."""
    version, changes = store.change_key()
    key = (id(store), str(store.path), changes, version, int(since // 60), skip_ads, limit)
    if key not in _TRENDING_CACHE:
        if len(_TRENDING_CACHE) > 32:
            _TRENDING_CACHE.clear()
        _TRENDING_CACHE[key] = trending(store, since=since, limit=limit, skip_ads=skip_ads)
    return _TRENDING_CACHE[key]


def _issue_trending(store: Store, config: Config, sections: list[Section], now: datetime) -> list[Any]:
    """Trending without the news the issue already carries: a cluster holding one of its stories (the same
    link or headline from any feed) would show the reader a headline twice, often the lead's as Trending
    #1. Each issue story can remove at most one cluster, so that many more are read to refill the list."""
    carried = {it.story.id for sec in sections for it in sec.items}
    clusters = _trending(store, (now - TRENDING_WINDOW).timestamp(), config.select.skip_ads,
                         TRENDING_LIMIT + len(carried))
    return [c for c in clusters if carried.isdisjoint(c.story_ids)][:TRENDING_LIMIT]


def _material(store: Store, config: Config, digest: Digest, sections: list[Section], now: datetime) -> _Material:
    trending_clusters = _issue_trending(store, config, sections, now)
    ids = [it.story.id for sec in sections for it in sec.items] + [c.story.id for c in trending_clusters]
    articles = store.articles_for(ids, brief=True)
    secs = []
    for sec in sections:
        cfg = config.section(sec.name)
        full = [story_context(item, articles.get(item.story.id)) for item in sec.items]
        if cfg and cfg.kind == "events":  # a calendar reads in date order, whatever order they were flagged in
            far = datetime.max.replace(tzinfo=UTC)
            full.sort(key=lambda s: s["event"]["start"] or s["published"] or far)
        short = [dict(s, blurb=trim_text(s["blurb"], SHORT_BLURB_CHARS)) for s in full]
        secs.append((sec.name, cfg.kind if cfg else "stories", full, short))
    trend = []
    for c in trending_clusters:
        ctx = story_context(DigestItem(c.story, "", 0), articles.get(c.story.id))
        ctx.update(count=c.count, sources=c.feed_titles)
        trend.append(ctx)
    return _Material(_newsletter(config.newsletter, digest, now), secs, trend)


def build_context(
    store: Store, config: Config, digest: Digest, sections: list[Section], now: datetime,
) -> dict[str, Any]:
    """The template context (DESIGN.md "Themes")."""
    return _assemble(_material(store, config, digest, sections, now), config, digest)


def _assemble(m: _Material, config: Config, digest: Digest, *, short: bool = False, keep: int | None = None,
              more_limit: int | None = None) -> dict[str, Any]:
    """`short`: blurbs cut to a sentence; `keep`: that many stories in full, the rest in `more_stories`;
    `more_limit`: at most that many links there, the rest only counted in `more_hidden` (the budget's
    three steps)."""
    out_sections: list[dict[str, Any]] = []
    more: list[dict[str, Any]] = []
    n = 0
    for name, kind, full, shortened in m.sections:
        stories: list[dict[str, Any]] = []
        for ctx in shortened if short else full:
            (more if keep is not None and n >= keep else stories).append(ctx)
            n += 1
        if stories:
            out_sections.append({"name": name, "kind": kind, "stories": stories})
    everything = [s for sec in out_sections for s in sec["stories"]] + more
    hidden = 0
    if more_limit is not None and len(more) > more_limit:
        hidden, more = len(more) - more_limit, more[:more_limit]
    lead = None
    if out_sections and out_sections[0]["kind"] == "stories":
        lead = out_sections[0]["stories"][0]
    nl = dict(m.newsletter)
    nl["subject"] = _subject(config.newsletter.title, digest, lead)
    nl["preheader"] = _preheader(everything, config.newsletter.tagline)
    return {
        "newsletter": nl, "lead": lead, "sections": out_sections, "trending": m.trending,
        "more_stories": more, "more_hidden": hidden, "story_count": n,
    }


# -- rendering ----------------------------------------------------------------------------------------


def _html(chain: list[ThemeInfo], env: jinja2.Environment, ctx: dict[str, Any], text: str) -> str:
    raw = run_template(chain, env, "email.html.j2", {**ctx, "text": text})
    css = theme_css(chain)
    return _dark_extras(_charset_first(inliner(css).inline(raw)), css, ctx["newsletter"])


def _dark_extras(html: str, css: str, nl: dict[str, Any]) -> str:
    """Two small <style> blocks after the theme's: the accent as text in dark mode (class `ac`; it is a
    config value, so style.css cannot hold it), and the theme's dark palette again as Outlook.com
    [data-ogsc]/[data-ogsb] rules. Separate blocks, so a client that rejects attribute selectors drops
    only the Outlook.com rules (Gmail discards a whole block it cannot parse)."""
    accent_dark = f".ac {{ color: {nl['accent_dark_text']} !important; }}"
    blocks = f"<style>@media (prefers-color-scheme: dark) {{ {accent_dark} }}</style>"
    ogsc = outlook_dark_css(css)
    if ogsc:
        blocks += f"<style>{ogsc}\n[data-ogsc] {accent_dark}</style>"
    head_end = html.find("</head>")
    return html if head_end < 0 else html[:head_end] + blocks + html[head_end:]


_META_CHARSET = re.compile(r"<meta charset=[\"']?utf-8[\"']?\s*/?>", re.IGNORECASE)


def _charset_first(html: str) -> str:
    """css-inline writes the kept @media <style> at the top of <head>, which can push the charset
    declaration past the first 1024 bytes, where HTML requires it; move it back to the front."""
    m = _META_CHARSET.search(html)
    if m is None or m.start() < 512:
        return html
    html = html[:m.start()] + html[m.end():]
    return re.sub(r"<head>", lambda _: "<head>" + m.group(0), html, count=1, flags=re.IGNORECASE)


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def _largest_fitting(lo: int, hi: int, render: Any) -> tuple[dict[str, Any], str] | None:
    """The largest n in [lo, hi] whose render(n) fits the budget. The size grows almost linearly
    with n, so the next guess interpolates between the nearest fitting and non-fitting sizes (2-4
    renders for 300 stories instead of bisection's 9); every other guess bisects, which bounds the
    worst case at about twice bisection's count."""
    ctx, html = render(lo)
    if _size(html) > BUDGET_BYTES:
        return None
    best, lo_size = (ctx, html), _size(html)
    if lo == hi:
        return best
    ctx, html = render(hi)
    if _size(html) <= BUDGET_BYTES:
        return ctx, html
    hi_size, step = _size(html), 0
    while hi - lo > 1:
        step += 1
        if step % 2 and hi_size > lo_size:
            guess = lo + int((BUDGET_BYTES - lo_size) * (hi - lo) / (hi_size - lo_size))
        else:
            guess = (lo + hi) // 2
        guess = max(lo + 1, min(hi - 1, guess))
        ctx, html = render(guess)
        if _size(html) <= BUDGET_BYTES:
            best, lo, lo_size = (ctx, html), guess, _size(html)
        else:
            hi, hi_size = guess, _size(html)
    return best


def _past_events(m: _Material, now: datetime) -> list[str]:
    """A flagged event that is over by the time the issue is built (flagged last week, built today) is
    the editor's to drop, so it stays in; the build names it (automatic issues never pick one)."""
    notes = []
    for name, kind, full, _short in m.sections:
        for s in full if kind == "events" else []:
            when = s["event"]["end"] or s["event"]["start"]
            if when is not None and when < now:
                notes.append(f"{name}: \"{s['headline']}\" took place on {when:%b %-d}, before this issue; "
                             "unflag it unless that is intended")
    return notes


def _pictures(store: Store, m: _Material, config: Config, paths: Paths, digest: Digest) -> list[str]:
    """With newsletter.web_url set, the issue's pictures become our own light copies published with the
    archive (digest.core.pictures): the lead 600 px wide, every other one a square thumbnail."""
    if not config.newsletter.web_url:
        return []
    from digest.core.articles import private_allowed
    from digest.core.pictures import localise

    found: list[tuple[dict[str, Any], str]] = []
    for i, (_name, kind, full, _short) in enumerate(m.sections):
        for j, ctx in enumerate(full):
            if ctx["image"]:
                found.append((ctx, "lead" if i == 0 and j == 0 and kind == "stories" else "thumb"))
    found += [(ctx, "thumb") for ctx in m.trending if ctx["image"]]
    if not found:
        return []
    feeds = {sid: feed_url for sid, (_link, feed_url) in store.article_targets(c["id"] for c, _ in found).items()}
    private = private_allowed(config, feeds.values())
    images = [(ctx["image"], kind, private.get(feeds.get(ctx["id"], ""), config.articles.allow_private))
              for ctx, kind in found]
    base = f"{config.newsletter.web_url.rstrip('/')}/{digest.number}/img"
    # archive/N/ is digest.core.archive's issue_dir (not imported: archive imports render)
    notes = localise(images, config, paths.archive_dir / str(digest.number) / "img", base)
    for ctx, _kind in found:
        if not ctx["image"]:  # emptied: gone or no photo (a broken picture, an SVG, a tracking pixel)
            ctx["image"] = None
    return notes


def render_digest(
    store: Store, config: Config, paths: Paths, digest: Digest, *, theme: str | None = None,
    now: datetime | None = None,
) -> Rendered:
    now = now or clock.now_local()  # the reader's date in the header, not UTC's
    name = theme or config.newsletter.theme
    chain = theme_chain(name, {t.name: t for t in list_themes(paths)})
    env = environment_for(chain, paths.user_themes_dir)
    m = _material(store, config, digest, draft_sections(store, config, digest.id), now)
    picture_notes = _pictures(store, m, config, paths, digest)
    ctx = _assemble(m, config, digest)
    text = run_template(chain, env, "email.txt.j2", ctx) if find_file(chain, "email.txt.j2") else ""

    def attempt(**kw: Any) -> tuple[dict[str, Any], str]:
        c = _assemble(m, config, digest, **kw)
        # a theme whose HTML is built from the text part (plain) gets the budgeted text there; the
        # text part itself always keeps every story in full
        budgeted_text = run_template(chain, env, "email.txt.j2", c) if kw and text else text
        return c, _html(chain, env, c, budgeted_text)

    ctx, html = attempt()
    notes: list[str] = accent_problems(config.newsletter.accent_color)  # names the colour and the ratio
    notes += picture_notes
    notes += _past_events(m, now)
    total = ctx["story_count"]
    kb = BUDGET_BYTES // 1000
    if _size(html) > BUDGET_BYTES:
        ctx, html = attempt(short=True)
        notes.append(f"blurbs shortened to one sentence to keep the HTML under {kb} KB (Gmail clips longer "
                     "messages and hides the footer)")
    if _size(html) > BUDGET_BYTES:
        best = _largest_fitting(1, total - 1, lambda k: attempt(short=True, keep=k))
        if best is None:  # even the links are too many: keep the first ones, count the rest
            best = _largest_fitting(0, total - 1, lambda k: attempt(short=True, keep=1, more_limit=k))
        ctx, html = best or attempt(short=True, keep=1, more_limit=0)
        moved = len(ctx["more_stories"]) + ctx["more_hidden"]
        notes.append(f"{moved} of {count(total, 'story', 'stories')} moved to the \"More stories\" list to fit the "
                     "size budget")
        if ctx["more_hidden"]:
            notes.append(f"{count(ctx['more_hidden'], 'story', 'stories')} left out of the HTML entirely (the text "
                         "part has them)")
    size = _size(html)
    if size > BUDGET_BYTES:
        notes.append(f"the HTML is {size / 1000:.0f} KB, over the {kb} KB budget: Gmail will clip it; "
                     "flag fewer stories")
    head = html.split("</head>", 1)[0]
    style = sum(len(x) for x in re.findall(r"<style[^>]*>(.*?)</style>", head, re.S))
    if style > HEAD_STYLE_LIMIT:
        notes.append(f"theme {name!r}: the <style> block is {style} bytes; Gmail ignores blocks over 16 KB")
    return Rendered(
        subject=ctx["newsletter"]["subject"], preheader=ctx["newsletter"]["preheader"], html=html,
        text=text, notes=notes, story_count=total,
    )


def render_text(store: Store, config: Config, paths: Paths, digest: Digest, *, theme: str | None = None,
                now: datetime | None = None) -> str:
    """Only the text part (the TUI's live preview): no HTML, no inlining."""
    now = now or clock.now_local()  # the reader's date in the header, not UTC's
    chain = theme_chain(theme or config.newsletter.theme, {t.name: t for t in list_themes(paths)})
    ctx = build_context(store, config, digest, draft_sections(store, config, digest.id), now)
    return run_template(chain, environment_for(chain, paths.user_themes_dir), "email.txt.j2", ctx)
