"""Rendering: email-safety structure on every theme, hostile input, the size budget, helpers."""

from __future__ import annotations

import re
from html import unescape

import pytest
from helpers_digest import NOW, check_email_html, check_text, fill_store, make_config, make_paths, story

from digest.core.context import _image
from digest.core.models import Image
from digest.core.render import BUDGET_BYTES, render_digest
from digest.core.store import Store
from digest.core.themes import linkify, plain, safe_url, trim_text, wrap

THEMES = ["geekwire", "minimal", "plain"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    paths = make_paths(tmp_path)
    with Store(paths.db_file) as store:
        yield store, make_config(), paths


def _render(store, cfg, paths, theme):
    draft = store.draft()
    assert draft is not None
    return render_digest(store, cfg, paths, draft, theme=theme, now=NOW)


@pytest.mark.parametrize("theme", THEMES)
def test_structure_with_50_stories(env, theme):
    store, cfg, paths = env
    fill_store(store, 50)
    r = _render(store, cfg, paths, theme)
    check_email_html(r.html)
    check_text(r.text)
    assert r.story_count == 50
    assert f"<title>{r.subject}</title>" in r.html
    assert "https://example.com/unsubscribe" in r.html and "https://example.com/unsubscribe" in r.text
    assert "1234 Example Ave" in r.html


def test_geekwire_has_the_newsletter_parts(env):
    store, cfg, paths = env
    cfg.newsletter.sponsor_name = "Acme Cloud"
    cfg.newsletter.sponsor_url = "https://acme.example.com/"
    cfg.newsletter.sponsor_text = "Databases that do not page you at 3 a.m."
    ids = fill_store(store, 6)
    jobs = store.add_feed("https://jobs.example.com/f", title="Jobs Board", section="Jobs")
    events = store.add_feed("https://ev.example.com/f", title="Calendar", section="Events")
    store.save_stories(jobs.id, [story(1, feed="j", title="Staff Engineer", author="Kelpline",
                                       categories=["Seattle, WA"], image=False)])
    store.save_stories(events.id, [story(1, feed="e", title="Pitch Night", image=False, extra={
        "event_start": "2027-01-20T17:30:00-08:00", "event_location": "Pioneer Square Loft, Seattle, WA",
        "event_organizer": "Sound Angels"})])
    store.flag(store.db.execute("SELECT id FROM stories WHERE guid='j-1'").fetchone()[0], "Jobs")
    store.flag(store.db.execute("SELECT id FROM stories WHERE guid='e-1'").fetchone()[0], "Events")
    store.flag(ids[0], "Top Stories", blurb="Our own words & an <em>opinion</em>.", headline="Editor's headline")
    r = _render(store, cfg, paths, "geekwire")
    html = r.html
    assert 'bgcolor="#BE4825"' in html  # the header band in the accent colour
    assert "Issue #1" in html and "Thursday, November 26, 2026" in html
    assert "Editor's headline" in unescape(html)
    # the editor's blurb is text, shown as typed: "<em>" is no markup (it was dropped), & and < escaped
    assert "Our own words &amp; an &lt;em&gt;opinion&lt;/em&gt;." in html
    assert 'width="600"' in html and "Read more" in html
    assert "Staff Engineer" in html and "Kelpline · Seattle, WA" in html
    assert "JAN" in html.upper() and ">20<" in html and "Pioneer Square Loft" in html
    assert "Presented by" in html and "https://acme.example.com/" in html
    assert "Got a tip?" in html and "mailto:tips@example.com" in html
    assert r.subject == "Seattle Tech Digest: Editor's headline"
    assert r.preheader.startswith("Also: ")
    assert "Editor's headline" in r.text and "Kelpline · Seattle, WA" in r.text
    assert "Wed Jan 20, 5:30 PM · Pitch Night" in r.text


def test_build_names_a_flagged_event_that_is_over(env):
    store, cfg, paths = env
    events = store.add_feed("https://ev.example.com/f", title="Calendar", section="Events")
    store.save_stories(events.id, [
        story(1, feed="e", title="Rust meetup", image=False, extra={"event_start": "2026-11-20T18:30:00-08:00"}),
        story(2, feed="e", title="Pitch Night", image=False, extra={"event_start": "2027-01-20T17:30:00-08:00"}),
    ])
    for guid in ("e-1", "e-2"):
        store.flag(store.db.execute("SELECT id FROM stories WHERE guid=?", (guid,)).fetchone()[0], "Events")
    r = _render(store, cfg, paths, "geekwire")  # NOW: Nov 26, 2026
    assert "Rust meetup" in r.html  # the editor's choice stays in the issue
    past = [n for n in r.notes if "took place" in n]
    assert past == ['Events: "Rust meetup" took place on Nov 20, before this issue; unflag it unless that is intended']


def test_story_links_carry_no_tracking_parameters(env):
    """The feed's own tracking (utm_source=rss, fbclid...) is not passed on to readers; the rest of the link
    (its other parameters, the fragment) is kept."""
    store, cfg, paths = env
    feed = store.add_feed("https://feeds.example.com/news.xml", title="Wire", section="Top Stories")
    tracked = "https://news.example.com/a/story?id=7&utm_source=ledger&utm_medium=rss&fbclid=x1#more"
    store.save_stories(feed.id, [story(1, feed="w"), story(2, feed="w", link=tracked)])
    for guid in ("w-1", "w-2"):
        store.flag(store.db.execute("SELECT id FROM stories WHERE guid=?", (guid,)).fetchone()[0], "Top Stories")
    for theme in THEMES:
        r = _render(store, cfg, paths, theme)
        for part in (r.html, r.text):
            assert "utm_" not in part and "fbclid" not in part, theme
        assert 'href="https://news.example.com/a/story?id=7#more"' in r.html, theme
        assert "https://news.example.com/a/story?id=7#more" in r.text, theme


HOSTILE_TITLE = '<script>alert(1)</script>Big "news" <img src=x onerror=alert(2)> & more'
HOSTILE_SUMMARY = (
    '<p onclick="steal()">Unbalanced <b><i>tags</b> <a href="javascript:alert(3)">click</a> '
    '<img src="https://t.example.com/p.gif" width="1" height="1"><style>body{display:none}</style>'
    "\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 and emoji 🚀🔥👩‍💻</p><div><div>"
)


@pytest.mark.parametrize("theme", THEMES)
def test_hostile_input_stays_safe(env, theme):
    store, cfg, paths = env
    f = store.add_feed("https://evil.example.com/f", title='Evil <b>Feed</b>" onload="x', section="Top Stories")
    store.save_stories(f.id, [
        story(1, feed="x", title=HOSTILE_TITLE, summary=HOSTILE_SUMMARY, link="javascript:alert(1)",
              canonical_link="java\tscript:alert(1)", author='"><script>alert(4)</script>'),
        story(2, feed="x", summary="A" * 100_000 + ". " + "b " * 50_000, link="data:text/html,<script>x</script>"),
        story(3, feed="x", title="Pixel", summary="x", categories=["<svg onload=alert(5)>"]),
        story(4, feed="x", title="\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd 🚀 emoji headline", summary="ok"),
    ])
    rows = store.db.execute("SELECT id, guid FROM stories ORDER BY id").fetchall()
    for sid, guid in rows:
        store.flag(sid, "Top Stories", blurb="<script>alert(9)</script>safe" if guid == "x-3" else None)
    # hostile images: a 1x1 pixel, an SVG, a data: URL
    store.db.execute("UPDATE stories SET image_url='https://t.example.com/p.gif', image_width=1, image_height=1 "
                     "WHERE guid='x-1'")
    store.db.execute("UPDATE stories SET image_url='https://t.example.com/i.svg' WHERE guid='x-2'")
    store.db.execute("UPDATE stories SET image_url='data:image/png;base64,AAAA' WHERE guid='x-3'")
    r = _render(store, cfg, paths, theme)
    w = check_email_html(r.html)
    check_text(r.text)
    low = r.html.lower()
    assert "<script" not in low and "javascript:" not in low and "onerror=" not in low and "onclick" not in low
    assert "p.gif" not in low and ".svg" not in low and "data:" not in low
    assert all(not h.startswith(("javascript", "data", "java")) for h in w.hrefs)
    assert len(r.html.encode()) < BUDGET_BYTES
    assert "🚀" in r.html and "\u05e9\u05dc\u05d5\u05dd" in r.html
    # the editor's own blurb is text: shown as typed, escaped in the HTML (checked above: no "<script")
    assert "<script>alert(9)</script>safe" in r.text and "&lt;script&gt;alert(9)&lt;/script&gt;safe" in r.html
    assert "javascript:" not in r.text


def test_the_editors_headline_and_blurb_keep_what_looks_like_tags(env):
    """What the editor types is text. Read as HTML, "Result<T, E>" lost "<T, E>" and "a<b and the <kelp>
    farm" lost "<b and the <kelp>" in the email; a line break in the TUI's blurb box is a space."""
    store, cfg, paths = env
    ids = fill_store(store, 2)
    store.flag(ids[0], "Top Stories", headline="Rust's Result<T, E> explained",
               blurb="Margins went from <5% to 12%;\na<b and the <kelp> farm & co.")
    for theme in THEMES:
        r = _render(store, cfg, paths, theme)
        assert "Rust's Result<T, E> explained" in unescape(r.html) and "Result&lt;T, E&gt;" in r.html
        assert "Margins went from <5% to 12%; a<b and the <kelp> farm & co." in unescape(r.html)
        assert "<kelp>" not in r.html  # escaped, never a tag
        assert "Rust's Result<T, E> explained" in r.text
        assert "a<b and the <kelp> farm & co." in " ".join(r.text.split())
    assert r.subject == "Seattle Tech Digest: Rust's Result<T, E> explained"


@pytest.mark.parametrize("theme", THEMES)
def test_budget_trims_blurbs_then_moves_the_tail(env, theme):
    store, cfg, paths = env
    fill_store(store, 300, summary_words=80)
    r = _render(store, cfg, paths, theme)
    assert len(r.html.encode()) <= BUDGET_BYTES, r.notes
    assert any("shortened" in n for n in r.notes)
    assert any("More stories" in n for n in r.notes)
    assert "more stories" in r.html.lower()
    check_email_html(r.html)
    # the text part is not clipped by Gmail: it keeps every story
    assert r.text.count("https://news.example.com/") >= 300


def test_budget_is_quiet_when_it_fits(env):
    store, cfg, paths = env
    fill_store(store, 10)
    assert _render(store, cfg, paths, "geekwire").notes == []


def test_safe_url():
    assert safe_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert safe_url("mailto:tips@example.com") == "mailto:tips@example.com"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", " javascript:x",
                "data:text/html,x", "vbscript:x", "/relative/path", "//proto-relative.example/x", "", None,
                "http:///nohost", "file:///etc/passwd"):
        assert safe_url(bad) is None, bad


