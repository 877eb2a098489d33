"""Every CSS property, HTML element and attribute each theme's built HTML uses, checked against caniemail.com's
support data (the npm package caniemail, vendored as a subset in themes/_support/ with its MIT licence)
for Gmail (web, iOS, Android), Outlook (Windows, Outlook.com, macOS), Apple Mail (macOS, iOS) and Yahoo.
A feature one of them lacks must be in themes/_support/allowlist.toml with its fallback and reason."""

from __future__ import annotations

import json

import pytest
from helpers_digest import NOW, load_golden, make_config, make_paths

from digest.cli import main
from digest.core.build import build_digest
from digest.core.clientsupport import CLIENTS, check, load_allowlist, load_data, scan
from digest.core.store import Store

THEMES = ["geekwire", "minimal", "plain"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, str]:
    out = {}
    for theme in THEMES:
        paths = make_paths(tmp_path_factory.mktemp(theme))
        cfg = make_config()
        with Store(paths.db_file) as store:
            load_golden(store, cfg)
            out[theme] = build_digest(store, cfg, paths, theme=theme, now=NOW).html_path.read_text(encoding="utf-8")
    return out


def test_the_vendored_data_covers_every_client():
    data = load_data()
    assert len(data) > 250
    for slug in ("css-max-width", "css-border-radius", "html-style", "css-at-media-prefers-color-scheme"):
        assert set(data[slug]["support"]) == set(CLIENTS.values()), slug  # type: ignore[arg-type]
    # the facts the review relied on, as the data states them
    assert data["css-border-radius"]["support"]["Outlook Windows"].startswith("n")  # type: ignore[index]
    assert data["css-at-media-prefers-color-scheme"]["support"]["Gmail web"] == "n"  # type: ignore[index]


@pytest.mark.parametrize("theme", THEMES)
def test_every_feature_is_supported_or_has_a_documented_fallback(built, theme):
    problems, allowed, unknown = check(built[theme])
    assert not problems, f"{theme}:\n" + "\n".join(f.line() for f in problems)
    assert not unknown, f"{theme}: features neither in the data nor listed: {unknown}"
    used = scan(built[theme], set(load_data())).slugs
    # the check really looked: the layout's basics are there, and some needed their fallback
    assert {"html-table", "css-padding", "html-style", "css-at-media"} <= set(used)
    assert {"css-at-media", "css-padding"} <= {f.slug for f in allowed}


def test_every_allowlist_entry_is_used_and_explained(built):
    allow = load_allowlist()
    used = set().union(*(scan(html, set(load_data())).slugs for html in built.values()))
    for slug, entry in allow.items():
        assert slug in used, f"allowlist entry {slug} is used by no theme: remove it"
        assert str(entry.get("fallback", "")).strip() and str(entry.get("reason", "")).strip(), slug
        assert set(entry.get("clients", [])) <= set(CLIENTS.values()), slug  # type: ignore[arg-type]


def test_an_unsupported_feature_is_named_with_its_clients():
    html = ('<!doctype html><html><head><style>.a{display:flex}</style></head><body>'
            '<div style="position:absolute;background-image:url(https://x.example/a.png)">x</div>'
            '<svg></svg><picture></picture></body></html>')
    problems, _, _ = check(html)
    by_slug = {f.slug: f for f in problems}
    assert {"css-position", "html-svg", "html-picture", "css-background-image"} <= set(by_slug), sorted(by_slug)
    assert "Gmail web" in by_slug["html-svg"].clients and "Outlook Windows" in by_slug["css-position"].clients
    assert "<div> position" in by_slug["css-position"].line()


def test_a_client_newly_failing_a_listed_feature_is_reported(built):
    allow = load_allowlist()
    allow["css-padding"] = dict(allow["css-padding"], clients=[])  # as if the data gained a new gap
    problems, _, _ = check(built["geekwire"], allow=allow)
    assert [f.slug for f in problems] == ["css-padding"]
    assert "Outlook Windows" in problems[0].line()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_themes_check_passes_builtins_and_fails_a_user_theme_with_svg(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    code, out, err = _run(capsys, "themes", "check", "geekwire")
    assert code == 0, out + err
    assert "theme geekwire ok: 0 unsupported feature(s), 0 unknown" in out
    paths = make_paths(tmp_path)
    mine = paths.user_themes_dir / "mine"
    mine.mkdir(parents=True)
    (mine / "theme.toml").write_text('extends = "geekwire"\n', encoding="utf-8")
    (mine / "email.html.j2").write_text(
        '{% extends "geekwire/email.html.j2" %}{% block footer %}<tr><td><svg width="10" height="10"></svg>'
        '<div style="display:flex">x</div></td></tr>{% endblock %}', encoding="utf-8")
    code, out, err = _run(capsys, "themes", "check", "mine", "--json")
    assert code == 1, out + err
    report = json.loads(out)
    assert any(p.startswith("html-svg") for p in report["problems"]), report["problems"]
    assert any(p.startswith("css-display") for p in report["problems"]) is False  # display is allowlisted


def test_config_check_names_a_low_contrast_accent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "home"))
    paths = make_paths(tmp_path)
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('[newsletter]\naccent_color = "#F5C518"\n', encoding="utf-8")
    code, out, err = _run(capsys, "config", "check")
    assert code == 0  # a warning: the build corrects it (tests/test_config.py runs it as cron does)
    assert "newsletter.accent_color #F5C518 has low contrast: white text on it 1.63:1" in err
