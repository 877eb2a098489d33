"""Shared helpers for the digest (select/render/build) tests: hermetic paths, a fixed config, stores
filled with stories without the fetcher, and structure checks for email HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from digest.core.config import Config, SectionConfig
from digest.core.models import Image, ParsedStory
from digest.core.paths import Paths, get_paths
from digest.core.store import Store

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # frozen "now" for golden files (after the samples' dates)
NOW_TS = NOW.timestamp()
HOUR = 3600.0


def make_paths(tmp_path: Path) -> Paths:
    return get_paths({"DIGEST_HOME": str(tmp_path / "home")}).ensure()


def make_config(**newsletter: object) -> Config:
    cfg = Config(sections=[
        SectionConfig("Top Stories", 5),
        SectionConfig("Startups", 4),
        SectionConfig("Engineering", 3),
        SectionConfig("Jobs", 6, "jobs"),
        SectionConfig("Events", 5, "events"),
    ])
    nl = cfg.newsletter
    nl.title = "Seattle Tech Digest"
    nl.tagline = "What happened today, picked by hand"
    nl.from_ = "Seattle Tech Digest <digest@example.com>"
    nl.to = ["reader@example.com"]
    nl.postal_address = "1234 Example Ave, Seattle, WA 98101"
    nl.unsubscribe_url = "https://example.com/unsubscribe"
    nl.web_url = "https://example.com/digest/"
    nl.tips_email = "tips@example.com"
    nl.preferences_url = "https://example.com/preferences"
    for k, v in newsletter.items():
        setattr(nl, k, v)
    return cfg


def story(n: int, *, feed: str = "a", link: str | None = None, title: str | None = None, age_h: float = 1.0,
          image: bool = True, summary: str | None = None, **kw: object) -> ParsedStory:
    link = link or f"https://news.example.com/{feed}/story-{n}"
    return ParsedStory(
        guid=f"{feed}-{n}", link=link, canonical_link=kw.pop("canonical_link", link),  # type: ignore[arg-type]
        title=title or f"Story number {n} from feed {feed} about something",
        author=kw.pop("author", f"Writer {n}"),  # type: ignore[arg-type]
        summary=summary if summary is not None else (
            f"First sentence of story {n}. It has a second sentence with more detail about the news. "
            "And a third one that adds colour, context and a quote from someone involved."
        ),
        content=kw.pop("content", ""),  # type: ignore[arg-type]
        image=Image(f"https://img.example.com/{feed}/{n}.jpg", 1260, 841, "") if image else None,
        categories=kw.pop("categories", ["Startups", "Seattle"]),  # type: ignore[arg-type]
        published_at=NOW_TS - age_h * HOUR,
        extra=kw.pop("extra", {}),  # type: ignore[arg-type]
    )


def fill_store(store: Store, n: int, *, sections: tuple[str, ...] = ("Top Stories", "Startups", "Engineering"),
               flag: bool = True, summary_words: int = 60) -> list[int]:
    """n stories spread over one feed per section, all flagged (in order) when `flag`."""
    feeds = [store.add_feed(f"https://feeds.example.com/{i}.xml", title=f"Feed {sec}", section=sec)
             for i, sec in enumerate(sections)]
    ids: list[int] = []
    body = " ".join(f"word{i}" for i in range(summary_words)) + "."
    for i in range(n):
        f = feeds[i % len(feeds)]
        store.save_stories(f.id, [story(i, feed=str(f.id), age_h=1 + i / 10, summary=f"Lead sentence {i}. {body}")])
        sid = store.db.execute("SELECT id FROM stories WHERE guid = ?", (f"{f.id}-{i}",)).fetchone()[0]
        ids.append(sid)
        if flag:
            store.flag(sid, f.section)
    return ids


def story_id(store: Store, *, title_prefix: str) -> int:
    row = store.db.execute("SELECT id FROM stories WHERE title LIKE ? ORDER BY id", (title_prefix + "%",)).fetchone()
    assert row is not None, f"no story starting {title_prefix!r}"
    return int(row[0])


GOLDEN_FLAGS = [  # (title prefix, section, headline override, blurb)
    ("Tidewater Energy raises $42M to turn", "Top Stories", None, None),
    ("Tacoma’s Foundry Row", "Top Stories", None, None),
    ("Electric seaplane startup", "Top Stories", None, None),
    ("Fake job posts lure", "Top Stories", None, None),  # the sample with hostile markup
    ("Nimbus Cascade cuts", "Top Stories", "Nimbus Cascade lays off 31 to chase AI agents", None),
    ("Rainshadow Robotics raises", "Startups", None, None),
    ("Pinecrest Health", "Startups", None, "Our pick of the week: a clip-on sensor that could keep "
                                           "dialysis patients out of the clinic."),
    ("Opinion: The Northwest", "Startups", None, None),
    ("Why we moved our build farm", "Engineering", None, None),
    ("Feature flags that clean up", "Engineering", None, None),
    ("Senior Backend Engineer", "Jobs", None, None),
    ("Product Designer, Growth", "Jobs", None, None),
    ("Developer Advocate", "Jobs", None, None),
    ("Cascadia Corridor Founders Mixer", "Events", None, None),
    ("Sound AI Summit 2027", "Events", None, None),
    ("Pitch Night: Sound Angels", "Events", None, None),
]


def load_golden(store: Store, cfg: Config) -> None:
    """The sample feeds, a sponsor and the fixed flags above: the input of the golden files and the
    browser screenshots."""
    from digest.core.feeds import load_sample_feeds

    cfg.newsletter.sponsor_name = "Harborview Cloud"
    cfg.newsletter.sponsor_url = "https://harborview.example.com/?ref=digest"
    cfg.newsletter.sponsor_text = "Managed Postgres for small teams, with backups you never think about."
    load_sample_feeds(store, cfg, now=NOW_TS)
    for prefix, section, headline, blurb in GOLDEN_FLAGS:
        store.flag(story_id(store, title_prefix=prefix), section, headline=headline, blurb=blurb)


# -- structure checks -------------------------------------------------------------------------------------


class _Walker(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.in_body = False
        self.body_styles = 0
        self.attrs: list[tuple[str, str, str | None]] = []
        self.open_href: str | None = None
        self.decorative: list[str] = []  # hrefs of links whose only content is an alt="" image

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for k, v in attrs:
            self.attrs.append((tag, k, v))
        if tag == "body":
            self.in_body = True
        if tag == "style" and self.in_body:
            self.body_styles += 1
        if tag == "img":
            self.imgs.append(a)
            if a.get("alt") == "" and self.open_href:
                self.decorative.append(self.open_href)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"] or "")
            self.open_href = a["href"] or ""
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.open_href = None
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()


def check_email_html(html: str, *, budget: int = 90_000) -> _Walker:
    """The email-safety checklist (NEWSLETTER.md); raises AssertionError naming the first problem."""
    assert html.lower().startswith("<!doctype html>"), html[:60]
    w = _Walker()
    w.feed(html)
    w.close()
    assert not w.errors, w.errors[:5]
    assert not w.stack, f"unclosed tags: {w.stack}"
    head, _, body = html.partition("</head>")
    assert "<style" not in body.lower(), "a <style> in the body (Gmail drops it)"
    assert "script" not in w.tags and "<script" not in html.lower()
    assert "svg" not in w.tags and "data:" not in " ".join(i.get("src") or "" for i in w.imgs)
    for img in w.imgs:
        for attr in ("src", "alt", "width", "height"):
            assert img.get(attr) not in (None,), f"img without {attr}: {img}"
        assert img["alt"] is not None, f"img without alt: {img}"
        assert re.match(r"https?://", img["src"] or ""), img
        assert "display: block" in (img.get("style") or "").replace("display:block", "display: block"), img
    # an empty alt only on a decorative image: inside a link to the same place as a headline link
    assert sum(1 for i in w.imgs if (i["alt"] or "").strip()) + len(w.decorative) == len(w.imgs), \
        "an image with empty alt outside a link"
    for href in w.decorative:
        assert w.hrefs.count(href) >= 2, f"image link to {href} is the only link there but has alt=\"\""
    for href in w.hrefs:
        assert re.match(r"(https?:|mailto:)", href), f"unsafe href {href!r}"
    for tag, k, _v in w.attrs:
        assert not k.startswith("on"), f"event handler {k} on <{tag}>"
    assert 'role="presentation"' in html
    assert len(html.encode()) <= budget, f"{len(html.encode())} bytes > {budget}"
    styles = re.findall(r"<style[^>]*>(.*?)</style>", head, re.S)
    assert sum(len(s) for s in styles) < 16_000
    assert "<title>" in head and 'name="viewport"' in head and "x-apple-disable-message-reformatting" in head
    assert "&zwnj;" in html or "\u200c" in html, "no preheader spacer run"
    return w


def check_text(text: str, width: int = 72) -> None:
    for line in text.splitlines():
        if len(line) > width:
            assert re.fullmatch(r"\s*(\S+ )*(https?|mailto):\S+", line) or " " not in line.strip(), (
                f"line over {width} columns: {line!r}")