def test_plain_and_trim():
    assert plain("<script>x()</script><b>Hi</b> &amp; <i>bye") == "Hi & bye"
    assert plain("a < b") == "a < b"
    text = "First sentence here. Second one is a bit longer than the first. Third sentence goes past the limit."
    assert trim_text(text, 70) == "First sentence here. Second one is a bit longer than the first."
    assert trim_text("word " * 100, 50).endswith("…") and len(trim_text("word " * 100, 50)) <= 51
    assert trim_text("short", 50) == "short"


ABBREVIATED = ("The Seattle startup, founded in 2019 by former Amazon engineers, says its software helps retailers "
               "like Costco Wholesale Corp. cut cloud bills by 30 percent, and it plans to hire 40 people in Seattle "
               "and Vancouver, B.C. over the next year as it takes its sales team to Europe, Asia and Latin America, "
               "where its first customers are grocery chains. More to come.")


def test_trim_does_not_stop_at_an_abbreviation():
    """A period after "Corp", "Wash", "B.C" or an initial is not a sentence end: a blurb cut there stops
    mid-sentence and, with no ellipsis, looks finished."""
    for limit in (140, 300):
        cut = trim_text(ABBREVIATED, limit)
        assert cut.endswith("…") and not cut.endswith(("Corp.", "B.C.")), cut
    news = ("Microsoft and OpenAI renegotiated their deal. Under the terms announced Tuesday by Microsoft Corp. "
            "President Brad Smith in Redmond, Wash., the companies share revenue until 2032 at least.")
    assert trim_text(news, 110) == "Microsoft and OpenAI renegotiated their deal."
    assert trim_text("Founder J. Doe of Acme Inc. Seattle and the U.S. Army signed a deal on drones for the "
                     "Pacific fleet.", 80).endswith("…")
    # real sentence ends still count: ?, !, a closing quote, a period before a capital
    assert trim_text('Is it over? "Not yet," she said. The company has much more to say about that later.',
                     60) == 'Is it over? "Not yet," she said.'


