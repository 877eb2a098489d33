"""SQL fragments shared by the table modules, and rows turned into model objects.

DRAFT_ID is the one spelling of "the draft's id": at most one digest has status 'draft' (a unique
partial index), so this subquery is a single index lookup wherever it appears.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from digest.core.models import Digest, Feed, Image, Story
from digest.core.store.body import unpack

DRAFT_ID = "(SELECT id FROM digests WHERE status = 'draft')"

STORY_COLUMNS = (
    "s.id, s.feed_id, s.guid, s.link, s.canonical_link, s.title, s.author, s.body, "
    "s.image_url, s.image_width, s.image_height, s.image_alt, s.categories, s.published_at, s.fetched_at, "
    "s.read, s.extra, f.title AS feed_title, f.section AS feed_section, "
    "di.section AS draft_section, di.headline, di.blurb, di.digest_id AS draft_id"
)

# stories aliased s with their feed f and, when flagged, their draft item di
STORY_FROM = (
    "FROM stories s JOIN feeds f ON f.id = s.feed_id "
    f"LEFT JOIN digest_items di ON di.story_id = s.id AND di.digest_id = {DRAFT_ID}"
)

# the ids of the stories reader rules hide (digest.core.rules): a scan of the small partial index
# stories_hidden, so "s.id NOT IN (HIDDEN_IDS)" keeps a list query on its covering index
HIDDEN_IDS = "SELECT id FROM stories WHERE hidden != 0"

# true (on alias s) for stories never sent in an earlier digest, by id or by canonical link
NOT_SENT = (
    "NOT EXISTS (SELECT 1 FROM digest_items x JOIN digests d ON d.id = x.digest_id "
    "WHERE x.story_id = s.id AND d.status = 'sent') "
    "AND NOT EXISTS (SELECT 1 FROM sent_links sl WHERE sl.canonical_link = s.canonical_link "
    "AND s.canonical_link != '')"
)

FEED_SELECT = (
    "SELECT f.*, count(s.id) AS story_count, coalesce(sum(s.read = 0), 0) AS unread_count "
    "FROM feeds f LEFT JOIN stories s ON s.feed_id = f.id"
)


def real_or_none(value: Any) -> float | None:
    """A REAL column's value from a row (sqlite3 rows are untyped): a float, or None for NULL."""
    return None if value is None else float(value)


def marks(n: int) -> str:
    """n comma-separated parameter marks, for an IN (...) list."""
    return ",".join("?" * n)


def feed_row(r: sqlite3.Row) -> Feed:
    return Feed(
        id=r["id"], url=r["url"], title=r["title"], site_url=r["site_url"], section=r["section"],
        etag=r["etag"], last_modified=r["last_modified"], last_status=r["last_status"],
        last_error=r["last_error"], consecutive_failures=r["consecutive_failures"],
        last_success_at=r["last_success_at"], last_fetch_at=r["last_fetch_at"], retry_after=r["retry_after"],
        disabled=bool(r["disabled"]), added_at=r["added_at"], full_text=bool(r["full_text"]),
        story_count=r["story_count"],
        unread_count=r["unread_count"],
    )


def story_row(r: sqlite3.Row) -> Story:
    image = (
        Image(r["image_url"], r["image_width"], r["image_height"], r["image_alt"]) if r["image_url"] else None
    )
    summary, content = unpack(r["body"])
    return Story(
        id=r["id"], feed_id=r["feed_id"], guid=r["guid"], link=r["link"], canonical_link=r["canonical_link"],
        title=r["title"], author=r["author"], summary=summary, content=content, image=image,
        categories=json.loads(r["categories"]), published_at=r["published_at"], fetched_at=r["fetched_at"],
        read=bool(r["read"]), extra=json.loads(r["extra"]), feed_title=r["feed_title"],
        feed_section=r["feed_section"], flagged=r["draft_id"] is not None, draft_section=r["draft_section"],
        headline=r["headline"], blurb=r["blurb"],
    )


def digest_row(r: sqlite3.Row) -> Digest:
    return Digest(
        id=r["id"], number=r["number"], title=r["title"], created_at=r["created_at"], status=r["status"],
        theme=r["theme"], paths=json.loads(r["paths"]), built_at=r["built_at"], sent_at=r["sent_at"],
    )
