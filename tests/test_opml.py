"""OPML import and export: the sample file from anywhere, round trips, folders and categories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digest.core.feeds import export_opml, import_opml
from digest.core.opml import OpmlError, read_opml, write_opml
from digest.core.store import Store

SAMPLE_SECTIONS = {
    "seattle-news.xml": "Top Stories", "startups.xml": "Startups", "climate.json": "Startups",
    "devlog.atom": "Engineering", "jobs.xml": "Jobs", "events.xml": "Events",
}


def test_import_sample_opml_from_another_directory(store: Store, sample_feeds_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = import_opml(store, sample_feeds_dir / "feeds.opml", allow_files=True)
    added, skipped = r.added, r.skipped
    assert len(added) == 6 and skipped == [] and r.refused == []
    feeds = store.list_feeds()
    got = {Path(f.url).name: f.section for f in feeds}
    assert got == SAMPLE_SECTIONS
    for f in feeds:
        assert Path(f.url).is_absolute() and Path(f.url).is_file()
        assert f.title and f.site_url.startswith("https://")
    # importing again adds nothing
    r = import_opml(store, sample_feeds_dir / "feeds.opml", allow_files=True)
    assert r.added == [] and len(r.skipped) == 6
    assert {(d.feed.url, d.in_file) for d in r.skipped} == {(f.url, False) for f in feeds}  # each names its feed


def test_import_with_a_relative_opml_path(store: Store, sample_feeds_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sample_feeds_dir.parent)
    added = import_opml(store, Path("sample_feeds") / "feeds.opml", allow_files=True).added
    assert all(Path(f.url).is_file() for f in added)


def test_export_import_round_trip(store: Store, digest_home, tmp_path: Path) -> None:
    store.add_feed("https://a.example/feed.xml?x=1&y=2", title="A & <B>", section="Top Stories",
                   site_url="https://a.example/")
    store.add_feed("https://b.example/atom", title="Bee \"quoted\"", section="Startups")
    store.add_feed("https://c.example/rss", title="Ünïcode ✓", section="")
    store.add_feed("https://d.example/rss", title="Dee", section="Startups")
    text = export_opml(store)
    path = tmp_path / "out.opml"
    path.write_text(text, encoding="utf-8")

    other = Store(tmp_path / "other.db")
    try:
        added = import_opml(other, path).added
        assert len(added) == 4
        before = {(f.url, f.title, f.section, f.site_url) for f in store.list_feeds()}
        after = {(f.url, f.title, f.section, f.site_url) for f in other.list_feeds()}
        assert after == before
    finally:
        other.close()


def test_round_trip_of_an_untitled_feed_keeps_it_untitled(store: Store, tmp_path: Path) -> None:
    """A feed never fetched has no title; exporting writes its URL as the outline text (OPML needs one),
    and importing that back should not turn the URL into a title."""
    store.add_feed("https://u.example/feed", section="Jobs")
    path = tmp_path / "u.opml"
    path.write_text(export_opml(store))
    other = Store(tmp_path / "o.db")
    try:
        import_opml(other, path)
        [f] = other.list_feeds()
        assert f.url == "https://u.example/feed" and f.section == "Jobs"
        assert f.title in ("", "https://u.example/feed")
    finally:
        other.close()


NESTED = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="Tech">
    <outline text="News">
      <outline type="rss" text="Deep" xmlUrl="https://deep.example/rss"/>
    </outline>
    <outline type="rss" title="Shallow title" text="Shallow text" xmlUrl="https://shallow.example/rss"/>
  </outline>
  <outline type="rss" text="Cat" xmlUrl="https://cat.example/rss" category="/Startups"/>
  <outline type="rss" text="Cats" xmlUrl="https://cats.example/rss" category="/Tech/Jobs,/Other"/>
  <outline type="rss" text="Loose" xmlUrl="  https://loose.example/rss  " htmlUrl="https://loose.example/"/>
  <outline text="Empty folder"/>
  <outline type="link" text="Not a feed" url="https://x.example/"/>
</body></opml>"""


def test_nested_folders_and_categories() -> None:
    got = {f.url: (f.title, f.section, f.site_url) for f in read_opml(NESTED)}
    assert got == {
        "https://deep.example/rss": ("Deep", "News", ""),
        "https://shallow.example/rss": ("Shallow title", "Tech", ""),
        "https://cat.example/rss": ("Cat", "Startups", ""),
        "https://cats.example/rss": ("Cats", "Jobs", ""),
        "https://loose.example/rss": ("Loose", "", "https://loose.example/"),
    }


