"""The store's schema as numbered migrations: entry i brings a store from PRAGMA user_version i to i + 1.

Never edit a released entry: append a new one (digest.core.store.connection.Connection._migrate runs what
is missing, all in one transaction), and add a store written by the new version to tests/stores/. A
feature's tables may also live in its own store module as a constant appended here, as long as the order
of the list never changes.
"""

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        site_url TEXT NOT NULL DEFAULT '',
        section TEXT NOT NULL DEFAULT '',
        etag TEXT,
        last_modified TEXT,
        last_status TEXT NOT NULL DEFAULT '',
        last_error TEXT NOT NULL DEFAULT '',
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_success_at REAL,
        last_fetch_at REAL,
        retry_after REAL,
        disabled INTEGER NOT NULL DEFAULT 0,
        added_at REAL NOT NULL
    );
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT '',
        canonical_link TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        title_key TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL DEFAULT '',
        image_url TEXT,
        image_width INTEGER,
        image_height INTEGER,
        image_alt TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        extra TEXT NOT NULL DEFAULT '{}',
        published_at REAL NOT NULL,
        fetched_at REAL NOT NULL,
        read INTEGER NOT NULL DEFAULT 0,
        UNIQUE (feed_id, guid)
    );
    CREATE INDEX stories_published ON stories(published_at DESC);
    CREATE INDEX stories_feed_published ON stories(feed_id, published_at DESC);
    -- unread counts per feed (sidebar, feeds list) without reading every story row
    CREATE INDEX stories_feed_read ON stories(feed_id, read);
    -- Trending groups recent stories by link and by headline: (key, published_at) serves both the
    -- window and the GROUP BY (measured on 100k stories: 96 -> 52 ms median against single-column indexes)
    CREATE INDEX stories_canonical_pub ON stories(canonical_link, published_at);
    CREATE INDEX stories_title_key_pub ON stories(title_key, published_at);
    -- No prefix='2 3' indexes: they made every insert ~50% dearer (measured on the refresh benchmark)
    -- to speed up only 2-3 letter search-as-you-type prefixes, which the TUI already handles in ~60 ms.
    -- detail='column': no token positions (we never run phrase/NEAR queries); about halves the cost of
    -- indexing, which dominated a cold refresh's store time
    CREATE VIRTUAL TABLE stories_fts USING fts5(
        title, summary, content='stories', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
        detail='column'
    );
    CREATE TRIGGER stories_ai AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END;
    CREATE TRIGGER stories_ad AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    END;
    CREATE TRIGGER stories_au AFTER UPDATE OF title, summary ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END;
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'built', 'sent')),
        theme TEXT NOT NULL DEFAULT '',
        paths TEXT NOT NULL DEFAULT '{}',
        built_at REAL,
        sent_at REAL
    );
    -- at most one draft: flags from the TUI and cron's freeze of the draft can never split it
    CREATE UNIQUE INDEX digests_one_draft ON digests(status) WHERE status = 'draft';
    CREATE TABLE digest_items (
        digest_id INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
        story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        section TEXT NOT NULL,
        position INTEGER NOT NULL,
        headline TEXT,
        blurb TEXT,
        PRIMARY KEY (digest_id, story_id)
    );
    CREATE INDEX digest_items_story ON digest_items(story_id);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        digest_id INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
        message_id TEXT NOT NULL DEFAULT '',
        reply TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL,
        UNIQUE (digest_id, recipient)
    );
    -- canonical links of every story that went out, kept even if the story row is pruned later
    CREATE TABLE sent_links (
        canonical_link TEXT PRIMARY KEY,
        digest_id INTEGER NOT NULL,
        at REAL NOT NULL
    );
    """,
    # 2: subscribers (digest.core.subscribers): the people `newsletter.to` does not list, and everyone who
    # unsubscribed. `key` is the address as compared (address_key); `token` the HMAC the unsubscribe
    # link carries, never the address in clear.
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unsubscribed')),
        token TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL DEFAULT '',
        added_at REAL NOT NULL,
        unsubscribed_at REAL
    );
    """,
    # 3: the page behind a story (digest.core.articles), in its own table so story lists stay narrow; a
    # failed fetch is a row too (status 'error', its reason, when to try again), so it is not retried at
    # every keypress. Per feed: fetch the article of every new story at refresh (feeds that truncate).
    """
    CREATE TABLE articles (
        story_id INTEGER PRIMARY KEY REFERENCES stories(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
        fetched_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        retry_at REAL,
        title TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        html TEXT NOT NULL DEFAULT '',
        image_url TEXT,
        image_width INTEGER,
        image_height INTEGER,
        description TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        published_at REAL,
        site_name TEXT NOT NULL DEFAULT '',
        canonical_url TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT ''
    );
    ALTER TABLE feeds ADD COLUMN full_text INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: a compact store and retention (issue 16). summary + content become one zlib blob, body
    # (store/body.py; digest_summary and digest_pack are SQL functions every connection registers); the
    # FTS index reads the summary through the stories_text view; seen_ids remembers the guids of pruned
    # stories. Rebuilds stories: the migration runner turns foreign keys off around it, so dropping the
    # old table does not cascade into digest_items.
    """
    DROP TRIGGER stories_ai;
    DROP TRIGGER stories_ad;
    DROP TRIGGER stories_au;
    DROP TABLE stories_fts;
    CREATE TABLE stories_new (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT '',
        canonical_link TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        title_key TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        body BLOB NOT NULL DEFAULT x'',
        image_url TEXT,
        image_width INTEGER,
        image_height INTEGER,
        image_alt TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        extra TEXT NOT NULL DEFAULT '{}',
        published_at REAL NOT NULL,
        fetched_at REAL NOT NULL,
        read INTEGER NOT NULL DEFAULT 0,
        UNIQUE (feed_id, guid)
    );
    INSERT INTO stories_new(id, feed_id, guid, link, canonical_link, title, title_key, author, body, image_url,
                            image_width, image_height, image_alt, categories, extra, published_at, fetched_at, read)
    SELECT id, feed_id, guid, link, canonical_link, title, title_key, author, digest_pack(summary, content),
           image_url, image_width, image_height, image_alt, categories, extra, published_at, fetched_at, read
    FROM stories;
    DROP TABLE stories;
    ALTER TABLE stories_new RENAME TO stories;
    CREATE INDEX stories_published ON stories(published_at DESC);
    CREATE INDEX stories_feed_published ON stories(feed_id, published_at DESC);
    CREATE INDEX stories_feed_read ON stories(feed_id, read);
    CREATE INDEX stories_canonical_pub ON stories(canonical_link, published_at);
    CREATE INDEX stories_title_key_pub ON stories(title_key, published_at);
    -- retention walks stories by first-seen time
    CREATE INDEX stories_fetched ON stories(fetched_at);
    CREATE VIEW stories_text AS SELECT id, title, digest_summary(body) AS summary FROM stories;
    CREATE VIRTUAL TABLE stories_fts USING fts5(
        title, summary, content='stories_text', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', detail='column'
    );
    INSERT INTO stories_fts(stories_fts) VALUES ('rebuild');
    CREATE TRIGGER stories_ai AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, digest_summary(new.body));
    END;
    CREATE TRIGGER stories_ad AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, digest_summary(old.body));
    END;
    CREATE TRIGGER stories_au AFTER UPDATE OF title, body ON stories BEGIN
        INSERT INTO stories_fts(stories_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, digest_summary(old.body));
        INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, digest_summary(new.body));
    END;
    -- the guids of pruned stories, per feed, as 64-bit hashes (store/retention.py): a feed that still
    -- carries one does not bring it back as new. last_seen is a day number (unix time // 86400).
    CREATE TABLE seen_ids (
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        guid_hash INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (feed_id, guid_hash)
    ) WITHOUT ROWID;
    """,
    # 5: reader rules (digest.core.rules, store/rules.py): what the [[rules]] of the config made of each story.
    # ADD COLUMN only (O(1) in SQLite: no rewrite of 100k rows). hidden: out of lists, search, Trending and
    # auto-selection; kept: never pruned, never hidden; boost: added to the auto-selection rank (select.py).
    # settings: small key/value rows (the hash of the rule set last applied to every stored story).
    """
    ALTER TABLE stories ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE stories ADD COLUMN boost INTEGER NOT NULL DEFAULT 0;
    -- the hidden ids, for "s.id NOT IN (hidden)" (rows.HIDDEN_IDS): the story list's id query stays a
    -- scan of stories_published alone, where "s.hidden = 0" would read every row (55 -> ~150 ms on 100k).
    -- Partial, so a visible story (nearly all) costs an insert nothing here.
    CREATE INDEX stories_hidden ON stories(id) WHERE hidden != 0;
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: readers compared by the whole address in lower case (deliveries.address_key), the part before the
    # @ too: a reader who unsubscribed as bob@x.org is not sent to as BOB@x.org. Rows that now name one
    # reader become one: an unsubscribe wins, else the oldest row (its token stays; tokens are unchanged).
    """
    DELETE FROM subscribers WHERE id IN (
        SELECT s.id FROM subscribers s JOIN subscribers t
            ON digest_lower(t.key) = digest_lower(s.key) AND t.id != s.id
        WHERE (t.status = 'unsubscribed' AND s.status = 'active') OR (t.status = s.status AND t.id < s.id)
    );
    UPDATE subscribers SET key = digest_lower(key);
    """,
]
