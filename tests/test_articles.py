"""The page behind a story: fetch, extract, store, retry later; against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from articlepages import PARAGRAPHS, article_page, html_response, real_page, teaser_feed
from feedserver import FeedServer, Response

from digest.cli import Ctx, main
from digest.core.articles import extract, fetch_articles, is_teaser, wants_article
from digest.core.config import Config, RefreshConfig
from digest.core.paths import Paths, get_paths
from digest.core.refresh import refresh
from digest.core.store import Store


def _stories(store: Store, config: Config, srv: FeedServer, paths: list[str], **kw: object) -> list[int]:
    """A teaser feed on the server whose items link to `paths`; refreshed; returns the story ids in order."""
    links = [(f"Story {i} about Forkyard and its new funding", srv.url(p)) for i, p in enumerate(paths)]
    srv.feed("/feed.xml", teaser_feed("Teasers", links, **kw))  # type: ignore[arg-type]
    store.add_feed(srv.url("/feed.xml"))
    refresh(store, config)
    rows = store.db.execute("SELECT id, link FROM stories ORDER BY id").fetchall()
    by_link = {link: sid for sid, link in rows}
    return [by_link[srv.url(p)] for p in paths]


def test_real_news_page_gives_text_picture_and_metadata() -> None:
    a = extract(real_page("fivethirtyeight-manchin.html.gz"), "https://fivethirtyeight.com/features/x/",
                "text/html; charset=UTF-8")
    assert a.status == "ok" and a.title == "Could Manchin Actually Leave The Democratic Party?"
    assert a.text.startswith("Sen. Joe Manchin told reporters Wednesday")
    assert "NREUM" not in a.text and "<script" not in a.html  # the page's scripts are not the article
    assert a.image_url and a.image_url.startswith("https://fivethirtyeight.com/wp-content/uploads/2021/10/")
    assert (a.image_width, a.image_height) == (700, 394)
    assert a.author == "Geoffrey Skelley" and a.site_name == "FiveThirtyEight"
    assert a.canonical_url == "https://fivethirtyeight.com/features/could-manchin-actually-leave-the-democratic-party/"
    assert a.description.startswith("Sen. Joe Manchin told reporters Wednesday")
    assert 'rel="noopener noreferrer"' in a.html  # through the feed HTML's nh3 allowlist


def test_a_huge_article_is_cut_between_blocks_and_says_so() -> None:
    """A page of ~1.2 MB of prose keeps its first MAX_ARTICLE_CHARS of article, whole paragraphs, then a note;
    an ordinary article (the real page above) is whole and has no note."""
    from digest.core.articles import CUT_NOTE, MAX_ARTICLE_CHARS

    sentence = "Paragraph {n} of the long inquiry into the harbour ferry budget."
    paras = "".join("<p>" + " ".join([sentence.format(n=n)] * 10) + "</p>" for n in range(1700))
    page = (f"<html><head><title>Inquiry</title></head><body><article><h1>Inquiry</h1>{paras}"
            "</article></body></html>").encode()
    a = extract(page, "https://news.example.org/inquiry", "text/html; charset=utf-8")
    assert MAX_ARTICLE_CHARS * 0.9 < len(a.html) <= MAX_ARTICLE_CHARS + len(CUT_NOTE) + 1000
    assert a.html.endswith(CUT_NOTE)
    assert a.text.startswith("Paragraph 0 of the long inquiry")
    assert a.text.endswith("Open it in the browser to read the rest.)")
    assert "Paragraph 1699 " not in a.text  # the end of the page is not kept
    whole = extract(real_page("fivethirtyeight-manchin.html.gz"), "https://fivethirtyeight.com/features/x/",
                    "text/html; charset=UTF-8")
    assert "cut here" not in whole.html


def test_real_product_page_og_image_without_size() -> None:
    a = extract(real_page("mozilla-firefox-developer.html.gz"), "https://www.mozilla.org/en-US/firefox/developer/")
    assert a.title == "Welcome to Firefox Developer Edition" and a.site_name == "Mozilla"
    assert a.image_url == "https://mozorg.cdn.mozilla.net/media/img/firefox/developer/page-image.03bbe7da3199.png"
    assert a.image_width is None and "WebIDE" in a.text


def test_page_without_og_tags_takes_the_first_large_content_picture() -> None:
    page = article_page("Forkyard raises $12M", og=False, description=None,
                        body_images=[("/icons/share.png", 24), ("/photos/kitchen.jpg", 800), ("/b.jpg", None)])
    a = extract(page, "https://news.example.com/2026/forkyard", "text/html")
    assert a.image_url == "https://news.example.com/photos/kitchen.jpg" and a.image_width == 800
    assert a.title == "" or "Forkyard" in a.title
    assert a.author == "Alex Writer"
    assert a.text.split("\n\n")[0] == PARAGRAPHS[0]
    assert "Most read" not in a.text and "Copyright" not in a.text  # navigation and footer are not the article


def test_teaser_detection() -> None:
    assert is_teaser("Forkyard raised money. Read more…")
    assert is_teaser(PARAGRAPHS[0] + " " + PARAGRAPHS[1][:80] + "…")
    assert is_teaser(PARAGRAPHS[0] + " " + PARAGRAPHS[1] + " [...]")
    assert not is_teaser(PARAGRAPHS[0] + " " + PARAGRAPHS[1])
    assert is_teaser(PARAGRAPHS[0] + " " + PARAGRAPHS[1], '<p>x</p><p><a href="/x">Continue reading</a></p>')


def test_fetch_stores_articles_and_does_not_fetch_twice(store: Store, feed_server: FeedServer) -> None:
    fast = Config()
    feed_server.route("/a/1", html_response(article_page("One", image="https://img.example.com/one.jpg",
                                                         description="The first story, in the site's words.")))
    feed_server.route("/a/2", html_response(article_page("Two", image=None, description=None)))
    ids = _stories(store, fast, feed_server, ["/a/1", "/a/2"])
    assert all(wants_article(s) for s in store.stories_by_ids(ids))  # teaser and no picture
    got = fetch_articles(store, fast, ids)
    one, two = got[ids[0]], got[ids[1]]
    assert one.ok and one.image_url == "https://img.example.com/one.jpg" and one.image_width == 1200
    assert one.description == "The first story, in the site's words."
    assert two.ok and two.image_url is None and two.text.startswith("Forkyard, the Seattle startup")
    assert store.get_article(ids[0]) == one  # stored as returned
    accept = feed_server.requests_for("/a/1")[0].header("accept") or ""
    assert accept.startswith("text/html")
    fetch_articles(store, fast, ids)
    assert len(feed_server.requests_for("/a/1")) == 1  # stored: not fetched again
    fetch_articles(store, fast, [ids[0]], refetch=True)
    assert len(feed_server.requests_for("/a/1")) == 2


def _body_50mb() -> Iterator[bytes]:
    chunk = b"<p>" + b"filler text " * 87_000 + b"</p>"  # ~1 MB a chunk, sent chunked: no length up front
    yield b"<!DOCTYPE html><html><head><title>big</title></head><body>"
    for _ in range(50):
        yield chunk


def test_failures_are_recorded_with_their_reason(store: Store, feed_server: FeedServer) -> None:
    config = Config(refresh=RefreshConfig(max_bytes=10_000_000))
    quick = Config(refresh=RefreshConfig(timeout_s=1.0))  # only for the page that never answers
    feed_server.route("/pdf", Response(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7 ..."))
    feed_server.route("/slow", Response(200, {"Content-Type": "text/html"}, b"<html></html>", delay=30))
    feed_server.route("/big", Response(200, {"Content-Type": "text/html"}, _body_50mb()))
    feed_server.route("/empty", html_response(b"<!DOCTYPE html><html><head></head><body></body></html>"))
    ids = _stories(store, config, feed_server, ["/pdf", "/missing", "/slow", "/big", "/empty"])
    got = fetch_articles(store, config, [ids[0], ids[1], ids[3], ids[4]], now=1_000_000.0)
    got.update(fetch_articles(store, quick, [ids[2]], now=1_000_000.0))
    pdf, missing, slow, big, empty = (got[i] for i in ids)
    assert pdf.status == "error" and pdf.error == "not an HTML page (application/pdf)"
    assert missing.error == "HTTP 404 Not Found"
    assert slow.error.startswith("timed out")
    assert big.error.startswith("body larger than 10,000,000 bytes")
    assert empty.error == "no article text found in the page"
    week, hour = 7 * 86_400, 3600
    # answers that will not change soon (a page over max_bytes will not shrink)
    assert pdf.retry_at == missing.retry_at == big.retry_at == 1_000_000.0 + week
    assert slow.retry_at == 1_000_000.0 + hour and slow.attempts == 1
    # before the waiting time is over the stored failure is the answer: no request
    before = len(feed_server.requests)
    again = fetch_articles(store, quick, [ids[2]], now=1_000_000.0 + 60)
    assert again[ids[2]].error == slow.error and len(feed_server.requests) == before
    # after it, the page is tried again, and a second failure waits twice as long
    again = fetch_articles(store, quick, [ids[2]], now=1_000_000.0 + hour)
    assert again[ids[2]].attempts == 2 and again[ids[2]].retry_at == 1_000_000.0 + 3 * hour
    assert len(feed_server.requests_for("/slow")) == 2


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(get_paths(), stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_cli_article(digest_home: Paths, feed_server: FeedServer) -> None:
    feed_server.route("/a/1", html_response(article_page("Forkyard raises $12M", image="https://img.example.com/f.jpg",
                                                         description="A Series A for kitchen software.")))
    with Store(digest_home.db_file) as store:
        ids = _stories(store, Config(), feed_server, ["/a/1", "/gone"])
    code, out, err = _cli("article", str(ids[0]))
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "Forkyard raises $12M" and PARAGRAPHS[0] in out
    code, out, _ = _cli("article", str(ids[0]), "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == ids[0] and data["status"] == "ok"
    assert {"id", "url", "status", "text", "image", "description", "author", "site_name", "fetched_at"} <= set(data)
    assert data["image"] == "https://img.example.com/f.jpg" and data["url"] == feed_server.url("/a/1")
    code, out, err = _cli("article", str(ids[1]))
    assert code == 1 and out == ""
    assert err.strip() == f"digest: article {feed_server.url('/gone')}: HTTP 404 Not Found"
    code, _, err = _cli("article", str(ids[1]))  # recorded: said again without a request
    assert code == 1 and "tried again after" in err and len(feed_server.requests_for("/gone")) == 1
    code, _, err = _cli("article", "99999")
    assert code == 1 and err.strip() == "digest: no story with id 99999"


def _lead_and_rows(html_text: str) -> tuple[list[str], str]:
    """Every <img> src of the email, and its whole text (for the blurbs)."""
    import re

    return re.findall(r'<img[^>]*\bsrc="([^"]+)"', html_text), html_text


def test_build_fills_teaser_stories_from_their_articles(digest_home: Paths, feed_server: FeedServer) -> None:
    from digest.core.build import build_digest

    config = Config()
    pages = {
        "/a/0": article_page("Zero", image="https://img.example.com/zero.jpg",
                             description="Forkyard raised $12 million to bring its scheduling software to more "
                                         "restaurant kitchens across the West Coast."),
        "/a/1": article_page("One", image="https://img.example.com/one.jpg", description=None),
        "/a/2": article_page("Two", og=False, body_images=[("https://img.example.com/two-body.jpg", 900)]),
    }
    for path, body in pages.items():
        feed_server.route(path, html_response(body))
    with Store(digest_home.db_file) as store:
        ids = _stories(store, config, feed_server, list(pages) + ["/missing"])
        for sid in ids:
            store.flag(sid, "Top Stories")
        store.flag(ids[2], "Top Stories", blurb="The editor's own words about story two.")
        result = build_digest(store, config, digest_home)
    images, text = _lead_and_rows(result.html_path.read_text())
    # the lead and the thumbnails carry the articles' pictures (og:image, else the first large one)
    for src in ("https://img.example.com/zero.jpg", "https://img.example.com/one.jpg",
                "https://img.example.com/two-body.jpg"):
        assert src in images
    assert "Forkyard raised $12 million to bring its scheduling software" in text  # og:description
    assert "Forkyard, the Seattle startup that builds scheduling software" in text  # first sentences
    assert "The editor&#39;s own words about story two." in text or "The editor's own words about story two." in text
    assert "Read more…" not in text
    assert any("could not be fetched" in n and feed_server.url("/missing") in n for n in result.notes)
    served = len(feed_server.requests)
    with Store(digest_home.db_file) as store:  # a second build fetches nothing: all stored or failed recently
        build_digest(store, config, digest_home)
    assert len(feed_server.requests) == served


def test_build_can_leave_articles_alone(digest_home: Paths, feed_server: FeedServer) -> None:
    from digest.core.build import build_digest

    config = Config()
    config.articles.at_build = False
    feed_server.route("/a/0", html_response(article_page("Zero", image="https://img.example.com/zero.jpg")))
    with Store(digest_home.db_file) as store:
        ids = _stories(store, config, feed_server, ["/a/0"])
        store.flag(ids[0], "Top Stories")
        result = build_digest(store, config, digest_home)
    assert feed_server.requests_for("/a/0") == []
    assert "https://img.example.com/zero.jpg" not in result.html_path.read_text()


def test_full_text_feed_fetches_new_stories_at_refresh(digest_home: Paths, feed_server: FeedServer,
                                                        tmp_path) -> None:
    for i in range(3):
        page = article_page(f"Story {i}", image=f"https://img.example.com/{i}.jpg")
        feed_server.route(f"/a/{i}", html_response(page))
    links = [(f"Story {i} about Forkyard and its new funding", feed_server.url(f"/a/{i}")) for i in range(3)]
    feed_server.feed("/teasers.xml", teaser_feed("Teasers", links), etag='"v1"')
    feed_server.feed("/plain.xml", teaser_feed("Plain", [("Other news", feed_server.url("/other"))]))
    code, out, err = _cli("feeds", "add", feed_server.url("/teasers.xml"), "--full-text")
    assert code == 0 and "full articles fetched at refresh" in out, err
    assert _cli("feeds", "add", feed_server.url("/plain.xml"))[0] == 0
    code, out, err = _cli("refresh", "--json")
    report = json.loads(out)
    assert code == 0 and report["articles"] == 3 and report["articles_failed"] == 0
    assert feed_server.requests_for("/other") == []  # not a full_text feed: nothing fetched
    with Store(digest_home.db_file) as store:
        rows = store.db.execute("SELECT status, image_url FROM articles ORDER BY image_url").fetchall()
    assert [tuple(r) for r in rows] == [("ok", f"https://img.example.com/{i}.jpg") for i in range(3)]
    code, out, _ = _cli("refresh")  # nothing new: no article fetched again
    assert code == 0 and all(len(feed_server.requests_for(f"/a/{i}")) == 1 for i in range(3))
    assert "full articles" not in out
    # the setting travels in OPML, both ways
    code, out, _ = _cli("feeds", "export")
    teaser_line = next(line for line in out.splitlines() if "teasers.xml" in line)
    plain_line = next(line for line in out.splitlines() if "plain.xml" in line)
    assert 'fullText="true"' in teaser_line and "fullText" not in plain_line
    (tmp_path / "feeds.opml").write_text(out)
    other = get_paths({"DIGEST_HOME": str(tmp_path / "other")})
    code = main(["feeds", "import", str(tmp_path / "feeds.opml")],
                ctx=Ctx(other, stdout=io.StringIO(), stderr=io.StringIO()))
    assert code == 0
    with Store(other.db_file) as store:
        flags = {f.url.rsplit("/", 1)[-1]: f.full_text for f in store.list_feeds()}
    assert flags == {"teasers.xml": True, "plain.xml": False}


def _jpeg(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def test_pictures_are_made_ours_when_the_archive_is_published(digest_home: Paths, feed_server: FeedServer) -> None:
    import re

    from PIL import Image

    from digest.core.build import build_digest

    config = Config()  # the default time limits: a loaded machine must not turn a picture into a timeout
    config.newsletter.web_url = "https://news.example.org/digest/"
    jpeg = {"Content-Type": "image/jpeg"}
    feed_server.route("/img/lead.jpg", Response(200, jpeg, _jpeg((1600, 1000), (200, 40, 40))))
    feed_server.route("/img/thumb.jpg", Response(200, jpeg, _jpeg((900, 600), (40, 40, 200))))
    feed_server.route("/img/not-a-picture.jpg", html_response(b"<html>oops</html>"))
    feed_server.route("/img/busy.jpg", Response(500, {"Content-Type": "text/plain"}, b"try later"))
    pages = {"/a/0": "/img/lead.jpg", "/a/1": "/img/thumb.jpg", "/a/2": "/img/gone.jpg",
             "/a/3": "/img/not-a-picture.jpg", "/a/4": "/img/busy.jpg"}
    for path, img in pages.items():
        feed_server.route(path, html_response(article_page(path, image=feed_server.url(img), image_size=None)))
    with Store(digest_home.db_file) as store:
        ids = _stories(store, config, feed_server, list(pages))
        for sid in ids:
            store.flag(sid, "Top Stories")
        result = build_digest(store, config, digest_home)
    html_text = result.html_path.read_text()
    assert "base64" not in html_text and "data:image" not in html_text
    imgs = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r'<img[^>]*src="([^"]+)"[^>]*width="(\d+)"[^>]*height="(\d+)"', html_text)}
    ours = {u: wh for u, wh in imgs.items() if u.startswith("https://news.example.org/digest/1/img/")}
    lead = next(u for u in ours if u.endswith("-lead.jpg"))
    thumb = next(u for u in ours if u.endswith("-thumb.jpg"))
    assert ours[lead] == (600, 375) and ours[thumb] == (132, 132)  # shown at 132, made at 2x
    folder = digest_home.archive_dir / "1" / "img"
    with Image.open(folder / lead.rsplit("/", 1)[1]) as img:
        assert img.size == (600, 375) and img.format == "JPEG"
    with Image.open(folder / thumb.rsplit("/", 1)[1]) as img:
        assert img.size == (264, 264)
    # a picture that may work later keeps its original URL; one that is gone or no picture is left out
    # (the reader would see a broken picture); the build says so
    assert feed_server.url("/img/busy.jpg") in imgs
    assert feed_server.url("/img/gone.jpg") not in imgs and feed_server.url("/img/not-a-picture.jpg") not in imgs
    assert len(imgs) == 3, imgs
    assert any(n.startswith("1 of 5 pictures kept their original URL") for n in result.notes), result.notes
    assert any(n.startswith("2 of 5 pictures left out") for n in result.notes), result.notes
    # a rebuild uses the pictures already made
    before = len(feed_server.requests_for("/img/lead.jpg"))
    with Store(digest_home.db_file) as store:
        build_digest(store, config, digest_home)
    assert len(feed_server.requests_for("/img/lead.jpg")) == before


def test_article_links_never_lead_to_private_addresses(store: Store, feed_server: FeedServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 plays the public internet (addresses.TREAT_AS_PUBLIC, the test-only switch) and a server
    on 127.0.0.2 an admin page on the user's network: a story's link that redirects there is refused, on
    the address connected to, and the private server never sees a request."""
    from digest.core import addresses

    monkeypatch.setattr(addresses, "TREAT_AS_PUBLIC", {"127.0.0.1"})
    with FeedServer(host="127.0.0.2") as private:
        private.route("/admin", html_response(article_page("Router admin")))
        feed_server.redirect("/a/sneaky", private.url("/admin"), 302)
        feed_server.route("/a/fine", html_response(article_page("Fine")))
        ids = _stories(store, Config(), feed_server, ["/a/sneaky", "/a/fine"])
        got = fetch_articles(store, Config(), ids)
        assert got[ids[0]].status == "error" and private.requests == []
        assert "refused" in got[ids[0]].error and "127.0.0.2" in got[ids[0]].error
        assert got[ids[1]].ok
        allowing = Config()
        allowing.articles.allow_private = True  # [articles] allow_private: the user says so
        again = fetch_articles(store, allowing, [ids[0]], refetch=True)
        assert again[ids[0]].ok and len(private.requests_for("/admin")) == 1


