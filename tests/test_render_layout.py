"""What the issue-18 review asked of every theme: events by date, reading time only from real text,
"In this issue" in render order, section names as headings, decorative image links, Outlook markup,
a manage-preferences link, and the plain theme's HTML without hard line breaks or raw URLs."""

from __future__ import annotations

import re

import pytest
from helpers_digest import NOW, check_email_html, load_golden, make_config, make_paths, story

from digest.core.render import build_context, render_digest
from digest.core.select import draft_sections
from digest.core.store import Store

THEMES = ["geekwire", "minimal", "plain"]


@pytest.fixture
def golden(tmp_path):
    paths = make_paths(tmp_path)
    cfg = make_config()
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        yield store, cfg, paths


def _render(store, cfg, paths, theme):
    return render_digest(store, cfg, paths, store.draft(), theme=theme, now=NOW)


@pytest.mark.parametrize("theme", THEMES)
def test_events_are_listed_by_date_not_by_flag_order(tmp_path, theme):
    paths = make_paths(tmp_path)
    cfg = make_config()
    with Store(paths.db_file) as store:
        feed = store.add_feed("https://ev.example.com/f", title="Calendar", section="Events")
        when = {"late": "2027-03-01T18:00:00-08:00", "early": "2027-01-05T18:00:00-08:00",
                "middle": "2027-02-10T18:00:00-08:00"}
        for name, start in when.items():  # flagged late, early, middle
            store.save_stories(feed.id, [story(0, feed=name, title=f"Meetup {name}", image=False,
                                               extra={"event_start": start})])
            sid = store.db.execute("SELECT id FROM stories WHERE guid = ?", (f"{name}-0",)).fetchone()[0]
            store.flag(sid, "Events")
        r = _render(store, cfg, paths, theme)
    for out in (r.html, r.text):
        pos = [out.rindex(f"Meetup {n}") for n in ("early", "middle", "late")]  # after preheader and title
        assert pos == sorted(pos), f"{theme}: events not in date order"


def test_reading_time_comes_from_the_article_not_the_teaser(tmp_path):
    paths = make_paths(tmp_path)
    cfg = make_config()
    with Store(paths.db_file) as store:
        feed = store.add_feed("https://a.example.com/f", title="Wire", section="Top Stories")
        long_body = "<p>" + " ".join(["word"] * 1150) + "</p>"  # 1,150 words: 5 minutes at 230 wpm
        store.save_stories(feed.id, [story(1, feed="a", title="Teaser only", image=False),
                                     story(2, feed="a", title="Full article", image=False, content=long_body),
                                     story(3, feed="a", title="Fetched article", image=False,
                                           extra={"article_text": " ".join(["w"] * 2300)})])
        for guid in ("a-1", "a-2", "a-3"):
            store.flag(store.db.execute("SELECT id FROM stories WHERE guid = ?", (guid,)).fetchone()[0], "Top Stories")
        ctx = build_context(store, cfg, store.draft(), draft_sections(store, cfg, store.draft().id), NOW)
        html = _render(store, cfg, paths, "geekwire").html
    minutes = {s["headline"]: s["reading_minutes"] for s in ctx["sections"][0]["stories"]}
    assert minutes == {"Teaser only": None, "Full article": 5, "Fetched article": 10}
    byline = re.search(r'<p class="byline"[^>]*>([^<]*)</p>', html).group(1)  # type: ignore[union-attr]
    assert byline == "By Writer 1 · Wire"  # the lead is the teaser-only story: no "1 min read" guess
    assert "· 5 min read</p>" in html and "· 10 min read</p>" in html


@pytest.mark.parametrize("theme", THEMES)
def test_section_names_are_headings_and_the_footer_has_the_links(golden, theme):
    r = _render(*golden, theme)
    check_email_html(r.html)
    for name in ("Top Stories", "Startups", "Jobs", "Events", "Trending"):
        assert re.search(rf"<h2[^>]*>{name}</h2>", r.html, re.I), f"{theme}: {name} is not a heading"
    assert 'href="https://example.com/preferences"' in r.html and "Manage preferences" in r.html
    assert 'href="mailto:tips@example.com"' in r.html
    assert "<o:PixelsPerInch>96</o:PixelsPerInch>" in r.html and "mso-line-height-rule:exactly" in r.html
    # fluid: the container is 100% wide with a 600 px cap; Outlook gets a fixed 600 px ghost table
    assert re.search(r'class="container"[^>]*width="100%"[^>]*style="[^"]*max-width: 600px', r.html)
    assert '<!--[if mso]><table role="presentation" width="600"' in r.html


def test_geekwire_toc_follows_render_order_and_images_are_decorative(golden):
    html = _render(*golden, "geekwire").html
    toc = re.search(r"In this issue:</b> ([^<]*)</td>", html).group(1)  # type: ignore[union-attr]
    assert toc == "Top Stories · Trending · Startups · Engineering · Jobs · Events"
    order = [html.index(f">{h}</h2>") for h in ("Top Stories", "Trending", "Startups", "Engineering")]
    assert order == sorted(order)
    # every linked image sits beside the same headline link: alt="" and hidden from screen readers
    for a in re.findall(r'<a [^>]*aria-hidden="true"[^>]*><img [^>]*></a>', html):
        assert 'alt=""' in a and 'tabindex="-1"' in a
    assert html.count('aria-hidden="true" tabindex="-1"') >= 5
    # the bulletproof button: VML for Outlook for Windows, padding on the cell (not the link) elsewhere
    assert "<v:roundrect" in html and 'fillcolor="#BE4825"' in html
    btn = re.search(r'<td class="btn" style="([^"]*)"[^>]*><a [^>]*style="([^"]*)"', html)
    assert btn and "padding: 12px 22px" in btn.group(1) and "padding" not in btn.group(2)
    assert "display: inline-block" not in btn.group(2) and "opacity" not in html


def test_plain_html_reflows_and_links_headlines_not_urls(golden):
    html = _render(*golden, "plain").html
    body = html.split("<body", 1)[1]
    texts = re.findall(r">([^<>]+)</a>", body)
    assert texts and not [t for t in texts if t.startswith("http")], "a raw URL as link text"
    assert "Tidewater Energy raises $42M to turn ferry terminals into grid batteries</a>" in html
    # the blurb is one paragraph line, not 72-column pieces joined by <br>
    assert "raised $42 million to expand to six more docks. The batteries charge overnight" in html
