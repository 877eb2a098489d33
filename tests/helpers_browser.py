"""Headless Chromium for the tests: one command line (hermetic: every host name but the local image
server resolves to NOTFOUND), and a probe that runs a measuring script in a copy of the page (the email
itself never has one) and returns what the script wrote."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if IN_CI:
        pytest.fail("CI is set but /usr/bin/chromium is missing: install the Debian package chromium")
    pytest.skip("headless Chromium (/usr/bin/chromium) is not installed")


def chromium(tmp: Path, port: int | None, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    rules = f"MAP *.digest-sample.example 127.0.0.1:{port}, " if port else ""
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp / 'profile'}", "--ignore-certificate-errors",
        f"--host-resolver-rules={rules}MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000", *extra, url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def probe(tmp: Path, port: int | None, page: Path, script: str, *extra: str, width: int = 600,
          body_attrs: str = "") -> object:
    """Load a copy of `page` with `script` (JavaScript that evaluates to a JSON-able value) run on load;
    `body_attrs` are added to <body> (e.g. Outlook.com's data-ogsc). Returns the script's value.

    The page runs in an iframe `width` px wide: headless Chromium's window is never narrower than
    500 px, so a 375 px phone viewport (and its media queries) exists only inside a frame."""
    copy = tmp / f"probe-{page.name}"
    js = ("<script>addEventListener('load',function(){parent.document.body.setAttribute('data-probe',"
          f"JSON.stringify((function(){{{script}}})()))}})</script>")
    text = page.read_text(encoding="utf-8").replace("</body>", js + "</body>")
    if body_attrs:
        text = re.sub(r"<body\b", "<body " + body_attrs, text, count=1)
    copy.write_text(text, encoding="utf-8")
    frame = tmp / f"frame-{page.name}"
    frame.write_text(f'<!doctype html><html><body style="margin:0"><iframe src="{copy.name}" width="{width}" '
                     'height="1000" style="border:0;display:block"></iframe></body></html>', encoding="utf-8")
    out = chromium(tmp, port, frame.as_uri(), f"--window-size={max(width, 600)},1000", "--dump-dom",
                   "--allow-file-access-from-files", *extra)
    m = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert m, f"no probe result; chromium said: {out.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))
