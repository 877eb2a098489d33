"""Hostile settings and arguments (issue 20 items 3, 4, 6, 8, 12): each is refused up front with one line
naming the key or argument, never a traceback at build or send time, and never a secret echoed."""

from __future__ import annotations

import io

import pytest

from digest.cli import Ctx, main
from digest.core.config import ConfigError, parse_config
from digest.core.paths import Paths
from digest.core.store import Store
from tests.helpers_smtp import config_toml, make_draft


def run(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def write_config(paths: Paths, text: str) -> None:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text, encoding="utf-8")


HEADER_INJECTIONS = [
    ("title", "T\r\nBcc: x@y.z"),
    ("from", "Digest <d@example.org>\r\nBcc: x@y.z"),
    ("reply_to", "r@example.org\nBcc: x@y.z"),
    ("unsubscribe_url", "https://example.org/u\r\nBcc: x@y.z"),
    ("unsubscribe_mailto", "u@example.org\rBcc: x@y.z"),
]


@pytest.mark.parametrize(("key", "value"), HEADER_INJECTIONS)
def test_line_breaks_in_header_settings_are_config_errors(digest_home: Paths, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"newsletter.{key} must be one line"):
        parse_config({"newsletter": {key: value}})
    toml_value = value.replace("\r", "\\r").replace("\n", "\\n")
    write_config(digest_home, f'[newsletter]\n{key} = "{toml_value}"\n')
    code, out, err = run(digest_home, "config", "check")
    assert code == 2 and out == ""
    assert err.startswith("digest: config error: ") and f"newsletter.{key}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = run(digest_home, "build")
    assert code == 2 and f"newsletter.{key}" in err and "Traceback" not in err


def test_each_to_entry_is_exactly_one_address(digest_home: Paths) -> None:
    with pytest.raises(ConfigError, match=r"newsletter.to\[1\] must be exactly one address.*2 addresses"):
        parse_config({"newsletter": {"to": ["ok@x.example", "a@x.example, evil@x.example"]}})
    with pytest.raises(ConfigError, match=r"newsletter.to\[0\] must be exactly one address.*no email"):
        parse_config({"newsletter": {"to": ["nobody"]}})
    with pytest.raises(ConfigError, match=r"newsletter.to\[0\] must be one line"):
        parse_config({"newsletter": {"to": ["a@x.example\r\nBcc: evil@x.example"]}})
    # a display name with a quoted comma is still one address
    cfg = parse_config({"newsletter": {"to": ['"Doe, Jane" <jane@x.example>', "b@x.example"]}})
    assert len(cfg.newsletter.to) == 2
    write_config(digest_home, config_toml(2525, ["a@x.example, evil@x.example"]))
    code, _, err = run(digest_home, "config", "check", "--smtp")
    assert code == 2 and "newsletter.to[0] must be exactly one address" in err
    code, _, err = run(digest_home, "send", "--dry-run")
    assert code == 2 and "newsletter.to[0]" in err


@pytest.mark.parametrize("theme", ["/etc", "../../etc", "a/b", "..", ".hidden", "x\\y"])
def test_theme_names_are_never_paths(digest_home: Paths, theme: str) -> None:
    write_config(digest_home, f"[newsletter]\ntheme = '{theme}'\n")
    code, out, err = run(digest_home, "config", "check")
    assert code == 2 and "newsletter.theme must be a theme's name" in err and "config ok" not in out


def test_config_check_names_a_missing_theme(digest_home: Paths) -> None:
    write_config(digest_home, "[newsletter]\ntheme = 'nosuch'\n")
    code, _, err = run(digest_home, "config", "check")
    assert code == 2 and "newsletter.theme: unknown theme 'nosuch' (available: " in err


def test_config_check_and_run_name_a_theme_that_extends_a_missing_one(digest_home: Paths) -> None:
    # config check follows the theme's `extends` as a build does, and `run` stops before its refresh
    theme = digest_home.user_themes_dir / "broken"
    theme.mkdir(parents=True)
    (theme / "theme.toml").write_text('extends = "nosuchparent"\n', encoding="utf-8")
    write_config(digest_home, "[newsletter]\ntheme = 'broken'\n")
    code, out, err = run(digest_home, "config", "check")
    assert code == 2 and "extends unknown theme 'nosuchparent'" in err and "config ok" not in out
    code, out, err = run(digest_home, "run")
    assert code == 2 and out == "" and "digest run: config error: " in err and "nosuchparent" in err, (out, err)
    assert "ThemeError" not in err and not digest_home.db_file.exists()


HUGE = "99999999999999999999"


@pytest.mark.parametrize("argv", [
    ["flag", HUGE], ["unflag", HUGE], ["feeds", "remove", HUGE], ["refresh", "--feed", HUGE],
    ["stories", "--limit", HUGE], ["stories", "--feed", HUGE], ["archive", "show", HUGE],
    ["archive", "open", "-" + HUGE],
])
def test_numbers_that_do_not_fit_the_store_are_usage_errors(store: Store, digest_home: Paths,
                                                             argv: list[str]) -> None:
    code, _, err = run(digest_home, *argv)
    assert code == 2, err
    assert "out of range" in err and "Traceback" not in err and "OverflowError" not in err


def test_largest_store_number_is_just_not_found(store: Store, digest_home: Paths) -> None:
    code, _, err = run(digest_home, "flag", str(2**63 - 1))
    assert code == 1 and "9223372036854775807" in err and "Traceback" not in err


def test_password_cmd_output_is_never_shown_or_logged(store: Store, digest_home: Paths) -> None:
    make_draft(store, 2)
    secret = "hunter2-secret-line"
    write_config(digest_home, config_toml(
        2525, ["a@example.net"], username="me",
        password_cmd=f"echo {secret}; echo {secret}-stderr >&2; exit 4"))
    code, out, err = run(digest_home, "config", "check", "--smtp")
    assert code == 2 and "smtp.password_cmd failed (exit 4)" in err
    assert secret not in out + err
    code, out, err = run(digest_home, "run")
    assert code == 2 and "smtp.password_cmd failed (exit 4)" in out + err
    assert secret not in out + err
    log = (digest_home.log_dir / "digest.log").read_text(encoding="utf-8")
    assert "smtp.password_cmd failed (exit 4)" in log and secret not in log
