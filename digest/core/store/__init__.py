"""The SQLite store: one file, shared safely by the TUI and cron, and the ONLY code that writes SQL
against the app's tables (tests/test_store_owns_sql.py scans the sources for SQL elsewhere).

Where things go:
    connection.py   opening the file (read-only when it cannot be written), PRAGMAs, migrations, `tx` (the
                    one way to write), damage (StoreDamagedError, check/verify), WAL helpers
    schema.py       MIGRATIONS: entry i brings a store from PRAGMA user_version i to i + 1
    rows.py         SQL fragments shared by several modules (DRAFT_ID, STORY_FROM, NOT_SENT) and row mappers
    feeds.py        feeds: subscriptions and their fetch state
    stories.py      stories: saving a refresh's stories, StoryQuery
    search.py       what a person types into search, as FTS5 queries (phrases, OR, -word)
    queries.py      read-only queries shaped for one caller (Trending, the [select] rules, the TUI list)
    drafts.py       the draft and its items (flag, unflag, move), digests
    issues.py       the issue state machine: freeze, unfreeze, reconcile, mark sent
    deliveries.py   deliveries: one row per recipient, queued -> sending -> sent | failed
    subscribers.py  subscribers: added addresses, and who unsubscribed (never sent to again)
    articles.py     articles: the page behind a story (digest.core.articles), or why it could not be had
    rules.py        reader rules: each story's hidden / kept / boost marks, the text rules match, settings

Adding a table: append its CREATE statements to MIGRATIONS in schema.py as a new entry (never edit a
released one, and whoever lands second after a parallel change puts theirs after the other's;
Connection._migrate runs each missing entry in its own transaction), write a module with a
`class XMixin(Connection)` whose methods run the SQL (writes inside `with self.tx() as db:`), and add the
mixin to `Store` below. Callers get model objects (digest.core.models) or plain values, never a cursor.
"""

from __future__ import annotations

from digest.core.store.articles import ArticlesMixin
from digest.core.store.connection import (
    BUSY_TIMEOUT_MS,
    Connection,
    FeedExistsError,
    NewerStoreError,
    NotFoundError,
    StoreDamagedError,
    StoreError,
    is_damage,
)
from digest.core.store.deliveries import DeliveriesMixin, address_key
from digest.core.store.feeds import FeedsMixin
from digest.core.store.issues import IssuesMixin
from digest.core.store.maintenance import MaintenanceMixin
from digest.core.store.queries import QueriesMixin
from digest.core.store.retention import RetentionMixin
from digest.core.store.rows import STORY_COLUMNS
from digest.core.store.rules import RulesMixin
from digest.core.store.schema import MIGRATIONS
from digest.core.store.search import fts_query
from digest.core.store.stories import StoryQuery, title_key
from digest.core.store.subscribers import SubscribersMixin

__all__ = [
    "BUSY_TIMEOUT_MS", "MIGRATIONS", "STORY_COLUMNS", "Connection", "FeedExistsError", "NewerStoreError",
    "NotFoundError", "Store", "StoreDamagedError", "StoreError", "StoryQuery", "address_key", "fts_query",
    "is_damage", "title_key",
]


class Store(FeedsMixin, QueriesMixin, IssuesMixin, DeliveriesMixin, SubscribersMixin, ArticlesMixin,
            RetentionMixin, MaintenanceMixin, RulesMixin):
    """The store's whole API: see the modules above for each part."""
