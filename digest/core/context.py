"""The theme context, story by story: what a template sees of each story (headline, blurb, picture, reading
time, event and job fields) and of the newsletter (title, date, colours, links). digest.core.render
assembles these into the whole context, fits it into the size budget and renders it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from digest.core.articles import is_teaser
from digest.core.emailcss import accent_palette
from digest.core.links import strip_tracking
from digest.core.models import Article, Digest, DigestItem, Image, Story, from_iso
from digest.core.themes import (
    ASSUMED_RATIO,
    BLURB_CHARS,
    plain,
    safe_url,
    trim_text,
    typed,
)

if TYPE_CHECKING:
    from digest.core.config import NewsletterConfig

SUMMARY_CHARS = 1_200  # `summary` in the context is capped too: a 100 KB feed summary is no use in an email
MIN_DESCRIPTION_CHARS = 60  # a page description shorter than this ("Read the story") is no blurb
WORDS_PER_MINUTE = 230  # a common adult silent-reading rate for non-fiction
MIN_ARTICLE_WORDS = 120  # below this the text is a teaser, not the article: no reading time is shown
_CREDIT = re.compile(r"\(([^()]{0,60}\bPhoto(?:s|graph)?\b[^()]{0,60})\)", re.IGNORECASE)
_HEX = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}")


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


def article_text(story: Story) -> str:
    """The full article behind a story, as plain text, when one has been fetched; "" otherwise.

    The articles table (digest.core.articles) reaches story_context as its `article`; this reads the text
    a caller may put in `story.extra["article_text"]` instead, for a story whose article is not stored."""
    ex = story.extra or {}
    value = ex.get("article_text")
    return plain(value) if isinstance(value, str) else ""


def _article_blurb(article: Article) -> str:
    """The blurb a teaser story gets from its article: the page's own description when it reads as a
    whole (some sites cut it with an ellipsis), else the article's first sentences."""
    desc = plain(article.description)
    if len(desc) >= MIN_DESCRIPTION_CHARS and not desc.endswith(("…", "...")):
        return trim_text(desc, BLURB_CHARS)
    text = " ".join(plain(article.text).split())
    return trim_text(text or desc, BLURB_CHARS)


def story_context(item: DigestItem, article: Article | None = None) -> dict[str, Any]:
    """One story for the templates. `article` (the page behind it, when fetched) fills in what the feed
    left out: the picture when the feed gave none, the blurb when the feed's summary is a teaser. The
    editor's own blurb and headline always win."""
    s = item.story
    headline = typed(item.headline) or plain(s.title) or "(untitled)"
    summary = plain(s.summary)
    body = plain(s.content) if s.content else ""
    editor = typed(item.blurb)
    art = article if article is not None and article.ok else None
    blurb = editor or trim_text(summary, BLURB_CHARS)
    if not editor and art is not None and is_teaser(s.summary, s.content):
        blurb = _article_blurb(art) or blurb
    image = _image(s.image, headline)
    if image is None and art is not None:
        image = _image(art.image, headline)
    if art is not None:  # the fetched article (its text is cut short here: its word count is kept)
        words = art.text_words
    else:
        text = article_text(s) or body
        words = len(text.split()) if text else 0
    credit = _CREDIT.search(body) or _CREDIT.search(summary)
    # the feed's own tracking (utm_source=rss, ...) is not passed on to readers (links.strip_tracking)
    url = safe_url(strip_tracking(s.link)) or safe_url(s.canonical_link)
    ex = s.extra or {}
    categories = [plain(c) for c in s.categories if plain(c)]
    return {
        "id": s.id,
        "headline": headline,
        "url": url,
        "blurb": blurb,
        "editor_blurb": bool(editor),
        "summary": trim_text(summary, SUMMARY_CHARS),
        "image": image,
        "source": plain(s.feed_title),
        "author": plain(s.author) or (plain(art.author) if art is not None else ""),
        "published": s.published,
        "categories": categories,
        "category": categories[0] if categories else "",
        # None when only a teaser is known: "1 min read" computed from two sentences misleads
        "reading_minutes": max(1, round(words / WORDS_PER_MINUTE)) if words >= MIN_ARTICLE_WORDS else None,
        "photo_credit": credit.group(1).strip() if credit else "",
        "company": plain(s.author),
        "city": categories[0] if categories else "",
        "event": {
            "start": from_iso(ex.get("event_start")),
            "end": from_iso(ex.get("event_end")),
            "location": plain(str(ex.get("event_location") or "")),
            "organizer": plain(str(ex.get("event_organizer") or "")),
        },
    }


def _newsletter(nl: NewsletterConfig, digest: Digest, now: datetime) -> dict[str, Any]:
    accent = nl.accent_color if _HEX.fullmatch(nl.accent_color or "") else "#BE4825"
    pal = accent_palette(accent)
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
        # the band/button colour, the text on it, the accent as small text on white (AA-adjusted), the
        # Trending tint, and the accent as text in dark mode (digest.core.emailcss)
        "accent_color": pal.accent,
        "accent_on": pal.on_accent,
        "accent_text": pal.text,
        "accent_tint": pal.tint,
        "accent_dark_text": pal.dark_text,
        "preferences_url": safe_url(nl.preferences_url),
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