def test_blurb_cut_in_the_email_at_a_sentence_not_an_abbreviation(env):
    store, cfg, paths = env
    feed = store.add_feed("https://feeds.example.com/news.xml", title="Wire", section="Top Stories")
    store.save_stories(feed.id, [story(1, feed="w", summary=ABBREVIATED)])
    store.flag(store.db.execute("SELECT id FROM stories WHERE guid='w-1'").fetchone()[0], "Top Stories")
    r = _render(store, cfg, paths, "geekwire")
    blurb = next(p for p in re.findall(r'<p class="blurb"[^>]*>(.*?)</p>', r.html, re.S))
    assert blurb.startswith("The Seattle startup") and blurb.endswith("…"), blurb
    assert "Vancouver, B.C.\n" not in r.text and "Vancouver, B.C." + "\nhttps" not in r.text


def test_images():
    assert _image(Image("https://i.example.com/a.jpg", 1, 1), "h") is None
    assert _image(Image("https://i.example.com/a.svg", 100, 100), "h") is None
    assert _image(Image("data:image/png;base64,AAAA", 100, 100), "h") is None
    assert _image(Image("javascript:x", 100, 100), "h") is None
    img = _image(Image("https://i.example.com/a.jpg"), "Headline")
    assert img == {"url": "https://i.example.com/a.jpg", "width": 1200, "height": 800, "alt": "Headline"}
    assert _image(Image("https://i.example.com/a.jpg", 800, 533, "A <b>cat</b>"), "h")["alt"] == "A cat"