def test_a_feed_on_a_private_host_may_link_to_private_pages(store: Store) -> None:
    """An intranet feed (here on 127.0.0.2, not treated as public) links to intranet pages: allowed."""
    with FeedServer(host="127.0.0.2") as intranet:
        intranet.route("/a/memo", html_response(article_page("Office memo")))
        ids = _stories(store, Config(), intranet, ["/a/memo"])
        assert fetch_articles(store, Config(), ids)[ids[0]].ok


def test_a_page_is_read_in_the_charset_its_server_or_its_markup_names(store: Store,
                                                                       feed_server: FeedServer) -> None:
    """trafilatura alone guesses from the bytes: a short windows-1252 page came out as windows-1250."""
    body = "".join(f"<p>{p} Café crème, “quoted”.</p>" for p in PARAGRAPHS)
    page = f"<html><head><title>Café story</title>{{meta}}</head><body><article>{body}</article></body></html>"
    feed_server.route("/header", Response(200, {"Content-Type": "text/html; charset=windows-1252"},
                                          page.format(meta="").encode("cp1252")))
    feed_server.route("/meta", Response(200, {"Content-Type": "text/html"},
                                        page.format(meta='<meta charset="iso-8859-1">').encode("cp1252")))
    xhtml = '<?xml version="1.0" encoding="windows-1252"?>\n' + page.format(meta="").replace(
        "<html>", '<html xmlns="http://www.w3.org/1999/xhtml">')
    feed_server.route("/xhtml", Response(200, {"Content-Type": "application/xhtml+xml"}, xhtml.encode("cp1252")))
    feed_server.route("/bom", Response(200, {"Content-Type": "text/html; charset=windows-1252"},
                                       b"\xef\xbb\xbf" + page.format(meta="").encode()))  # the BOM wins
    ids = _stories(store, Config(), feed_server, ["/header", "/meta", "/xhtml", "/bom"])
    got = fetch_articles(store, Config(), ids)
    for sid, path in zip(ids, ["/header", "/meta", "/xhtml", "/bom"], strict=True):
        assert got[sid].ok, (path, got[sid].error)
        assert "Café crème, “quoted”." in got[sid].text, path
        assert store.get_article(sid).text == got[sid].text  # type: ignore[union-attr]


