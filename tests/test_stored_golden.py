"""What a refresh stores, pinned: a digest of every stored field of every story, per feed, for the sample
feeds and for generated benchmark feeds (issue 21).

CPU work on the refresh path (sanitising, text extraction, the hand-over to parse workers, row building)
must not change one byte of what is stored. Each feed's stories are read back through the store, every
field serialised, and the SHA-256 compared with tests/golden/stored_stories.json. A change that is meant
to change what is stored rewrites that file on purpose: `DIGEST_UPDATE_GOLDEN=1 pytest
tests/test_stored_golden.py`, and the diff of the JSON names the feeds whose stories changed.

The sample feeds (7, fewer than a process pool's threshold) are parsed in the refreshing process's ingest
thread; the generated feeds (30, over it) in parse worker processes, so both hand-overs are covered.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from digest.core.config import Config
from digest.core.refresh import refresh
from digest.core.store import Store, StoryQuery

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from feedgen import make_feed  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "stored_stories.json"
NOW = 1_796_000_000.0  # 2026-11-30: after every sample and generated date, fixed so fetched_at is too
GENERATED = 30


def _feed_digests(store: Store, folder: Path) -> dict[str, str]:
    """SHA-256 per feed (by file name) of its stories' stored fields, sorted by guid."""
    names = {f.id: Path(f.url).name for f in store.list_feeds(counts=False)}
    by_feed: dict[str, list[str]] = {name: [] for name in names.values()}
    for s in store.stories(StoryQuery()):
        fields = {
            "guid": s.guid, "link": s.link, "canonical_link": s.canonical_link, "title": s.title,
            "author": s.author, "summary": s.summary, "content": s.content,
            "image": [s.image.url, s.image.width, s.image.height, s.image.alt] if s.image else None,
            "categories": s.categories, "extra": s.extra, "published_at": s.published_at,
            "fetched_at": s.fetched_at, "read": s.read, "feed_title": s.feed_title,
        }
        # the folder is a temporary path: nothing stored may depend on where the files were
        by_feed[names[s.feed_id]].append(json.dumps(fields, sort_keys=True, ensure_ascii=False).replace(
            str(folder), "<folder>"))
    for f in store.list_feeds(counts=False):
        by_feed[names[f.id]].append(json.dumps({"feed_title": f.title, "site_url": f.site_url}))
    return {name: hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
            for name, rows in sorted(by_feed.items())}


def _refresh_folder(tmp_path: Path, folder: Path) -> dict[str, str]:
    store = Store(tmp_path / "golden.db")
    try:
        for path in sorted(folder.iterdir()):
            if path.suffix in (".xml", ".atom", ".json"):
                store.add_feed(str(path))
        report = refresh(store, Config(), now=NOW)
        bad = [(r.url, r.error) for r in report.results if r.status != "ok"]
        assert not bad, bad
        return _feed_digests(store, folder)
    finally:
        store.close()


def _check(name: str, got: dict[str, str]) -> None:
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("DIGEST_UPDATE_GOLDEN"):
        golden[name] = got
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    assert name in golden, f"no golden digests for {name}: run with DIGEST_UPDATE_GOLDEN=1 once"
    changed = sorted(k for k in golden[name].keys() | got.keys() if golden[name].get(k) != got.get(k))
    assert not changed, f"stored stories changed for {len(changed)} feeds: {changed[:10]}"


def test_sample_feeds_store_the_same_stories(tmp_path: Path, sample_feeds_dir: Path) -> None:
    folder = tmp_path / "samples"
    shutil.copytree(sample_feeds_dir, folder)
    got = _refresh_folder(tmp_path, folder)
    assert len(got) == 6
    _check("sample_feeds", got)


def test_generated_feeds_store_the_same_stories(tmp_path: Path) -> None:
    folder = tmp_path / "generated"
    folder.mkdir()
    for i in range(GENERATED):
        (folder / f"feed{i}.xml").write_bytes(make_feed(i))
    got = _refresh_folder(tmp_path, folder)
    assert len(got) == GENERATED
    _check("generated_feeds", got)
