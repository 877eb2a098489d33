"""Themes: listing, user themes that extend built-ins, errors naming file and line, and golden digests.

Golden files: the sample feeds + a fixed config + fixed flags + a frozen `now` -> tests/golden/<theme>.html
and .txt. A changed golden file is reviewed like code. To regenerate after an intended change:

    DIGEST_REGEN_GOLDEN=1 pytest tests/test_themes.py -k golden

then read the diff (git diff tests/golden/) before committing it.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from helpers_digest import NOW, check_email_html, check_text, fill_store, load_golden, make_config, make_paths

from digest.cli import Ctx, main
from digest.core.render import render_digest
from digest.core.store import Store
from digest.core.themes import ThemeError, list_themes

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("DIGEST_REGEN_GOLDEN") == "1"
THEMES = ["geekwire", "minimal", "plain"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    paths = make_paths(tmp_path)
    with Store(paths.db_file) as store:
        yield store, make_config(), paths


def _user_theme(paths, name, files: dict[str, str]) -> Path:
    d = paths.user_themes_dir / name
    d.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (d / fname).write_text(text, encoding="utf-8")
    return d


def test_list_builtin_themes(env):
    _, _, paths = env
    themes = {t.name: t for t in list_themes(paths)}
    assert {"geekwire", "minimal", "plain"} <= set(themes)
    assert all(themes[n].builtin and themes[n].description for n in THEMES)


def test_user_theme_extends_a_builtin(env):
    store, cfg, paths = env
    fill_store(store, 3)
    _user_theme(paths, "mine", {
        "theme.toml": 'description = "my look"\nextends = "geekwire"\n',
        "email.html.j2": '{% extends "geekwire/email.html.j2" %}\n'
                         '{% block header %}<tr><td class="band">MY OWN HEADER {{ newsletter.title }}</td></tr>'
                         '{% endblock %}\n',
    })
    themes = {t.name: t for t in list_themes(paths)}
    assert themes["mine"].builtin is False and themes["mine"].extends == "geekwire"
    r = render_digest(store, cfg, paths, store.draft(), theme="mine", now=NOW)
    assert "MY OWN HEADER Seattle Tech Digest" in r.html
    assert "Read more" in r.html  # the rest is geekwire's, with its CSS inlined (style.css inherited)
    assert "padding: 26px 32px 24px" in r.html
    assert r.text.startswith("SEATTLE TECH DIGEST")  # text template inherited too
    check_email_html(r.html)


def test_user_theme_shadowing_a_builtin_can_extend_it(env):
    store, cfg, paths = env
    fill_store(store, 2)
    _user_theme(paths, "geekwire", {
        "theme.toml": 'extends = "geekwire"\n',
        "email.html.j2": '{% extends "builtin/geekwire/email.html.j2" %}{% block lang %}fr{% endblock %}',
    })
    r = render_digest(store, cfg, paths, store.draft(), theme="geekwire", now=NOW)
    assert '<html lang="fr"' in r.html and "Read more" in r.html


def test_broken_user_theme_names_file_and_line(env):
    store, cfg, paths = env
    fill_store(store, 2)
    d = _user_theme(paths, "broken", {"email.html.j2": "<p>ok</p>\n<p>{% if %}</p>\n", "email.txt.j2": "x"})
    with pytest.raises(ThemeError) as e:
        render_digest(store, cfg, paths, store.draft(), theme="broken", now=NOW)
    assert str(d / "email.html.j2") in str(e.value) and ":2:" in str(e.value)
    # an error at render time (StrictUndefined) also names the file and line
    (d / "email.html.j2").write_text("<!doctype html>\n\n{{ newsletter.no_such_field }}\n", encoding="utf-8")
    with pytest.raises(ThemeError) as e:
        render_digest(store, cfg, paths, store.draft(), theme="broken", now=NOW)
    assert "email.html.j2:3" in str(e.value) and "no_such_field" in str(e.value)
    # the built-in theme is untouched
    assert "Read more" in render_digest(store, cfg, paths, store.draft(), theme="geekwire", now=NOW).html


def test_unknown_theme_and_bad_extends(env):
    store, cfg, paths = env
    fill_store(store, 1)
    with pytest.raises(ThemeError, match=r"unknown theme 'nope' \(available: .*geekwire"):
        render_digest(store, cfg, paths, store.draft(), theme="nope", now=NOW)
    _user_theme(paths, "orphan", {"theme.toml": 'extends = "missing"\n'})
    with pytest.raises(ThemeError, match="extends unknown theme 'missing'"):
        render_digest(store, cfg, paths, store.draft(), theme="orphan", now=NOW)


ESCAPES = [
    "{{ cycler.__init__.__globals__.os.system('touch MARK') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARK') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ newsletter.__class__.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].system('touch MARK') }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_user_themes_run_in_the_sandbox(env, tmp_path, payload):
    """A shared theme is a template, not a program: reaching for Python's internals is refused with the
    file and line named, and no command runs (issue 20 item 9)."""
    store, cfg, paths = env
    fill_store(store, 2)
    mark = tmp_path / "pwned"
    d = _user_theme(paths, "evil", {
        "theme.toml": 'extends = "geekwire"\n',
        "email.html.j2": "<!doctype html>\n" + payload.replace("MARK", str(mark)) + "\n",
    })
    with pytest.raises(ThemeError) as e:
        render_digest(store, cfg, paths, store.draft(), theme="evil", now=NOW)
    assert str(d / "email.html.j2") in str(e.value) and "sandbox" in str(e.value)
    assert not mark.exists()
    cfg_file = paths.config_file
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text('[newsletter]\ntheme = "evil"\n', encoding="utf-8")
    code, _, err = _cli(paths, "build")
    assert code != 0 and "Traceback" not in err and "email.html.j2" in err
    assert not mark.exists()


def test_builtin_environment_cannot_load_user_files(env):
    """The built-in themes render unsandboxed (faster); a user file must never be loaded there."""
    from digest.core.themes import environment

    _, _, paths = env
    _user_theme(paths, "sneaky", {"email.html.j2": "{{ cycler.__init__.__globals__ }}"})
    with pytest.raises(Exception, match="sneaky"):
        environment(paths.user_themes_dir, sandboxed=False).get_template("sneaky/email.html.j2")
    assert environment(paths.user_themes_dir).get_template("sneaky/email.html.j2")


def _cli(paths, *argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_cli_themes_list(env):
    _, _, paths = env
    code, out, _ = _cli(paths, "themes", "list")
    assert code == 0 and re.search(r"^\* geekwire ", out, re.M) and "minimal" in out
    code, out, _ = _cli(paths, "themes", "list", "--json")
    import json

    data = json.loads(out)
    assert {"name", "description", "path", "builtin", "extends"} <= set(data[0])


def test_cli_themes_preview_leaves_the_store_alone(env, tmp_path, monkeypatch):
    store, _, paths = env
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    code, out, err = _cli(paths, "themes", "preview", "minimal", "--out", str(tmp_path / "pv"))
    assert code == 0, err
    assert (tmp_path / "pv" / "digest-1.html").is_file() and opened and opened[0].startswith("file://")
    assert store.counts()["all"] == 0 and store.feed_count() == 0
    assert not list(paths.cache_dir.glob("preview-*"))  # the throwaway store is gone
    code, _, err = _cli(paths, "themes", "preview", "nope", "--no-open")
    assert code == 2 and "unknown theme 'nope'" in err and "geekwire" in err


# -- golden files ---------------------------------------------------------------------------------------

@pytest.fixture
def golden_store(env):
    store, cfg, paths = env
    load_golden(store, cfg)
    return store, cfg, paths


def _normalise(s: str) -> str:
    return s.rstrip() + "\n"


@pytest.mark.parametrize("theme", THEMES)
def test_golden(golden_store, theme):
    store, cfg, paths = golden_store
    r = render_digest(store, cfg, paths, store.draft(), theme=theme, now=NOW)
    check_email_html(r.html)
    check_text(r.text)
    for ext, got in (("html", r.html), ("txt", r.text)):
        path = GOLDEN / f"{theme}.{ext}"
        if REGEN:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(_normalise(got), encoding="utf-8")
            continue
        assert path.exists(), f"{path} is missing: run DIGEST_REGEN_GOLDEN=1 pytest tests/test_themes.py -k golden"
        want = path.read_text(encoding="utf-8")
        assert _normalise(got) == want, (
            f"{path.name} changed; if intended, run DIGEST_REGEN_GOLDEN=1 pytest tests/test_themes.py -k golden "
            "and review the diff")
