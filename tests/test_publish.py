"""A digest people can follow: the archive's Atom feed (read by feedparser over HTTP from a local server
publishing the archive folder), OpenGraph tags and a canonical link on each issue page, and
`digest build --format md`."""

from __future__ import annotations

import functools
import io
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import feedparser
import pytest
from helpers_digest import NOW, load_golden, make_paths
from helpers_digest import make_config as digest_config
from helpers_smtp import make_config, make_draft, recipients

from digest.cli import Ctx, main
from digest.core import archive
from digest.core.paths import Paths
from digest.core.publish import render_markdown
from digest.core.render import build_context
from digest.core.select import draft_sections
from digest.core.store import Store


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def published(digest_home: Paths):
    """The archive folder served as static pages on 127.0.0.1, as `rsync archive/ host:` would publish it."""
    digest_home.archive_dir.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Quiet, directory=str(digest_home.archive_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_feed_lists_three_issues_with_working_links(store: Store, digest_home: Paths, published: str) -> None:
    cfg = make_config(1, recipients(1))
    cfg.smtp.host = ""
    cfg.newsletter.web_url = published
    subjects = []
    for n in range(3):
        make_draft(store, 2, prefix=f"Issue{n}")
        subjects.append(archive.issue_files_only(store, cfg, digest_home).subject)
    feed = feedparser.parse(published + "feed.xml")
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Test Digest"
    assert len(feed.entries) == 3
    assert [e.title for e in feed.entries] == [f"#{n}: {subjects[n - 1]}" for n in (3, 2, 1)]  # newest first
    for n, e in zip((3, 2, 1), feed.entries, strict=True):
        assert e.link == f"{published}{n}/"
        with urllib.request.urlopen(e.link, timeout=10) as r:  # the link works: the issue page is there
            page = r.read().decode()
        assert r.status == 200 and subjects[n - 1].split(":")[0] in page
        assert f'<link rel="canonical" href="{published}{n}/">' in page
        assert f'<meta property="og:url" content="{published}{n}/">' in page
        assert '<meta property="og:title"' in page and '<meta property="og:description"' in page
        assert "Issue" in e.summary  # the entry lists the issue's headlines
    index = (digest_home.archive_dir / "index.html").read_text()
    assert 'type="application/atom+xml"' in index and 'href="feed.xml"' in index


def test_without_web_url_the_feed_links_are_relative_and_resolve(store: Store, digest_home: Paths) -> None:
    cfg = make_config(1, recipients(1))
    cfg.smtp.host = ""
    make_draft(store, 1)
    archive.issue_files_only(store, cfg, digest_home)
    feed_file = digest_home.archive_dir / "feed.xml"
    feed = feedparser.parse(feed_file.read_bytes(), response_headers={
        "content-location": "https://example.com/digest/feed.xml", "content-type": "application/atom+xml"})
    assert len(feed.entries) == 1 and not feed.bozo
    assert feed.entries[0].link == "https://example.com/digest/1/"  # wherever the folder is published
    assert (digest_home.archive_dir / "1" / "index.html").is_file()
    page = (digest_home.archive_dir / "1" / "index.html").read_text()
    assert "og:title" in page and 'rel="canonical"' not in page  # canonical needs an absolute URL


def test_markdown_of_the_golden_draft(tmp_path) -> None:
    paths = make_paths(tmp_path)
    cfg = digest_config()
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        draft = store.draft()
        md = render_markdown(build_context(store, cfg, draft, draft_sections(store, cfg, draft.id), NOW))
    assert md.startswith("# Seattle Tech Digest\n\n*Issue #1 · Thursday, November 26, 2026*")
    assert ("### [Tidewater Energy raises $42M to turn ferry terminals into grid batteries]"
            "(https://news.digest-sample.example/2026/11/tidewater-energy-raises-42m-ferry-terminal-batteries/)") in md
    assert md.index("## Top Stories") < md.index("## Trending") < md.index("## Startups")
    assert "- **Thu Jan 7, 5:30 PM** · [Cascadia Corridor Founders Mixer]" in md
    assert "<script" not in md and "\\<" not in md.replace("\\<", "")  # hostile markup is escaped


def test_cli_build_format_md(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    paths = make_paths(tmp_path)
    with Store(paths.db_file) as store:
        load_golden(store, digest_config())
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", "--format", "md", "--out", str(tmp_path / "o")], ctx=Ctx(paths, stdout=out, stderr=err))
    assert code == 0, err.getvalue()
    md = (tmp_path / "o" / "digest-1.md").read_text()
    assert str(tmp_path / "o" / "digest-1.md") in out.getvalue() and "## Top Stories" in md
    assert not list((tmp_path / "o").glob("*.html"))  # only the Markdown
