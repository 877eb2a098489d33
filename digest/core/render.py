"""Themes and rendering: Jinja2 templates -> email-safe HTML (CSS inlined) and a 72-column text part.

Every feed-supplied string reaches the HTML through Jinja2 autoescaping; text that may carry markup
goes through nh3 first; links are kept only for http, https and mailto; images only with an absolute
http(s) URL and real dimensions (1x1 tracking pixels, SVG and data: URLs are dropped). The HTML has a
size budget (Gmail clips past about 102 KB and hides the footer, unsubscribe link included): past it
blurbs are shortened, then the tail of the list becomes a "More stories" link list, and a note says so.
"""

from __future__ import annotations

import html as htmllib
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import css_inline
import jinja2
import nh3
from markupsafe import Markup, escape

from digest.core.models import Digest, DigestItem, Image, Section
from digest.core.paths import Paths, builtin_themes_dir
from digest.core.select import draft_sections, trending

if TYPE_CHECKING:
    from digest.core.config import Config, NewsletterConfig
    from digest.core.store import Store

# Gmail clips HTML past ~102 KB (NEWSLETTER.md #7); 90 KB leaves room for the MIME encoding's growth.
BUDGET_BYTES = 90_000
HEAD_STYLE_LIMIT = 16_000  # Gmail drops a <style> block larger than 16 KB (NEWSLETTER.md #3)
BLURB_CHARS = 300  # about three lines in a 600 px column
SHORT_BLURB_CHARS = 140  # the budget's first step: one sentence
SUMMARY_CHARS = 1_200  # `summary` in the context is capped too: a 100 KB feed summary is no use in an email
TEXT_WIDTH = 72
WORDS_PER_MINUTE = 230  # a common adult silent-reading rate for non-fiction
TRENDING_LIMIT = 5
TRENDING_WINDOW = timedelta(days=7)  # as select.trending: a week of reports
ASSUMED_RATIO = 2 / 3  # news photos without dimensions are almost always 3:2
SAFE_SCHEMES = ("http", "https", "mailto")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_CREDIT = re.compile(r"\(([^()]{0,60}\bPhoto(?:s|graph)?\b[^()]{0,60})\)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+")
_HEX = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")


class ThemeError(Exception):
    """A theme that cannot be used; the message names the theme file and line when there is one."""


@dataclass(slots=True)
class ThemeInfo:
    name: str
    description: str
    path: Path
    builtin: bool
    extends: str | None


@dataclass(slots=True)
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str
    notes: list[str] = field(default_factory=list)
    story_count: int = 0


# -- themes -----------------------------------------------------------------------------------------


def _read_theme(d: Path, builtin: bool) -> ThemeInfo | None:
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
                info = _read_theme(d, builtin)
                if info:
                    found[info.name] = info
    return sorted(found.values(), key=lambda t: (not t.builtin, t.name))


def _template_name(t: ThemeInfo, file: str) -> str:
    return f"{'builtin/' if t.builtin else ''}{t.name}/{file}"


def _chain(name: str, themes: dict[str, ThemeInfo]) -> list[ThemeInfo]:
    """The theme and the themes it extends, nearest first. A user theme extending a built-in of its own
    name gets the built-in (that is the only way to reach it once shadowed)."""
    if name not in themes:
        raise ThemeError(f"unknown theme {name!r} (available: {', '.join(sorted(themes))})")
    out = [themes[name]]
    while out[-1].extends:
        parent = out[-1].extends
        if parent == out[-1].name or (parent in themes and themes[parent] in out):
            builtin_dir = builtin_themes_dir() / parent
            info = _read_theme(builtin_dir, True) if builtin_dir.is_dir() else None
            if info is None or info in out:
                raise ThemeError(f"{out[-1].path / 'theme.toml'}: extends {parent!r}, which is a loop")
            out.append(info)
        elif parent in themes:
            out.append(themes[parent])
        else:
            raise ThemeError(f"{out[-1].path / 'theme.toml'}: extends unknown theme {parent!r}")
    return out


def _find(chain: list[ThemeInfo], file: str) -> tuple[ThemeInfo, str] | None:
    for t in chain:
        if (t.path / file).is_file():
            return t, _template_name(t, file)
    return None