def test_relative_urls_resolve_against_the_opml_folder(tmp_path: Path) -> None:
    data = b'<opml version="2.0"><body><outline xmlUrl="feeds/a.xml"/><outline xmlUrl="/abs/b.xml"/></body></opml>'
    got = [f.url for f in read_opml(data, tmp_path)]
    assert got == [str(tmp_path / "feeds" / "a.xml"), "/abs/b.xml"]


@pytest.mark.parametrize("data", [
    b"not xml", b"<html><body/></html>", b'<opml version="2.0"><head/></opml>', b"",
])
def test_bad_opml_is_an_opml_error(data: bytes) -> None:
    with pytest.raises(OpmlError):
        read_opml(data, source="bad.opml")


def test_opml_never_expands_entities_or_fetches(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = f"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file://{secret}">]>
<opml version="2.0"><body><outline text="&xxe;" xmlUrl="https://x.example/rss"/></body></opml>""".encode()
    try:
        feeds = read_opml(data)
    except OpmlError:
        return
    assert all("TOP-SECRET" not in f.title for f in feeds)


def test_write_opml_is_valid_and_escaped(store: Store) -> None:
    store.add_feed("https://a.example/?a=1&b=2", title='<A> & "B"', section="S&P")
    text = write_opml(store.list_feeds(), title="T & T")
    [f] = read_opml(text.encode())
    assert (f.url, f.title, f.section) == ("https://a.example/?a=1&b=2", '<A> & "B"', "S&P")


# -- hostile lists (issue 20 item 10) -------------------------------------------------------------------


def _hostile_opml(folder: Path) -> Path:
    (folder / "inside.xml").write_bytes(b"<rss/>")
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.xml").write_bytes(b"<rss/>")
    entries = [
        "javascript:alert(1)", "gopher://h.example/1", "ftp://h.example/feed.xml", "file:///etc/shadow",
        "../../../../etc/passwd", "~/.ssh/id_rsa", "/etc/hostname", "data:text/xml,<rss/>", "http:///nohost",
        "https://ok.example/feed.xml", "HTTPS://OK.example/feed.xml", "https://ok.example/feed.xml#x",
        "https://ok.example:443/feed.xml", "inside.xml", "sub/deeper.xml", "file://" + str(folder / "inside.xml"),
    ]
    body = "".join(f'<outline text="e{i}" xmlUrl="{u.replace("&", "&amp;").replace("<", "&lt;")}"/>'
                   for i, u in enumerate(entries))
    path = folder / "list.opml"
    path.write_text(f'<opml version="2.0"><body>{body}</body></opml>', encoding="utf-8")
    return path


def test_import_refuses_what_is_not_a_web_feed_and_names_it(store: Store, tmp_path: Path) -> None:
    path = _hostile_opml(tmp_path)
    r = import_opml(store, path)
    assert [f.url for f in r.added] == ["https://ok.example/feed.xml"]
    assert [d.entry for d in r.skipped] == ["HTTPS://OK.example/feed.xml", "https://ok.example/feed.xml#x",
                                            "https://ok.example:443/feed.xml"]
    assert all(d.in_file and d.feed == r.added[0] for d in r.skipped)  # the same as the entry imported above
    assert r.entries == 16
    refused = dict(r.refused)
    assert "only http and https" in refused["javascript:alert(1)"]
    for scheme_entry in ("gopher://h.example/1", "ftp://h.example/feed.xml", "data:text/xml,<rss/>"):
        assert "only http and https" in refused[scheme_entry]
    for local in ("file:///etc/shadow", "../../../../etc/passwd", "~/.ssh/id_rsa", "/etc/hostname", "inside.xml"):
        assert "--allow-files" in refused[local]
    assert "no host" in refused["http:///nohost"]
    assert all(not f.url.startswith(("/", "file:", "javascript:", "~")) for f in store.list_feeds())


def test_allow_files_admits_only_the_opml_files_own_folder(store: Store, tmp_path: Path) -> None:
    path = _hostile_opml(tmp_path)
    (tmp_path / "link.xml").symlink_to("/etc/hostname")
    # the list as written above, plus a symlink in the folder that points out of it
    text = path.read_text().replace("</body>", '<outline text="l" xmlUrl="link.xml"/></body>')
    path.write_text(text)
    r = import_opml(store, path, allow_files=True)
    urls = sorted(f.url for f in r.added)
    assert urls == sorted(["https://ok.example/feed.xml", str(tmp_path / "inside.xml"),
                           str(tmp_path / "sub" / "deeper.xml")])
    refused = dict(r.refused)
    for outside in ("file:///etc/shadow", "../../../../etc/passwd", "~/.ssh/id_rsa", "/etc/hostname", "link.xml"):
        assert "outside the OPML file's folder" in refused[outside], outside
    # the file:// spelling of inside.xml is the same feed as the relative one
    assert ("file://" + str(tmp_path / "inside.xml")) in [d.entry for d in r.skipped]


def test_cli_import_names_each_refused_entry(digest_home, store: Store, tmp_path: Path, capsys) -> None:
    from digest.cli import main

    path = _hostile_opml(tmp_path)
    code = main(["feeds", "import", str(path)])
    out, err = capsys.readouterr()
    assert code == 0 and "imported 1 feed from" in out
    assert "(16 entries: 1 imported, 3 repeated in the file, 12 refused)" in out
    for entry in ("javascript:alert(1)", "file:///etc/shadow", "../../../../etc/passwd", "~/.ssh/id_rsa"):
        assert f"refused {entry}:" in err
    only_bad = tmp_path / "bad.opml"
    only_bad.write_text('<opml version="2.0"><body><outline text="x" xmlUrl="file:///etc/shadow"/></body></opml>')
    assert main(["feeds", "import", str(only_bad)]) == 1
    assert "refused file:///etc/shadow" in capsys.readouterr().err


def test_export_can_leave_out_the_bundled_samples(store: Store, digest_home) -> None:
    from digest.core.config import Config
    from digest.core.feeds import load_sample_feeds

    load_sample_feeds(store, Config())
    store.add_feed("https://mine.example/feed", title="Mine", section="Startups")
    text = export_opml(store, include_samples=False)
    assert "https://mine.example/feed" in text
    assert "sample_feeds" not in text and "site-packages" not in text
    assert export_opml(store).count("xmlUrl=") == len(store.list_feeds())  # the CLI's export: all of them


def test_cli_import_names_each_duplicate_and_the_counts_add_up(store: Store, digest_home, tmp_path: Path) -> None:
    """A feed already subscribed, and one listed twice in the file, are each named (the entry's title and
    URL, and the feed it duplicates); the summary's parts add up to the file's entries. Run as cron would."""
    stored = store.add_feed("https://a.example/feed.xml", title="Stored A")
    path = tmp_path / "mine.opml"
    path.write_text("""<opml version="2.0"><body>
      <outline text="A again" xmlUrl="HTTPS://A.example/feed.xml#top"/>
      <outline text="Bee" xmlUrl="https://b.example/rss"/>
      <outline text="Bee, exported twice" xmlUrl="https://b.example/rss"/>
      <outline xmlUrl="https://b.example:443/rss"/>
      <outline text="Cee" xmlUrl="https://c.example/atom"/>
      <outline text="Bad" xmlUrl="javascript:alert(1)"/>
    </body></opml>""", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DIGEST_HOME": os.environ["DIGEST_HOME"]}
    r = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m", "digest",
                        "feeds", "import", str(path)], cwd=Path(__file__).resolve().parent.parent,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    bee = store.feed_by_url("https://b.example/rss")
    assert bee is not None and store.feed_by_url("https://c.example/atom") is not None
    assert r.stdout.splitlines() == [
        f"imported 2 feeds from {path} (6 entries: 2 imported, 1 already subscribed, 2 repeated in the file, "
        "1 refused); run `digest refresh` to fetch them",
        f'  skipped "A again" <HTTPS://A.example/feed.xml#top>: already subscribed as feed {stored.id} (Stored A)',
        f'  skipped "Bee, exported twice" <https://b.example/rss>: repeated in the file (imported above as feed '
        f"{bee.id})",
        f"  skipped <https://b.example:443/rss>: repeated in the file (imported above as feed {bee.id})",
    ]
    assert r.stderr.splitlines() == ["  refused javascript:alert(1): javascript: URLs are not feeds (only http and "
                                     "https)"]
    assert len(store.list_feeds()) == 3
