"""Terminal and bidi controls from feeds never reach the store, the terminal or the email (issue 20 item 2).

Hostile feeds served on 127.0.0.1: an RSS feed with character references to ESC and BEL (which lxml
refuses, so it goes the feedparser way) and a right-to-left override, a JSON Feed with raw controls in
its strings, and an RSS feed with raw control bytes.
"""

from __future__ import annotations

import io
import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.cli import Ctx, main
from digest.core.opml import read_opml
from digest.core.paths import Paths
from digest.core.store import Store
from digest.core.textclean import clean_line, clean_text, json_escape_controls, terminal_safe, terminal_text
from tests.feedserver import FeedServer

ESC_TITLE = "ESCREF &#27;]0;PWN&#7;&#27;[31mred &#8238;gnp.exe"
# what must never come out: C0 except tab/newline, DEL, C1, bidi overrides and isolates
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def rss_with_refs() -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Ref &#27;[2J feed</title>'
            f"<link>https://site.example/</link><description>x</description>"
            f"<item><title>{ESC_TITLE}</title><link>https://site.example/a</link><guid>ref-1</guid>"
            f"<pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate>"
            f"<description>body &#27;[31m red &#8; back &#0; nul</description></item>"
            f"</channel></rss>").encode()


def json_feed() -> bytes:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "JSON \u001b]0;PWN\u0007 feed",
        "items": [{"id": "j-1", "url": "https://site.example/j", "title": "JSON \u001b[31mred\u0008\u0000 \u202eevil",
                   "content_text": "line one\r\nline \u009b31m two\u2066 isolate\u2069",
                   "authors": [{"name": "Mallory \u001b[2J"}], "tags": ["t\u001bag"],
                   "date_published": "2026-11-25T10:00:00Z"}],
    }).encode()


def rss_raw_bytes() -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Raw feed</title>'
            b"<link>https://site.example/</link><description>x</description>"
            b"<item><title>Raw \x1b[31mred\x07 bell</title><link>https://site.example/r</link><guid>raw-1</guid>"
            b"<pubDate>Wed, 25 Nov 2026 11:00:00 GMT</pubDate><description>raw \x1b[0m</description></item>"
            b"</channel></rss>")


def run(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_cleaning_functions() -> None:
    assert clean_text("a\x1b]0;x\x07b\tc\r\nd\re\u202ef\u2069\x9b") == "a]0;xb\tc\nd\nef"
    assert clean_line("one\ntwo\tthree\x00") == "one two three"
    assert clean_text("\u200f\u05e9\u05dc\u05d5\u05dd\xa0ok") == "\u200f\u05e9\u05dc\u05d5\u05dd\xa0ok"  # RLM stays
    assert terminal_safe("x\ny\x1b") == "x y" and terminal_text("x\ny\x1b\u202e") == "x\ny"
    escaped = json_escape_controls(json.dumps("a\u202eb\x85", ensure_ascii=False))
    assert "\u202e" not in escaped and json.loads(escaped) == "a\u202eb\x85"


@pytest.mark.parametrize(("path", "body", "ctype"), [
    ("/ref.xml", rss_with_refs(), "application/rss+xml"),
    ("/feed.json", json_feed(), "application/feed+json"),
    ("/raw.xml", rss_raw_bytes(), "application/rss+xml"),
])
def test_controls_from_feeds_never_reach_store_terminal_or_email(
        digest_home: Paths, feed_server: FeedServer, tmp_path: Path, path: str, body: bytes, ctype: str) -> None:
    feed_server.feed(path, body, content_type=ctype)
    outputs: list[str] = []
    code, out, err = run(digest_home, "feeds", "add", feed_server.url(path))
    assert code == 0, err
    outputs += [out, err]
    for argv in (["refresh"], ["feeds", "list"], ["feeds", "list", "--json"], ["stories"], ["stories", "--json"]):
        code, out, err = run(digest_home, *argv)
        assert code == 0, (argv, err)
        outputs += [out, err]
    with Store(digest_home.db_file) as store:
        stories = store.stories()
        assert stories
        for s in stories:
            for value in (s.title, s.summary, s.content, s.author, s.feed_title, *s.categories):
                assert not UNSAFE.search(value), repr(value)
        for f in store.list_feeds():
            assert not UNSAFE.search(f.title), repr(f.title)
        sid = stories[0].id
    code, out, err = run(digest_home, "flag", str(sid))
    assert code == 0, err
    outputs += [out, err]
    code, out, err = run(digest_home, "build", "--out", str(tmp_path / "out"))
    assert code == 0, err
    outputs += [out, err]
    for text in outputs:
        assert not UNSAFE.search(text), repr(text)
    [eml] = (tmp_path / "out").glob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert not UNSAFE.search(str(msg["Subject"])), repr(msg["Subject"])
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            assert not UNSAFE.search(part.get_content().replace("\r\n", "\n")), part.get_content_type()
    for f in (tmp_path / "out").glob("*.*"):
        if f.suffix in (".html", ".txt"):
            assert not UNSAFE.search(f.read_text(encoding="utf-8")), f.name


def test_rows_stored_before_cleaning_are_still_printed_inert(store: Store, digest_home: Paths) -> None:
    """A store written by an older digest may hold raw controls: the CLI's output makes them inert."""
    feed = store.add_feed("http://127.0.0.1:9/old.xml", title="Old \x1b]0;PWN\x07 feed")
    with store.tx() as db:
        db.execute("INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, published_at,"
                   " fetched_at) VALUES (?,?,?,?,?,?,?,?)",
                   (feed.id, "g", "https://x.example/", "https://x.example/", "Old \x1b[2J\u202etitle", "old",
                    1.7e9, 1.7e9))
    for argv in (["stories"], ["stories", "--json"], ["feeds", "list"], ["flag", "1"]):
        code, out, err = run(digest_home, *argv)
        assert code == 0, err
        assert not UNSAFE.search(out + err), (argv, out + err)


def test_opml_titles_are_cleaned(tmp_path: Path) -> None:
    """XML itself refuses C0 controls; C1, DEL and bidi controls are legal XML characters and are removed."""
    data = (b'<opml version="2.0"><body><outline text="Sec&#x9b;31m"><outline text="T&#x202e;x&#x7f;" '
            b'xmlUrl="https://a.example/feed" htmlUrl="https://a.example/&#x85;"/></outline></body></opml>')
    [item] = read_opml(data)
    assert (item.title, item.section, item.site_url) == ("Tx", "Sec31m", "https://a.example/")


def test_the_tui_shows_rows_stored_before_cleaning_inert(store: Store) -> None:
    from digest.tui.htmltext import html_to_markdown
    from digest.tui.queries import list_rows

    feed = store.add_feed("http://127.0.0.1:9/old.xml", title="Old \x1b]0;PWN\x07 feed")
    with store.tx() as db:
        db.execute("INSERT INTO stories(feed_id, guid, link, canonical_link, title, title_key, published_at,"
                   " fetched_at) VALUES (?,?,?,?,?,?,?,?)",
                   (feed.id, "g", "https://x.example/", "https://x.example/", "Old \x1b[2J\u202etitle", "old",
                    1.7e9, 1.7e9))
    [row] = list_rows(store, [s.id for s in store.stories()]).values()
    assert not UNSAFE.search(row.title + row.feed_title)
    assert not UNSAFE.search(html_to_markdown("<p>a \x1b[31m b\u202e</p>\n\nplain \x07 text"))