@lru_cache(maxsize=8)
def _env(user_dir: Path) -> jinja2.Environment:
    """One environment per user-theme folder (compiled templates are cached; auto_reload sees edits).
    Template names are "<theme>/<file>"; "builtin/<theme>/<file>" always means the shipped one."""
    builtin = str(builtin_themes_dir())
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(user_dir)),
        jinja2.FileSystemLoader(builtin),
        jinja2.PrefixLoader({"builtin": jinja2.FileSystemLoader(builtin)}),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=lambda name: bool(name and not name.endswith(".txt.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(wrap=wrap, fit=fit, datefmt=datefmt, trim=trim_text, linkify=linkify, upper_first=_upper_first)
    return env


def _run(chain: list[ThemeInfo], env: jinja2.Environment, file: str, ctx: dict[str, Any]) -> str:
    found = _find(chain, file)
    if found is None:
        raise ThemeError(f"theme {chain[0].name!r} has no {file} (looked in {chain[0].path})")
    try:
        return env.get_template(found[1]).render(ctx)
    except jinja2.TemplateSyntaxError as e:
        raise ThemeError(f"{e.filename or found[1]}:{e.lineno}: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise ThemeError(f"{found[0].path / file}: template {e.name!r} not found") from None
    except Exception as e:  # an error inside a template: report the template's file and line
        where = _template_frame(sys.exc_info()[2])
        if where is None:
            raise
        raise ThemeError(f"{where[0]}:{where[1]}: {type(e).__name__}: {e}") from e


def _template_frame(tb: Any) -> tuple[str, int] | None:
    where = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return where


@lru_cache(maxsize=16)
def _inliner(css: str) -> css_inline.CSSInliner:
    # keep_at_rules leaves @media (responsive, dark mode) in one <style> in <head>; remote stylesheets
    # are never fetched (a build must not touch the network).
    return css_inline.CSSInliner(extra_css=css, keep_at_rules=True, load_remote_stylesheets=False)


def _css(chain: list[ThemeInfo]) -> str:
    found = _find(chain, "style.css")
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
    """Text that may contain markup, as plain text: nh3 drops tags (and script/style bodies)."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = htmllib.unescape(nh3.clean(text, tags=set()))
    return " ".join(text.split())


def trim_text(text: str, limit: int = BLURB_CHARS) -> str:
    """Cut at the last sentence end before `limit`, else at a word, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    ends = [m.start() for m in _SENTENCE_END.finditer(head)]
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


def _upper_first(s: str) -> str:
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


def _image(img: Image | None, alt: str) -> dict[str, Any] | None:
    if img is None:
        return None
    url = safe_url(img.url, ("http", "https"))
    if url is None or urlsplit(url).path.lower().endswith((".svg", ".svgz")):
        return None
    w, h = img.width or 0, img.height or 0
    if (w and w <= 2) or (h and h <= 2):  # a tracking pixel, not a picture
        return None
    if not (w and h):
        w, h = 1200, round(1200 * ASSUMED_RATIO)
    return {"url": url, "width": w, "height": h, "alt": plain(img.alt) or alt}


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def story_context(item: DigestItem) -> dict[str, Any]:
    s = item.story
    headline = plain(item.headline) or plain(s.title) or "(untitled)"
    summary = plain(s.summary)
    body = plain(s.content) if s.content else ""
    editor = plain(item.blurb)
    blurb = editor or trim_text(summary, BLURB_CHARS)
    words = len((body or summary).split())
    credit = _CREDIT.search(body) or _CREDIT.search(summary)
    url = safe_url(s.link) or safe_url(s.canonical_link)
    ex = s.extra or {}
    categories = [plain(c) for c in s.categories if plain(c)]
    return {
        "id": s.id,
        "headline": headline,
        "url": url,
        "blurb": blurb,
        "editor_blurb": bool(editor),
        "summary": trim_text(summary, SUMMARY_CHARS),
        "image": _image(s.image, headline),
        "source": plain(s.feed_title),
        "author": plain(s.author),
        "published": s.published,
        "categories": categories,
        "category": categories[0] if categories else "",
        "reading_minutes": max(1, round(words / WORDS_PER_MINUTE)),
        "photo_credit": credit.group(1).strip() if credit else "",
        "company": plain(s.author),
        "city": categories[0] if categories else "",
        "event": {
            "start": _date(ex.get("event_start")),
            "end": _date(ex.get("event_end")),
            "location": plain(str(ex.get("event_location") or "")),
            "organizer": plain(str(ex.get("event_organizer") or "")),
        },
    }


# -- the context --------------------------------------------------------------------------------------


def _tint(hex_color: str, amount: float) -> str:
    """The accent mixed with white (amount 0..1 of white): a tint for boxes, computed so a user's accent
    colour gets a matching background without a second setting."""
    h = hex_color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def _newsletter(nl: NewsletterConfig, digest: Digest, now: datetime) -> dict[str, Any]:
    accent = nl.accent_color if _HEX.fullmatch(nl.accent_color or "") else "#BE4825"
    tips = nl.tips_email.removeprefix("mailto:").strip()
    sponsor = None
    if nl.sponsor_name:
        sponsor = {"name": nl.sponsor_name, "url": safe_url(nl.sponsor_url), "text": nl.sponsor_text}
    return {
        "title": nl.title,
        "tagline": nl.tagline,
        "date": now.strftime("%A, %B %-d, %Y"),
        "short_date": now.strftime("%b %-d, %Y"),
        "number": digest.number,
        "postal_address": nl.postal_address,
        "unsubscribe_url": safe_url(nl.unsubscribe_url),
        # the archive publishes issue N at <web_url>/N/ (digest.core.archive), so link to this issue
        "web_url": safe_url(f"{nl.web_url.rstrip('/')}/{digest.number}/") if nl.web_url else None,
        "archive_url": safe_url(nl.web_url),
        "tips_email": tips if "@" in tips else "",
        "tips_url": safe_url(f"mailto:{tips}") if "@" in tips else None,
        "accent_color": accent,
        "accent_tint": _tint(accent, 0.9),
        "sponsor": sponsor,
        "from_name": nl.from_.split("<")[0].strip().strip('"') or nl.title,
        "subject": "",
        "preheader": "",
    }


def _subject(nl_title: str, digest: Digest, lead: dict[str, Any] | None) -> str:
    if digest.title:
        return digest.title
    if lead is None:
        return f"{nl_title} #{digest.number}"
    return f"{nl_title}: {trim_text(lead['headline'], 90)}"


def _preheader(stories: list[dict[str, Any]], tagline: str) -> str:
    """What the inbox shows after the subject: the next headlines (the lead is already the subject)."""
    heads = [s["headline"] for s in stories[1:4]]
    text = ("Also: " + "; ".join(heads)) if heads else tagline
    return trim_text(text, 150)


@dataclass(slots=True)
class _Material:
    """Everything the context is assembled from, computed once per render (the budget's retries only
    re-assemble and re-render)."""

    newsletter: dict[str, Any]
    sections: list[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]]  # name, kind, full, short
    trending: list[dict[str, Any]]


_TRENDING_CACHE: dict[tuple[int, str, int, int, int], list[Any]] = {}


def _trending(store: Store, since: float) -> list[Any]:
    """Trending for the digest, cached while the store is unchanged: the TUI's live preview renders
    on every edit, and Trending is the one query that grows with the store (~0.1 s at 100k stories).
    The key has this connection's change count and SQLite's data_version (bumped by other
    connections' commits), and `since` to the minute."""
    version = int(store.db.execute("PRAGMA data_version").fetchone()[0])
    key = (id(store), str(store.path), store.db.total_changes, version, int(since // 60))
    if key not in _TRENDING_CACHE:
        if len(_TRENDING_CACHE) > 32:
            _TRENDING_CACHE.clear()
        _TRENDING_CACHE[key] = trending(store, since=since, limit=TRENDING_LIMIT)
    return _TRENDING_CACHE[key]


def _material(store: Store, config: Config, digest: Digest, sections: list[Section], now: datetime) -> _Material:
    secs = []
    for sec in sections:
        cfg = config.section(sec.name)
        full = [story_context(item) for item in sec.items]
        short = [dict(s, blurb=trim_text(s["blurb"], SHORT_BLURB_CHARS)) for s in full]
        secs.append((sec.name, cfg.kind if cfg else "stories", full, short))
    trend = []
    for c in _trending(store, (now - TRENDING_WINDOW).timestamp()):
        ctx = story_context(DigestItem(c.story, "", 0))
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
    raw = _run(chain, env, "email.html.j2", {**ctx, "text": text})
    return _charset_first(_inliner(_css(chain)).inline(raw))


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


def render_digest(
    store: Store, config: Config, paths: Paths, digest: Digest, *, theme: str | None = None,
    now: datetime | None = None,
) -> Rendered:
    now = now or datetime.now().astimezone()  # the reader's date in the header, not UTC's
    name = theme or config.newsletter.theme
    chain = _chain(name, {t.name: t for t in list_themes(paths)})
    env = _env(paths.user_themes_dir)
    m = _material(store, config, digest, draft_sections(store, config, digest.id), now)
    ctx = _assemble(m, config, digest)
    text = _run(chain, env, "email.txt.j2", ctx) if _find(chain, "email.txt.j2") else ""

    def attempt(**kw: Any) -> tuple[dict[str, Any], str]:
        c = _assemble(m, config, digest, **kw)
        # a theme whose HTML is built from the text part (plain) gets the budgeted text there; the
        # text part itself always keeps every story in full
        budgeted_text = _run(chain, env, "email.txt.j2", c) if kw and text else text
        return c, _html(chain, env, c, budgeted_text)

    ctx, html = attempt()
    notes: list[str] = []
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
        notes.append(f"{moved} of {total} stories moved to the \"More stories\" list to fit the size budget")
        if ctx["more_hidden"]:
            notes.append(f"{ctx['more_hidden']} stories left out of the HTML entirely (the text part has them)")
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
    now = now or datetime.now().astimezone()  # the reader's date in the header, not UTC's
    chain = _chain(theme or config.newsletter.theme, {t.name: t for t in list_themes(paths)})
    ctx = build_context(store, config, digest, draft_sections(store, config, digest.id), now)
    return _run(chain, _env(paths.user_themes_dir), "email.txt.j2", ctx)
