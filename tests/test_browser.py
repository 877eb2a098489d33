"""Headless Chromium screenshots of every theme: 600 px, 375 px (phone), 375 px without the <style> block
(what the Gmail apps show for non-Google accounts: fluid-hybrid must hold without @media), and dark mode.

The PNGs are kept in tests/artifacts/ (gitignored) for people to look at. Feed images point at
*.digest-sample.example; Chromium's host resolver maps those names to a local HTTPS server (trustme
certificate) that serves generated placeholder pictures, and every other name to NOTFOUND, so the page
renders with pictures and nothing leaves the machine.

Skipped only when /usr/bin/chromium is missing and CI is not set; under CI a missing Chromium fails.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers_browser import IN_CI, chromium, probe, require_chromium
from helpers_digest import NOW, load_golden, make_config, make_paths

from digest.core.build import build_digest
from digest.core.store import Store

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
THEMES = ["geekwire", "minimal", "plain"]
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S | re.I)


def _png(width: int, height: int, seed: bytes) -> bytes:
    """A soft two-colour diagonal gradient, different per image URL, as a real PNG (no Pillow needed)."""
    palette = [(190, 72, 37), (38, 84, 124), (46, 125, 96), (120, 90, 160), (200, 150, 60), (70, 70, 80)]
    a = palette[seed[0] % len(palette)]
    b = tuple(min(255, c + 90) for c in palette[seed[1] % len(palette)])
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            t = (x / width + y / height) / 2
            row += bytes(int(a[i] * (1 - t) + b[i] * t) for i in range(3))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(
        b"IEND", b"")


class _Images(BaseHTTPRequestHandler):
    cache: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        seed = hashlib.sha1(self.path.encode()).digest()
        body = self.cache.setdefault(self.path, _png(126, 84, seed))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    try:
        import trustme
    except ImportError:
        if IN_CI:
            pytest.fail("CI is set but trustme (a test dependency) is missing")
        pytest.skip("trustme is not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("*.digest-sample.example", "digest-sample.example")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """theme -> the built golden digest, and theme-nostyle -> the same page with its <style> blocks removed."""
    tmp = tmp_path_factory.mktemp("browser")
    out: dict[str, Path] = {}
    for theme in THEMES:
        paths = make_paths(tmp / theme)
        cfg = make_config()
        with Store(paths.db_file) as store:
            load_golden(store, cfg)
            page = build_digest(store, cfg, paths, theme=theme, now=NOW).html_path
        out[theme] = page
        bare = page.with_name(f"{theme}-nostyle.html")
        bare.write_text(_STYLE.sub("", page.read_text(encoding="utf-8")), encoding="utf-8")
        out[f"{theme}-nostyle"] = bare
    return out


def _probe(tmp: Path, port: int, page: Path, *extra: str, width: int = 600) -> dict[str, object]:
    js = ("var i=document.images,ok=0;for(var k=0;k<i.length;k++)if(i[k].naturalWidth>0)ok++;"
          "return {h:document.documentElement.scrollHeight,w:document.documentElement.scrollWidth,"
          "dark:matchMedia('(prefers-color-scheme: dark)').matches,imgs:i.length,loaded:ok}")
    return probe(tmp, port, page, js, *extra, width=width)  # type: ignore[return-value]


def _png_facts(path: Path) -> tuple[int, int, float]:
    """(width, height, share of non-zero filtered bytes). A blank page's scanlines filter to zeros."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    nonzero = (len(raw) - raw.count(0)) / len(raw)
    return width, height, nonzero


