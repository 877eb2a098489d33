"""digest build: files written atomically, a complete .eml, the draft left a draft, CLI exit codes."""

from __future__ import annotations

import email.policy
import io
import json
from email.parser import BytesParser

import pytest
from helpers_digest import NOW, check_email_html, check_text, fill_store, make_config, make_paths

from digest.cli import Ctx, main
from digest.core.build import NOTHING_TO_BUILD, BuildError, build_digest, preview_text
from digest.core.store import Store

THEMES = ["geekwire", "minimal", "plain"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    paths = make_paths(tmp_path)
    with Store(paths.db_file) as store:
        yield store, make_config(), paths


@pytest.mark.parametrize("theme", THEMES)
def test_build_writes_html_text_and_a_parsable_eml(env, theme):
    store, cfg, paths = env
    fill_store(store, 50)
    r = build_digest(store, cfg, paths, theme=theme, now=NOW)
    assert r.html_path == paths.output_dir / "digest-1.html"
    assert r.text_path.name == "digest-1.txt" and r.eml_path.name == "digest-1.eml"
    html = r.html_path.read_text(encoding="utf-8")
    check_email_html(html)
    check_text(r.text_path.read_text(encoding="utf-8"))
    assert r.html_bytes == len(html.encode()) and r.story_count == 50
    msg = BytesParser(policy=email.policy.default).parsebytes(r.eml_path.read_bytes())
    for header in ("Subject", "From", "To", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert msg[header], header
    assert msg["Subject"] == r.subject
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://example.com/unsubscribe>" in msg["List-Unsubscribe"] and "mailto:" in msg["List-Unsubscribe"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]  # text first
    assert parts[0].get_content_charset() == "utf-8"
    assert parts[1].get_content().replace("\r\n", "\n").rstrip() == html.rstrip()
    assert parts[0].get_content().replace("\r\n", "\n").rstrip() == r.text_path.read_text(encoding="utf-8").rstrip()
    # the draft stays a draft, with the build recorded
    d = store.draft()
    assert d is not None and d.status == "draft" and d.theme == theme and d.built_at
    assert d.paths == {"html": str(r.html_path), "text": str(r.text_path), "eml": str(r.eml_path)}
    assert not list(paths.output_dir.glob(".*.tmp"))  # no temp files left behind


def test_empty_draft_is_an_error_unless_auto(env):
    store, cfg, paths = env
    with pytest.raises(BuildError, match="nothing to build"):
        build_digest(store, cfg, paths, now=NOW)
    fill_store(store, 6, flag=False)
    cfg.select.since_last_digest = False
    r = build_digest(store, cfg, paths, auto=True, now=NOW)
    assert r.story_count == 6
    assert preview_text(store, cfg, paths).startswith("SEATTLE TECH DIGEST")


def test_no_recipients_and_no_unsubscribe(env):
    store, cfg, paths = env
    cfg.newsletter.to = []
    cfg.newsletter.unsubscribe_url = ""
    fill_store(store, 2)
    r = build_digest(store, cfg, paths, out_dir=paths.data_dir / "elsewhere", now=NOW)
    assert r.html_path.parent == paths.data_dir / "elsewhere"
    msg = BytesParser(policy=email.policy.default).parsebytes(r.eml_path.read_bytes())
    assert "undisclosed-recipients" in str(msg["To"]) and msg["List-Unsubscribe-Post"] is None
    assert "Unsubscribe" not in r.html_path.read_text()


def test_preview_text_empty(env):
    store, cfg, paths = env
    assert preview_text(store, cfg, paths) == ""


def _cli(paths, *argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_cli_build(env, tmp_path, monkeypatch):
    store, _, paths = env
    code, out, err = _cli(paths, "build")
    assert code == 3 and NOTHING_TO_BUILD in err
    fill_store(store, 4)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    code, out, err = _cli(paths, "build", "--out", str(tmp_path / "o"), "--open")
    assert code == 0, err
    assert str(tmp_path / "o" / "digest-1.html") in out and "digest-1.eml" in out
    assert opened == [(tmp_path / "o" / "digest-1.html").as_uri()]
    code, out, err = _cli(paths, "build", "--json", "--theme", "minimal")
    data = json.loads(out)
    assert data["story_count"] == 4 and data["html"].endswith("digest-1.html") and data["digest"]["status"] == "draft"
    code, out, err = _cli(paths, "build", "--theme", "nope")
    assert code == 2 and "unknown theme 'nope'" in err and "geekwire" in err


def test_cli_build_auto(env):
    store, _, paths = env
    (paths.config_file).write_text("[select]\nsince_last_digest = false\nmax_age_hours = 8760\n", encoding="utf-8")
    fill_store(store, 5, flag=False)
    code, out, err = _cli(paths, "build", "--auto")
    assert code == 0, err
    assert "5 stories" in out


def test_config_fixture_is_hermetic():
    cfg = make_config()
    assert cfg.newsletter.title == "Seattle Tech Digest"