def test_a_page_gone_410_is_named_as_a_page(store: Store, feed_server: FeedServer) -> None:
    feed_server.route("/gone", Response(410, {"Content-Type": "text/plain"}, b"gone"))
    [sid] = _stories(store, Config(), feed_server, ["/gone"])
    got = fetch_articles(store, Config(), [sid], now=1_000_000.0)[sid]
    assert got.error == "HTTP 410 Gone"  # not the feed's "the feed was removed; no longer fetched"
    assert got.retry_at == 1_000_000.0 + 7 * 86_400


def test_pixels_svg_camera_jpegs_and_huge_pictures(digest_home: Paths, feed_server: FeedServer,
                                                   recwarn: pytest.WarningsRecorder) -> None:
    """What the Web serves as og:image besides photos. A tracking pixel was blown up into a black 264 px
    square, an SVG and a broken file kept their URLs (a blank in every mail client), a camera's JPEG (MPO)
    was refused, and a 48 MP JPEG printed Pillow's DecompressionBombWarning on stderr (into cron's mail)."""
    import re

    from PIL import Image

    from digest.core.build import build_digest

    def encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
        out = io.BytesIO()
        img.save(out, fmt, **kw)
        return out.getvalue()

    config = Config()
    config.newsletter.web_url = "https://news.example.org/digest/"
    photo = Image.new("RGB", (1200, 800), (40, 120, 200))
    pictures = {
        "/img/pixel.gif": ("image/gif", encoded(Image.new("P", (1, 1)), "GIF")),
        "/img/icon.png": ("image/png", encoded(Image.new("RGB", (32, 32)), "PNG")),
        "/img/logo": ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="600"/>'),
        "/img/cut.jpg": ("image/jpeg", encoded(photo, "JPEG")[:2000]),
        "/img/camera.jpg": ("image/jpeg", encoded(photo, "MPO", save_all=True, append_images=[photo])),
        "/img/48mp.jpg": ("image/jpeg", encoded(Image.new("L", (8000, 6000), 128), "JPEG")),
        "/img/50mp.png": ("image/png", encoded(Image.new("1", (10_000, 5_000)), "PNG")),
    }
    for i, (path, (ctype, data)) in enumerate(pictures.items()):
        feed_server.route(path, Response(200, {"Content-Type": ctype}, data))
        feed_server.route(f"/a/{i}", html_response(article_page(f"Story {i}", image=feed_server.url(path),
                                                                image_size=None)))
    with Store(digest_home.db_file) as store:
        ids = _stories(store, config, feed_server, [f"/a/{i}" for i in range(len(pictures))])
        for sid in ids:
            store.flag(sid, "Top Stories")
        result = build_digest(store, config, digest_home)
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]+)"', result.html_path.read_text())
    ours = [u for u in srcs if u.startswith("https://news.example.org/digest/1/img/")]
    assert len(ours) == 2, srcs  # the camera JPEG and the 48 MP one, made ours
    assert feed_server.url("/img/50mp.png") in srcs  # too large to open here: the reader's browser may cope
    assert len(srcs) == 3, srcs  # the pixel, the icon, the SVG and the broken file are left out
    assert any(n.startswith("4 of 7 pictures left out (") for n in result.notes), result.notes
    assert any(n.startswith("1 of 7 pictures kept their original URL (") and "too large to open" in n
               for n in result.notes), result.notes
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__], list(recwarn)