SHOTS = [("600", 600, False, ()), ("375", 375, False, ()), ("375-nostyle", 375, True, ()),
         ("600-dark", 600, False, ("--force-dark-mode",))]


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(("shot", "width", "bare", "extra"), SHOTS, ids=[s[0] for s in SHOTS])
def test_screenshot(pages, image_server, tmp_path, theme, shot, width, bare, extra):
    require_chromium()
    page = pages[f"{theme}-nostyle" if bare else theme]
    facts = _probe(tmp_path, image_server, page, *extra, width=width)
    assert facts["dark"] is ("--force-dark-mode" in extra)
    assert facts["loaded"] == facts["imgs"], facts  # every picture came from the local server
    if theme == "geekwire":
        assert facts["imgs"], "the geekwire digest has pictures"
    # nothing wider than the window: a phone never scrolls sideways, with or without the <style> block
    assert int(facts["w"]) <= width, f"{theme} {shot}: the page is {facts['w']} px wide in a {width} px window"  # type: ignore[call-overload]
    height = int(facts["h"])  # type: ignore[call-overload]
    assert 1000 <= height <= 20_000, f"implausible page height {height}px"
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / f"{theme}-{shot}.png"
    png.unlink(missing_ok=True)
    out = chromium(tmp_path, image_server, page.as_uri(), f"--window-size={width},{height}",
                   f"--screenshot={png}", *extra)
    assert png.is_file(), out.stderr[-2000:]
    w, h, nonzero = _png_facts(png)
    assert (w, h) == (width, height)
    assert nonzero > 0.02, f"{png} looks blank ({nonzero:.3%} non-zero filtered bytes)"
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize("theme", THEMES)
def test_dark_mode_changes_the_page(pages, image_server, tmp_path, theme):
    require_chromium()
    shots = {}
    for name, extra in (("light", ()), ("dark", ("--force-dark-mode",))):
        png = tmp_path / f"{name}.png"
        chromium(tmp_path, image_server, pages[theme].as_uri(), "--window-size=600,800", f"--screenshot={png}",
                 *extra)
        shots[name] = png.read_bytes()
    assert shots["light"] != shots["dark"]


@pytest.fixture(scope="module")
def teaser_digest(tmp_path_factory) -> tuple[Path, list[str]]:
    """A digest built from three teaser feeds without pictures: every picture in it comes from the
    og:image of the story's article page (served on 127.0.0.1, fetched at build)."""
    from articlepages import article_page, html_response, teaser_feed
    from feedserver import FeedServer

    from digest.core.refresh import refresh

    tmp = tmp_path_factory.mktemp("teasers")
    paths = make_paths(tmp)
    cfg = make_config()
    og = []
    with FeedServer() as srv, Store(paths.db_file) as store:
        for f in range(3):
            links = []
            for k in range(3):
                i = f * 3 + k
                image = f"https://images.digest-sample.example/og/{i}.jpg"
                og.append(image)
                srv.route(f"/a/{i}", html_response(article_page(
                    f"Story {i}", image=image, image_size=(1200, 800),
                    description=f"Story {i}: what the article says, in the words of its own site's description.")))
                links.append((f"Seattle startup number {i} raises a new round", srv.url(f"/a/{i}")))
            srv.feed(f"/feed{f}.xml", teaser_feed(f"Teasers {f}", links))
            store.add_feed(srv.url(f"/feed{f}.xml"), title=f"Teaser feed {f}", section="Top Stories")
        refresh(store, cfg)
        for sid in store.story_ids():
            store.flag(sid, "Top Stories")
        result = build_digest(store, cfg, paths, now=NOW)
    return result.html_path, og


def test_screenshot_of_a_digest_from_teaser_feeds(teaser_digest, image_server, tmp_path):
    """The lead picture and the thumbnails come from the articles' og:image."""
    require_chromium()
    page, og = teaser_digest
    text = page.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]+)"', text)
    assert set(og) <= set(srcs), srcs  # every story has its article's picture
    lead = re.search(r'<img[^>]*class="lead-img"[^>]*>', text)
    assert lead and 'width="600"' in lead.group(0) and re.search(r'src="https://images\.digest-sample\.example/og/',
                                                                 lead.group(0))
    assert "Read more…" not in text and "in the words of its own site" in text  # blurbs from og:description
    facts = _probe(tmp_path, image_server, page)
    assert facts["imgs"] and facts["loaded"] == facts["imgs"] >= len(og), facts
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "geekwire-teasers-600.png"
    png.unlink(missing_ok=True)
    height = int(facts["h"])  # type: ignore[call-overload]
    out = chromium(tmp_path, image_server, page.as_uri(), f"--window-size=600,{height}", f"--screenshot={png}")
    assert png.is_file(), out.stderr[-2000:]
    w, h, nonzero = _png_facts(png)
    assert (w, h) == (600, height) and nonzero > 0.02