def test_wrap_and_linkify():
    out = wrap("word " * 40 + "https://example.com/" + "x" * 100)
    assert all(len(line) <= 72 for line in out.splitlines()[:-1])
    assert out.splitlines()[-1].endswith("x" * 100)
    html = str(linkify("See https://a.example/x. <b>bold</b>\njavascript:alert(1)"))
    assert '<a href="https://a.example/x">https://a.example/x</a>.' in html
    assert "&lt;b&gt;" in html and "<br>" in html and 'href="javascript' not in html


def test_trending_block_follows_the_store(env):
    store, cfg, paths = env
    fill_store(store, 2)
    assert "Trending" not in _render(store, cfg, paths, "geekwire").html
    a = store.add_feed("https://a.example.com/f", title="Feed A")
    b = store.add_feed("https://b.example.com/f", title="Feed B")
    shared = "https://news.example.com/shared-scoop"
    store.save_stories(a.id, [story(1, feed="a", link=shared, title="The shared scoop everyone has")])
    store.save_stories(b.id, [story(1, feed="b", link=shared, title="A shared scoop, retold")])
    html = _render(store, cfg, paths, "geekwire").html  # not a stale cached Trending
    assert "Trending" in html and "2 sources" in html and "Feed A, Feed B" in html


def test_trending_leaves_out_what_the_issue_carries(env):
    """A story the issue already has (from any of the feeds carrying it) is not repeated under Trending:
    the lead showed up again as Trending #1."""
    store, cfg, paths = env
    a = store.add_feed("https://a.example.com/f", title="Feed A", section="Top Stories")
    b = store.add_feed("https://b.example.com/f", title="Feed B")
    lead, other = "https://news.example.com/lead-scoop", "https://news.example.com/other-scoop"
    store.save_stories(a.id, [story(1, feed="a", link=lead, title="Tidewater raises $42M for ferry batteries"),
                              story(2, feed="a", link=other, title="Quillmark buys Forkyard in a stock deal")])
    store.save_stories(b.id, [story(1, feed="b", link=lead, title="Tidewater closes a $42M Series B round"),
                              story(2, feed="b", link=other, title="Forkyard goes to Quillmark")])
    # the editor flags feed B's report of the lead story: feed A's report is the same news
    store.flag(store.db.execute("SELECT id FROM stories WHERE guid='b-1'").fetchone()[0], "Top Stories")
    for theme in THEMES:
        r = _render(store, cfg, paths, theme)
        trend = r.text.split("TRENDING", 1)[1]
        assert "Quillmark buys Forkyard" in trend, theme
        assert "Tidewater" not in trend and lead not in trend, theme
        assert unescape(r.html).count("Tidewater raises $42M") == 0, theme
    # once the issue carries every trending story, the block and its table-of-contents entry go
    store.flag(store.db.execute("SELECT id FROM stories WHERE guid='a-2'").fetchone()[0], "Top Stories")
    store.flag(fill_store(store, 1, sections=("Startups",))[0], "Startups")
    r = _render(store, cfg, paths, "geekwire")
    assert "Trending" not in r.html and "TRENDING" not in r.text
    assert "In this issue:</b> Top Stories · Startups" in r.html


