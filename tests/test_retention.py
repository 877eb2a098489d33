"""Retention and the store commands (issue 16): what prune removes and what it never does, the seen ids
that keep a pruned story from coming back, the FTS index kept consistent, the space given back, and
`digest store stats | check | prune | vacuum | backup | restore` on real store files."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from digest.cli import Ctx, main
from digest.core.models import ParsedStory
from digest.core.paths import Paths
from digest.core.store import Store, StoryQuery
from digest.core.store.retention import BATCH, Retention

DAY = 86_400.0
NOW = 1_790_000_000.0  # a fixed "today" for every test here
REPO = Path(__file__).resolve().parent.parent


def story(i: int, *, feed: str = "a", published: float | None = None) -> ParsedStory:
    return ParsedStory(guid=f"{feed}-{i}", link=f"https://{feed}.example/{i}", canonical_link=f"https://{feed}.example/{i}",
                       title=f"Headline {i} of {feed} zebra{i}", summary=f"Summary {i} with walrus words.",
                       content=f"<p>Content {i}</p>", published_at=published)


def add_aged(store: Store, feed_id: int, ids: range, *, age_days: float, feed: str = "a") -> list[int]:
    """Stories first seen age_days before NOW (their dates too), returned by id in `ids` order."""
    seen = NOW - age_days * DAY
    store.save_stories(feed_id, [story(i, feed=feed, published=seen - i) for i in ids], now=seen)
    by_guid = {s.guid: s.id for s in store.stories(StoryQuery(feed_id=feed_id))}
    return [by_guid[f"{feed}-{i}"] for i in ids]


def cli(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


POLICY = Retention(keep_days=90, keep_unread_days=180, keep_min_per_feed=2)


def test_prune_keeps_what_a_person_chose_and_each_feeds_newest(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed.xml", title="A")
    old_read = add_aged(store, feed.id, range(0, 6), age_days=100)  # past keep_days
    old_unread = add_aged(store, feed.id, range(10, 13), age_days=100)  # unread: kept to 180 days
    ancient = add_aged(store, feed.id, range(20, 23), age_days=200)  # past keep_unread_days
    newest = add_aged(store, feed.id, range(30, 32), age_days=300)  # older still, but dated newest
    store.db.execute("UPDATE stories SET published_at = ? WHERE id IN (?, ?)", (NOW, *newest))
    store.set_read(old_read)
    flagged, issued = old_read[0], old_read[1]
    store.flag(issued, "Top Stories")
    draft = store.draft()
    assert draft is not None
    store.mark_sent(draft.id, at=NOW - 95 * DAY)
    store.flag(flagged, "Top Stories")
    sent_links = store.db.execute("SELECT count(*) FROM sent_links").fetchone()[0]

    expected = set(old_read[2:]) | set(ancient)
    assert set(store.prunable_ids(POLICY, now=NOW)) == expected
    report = store.prune(POLICY, now=NOW)
    assert report.stories == len(expected)
    left = {s.id for s in store.stories()}
    assert left == {flagged, issued, *old_unread, *newest}
    # the search index follows: pruned stories are not found, kept ones are, and check agrees
    assert store.count_stories(StoryQuery(search="walrus")) == len(left)
    assert store.count_stories(StoryQuery(search=f"zebra{2}")) == 0
    assert store.check_store().ok, store.check_store().problems
    assert store.db.execute("SELECT count(*) FROM sent_links").fetchone()[0] == sent_links
    assert store.prune(POLICY, now=NOW).stories == 0  # nothing more to do


def test_zero_days_keeps_everything(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed.xml")
    add_aged(store, feed.id, range(5), age_days=1000)
    assert store.prune(Retention(0, 0, 0), now=NOW).stories == 0
    assert store.count_stories() == 5


def test_a_pruned_story_the_feed_still_carries_never_returns_as_new(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed.xml")
    add_aged(store, feed.id, range(5), age_days=200)
    assert store.prune(Retention(90, 180, 0), now=NOW).stories == 5
    # the feed still lists them, and one new item: only the new one is stored
    assert store.save_stories(feed.id, [story(i, published=NOW - i) for i in range(6)], now=NOW) == 1
    assert [s.guid for s in store.stories()] == ["a-5"]
    # the seen record lives while the feed carries the guid; once it has not for keep_unread_days, it goes
    later = NOW + 100 * DAY
    store.save_stories(feed.id, [story(i, published=NOW - i) for i in range(6)], now=later)
    report = store.prune(Retention(90, 180, 0), now=later + 179 * DAY)
    assert (report.stories, report.seen_forgotten) == (1, 0)  # a-5 (first seen NOW) goes; the records stay
    report = store.prune(Retention(90, 180, 0), now=later + 181 * DAY)
    assert (report.stories, report.seen_forgotten) == (0, 5)  # a-5's record is the one left
    assert store.db.execute("SELECT count(*) FROM seen_ids").fetchone()[0] == 1


def test_the_same_guid_in_another_feed_is_another_story(store: Store) -> None:
    a = store.add_feed("https://a.example/feed.xml")
    b = store.add_feed("https://b.example/feed.xml")
    add_aged(store, a.id, range(3), age_days=200)
    store.prune(Retention(90, 180, 0), now=NOW)
    assert store.save_stories(b.id, [story(i) for i in range(3)], now=NOW) == 3


def test_prune_works_in_short_transactions(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed.xml")
    add_aged(store, feed.id, range(BATCH * 3 + 7), age_days=200)
    commits: list[str] = []
    store.db.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    assert store.prune(Retention(90, 180, 0), now=NOW).stories == BATCH * 3 + 7
    store.db.set_trace_callback(None)
    assert len(commits) >= 4  # one per batch of BATCH stories (and one for the seen ids)
    assert store.check_store().ok


def test_a_story_flagged_while_prune_runs_is_kept(store: Store) -> None:
    """prunable_ids reads without the write lock; each batch checks the flags again inside it."""
    feed = store.add_feed("https://a.example/feed.xml")
    ids = add_aged(store, feed.id, range(5), age_days=200)
    candidates = store.prunable_ids(Retention(90, 180, 0), now=NOW)
    other = Store(store.path)
    other.flag(ids[2], "Top Stories")
    other.close()
    assert store._prune_batch(candidates, int(NOW // DAY)) == 4
    assert [s.id for s in store.stories()] == [ids[2]]


def test_prune_gives_the_space_back(store: Store) -> None:
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # new stores: incremental
    feed = store.add_feed("https://a.example/feed.xml")
    seen = NOW - 200 * DAY
    # random text, so that compression leaves each story several KB
    store.save_stories(feed.id, [ParsedStory(guid=f"g{i}", link=f"https://a.example/{i}", title=f"T{i}",
                                             canonical_link="", content=os.urandom(3000).hex(), published_at=seen)
                                 for i in range(400)], now=seen)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = store.path.stat().st_size
    report = store.prune(Retention(90, 180, 0), now=NOW)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert report.stories == 400 and report.pages_freed > 0
    assert store.path.stat().st_size < before / 2


def test_store_commands(store: Store, digest_home: Paths) -> None:
    feed = store.add_feed("https://a.example/feed.xml", title="A")
    ids = add_aged(store, feed.id, range(30), age_days=400)
    store.flag(ids[20], "Top Stories")  # not among the newest 5: kept for its flag
    (digest_home.config_file).write_text("[store]\nkeep_min_per_feed = 5\n")
    from digest.core.articles import failed
    from digest.core.models import Article

    store.save_article(Article(ids[0], "https://a.example/0", "ok", NOW, 0, text="Body.", html="<p>Body.</p>"))
    store.save_article(failed(ids[1], "https://a.example/1", "HTTP 500", previous=None, now=NOW))

    code, out, err = cli(digest_home, "store", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["stories"] == {"all": 30, "unread": 30, "read": 0, "flagged": 1, "issued": 0}
    assert stats["feeds"] == 1 and stats["schema"] >= 2 and stats["file_bytes"] > 0
    assert stats["tables"]["stories"] > 0 and "wal_bytes" in stats
    assert stats["articles"] == {"ok": 1, "failed": 1}
    code, out, _ = cli(digest_home, "store", "stats")
    assert code == 0 and "30 (30 unread" in out
    assert "articles: 1 fetched, 1 could not be fetched" in out

    code, out, _ = cli(digest_home, "store", "prune", "--dry-run")
    assert (code, out.strip()) == (0, "would remove 24 old stories")
    assert store.count_stories() == 30
    code, out, _ = cli(digest_home, "store", "prune")
    assert code == 0 and out.startswith("removed 24 old stories")
    assert store.count_stories() == 6

    assert cli(digest_home, "store", "check")[0] == 0
    code, out, _ = cli(digest_home, "store", "vacuum")
    assert code == 0 and "MB ->" in out
    assert cli(digest_home, "store", "check")[0] == 0


def test_check_names_a_search_index_out_of_step(store: Store, digest_home: Paths) -> None:
    feed = store.add_feed("https://a.example/feed.xml")
    ids = add_aged(store, feed.id, range(3), age_days=1)
    # a story whose index entry is gone (as a crash of a buggy writer would leave it)
    s = store.get_story(ids[1])
    store.db.execute("INSERT INTO stories_fts(stories_fts, rowid, title, summary) VALUES ('delete', ?, ?, ?)",
                     (s.id, s.title, s.summary))
    code, out, err = cli(digest_home, "store", "check")
    assert code == 1 and "search index" in err and "Traceback" not in err
    code, out, _ = cli(digest_home, "store", "vacuum")  # rebuilds the index
    assert cli(digest_home, "store", "check")[0] == 0


def test_backup_and_restore(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    feed = store.add_feed("https://a.example/feed.xml")
    ids = add_aged(store, feed.id, range(10), age_days=1)
    store.flag(ids[3], "Top Stories", blurb="kept")
    backup = tmp_path / "backups" / "digest-backup.db"
    backup.parent.mkdir()
    code, out, err = cli(digest_home, "store", "backup", str(backup))
    assert code == 0, err
    assert backup.stat().st_mode & 0o777 == 0o600
    assert not Path(str(backup) + "-wal").exists()
    store.unflag(ids[3])
    store.remove_feed(feed.id)

    # another digest process has the store open: restore refuses and changes nothing
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from digest.core.store import Store; s = Store(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(store.path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        store.close()
        code, out, err = cli(digest_home, "store", "restore", str(backup))
        assert code == 1 and "open in another digest process" in err
        with Store(digest_home.db_file) as s:
            assert s.count_stories() == 0
    finally:
        holder.communicate("", timeout=30)

    code, out, err = cli(digest_home, "store", "restore", str(backup))
    assert code == 0, err
    aside = sorted(digest_home.data_dir.glob("digest.db.before-restore-*"))
    assert len(aside) == 1
    with Store(digest_home.db_file) as s:
        assert s.count_stories() == 10
        items = s.digest_items()
        assert [(it.story.id, it.blurb) for it in items] == [(ids[3], "kept")]
        assert s.check_store().ok
    old = sqlite3.connect(aside[0])
    assert old.execute("SELECT count(*) FROM stories").fetchone()[0] == 0  # the replaced store, as it was
    old.close()


@pytest.mark.parametrize("bad", ["missing.db", "notastore.db"])
def test_restore_refuses_a_file_that_is_not_a_store(store: Store, digest_home: Paths, tmp_path: Path,
                                                    bad: str) -> None:
    if bad == "notastore.db":
        (tmp_path / bad).write_bytes(b"hello, this is not SQLite" * 100)
    store.close()
    code, out, err = cli(digest_home, "store", "restore", str(tmp_path / bad))
    assert code == 1 and str(tmp_path / bad) in err and len(err.strip().splitlines()) == 1
    assert Store(digest_home.db_file).schema_version >= 2


def test_a_backup_into_a_missing_folder_names_the_backup(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "digest-backup.db"
    code, out, err = cli(digest_home, "store", "backup", str(target))
    assert code == 1 and out == ""
    assert err == f"digest: store error: cannot write the backup {target}: No such file or directory\n"
