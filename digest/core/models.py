"""Plain data passed between the core's steps and the front ends."""

from __future__ import annotations

from dataclasses import field
from datetime import UTC, datetime
from typing import Any

from digest.core import clock
from digest.core.record import record


def utcnow() -> datetime:
    return clock.now_utc()


def from_ts(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@record
class Image:
    """A story's picture: its URL, and its size and alt text when the feed gave them."""

    url: str
    width: int | None = None
    height: int | None = None
    alt: str = ""


@record
class ParsedStory:
    """One entry as read from a feed, before it has a row in the store."""

    guid: str
    link: str
    canonical_link: str
    title: str
    author: str = ""
    summary: str = ""  # plain text
    content: str = ""  # sanitised HTML
    image: Image | None = None
    categories: list[str] = field(default_factory=list)
    published_at: float | None = None  # unix seconds, UTC; None when the feed gave none or a broken one
    extra: dict[str, Any] = field(default_factory=dict)  # event dates/places and other per-kind fields


@record
class ParsedFeed:
    """A feed as read from its body: its title and link, its stories, and what kind of feed it is."""

    title: str = ""
    site_url: str = ""
    stories: list[ParsedStory] = field(default_factory=list)
    kind: str = ""  # rss20, atom10, json11, ...
    warning: str = ""  # a recoverable problem (feed was read despite it)


@record
class Feed:
    """A subscription as stored: its URL and names, its fetch state and its story counts."""

    id: int
    url: str
    title: str = ""
    site_url: str = ""
    section: str = ""
    etag: str | None = None
    last_modified: str | None = None
    last_status: str = ""  # ok | not_modified | error | gone | skipped | "" (never fetched)
    last_error: str = ""
    consecutive_failures: int = 0
    last_success_at: float | None = None
    last_fetch_at: float | None = None
    retry_after: float | None = None
    disabled: bool = False
    added_at: float = 0.0
    full_text: bool = False  # fetch the article behind each new story at refresh (feeds that truncate)
    story_count: int = 0
    unread_count: int = 0

    @property
    def name(self) -> str:
        return self.title or self.url

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "site_url": self.site_url,
            "section": self.section,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "last_success_at": iso_utc(self.last_success_at),
            "last_fetch_at": iso_utc(self.last_fetch_at),
            "retry_after": iso_utc(self.retry_after),
            "disabled": self.disabled,
            "full_text": self.full_text,
            "story_count": self.story_count,
            "unread_count": self.unread_count,
        }


@record
class Story:
    """A stored story, with its feed's name and where it stands in the draft."""

    id: int
    feed_id: int
    guid: str
    link: str
    canonical_link: str
    title: str
    author: str
    summary: str
    content: str
    image: Image | None
    categories: list[str]
    published_at: float
    fetched_at: float
    read: bool
    extra: dict[str, Any] = field(default_factory=dict)
    feed_title: str = ""
    feed_section: str = ""
    # Set when the story is in the current draft.
    flagged: bool = False
    draft_section: str | None = None
    headline: str | None = None
    blurb: str | None = None

    @property
    def published(self) -> datetime:
        return datetime.fromtimestamp(self.published_at, UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "feed_id": self.feed_id,
            "feed_title": self.feed_title,
            "section": self.feed_section,
            "guid": self.guid,
            "link": self.link,
            "canonical_link": self.canonical_link,
            "title": self.title,
            "author": self.author,
            "summary": self.summary,
            "image_url": self.image.url if self.image else None,
            "categories": self.categories,
            "published_at": iso_utc(self.published_at),
            "fetched_at": iso_utc(self.fetched_at),
            "read": self.read,
            "flagged": self.flagged,
            "draft_section": self.draft_section,
            "headline": self.headline,
            "blurb": self.blurb,
            "extra": self.extra,
        }


@record
class DigestItem:
    """A story placed in a digest: its section, position and blurb."""

    story: Story
    section: str
    position: int
    headline: str | None = None
    blurb: str | None = None


@record
class Section:
    """A digest's section and its stories, in order."""

    name: str
    items: list[DigestItem] = field(default_factory=list)


@record
class Digest:
    """A digest: the draft or an issue, with its sections and items."""

    id: int
    number: int
    title: str
    created_at: float
    status: str  # draft | built | sent
    theme: str = ""
    paths: dict[str, str] = field(default_factory=dict)
    built_at: float | None = None
    sent_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "created_at": iso_utc(self.created_at),
            "status": self.status,
            "theme": self.theme,
            "paths": self.paths,
            "built_at": iso_utc(self.built_at),
            "sent_at": iso_utc(self.sent_at),
        }


def from_iso(value: Any) -> datetime | None:
    """An ISO 8601 date as the feeds give them (event dates, "Z" for UTC), aware; a date without a zone is
    taken as UTC. None when missing or unreadable."""
    if not value:
        return None
    try:
        d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def iso_utc(ts: float | None) -> str | None:
    """A unix time as ISO 8601 UTC ("2026-12-06T23:35:00Z"), as every --json output gives dates."""
    dt = from_ts(ts)
    return dt.isoformat().replace("+00:00", "Z") if dt else None


# The start of a FetchResult's error for a body over max_bytes (articles.py tries such a page again in a
# week, not an hour: it will not shrink)
TOO_LARGE = "body larger than"


@record
class FetchResult:
    """What fetching one feed gave (digest.core.fetch). Plain data here, so parse workers can receive
    it without importing pycurl."""

    status: str  # ok | not_modified | error | gone | retry
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    new_url: str | None = None  # set when every redirect hop was permanent
    http_status: int | None = None
    error: str = ""
    retry_after: float | None = None
    final_url: str = ""
    # True when the fetch began on a private address (an intranet feed the user added), so links found in
    # what it gave may lead to private addresses too; False when it began on a public one (digest.core.addresses)
    private_ok: bool | None = None


@record
class Article:
    """The page behind a story's link, as fetched and extracted (digest.core.articles), or why it could
    not be: status "ok" or "error" (with `error` and `retry_at`, when it may be tried again)."""

    story_id: int
    url: str
    status: str
    fetched_at: float
    attempts: int = 1
    retry_at: float | None = None
    title: str = ""
    text: str = ""  # plain text, paragraphs separated by blank lines
    html: str = ""  # the main text as HTML, through the same nh3 allowlist as feed HTML
    image_url: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    description: str = ""
    author: str = ""
    published_at: float | None = None
    site_name: str = ""
    canonical_url: str = ""
    error: str = ""
    text_words: int = 0  # read, not stored: the article's length (reading time) when `text` is cut short

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def image(self) -> Image | None:
        return Image(self.image_url, self.image_width, self.image_height) if self.image_url else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.story_id,
            "url": self.url,
            "status": self.status,
            "title": self.title,
            "text": self.text,
            "html": self.html,
            "image": self.image_url,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "description": self.description,
            "author": self.author,
            "published_at": iso_utc(self.published_at),
            "site_name": self.site_name,
            "canonical_url": self.canonical_url,
            "fetched_at": iso_utc(self.fetched_at),
            "error": self.error,
            "attempts": self.attempts,
            "retry_at": iso_utc(self.retry_at),
        }
