"""OPML import and export: the sample file from anywhere, round trips, folders and categories."""

from __future__ import annotations

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
    added, skipped = import_opml(store, sample_feeds_dir / "feeds.opml")
    assert len(added) == 6 and skipped == []
    feeds = store.list_feeds()
    got = {Path(f.url).name: f.section for f in feeds}
    assert got == SAMPLE_SECTIONS
    for f in feeds:
        assert Path(f.url).is_absolute() and Path(f.url).is_file()
        assert f.title and f.site_url.startswith("https://")
    # importing again adds nothing
    added, skipped = import_opml(store, sample_feeds_dir / "feeds.opml")
    assert added == [] and len(skipped) == 6


def test_import_with_a_relative_opml_path(store: Store, sample_feeds_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sample_feeds_dir.parent)
    added, _ = import_opml(store, Path("sample_feeds") / "feeds.opml")
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
        added, _ = import_opml(other, path)
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
