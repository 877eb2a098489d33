"""The SQLite store: a real file, WAL, schema version, FTS, the draft, two connections at once."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from digest.core.models import Image, ParsedStory
from digest.core.store import MIGRATIONS, FeedExistsError, NotFoundError, Store, StoreError, StoryQuery, fts_query

NOW = 1_795_600_000.0


def story(i: int, title: str = "", summary: str = "", **kw) -> ParsedStory:
    return ParsedStory(
        guid=f"g{i}", link=f"https://x.example/{i}", canonical_link=f"https://x.example/{i}",
        title=title or f"Story {i}", summary=summary or f"summary {i}", content=f"<p>content {i}</p>",
        published_at=kw.pop("published_at", NOW - i * 60), **kw,
    )


@pytest.fixture
def filled(store: Store) -> Store:
    a = store.add_feed("https://a.example/feed", title="Alpha", section="Top Stories")
    b = store.add_feed("https://b.example/feed", title="Beta", section="Startups")
    store.save_stories(a.id, [
        story(1, "Tidewater Energy raises $42M for ferry batteries", "Grid storage under the docks."),
        story(2, "Rainshadow Robotics lands Series A", "Robot arms pack apples in Yakima."),
        story(3, "C++ and AT&T: a (long) story", "Punctuation: quotes \" and stars * and -minus."),
    ], now=NOW)
    store.save_stories(b.id, [
        story(4, "Kelpline exits stealth", "Regional delivery routing.",
              image=Image("https://i.example/k.jpg", 800, 533)),
        story(5, "Quillmark acquires Forkyard", "Dev tools deal in Tacoma.", categories=["M&A", "Tacoma"]),
    ], now=NOW)
    return store


def test_wal_mode_and_schema_version(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(MIGRATIONS) >= 1
    raw = sqlite3.connect(store.path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent on the file
    raw.close()
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_reopen_does_not_migrate_again(digest_home) -> None:
    s1 = Store(digest_home.db_file)
    s1.add_feed("https://a.example/")
    s1.close()
    s2 = Store(digest_home.db_file)
    assert s2.feed_count() == 1 and s2.schema_version == len(MIGRATIONS)
    s2.close()


def test_newer_schema_is_refused(digest_home) -> None:
    Store(digest_home.db_file).close()
    raw = sqlite3.connect(digest_home.db_file)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        Store(digest_home.db_file)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="bad.db"):
        Store(bad)


def test_feeds_crud(store: Store) -> None:
    f = store.add_feed("https://a.example/feed", title="A", section="Jobs")
    assert store.get_feed(f.id).url == "https://a.example/feed"
    with pytest.raises(FeedExistsError, match=str(f.id)):
        store.add_feed("https://a.example/feed")
    store.update_feed(f.id, etag='"x"', last_status="ok")
    assert store.get_feed(f.id).etag == '"x"'
    with pytest.raises(ValueError):
        store.update_feed(f.id, bogus=1)
    store.save_stories(f.id, [story(1)])
    assert store.remove_feed(f.id).story_count == 1
    assert store.stories() == []  # cascade
    with pytest.raises(NotFoundError):
        store.get_feed(f.id)


def test_stories_newest_first_and_filters(filled: Store) -> None:
    titles = [s.title for s in filled.stories()]
    assert titles[0].startswith("Tidewater") and len(titles) == 5
    dates = [s.published_at for s in filled.stories()]
    assert dates == sorted(dates, reverse=True)
    assert len(filled.stories(StoryQuery(section="startups"))) == 2
    assert len(filled.stories(StoryQuery(since=NOW - 150))) == 2
    assert len(filled.stories(StoryQuery(limit=2))) == 2
    assert filled.count_stories(StoryQuery(section="Top Stories")) == 3
    k = filled.stories(StoryQuery(search="kelpline"))[0]
    assert k.image == Image("https://i.example/k.jpg", 800, 533)
    q = filled.stories(StoryQuery(search="forkyard"))[0]
    assert q.categories == ["M&A", "Tacoma"]


@pytest.mark.parametrize(("query", "expected"), [
    ("tidewater", {1}),
    ("tide", {1}),  # prefix: search as you type
    ("t", {1, 3, 5}),  # "Tidewater", "AT&T", "Tacoma"
    ("ferry batt", {1}),
    ("robot", {2}),
    ("docks", {1}),  # summary is indexed too
    ("RAINSHADOW", {2}),
    ("nothing-like-this", set()),
])
def test_fts_search(filled: Store, query: str, expected: set[int]) -> None:
    got = {int(s.guid[1:]) for s in filled.stories(StoryQuery(search=query))}
    assert got == expected


@pytest.mark.parametrize("query", [
    '"', '""', "'", "*", "-", "-x", "c++", "AT&T", "(long)", "(", ")", "NEAR(", "a OR", "AND", "NOT",
    "x:y", "title:foo", "^", "{a b}", "\\", "%", "_", "a\tb", "  ", "💥",
    "\x00",  # regression: a NUL ended the FTS5 query string early ("unterminated string")
])
def test_fts_punctuation_never_raises(filled: Store, query: str) -> None:
    filled.stories(StoryQuery(search=query))
    filled.count_stories(StoryQuery(search=query))


def test_fts_finds_words_next_to_punctuation(filled: Store) -> None:
    assert {s.guid for s in filled.stories(StoryQuery(search="c++"))} == {"g3"}
    assert {s.guid for s in filled.stories(StoryQuery(search="(long)"))} == {"g3"}


def test_fts_follows_updates_and_deletes(filled: Store) -> None:
    feed_id = filled.stories(StoryQuery(search="tidewater"))[0].feed_id
    filled.save_stories(feed_id, [story(1, "Renamed headline", "new words")])
    assert filled.stories(StoryQuery(search="tidewater")) == []
    assert len(filled.stories(StoryQuery(search="renamed"))) == 1
    filled.remove_feed(feed_id)
    assert filled.stories(StoryQuery(search="renamed")) == []


def test_many_new_stories_are_stored_and_indexed_whole(store: Store) -> None:
    """save_stories inserts many rows per statement (FTS5 flushes at every statement's savepoint): a feed
    longer than one statement's rows is stored and searchable from its first story to its last, with
    every field in its column, and a repeated entry is stored once."""
    feed = store.add_feed("https://many.example/feed")
    stories = [story(i, f"Headline {i} word{i}z", f"body{i}z text", author=f"a{i}", categories=[f"c{i}"],
                     image=Image(f"https://i.example/{i}.jpg", 600 + i, 400), extra={"n": i})
               for i in range(1, 124)]
    assert store.save_stories(feed.id, [*stories, story(5, "a repeat of 5")], now=NOW) == 123
    got = {s.guid: s for s in store.stories(StoryQuery(feed_id=feed.id))}
    assert len(got) == 123
    for i in (1, 50, 51, 100, 101, 123):
        s = got[f"g{i}"]
        assert (s.title, s.summary, s.author) == (f"Headline {i} word{i}z", f"body{i}z text", f"a{i}")
        assert s.categories == [f"c{i}"]
        assert (s.image, s.extra) == (Image(f"https://i.example/{i}.jpg", 600 + i, 400), {"n": i})
        assert [x.guid for x in store.stories(StoryQuery(search=f"word{i}z"))] == [f"g{i}"]
        assert [x.guid for x in store.stories(StoryQuery(search=f"body{i}z"))] == [f"g{i}"]
    assert len(store.stories(StoryQuery(search="headline"))) == 123


def test_list_feeds_without_counts(filled: Store) -> None:
    """What a refresh reads: the same feeds in the same order, with the story counts left out."""
    from dataclasses import replace

    with_counts = filled.list_feeds()
    assert sorted(f.story_count for f in with_counts) == [2, 3]
    assert filled.list_feeds(counts=False) == [replace(f, story_count=0, unread_count=0) for f in with_counts]


def test_a_write_sqlite_cannot_make_is_a_store_error_and_rolls_back(store: Store) -> None:
    """SQLITE_FULL (here from max_page_count, as from a full disk): StoreError naming the store, the
    transaction rolled back, the stories stored before intact, and the store still usable."""
    feed = store.add_feed("https://full.example/feed")
    store.save_stories(feed.id, [story(1)], now=NOW)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match=f"^{re.escape(str(store.path))}: database or disk is full$"):
        store.save_stories(feed.id, [story(i, summary="words " * 300) for i in range(2, 200)], now=NOW)
    assert not store.db.in_transaction
    assert [s.guid for s in store.stories(StoryQuery(feed_id=feed.id))] == ["g1"]
    store.db.execute(f"PRAGMA max_page_count = {pages + 10_000}")
    assert store.save_stories(feed.id, [story(2)], now=NOW) == 1


def test_nested_tx_joins_the_outer_transaction(store: Store) -> None:
    feed = store.add_feed("https://nest.example/feed")
    with pytest.raises(RuntimeError), store.tx():
        store.save_stories(feed.id, [story(1)], now=NOW)  # its own tx() joins the outer one
        store.update_feed(feed.id, title="changed")
        raise RuntimeError("the outer transaction fails after both writes")
    assert store.stories(StoryQuery(feed_id=feed.id)) == [] and store.get_feed(feed.id).title == ""
    with store.tx():
        store.save_stories(feed.id, [story(1)], now=NOW)
        store.update_feed(feed.id, title="changed")
        assert store.db.in_transaction
    assert not store.db.in_transaction
    assert len(store.stories(StoryQuery(feed_id=feed.id))) == 1 and store.get_feed(feed.id).title == "changed"


def test_fts_query_quoting() -> None:
    assert fts_query("") == ""
    assert fts_query('  "  ') == ""
    assert fts_query("a b") == '"a" "b"*'
    # split like FTS5's unicode61 tokenizer: punctuation separates terms
    assert fts_query("AT&T") == '"AT" "T"*'
    # a quoted word is complete (no prefix); a phrase is checked apart (search_clauses), not in the match
    assert fts_query('say "hi"') == '"say" "hi"'
    assert fts_query('"series a" kelp') == '"kelp"*'
    assert fts_query("rust OR go farm") == '("rust" OR "go") "farm"*'
    assert fts_query("OR rust OR") == '"rust"*'  # an OR with nothing on one side is ignored
    assert fts_query("rust -meetup") == '"rust"*'


def test_search_phrases_or_and_exclusions(store: Store) -> None:
    """The README's `--search "series a"` found Series B stories: the quotes were dropped and "a" matched
    any word starting with a. Quotes make a phrase, OR either term, -word leaves a word out."""
    feed = store.add_feed("https://a.example/feed", title="Alpha")
    store.save_stories(feed.id, [
        story(1, "Mossgate raises Series A", "Forestry lidar."),
        story(2, "Driftwood closes Series B", "A payroll startup."),
        story(3, "Rust meetup at the edge", "Talks."),
        story(4, "Running Rust in production", "One year in."),
        story(5, "Pinecrest raises seed", "Dialysis."),
        story(6, "Tacoma’s Foundry Row doubles", "Café Série A-round, “quoted”."),
    ], now=NOW)

    def found(query: str) -> set[int]:
        got = {int(s.guid[1:]) for s in store.stories(StoryQuery(search=query))}
        assert store.count_stories(StoryQuery(search=query)) == len(got)
        page = store.stories(StoryQuery(search=query, limit=10))  # the TUI's paged path (story_ids)
        assert {int(s.guid[1:]) for s in page} == got
        return got

    assert found("series a") == {1, 2}  # words anywhere, the last a prefix ("a payroll")
    assert found('"series a"') == {1}
    assert found('"series a') == {1}  # being typed: the phrase with its last word as a prefix
    assert found('"a series"') == set()  # in that order
    assert found('"serie a"') == {6}  # case and accents ignored, punctuation after the phrase allowed
    assert found('"tacoma\'s foundry"') == {6}  # the feed's curly apostrophe
    assert found("rust OR seed") == {3, 4, 5}
    assert found('meetup OR "series a"') == {1, 3}
    assert found("rust -meetup") == {4}
    assert found("-rust") == {1, 2, 5, 6}
    assert found("-") == {1, 2, 3, 4, 5, 6}


def test_read_flags(filled: Store) -> None:
    ids = filled.story_ids()
    filled.set_read(ids[:2])
    assert filled.counts() == {"all": 5, "unread": 3, "flagged": 0, "hidden": 0}
    assert len(filled.stories(StoryQuery(unread=True))) == 3
    filled.set_read(ids[:1], False)
    assert filled.counts()["unread"] == 4


def test_save_stories_keeps_read_flag_and_first_seen(filled: Store) -> None:
    s = filled.stories(StoryQuery(search="tidewater"))[0]
    filled.set_read([s.id])
    filled.save_stories(s.feed_id, [story(1, "Tidewater updated", "changed", published_at=None)], now=NOW + 500)
    after = filled.get_story(s.id)
    assert after.read and after.title == "Tidewater updated"
    assert after.published_at == s.published_at and after.fetched_at == s.fetched_at


def test_flag_unflag_positions_and_move(filled: Store) -> None:
    ids = filled.story_ids()
    for sid in ids[:3]:
        filled.flag(sid, "Top Stories")
    filled.flag(ids[3], "Startups", blurb="my words", headline="My headline")
    items = filled.digest_items()
    top = [i.story.id for i in items if i.section == "Top Stories"]
    assert top == ids[:3]
    assert [i.position for i in items if i.section == "Top Stories"] == [0, 1, 2]
    startup = next(i for i in items if i.section == "Startups")
    assert (startup.blurb, startup.headline) == ("my words", "My headline")
    assert filled.counts()["flagged"] == 4
    assert {s.id for s in filled.stories(StoryQuery(flagged=True))} == set(ids[:4])

    filled.move_item(ids[2], delta=-2)
    assert [i.story.id for i in filled.digest_items() if i.section == "Top Stories"] == [ids[2], ids[0], ids[1]]
    filled.move_item(ids[2], delta=+99)  # clamped to the end
    assert [i.story.id for i in filled.digest_items() if i.section == "Top Stories"] == [ids[0], ids[1], ids[2]]
    filled.move_item(ids[0], section="Startups")
    assert [i.story.id for i in filled.digest_items() if i.section == "Startups"] == [ids[3], ids[0]]
    assert [i.position for i in filled.digest_items() if i.section == "Top Stories"] == [0, 1]

    assert filled.unflag(ids[1]) is True
    assert filled.unflag(ids[1]) is False
    assert [i.position for i in filled.digest_items() if i.section == "Top Stories"] == [0]
    with pytest.raises(NotFoundError):
        filled.move_item(ids[4], delta=1)
    with pytest.raises(NotFoundError):
        filled.flag(999_999, "Top Stories")


def test_move_item_to_a_position(filled: Store) -> None:
    """A position is an index counted without the item: another item's position puts it in that item's place."""
    ids = filled.story_ids()
    for sid in ids[:3]:
        filled.flag(sid, "Top Stories")
    for sid in ids[3:]:
        filled.flag(sid, "Startups")

    def order(section: str) -> list[int]:
        return [i.story.id for i in filled.digest_items() if i.section == section]

    filled.move_item(ids[0], position=2)  # same section, downwards: below the ones it passed
    assert order("Top Stories") == [ids[1], ids[2], ids[0]]
    filled.move_item(ids[0], section="Top Stories", position=0)  # before the first
    assert order("Top Stories") == [ids[0], ids[1], ids[2]]
    filled.move_item(ids[1], section="Startups", position=1)  # other section: the rest shift down
    assert order("Startups") == [ids[3], ids[1], ids[4]]
    assert [i.position for i in filled.digest_items() if i.section == "Top Stories"] == [0, 1]
    filled.move_item(ids[2], section="Startups", position=0)  # before the first of another section
    assert order("Startups") == [ids[2], ids[3], ids[1], ids[4]]
    assert [i.position for i in filled.digest_items() if i.section == "Startups"] == [0, 1, 2, 3]
    filled.move_item(ids[2], position=99)  # clamped to the end
    assert order("Startups") == [ids[3], ids[1], ids[4], ids[2]]
    filled.move_item(ids[0], section="New section", position=5)  # a new section starts with it
    assert order("New section") == [ids[0]] and order("Top Stories") == []

    filled.unflag(ids[4])
    with pytest.raises(NotFoundError, match=f"story {ids[4]} is not in the draft"):
        filled.move_item(ids[4], section="Startups", position=0)
    with pytest.raises(NotFoundError):
        filled.move_item(999_999, position=0)
    assert order("Startups") == [ids[3], ids[1], ids[2]]


def test_reflag_updates_without_losing_blurb(filled: Store) -> None:
    sid = filled.story_ids()[0]
    filled.flag(sid, "Top Stories", blurb="keep me")
    filled.flag(sid, "Top Stories", headline="New head")
    [item] = filled.digest_items()
    assert (item.blurb, item.headline) == ("keep me", "New head")
    filled.flag(sid, "Top Stories", blurb="")
    assert filled.digest_items()[0].blurb is None


def test_one_draft_only(filled: Store) -> None:
    d1 = filled.draft(create=True)
    d2 = filled.draft(create=True)
    assert d1 and d2 and d1.id == d2.id and d1.status == "draft"


def test_sent_stories_are_remembered(filled: Store) -> None:
    sid = filled.story_ids()[0]
    filled.flag(sid, "Top Stories")
    draft = filled.draft()
    assert draft is not None
    filled.mark_sent(draft.id)
    assert filled.get_story(sid).read
    assert filled.draft() is None
    assert filled.get_story(sid).flagged is False  # not in the (new) draft
    sql = f"SELECT s.id FROM stories s WHERE {filled.sent_story_filter_sql()}"
    assert sid not in {r[0] for r in filled.db.execute(sql)}


def test_second_store_writes_while_the_first_reads(digest_home) -> None:
    """The TUI reads while cron writes: WAL + busy timeout, never 'database is locked'."""
    reader = Store(digest_home.db_file)
    writer = Store(digest_home.db_file)
    feed = writer.add_feed("https://a.example/")
    errors: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        try:
            for batch in range(150):
                writer.save_stories(feed.id, [story(batch * 10 + i) for i in range(10)])
                writer.update_feed(feed.id, last_status="ok", last_fetch_at=time.time())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            stop.set()

    t = threading.Thread(target=write)
    t.start()
    reads = 0
    try:
        while not stop.is_set() or reads < 5:
            # a long-ish read transaction, interleaved with writer commits
            reader.db.execute("BEGIN")
            n1 = reader.count_stories()
            reader.stories(StoryQuery(limit=50))
            reader.stories(StoryQuery(search="story"))
            n2 = reader.count_stories()
            reader.db.execute("COMMIT")
            assert n1 == n2  # a consistent snapshot inside the read transaction
            reader.set_read(reader.story_ids()[:3])  # and the reader writes too (the TUI marks read)
            reads += 1
    finally:
        t.join()
    assert not errors, errors
    assert reader.count_stories() == 1500
    reader.close()
    writer.close()


def test_two_writers_queue_instead_of_failing(digest_home) -> None:
    a, b = Store(digest_home.db_file), Store(digest_home.db_file)
    fa = a.add_feed("https://a.example/")
    fb = b.add_feed("https://b.example/")
    errors: list[BaseException] = []

    def run(s: Store, fid: int) -> None:
        try:
            for i in range(50):
                s.save_stories(fid, [story(i)])
                s.flag(s.stories(StoryQuery(feed_id=fid, limit=1))[0].id, "Top Stories")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(a, fa.id)), threading.Thread(target=run, args=(b, fb.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert a.count_stories() == 100
    a.close()
    b.close()


@pytest.mark.parametrize("with_isal", [True, False])
def test_a_body_is_a_zlib_stream_whichever_compressor_wrote_it(monkeypatch: pytest.MonkeyPatch,
                                                               with_isal: bool) -> None:
    """ISA-L writes the stories' blobs where it is installed, zlib elsewhere: the same format, so
    stores move between the two and digest_summary / unpack read both."""
    import sys
    import zlib

    from digest.core.store import body

    monkeypatch.setattr(body, "_compress", None)
    if not with_isal:
        monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)  # importing it raises ImportError
    summary, content = "Ünïcode summary \ud800 " * 20, "<p>content</p>" * 200
    blob = body.pack(summary, content)
    assert zlib.decompress(blob)[4:].startswith(summary.encode("utf-8", "surrogatepass"))
    assert body.unpack(blob) == (summary, content)
    assert body.summary_of(blob) == summary
    assert len(blob) < len(content) / 10
    monkeypatch.setattr(body, "_compress", None)


@pytest.mark.parametrize("with_isal", [True, False])
def test_summaries_read_in_bulk_are_the_summaries_of_every_kind_of_body(monkeypatch: pytest.MonkeyPatch,
                                                                        with_isal: bool) -> None:
    """summaries_of (reader rules: 100k at once) and summary_of give unpack()'s summary for every body: short
    ones inflated whole by ISA-L, long ones streamed, one that inflates to more than 16x its size (the
    whole-body buffer is too small: streamed instead), zlib level 6 blobs of older stores, empty ones."""
    import random
    import sys
    import zlib

    from digest.core.store import body

    monkeypatch.setattr(body, "_whole", None)
    if not with_isal:
        monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    rng = random.Random(7)
    words = ["Ünïcode", "feed", "story", "\ud800", "é", "ok", "😀"]
    bodies: list[bytes | None] = [None, b"", body.pack("", ""), body.pack("", "<p>only content</p>")]
    for _ in range(200):
        summary = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 60)))
        content = "".join(rng.choice(words) for _ in range(rng.choice([0, 10, 3000])))
        bodies.append(body.pack(summary, content))
    bodies.append(body.pack("a" * 5000, "b" * 50000))  # ~100 bytes that inflate to 55 KB
    s = b"summary from zlib 6 "
    bodies.append(zlib.compress(len(s).to_bytes(4, "big") + s + b"<p>x</p>" * 50, 6))
    assert any(b and len(b) > body.WHOLE_UP_TO for b in bodies)
    expected = [body.unpack(b)[0] for b in bodies]
    assert body.summaries_of(bodies) == expected
    assert [body.summary_of(b) for b in bodies] == expected
    assert expected[-2] == "a" * 5000 and expected[-1] == "summary from zlib 6 "
    if with_isal:
        assert body._whole is not body._no_whole
    else:
        assert body._whole is body._no_whole