# -- properties (hypothesis) -------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text(max_size=400), st.integers(min_value=20, max_value=100))
def test_wrap_never_overflows_except_single_long_words(text, width):
    for line in wrap(text, width).splitlines():
        assert len(line) <= width or " " not in line


@given(st.text(alphabet=st.sampled_from(list("<>&\"' :/ajvscripthtpmlo.=\n")), max_size=200))
def test_linkify_never_emits_markup_from_input(text):
    out = str(linkify(text))
    # the only tags are the ones linkify writes itself
    assert set(re.findall(r"<(/?\w+)", out)) <= {"a", "/a", "br"}
    assert 'href="javascript' not in out.lower()


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=60))
def test_safe_url_only_allows_http_https_mailto(url):
    got = safe_url(url)
    assert got is None or got.split(":", 1)[0].lower() in ("http", "https", "mailto")


@pytest.mark.parametrize("theme", THEMES)
def test_odd_drafts_render(env, theme):
    """Only a jobs section (no lead), a story without a safe link, an odd accent colour."""
    store, cfg, paths = env
    cfg.newsletter.accent_color = "red; background:url(javascript:x)"
    cfg.newsletter.tagline = ""
    jobs = store.add_feed("https://jobs.example.com/f", title="Jobs Board", section="Jobs")
    store.save_stories(jobs.id, [story(1, feed="j", title="Staff Engineer", link="ftp://x.example.com/job",
                                       author="", categories=[], image=False)])
    store.flag(store.db.execute("SELECT id FROM stories").fetchone()[0], "Jobs")
    r = _render(store, cfg, paths, theme)
    check_email_html(r.html)
    check_text(r.text)
    assert "Staff Engineer" in r.html and "ftp:" not in r.html and "javascript" not in r.html
    assert r.subject == "Seattle Tech Digest #1"
