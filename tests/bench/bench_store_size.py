"""Bytes per story in the store (issue 16, "a compact store"), on a generated 100-feed corpus.

feedgen.make_feed writes 100 feeds of --items items each (the same corpus as bench_scale's 100-feed row),
served on 127.0.0.1 from another process; a real `digest feeds import` + `digest refresh` fills a fresh
store; then the WAL is checkpointed into the file and the file's size is divided by the number of stories.
SQLite's dbstat table gives the bytes of each table and index, so a change shows where the space went.
The figures are printed (and written to tests/bench/out/store_size.csv), never asserted.

Run: python tests/bench/bench_store_size.py [--feeds 100] [--items 100] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
from feedgen import FeedServer, make_feed  # noqa: E402


def build_store(work: Path, feeds: int, items: int) -> Path:
    """A fresh store holding every story of the corpus; returns the store file."""
    corpus = work / f"corpus{feeds}x{items}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i in range(feeds):
        p = corpus / f"feed{i}.xml"
        if not p.exists():
            p.write_bytes(make_feed(i, items=items))
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(REPO)}
    digest = [sys.executable, "-m", "digest"]
    with FeedServer(corpus) as base:
        opml = home / "feeds.opml"
        opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
            f'<outline type="rss" text="f{i}" xmlUrl="{base}/feed{i}.xml"/>' for i in range(feeds))
            + "</body></opml>")
        subprocess.run([*digest, "feeds", "import", str(opml)], env=env, check=True, capture_output=True)
        subprocess.run([*digest, "refresh"], env=env, check=True, capture_output=True)
    return home / "data" / "digest.db"


def measure(db_path: Path) -> dict[str, float]:
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    tables: dict[str, int] = {}
    for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"):
        # the FTS5 shadow tables (stories_fts_data, _idx, _docsize, _config) count as one
        key = "stories_fts*" if name.startswith("stories_fts") else name
        tables[key] = tables.get(key, 0) + size
    free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    size = db_path.stat().st_size
    row: dict[str, float] = {"stories": stories, "file_bytes": size, "bytes_per_story": size / max(stories, 1),
                             "free_bytes": free}
    row.update({f"table:{k}": v for k, v in tables.items()})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=100)
    ap.add_argument("--items", type=int, default=100, help="items per feed (default 100: 10,000 stories)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "digest-bench-store-size")
    ap.add_argument("--label", default="", help="a name for this run in the CSV (e.g. before / after)")
    args = ap.parse_args()
    db_path = build_store(args.workdir, args.feeds, args.items)
    row = measure(db_path)
    print(f"{args.feeds} feeds x {args.items} items: {row['stories']:,.0f} stories, file "
          f"{row['file_bytes'] / 1e6:.1f} MB, {row['bytes_per_story']:,.0f} bytes per story")
    for k, v in row.items():
        if k.startswith("table:"):
            print(f"  {k[6:]:<28} {v / 1e6:7.2f} MB  {v / max(row['stories'], 1):7,.0f} B/story")
    OUT.mkdir(exist_ok=True)
    out = OUT / "store_size.csv"
    new = not out.exists()
    with out.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["label", "stories", "file_bytes", "bytes_per_story"])
        w.writerow([args.label, row["stories"], row["file_bytes"], f"{row['bytes_per_story']:.0f}"])


if __name__ == "__main__":
    main()
