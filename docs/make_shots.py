"""Regenerate the README's pictures of the geekwire theme (docs/geekwire-light.png, docs/geekwire-dark.png):
the golden digest with the test suite's local image server, side by side at 600 px and at 375 px without
the <style> block, scaled down to keep the committed files small. Run from the repository root:

    python docs/make_shots.py

The full-size screenshots of every theme come from `pytest tests/test_browser.py` (tests/artifacts/)."""

from __future__ import annotations

import re
import ssl
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import trustme  # noqa: E402
from helpers_browser import chromium  # noqa: E402
from helpers_digest import NOW, load_golden, make_config, make_paths  # noqa: E402
from test_browser import _Images  # noqa: E402

from digest.core.build import build_digest  # noqa: E402
from digest.core.store import Store  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    paths = make_paths(tmp)
    cfg = make_config()
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        page = build_digest(store, cfg, paths, now=NOW).html_path
    bare = page.with_name("bare.html")
    bare.write_text(re.sub(r"<style[^>]*>.*?</style>", "", page.read_text(encoding="utf-8"), flags=re.S | re.I))
    both = page.with_name("both.html")
    both.write_text(
        '<!doctype html><body style="margin:0;padding:12px;background:#9aa0a6;display:flex;gap:12px">'
        f'<iframe src="{page.name}" width="600" height="1500" style="border:0"></iframe>'
        f'<iframe src="{bare.name}" width="375" height="1500" style="border:0"></iframe></body>')
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("*.digest-sample.example", "digest-sample.example").configure_cert(ctx)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name, extra in (("light", ()), ("dark", ("--force-dark-mode",))):
            out = ROOT / "docs" / f"geekwire-{name}.png"
            chromium(tmp, server.server_address[1], both.as_uri(), "--window-size=1011,1524",
                     "--force-device-scale-factor=0.55", "--allow-file-access-from-files",
                     f"--screenshot={out}", *extra)
            print(out, out.stat().st_size, "bytes")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
