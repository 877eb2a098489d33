"""Upgrades (issue 16): a store of every released schema opens and migrates with nothing lost; a store from a
newer digest is refused in one line, exit 2, untouched; a migration that fails leaves the store as it was.

tests/stores/vN.db are real stores written by the digest that knew schema N (see tests/stores/README.md).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from digest.cli import Ctx, main
from digest.core.paths import Paths
from digest.core.store import MIGRATIONS, Store, StoreError, StoryQuery
from digest.core.store import connection as store_connection

STORES = Path(__file__).resolve().parent / "stores"
REPO = Path(__file__).resolve().parent.parent


def released() -> list[Path]:
    return sorted(STORES.glob("v*.db"), key=lambda p: int(p.stem[1:]))


def digest_cli(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_there_is_a_store_of_every_released_schema() -> None:
    assert [int(p.stem[1:]) for p in released()] == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("old", released(), ids=lambda p: p.stem)
def test_an_old_store_opens_migrates_and_keeps_everything(old: Path, digest_home: Paths) -> None:
    shutil.copy(old, digest_home.db_file)
    with Store(digest_home.db_file) as store:
        assert store.schema_version == len(MIGRATIONS)
        stories = store.stories()
        assert len(stories) == 7
        by_guid = {s.guid: s for s in stories}
        s = by_guid["g1-2"]
        assert s.title == "Story 2 from feed 1 about quantum ferries"
        assert s.summary == "Summary 2: ferries and quantum chips."
        assert s.content == '<p>Story <b>2</b> content, with a <a href="https://x.example/1/2">link</a>.</p>'
        assert s.categories == ["Cloud"] and s.author == "A. Writer"
        assert sum(st.read for st in stories) >= 2
        # the search index answers for the migrated stories, by title and by summary
        assert store.count_stories(StoryQuery(search="ferries")) == 7
        assert store.count_stories(StoryQuery(search="chips")) == 7
        # the sent issue, its delivery and sent link; the draft with its flag
        sent = [d for d in store.list_digests() if d.status == "sent"]
        assert len(sent) == 1 and len(store.digest_items(sent[0].id)) == 1
        assert store.digest_items(sent[0].id)[0].blurb == "A blurb"
        draft = store.digest_items()
        assert len(draft) == 1 and draft[0].headline == "A new headline" and draft[0].story.flagged
        assert store.db.execute("SELECT count(*) FROM sent_links").fetchone()[0] == 1
        assert store.db.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0] == 1
        assert store.check_store().ok, store.check_store().problems
    code, out, err = digest_cli(digest_home, "store", "check")
    assert (code, err) == (0, ""), err
    # a store made before schema 4 gives freed pages back only once vacuumed; vacuum converts it
    assert digest_cli(digest_home, "store", "vacuum")[0] == 0
    with Store(digest_home.db_file) as store:
        assert store.stats()["auto_vacuum"] == "incremental" and store.count_stories() == 7
        assert store.check_store().ok


def test_a_store_from_a_newer_digest_is_refused_and_untouched(digest_home: Paths) -> None:
    shutil.copy(released()[-1], digest_home.db_file)
    newer = len(MIGRATIONS) + 1
    db = sqlite3.connect(digest_home.db_file)
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    before = sha(digest_home.db_file)
    expected = (f"digest: the store {digest_home.db_file} was written by a newer digest "
                f"(schema {newer}, this one knows {len(MIGRATIONS)})")
    for argv in (["stories"], ["store", "stats"], ["feeds", "list"]):
        code, out, err = digest_cli(digest_home, *argv)
        assert (code, out, err.splitlines()) == (2, "", [expected]), argv
    # the cron job says the same, in one line, exit 2; no traceback
    proc = subprocess.run([sys.executable, "-m", "digest", "run"], cwd=REPO, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DIGEST_HOME": str(digest_home.config_dir)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "was written by a newer digest" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert sha(digest_home.db_file) == before


def _snapshot(path: Path) -> tuple[int, list[tuple[str, str]], dict[str, int]]:
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        schema = sorted(db.execute("SELECT name, coalesce(sql, '') FROM sqlite_schema"))
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("feeds", "stories", "digests", "digest_items", "deliveries", "sent_links")}
    finally:
        db.close()
    return version, schema, counts


def test_a_failing_migration_leaves_the_store_as_it_was(digest_home: Paths,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(released()[0], digest_home.db_file)
    before = _snapshot(digest_home.db_file)
    # every real migration runs, then one more that does some work and then fails half-way
    broken = [*MIGRATIONS, "CREATE TABLE upgrade_scratch (x INTEGER);\nDELETE FROM stories;\nSELECT * FROM nowhere;"]
    monkeypatch.setattr(store_connection, "MIGRATIONS", broken)
    with pytest.raises(StoreError) as e:
        Store(digest_home.db_file)
    assert "nowhere" in str(e.value) and f"schema {before[0]}" in str(e.value)
    assert _snapshot(digest_home.db_file) == before
    monkeypatch.undo()
    with Store(digest_home.db_file) as store:  # the real migrations still apply to the untouched store
        assert store.schema_version == len(MIGRATIONS) and store.count_stories() == 7
