"""Headless Chromium screenshots of the geekwire digest: 600 px, 375 px (phone) and dark mode.

The PNGs are kept in tests/artifacts/ (gitignored) for people to look at. Feed images point at
*.digest-sample.example; Chromium's host resolver maps those names to a local HTTPS server (trustme
certificate) that serves generated placeholder pictures, and every other name to NOTFOUND, so the page
renders with pictures and nothing leaves the machine.

Skipped only when /usr/bin/chromium is missing and CI is not set; under CI a missing Chromium fails.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import ssl
import struct
import subprocess
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers_digest import NOW, load_golden, make_config, make_paths

from digest.core.build import build_digest
from digest.core.store import Store

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if IN_CI:
        pytest.fail("CI is set but /usr/bin/chromium is missing: install the Debian package chromium")
    pytest.skip("headless Chromium (/usr/bin/chromium) is not installed")


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
def digest_html(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    paths = make_paths(tmp)
    cfg = make_config()
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        result = build_digest(store, cfg, paths, now=NOW)
    return result.html_path


def _chromium(tmp: Path, port: int, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp / 'profile'}", "--ignore-certificate-errors",
        f"--host-resolver-rules=MAP *.digest-sample.example 127.0.0.1:{port}, MAP * ~NOTFOUND, "
        "EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000", *extra, url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _probe(tmp: Path, port: int, page: Path, *extra: str) -> dict[str, object]:
    """Load a copy of the page with a measuring script (the email itself never has one)."""
    probe = tmp / f"probe-{page.name}"
    js = ("<script>addEventListener('load',function(){var i=document.images,ok=0;for(var k=0;k<i.length;k++)"
          "if(i[k].naturalWidth>0)ok++;document.body.setAttribute('data-probe',JSON.stringify({"
          "h:document.documentElement.scrollHeight,dark:matchMedia('(prefers-color-scheme: dark)').matches,"
          "imgs:i.length,loaded:ok}))})</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", js + "</body>"), encoding="utf-8")
    out = _chromium(tmp, port, probe.as_uri(), "--window-size=600,1000", "--dump-dom", *extra)
    m = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert m, f"no probe result; chromium said: {out.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


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


@pytest.mark.parametrize(("name", "width", "extra"), [
    ("geekwire-600", 600, ()),
    ("geekwire-375", 375, ()),
    ("geekwire-600-dark", 600, ("--force-dark-mode",)),
])
def test_screenshot(digest_html, image_server, tmp_path, name, width, extra):
    _require_chromium()
    facts = _probe(tmp_path, image_server, digest_html, *extra)
    assert facts["dark"] is ("--force-dark-mode" in extra)
    assert facts["imgs"] and facts["loaded"] == facts["imgs"], facts  # every picture came from the local server
    height = int(facts["h"])  # type: ignore[call-overload]
    assert 1500 <= height <= 15_000, f"implausible page height {height}px"
    # a phone column is narrower, so the page is taller; give it room (the screenshot is the window)
    shot_h = height if width >= 600 else int(height * 1.6)
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / f"{name}.png"
    png.unlink(missing_ok=True)
    out = _chromium(tmp_path, image_server, digest_html.as_uri(), f"--window-size={width},{shot_h}",
                    f"--screenshot={png}", *extra)
    assert png.is_file(), out.stderr[-2000:]
    w, h, nonzero = _png_facts(png)
    assert (w, h) == (width, shot_h)
    assert nonzero > 0.02, f"{png} looks blank ({nonzero:.3%} non-zero filtered bytes)"
    assert png.stat().st_size > 30_000


def test_dark_mode_changes_the_page(digest_html, image_server, tmp_path):
    _require_chromium()
    light, dark = ARTIFACTS / "geekwire-600.png", ARTIFACTS / "geekwire-600-dark.png"
    if not (light.is_file() and dark.is_file()):
        pytest.skip("run with the screenshot tests")
    assert light.read_bytes() != dark.read_bytes()
