"""Write tests/stores/vN.db: run with the code of the release that introduced schema N on the path, e.g.

    git archive <commit> | tar -x -C /tmp/digest-vN
    PYTHONPATH=/tmp/digest-vN python tests/stores/make_store.py

It uses only what every released Store has (add_feed, save_stories, set_read, flag, update_digest,
mark_sent) plus one delivery row in SQL, so the contents are the same for every version: two feeds, seven
stories (two read), a sent digest with a delivery and its sent link, a draft with one flagged story.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from digest.core.models import ParsedStory
from digest.core.store import Store

HERE = Path(__file__).resolve().parent
T0 = 1767225600.0  # 2026-01-01


def main() -> None:
    tmp = Path(tempfile.mkdtemp()) / "store.db"
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA page_size = 1024")
    db.close()
    s = Store(tmp)
    version = s.schema_version
    out = HERE / f"v{version}.db"
    f1 = s.add_feed("https://news.example.org/feed.xml", title="Example News", section="Top Stories")
    f2 = s.add_feed("https://blog.example.net/atom.xml", title="Example Blog", section="Startups")
    for f, n in ((f1, 4), (f2, 3)):
        s.save_stories(f.id, [ParsedStory(
            guid=f"g{f.id}-{i}", link=f"https://x.example/{f.id}/{i}", canonical_link=f"https://x.example/{f.id}/{i}",
            title=f"Story {i} from feed {f.id} about quantum ferries",
            summary=f"Summary {i}: ferries and quantum chips.",
            content=f'<p>Story <b>{i}</b> content, with a <a href="https://x.example/{f.id}/{i}">link</a>.</p>',
            author="A. Writer", categories=["Cloud"], published_at=T0 + i * 3600) for i in range(n)], now=T0 + 86400)
    ids = [st.id for st in s.stories()]
    s.set_read(ids[:2])
    s.flag(ids[0], "Top Stories", blurb="A blurb")
    d = s.draft()
    assert d is not None
    s.update_digest(d.id, status="built", paths={"html": "digest.html"}, built_at=T0 + 2 * 86400)
    s.mark_sent(d.id, at=T0 + 2 * 86400)
    s.db.execute("INSERT INTO deliveries(digest_id, recipient, status, message_id, reply, attempts, at) "
                 "VALUES (?, 'reader@example.net', 'sent', '<m1@example.org>', '250 ok', 1, ?)", (d.id, T0 + 2 * 86400))
    s.flag(ids[3], "Startups", headline="A new headline")
    s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode = DELETE")
    out.unlink(missing_ok=True)
    db.execute(f"VACUUM INTO '{out}'")
    db.close()
    db = sqlite3.connect(out)
    db.execute("PRAGMA page_size = 512")  # the smallest page: the file stays a few dozen KB
    db.execute("VACUUM")
    db.close()
    print(f"{out}: schema {version}, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
