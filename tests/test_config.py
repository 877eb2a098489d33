"""The TOML config: defaults, typed values, and an error naming the key for every bad value."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from digest.cli import main
from digest.core.config import SAMPLE_CONFIG, Config, ConfigError, config_as_dict, load_config, parse_config
from digest.core.paths import Paths, get_paths
from digest.core.store import Store

REPO = Path(__file__).resolve().parent.parent


def write(paths: Paths, text: str) -> Path:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text, encoding="utf-8")
    return paths.config_file


def test_defaults_without_a_file(digest_home: Paths) -> None:
    cfg = load_config(digest_home)
    assert cfg.source is None
    assert (cfg.refresh.concurrency, cfg.refresh.per_host, cfg.refresh.timeout_s, cfg.refresh.max_bytes) == (
        16, 2, 20.0, 10_000_000)
    assert cfg.smtp.security == "starttls" and cfg.newsletter.theme == "geekwire"
    assert cfg.section_names()[0] == "Top Stories"


def test_sample_config_is_valid_and_matches_defaults(digest_home: Paths) -> None:
    write(digest_home, SAMPLE_CONFIG)
    cfg = load_config(digest_home)
    assert cfg.source == digest_home.config_file
    assert cfg.section_names() == ["Top Stories", "Startups", "Engineering", "Jobs", "Events"]
    assert cfg.newsletter.from_ == "Digest <digest@example.com>"


def test_values_are_read(digest_home: Paths) -> None:
    write(digest_home, """
[newsletter]
title = "Seattle Tech Digest"
to = ["a@example.com", "b@example.com"]
[[sections]]
name = "Only"
max_auto = 2
kind = "jobs"
[refresh]
concurrency = 4
timeout_s = 5          # an int where a float is expected is fine
max_bytes = 1_000_000
[smtp]
host = "smtp.example.com"
security = "ssl"
port = 465
[keys]
flag = "f,space"
""")
    cfg = load_config(digest_home)
    assert cfg.newsletter.title == "Seattle Tech Digest" and cfg.newsletter.to == ["a@example.com", "b@example.com"]
    assert [(s.name, s.max_auto, s.kind) for s in cfg.sections] == [("Only", 2, "jobs")]
    assert cfg.refresh.timeout_s == 5.0 and isinstance(cfg.refresh.timeout_s, float)
    assert (cfg.smtp.security, cfg.smtp.port) == ("ssl", 465)
    assert cfg.keys == {"flag": "f,space"}
    assert config_as_dict(cfg)["newsletter"]["from"] == cfg.newsletter.from_


BAD = [
    ("[refresh]\nconcurrency = \"x\"", "refresh.concurrency"),
    ("[refresh]\nconcurrency = 0", "refresh.concurrency"),
    ("[refresh]\nconcurrency = true", "refresh.concurrency"),
    ("[refresh]\nconcurrency = 1.5", "refresh.concurrency"),
    ("[refresh]\nper_host = 1000", "refresh.per_host"),
    ("[refresh]\ntimeout_s = -1", "refresh.timeout_s"),
    ("[refresh]\nmax_bytes = 10", "refresh.max_bytes"),
    ("[refresh]\nfoo = 1", "refresh.foo"),
    ("[smtp]\nsecurity = \"tls\"", "smtp.security"),
    ("[smtp]\nport = 70000", "smtp.port"),
    ("[smtp]\nport = \"587\"", "smtp.port"),
    ("[smtp]\npassword = \"hunter2\"", "smtp.password"),
    ("[newsletter]\nto = \"a@example.com\"", "newsletter.to"),
    ("[newsletter]\nto = [1, 2]", "newsletter.to"),
    ("[newsletter]\ntheme = \"\"", "newsletter.theme"),
    ("[newsletter]\ntitel = \"typo\"", "newsletter.titel"),
    ("[select]\nsince_last_digest = \"yes\"", "select.since_last_digest"),
    ("[select]\nmax_age_hours = 0", "select.max_age_hours"),
    ("[bogus]\nx = 1", "unknown table [bogus]"),
    # a key above every table is no table
    ("theme = \"dark\"\n[newsletter]\ntitle = \"T\"", "unknown key theme outside a table"),
    ("refresh = 5", "refresh"),
    ("sections = []", "sections"),
    ("[[sections]]\nmax_auto = 2", "sections[0].name"),
    # which of the sections: a config has several
    ("[[sections]]\nname = \"A\"\n[[sections]]\nname = \"B\"\nkind = \"video\"", "sections[1].kind must be"),
    ("[[sections]]\nname = \"A\"\n[[sections]]\nname = \"B\"\nmax_auto = -1", "sections[1].max_auto must be"),
    ("[[sections]]\nname = \"A\"\nmax = 1", "unknown key sections[0].max"),
    ("[[sections]]\nname = \"A\"\n[[sections]]\nname = \"a\"", "sections[1].name 'a' repeats sections[0] ('A')"),
    ("[keys]\nflag = 1", "keys"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_values_name_the_key(digest_home: Paths, text: str, key: str) -> None:
    write(digest_home, text)
    with pytest.raises(ConfigError) as err:
        load_config(digest_home)
    msg = str(err.value)
    assert key in msg
    assert str(digest_home.config_file) in msg


def test_password_never_echoed(digest_home: Paths) -> None:
    write(digest_home, '[smtp]\npassword = "hunter2-secret"')
    with pytest.raises(ConfigError) as err:
        load_config(digest_home)
    assert "hunter2-secret" not in str(err.value)
    assert "password_env" in str(err.value)


def test_invalid_toml_names_the_file_and_line(digest_home: Paths) -> None:
    write(digest_home, "[refresh\nconcurrency = 2")
    with pytest.raises(ConfigError, match="config.toml"):
        load_config(digest_home)


def test_allowed_values_are_listed(digest_home: Paths) -> None:
    write(digest_home, '[smtp]\nsecurity = "tls"')
    with pytest.raises(ConfigError, match="starttls, ssl, none"):
        load_config(digest_home)


@pytest.mark.parametrize(("text", "key"), [
    ('[refresh]\nconcurrency = "x"', "refresh.concurrency"),
    ('[smtp]\nsecurity = "tls"', "smtp.security"),
    ("[refresh]\nwhatever = 1", "refresh.whatever"),
    ('[smtp]\npassword = "x"', "smtp.password"),
])
def test_config_check_exits_2_with_the_message(digest_home: Paths, capsys: pytest.CaptureFixture[str],
                                               text: str, key: str) -> None:
    write(digest_home, text)
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1


def test_every_command_reports_a_bad_config_the_same_way(digest_home: Paths, capsys) -> None:
    from digest.core.store import Store

    with Store(digest_home.db_file) as store:
        store.add_feed(str(digest_home.config_dir / "some.xml"))
    write(digest_home, '[refresh]\nconcurrency = "x"')
    assert main(["refresh"]) == 2
    assert "refresh.concurrency" in capsys.readouterr().err


def test_config_check_ok_and_path_and_show(digest_home: Paths, capsys) -> None:
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(digest_home.config_file)
    assert main(["config", "check"]) == 0
    assert "config ok" in capsys.readouterr().out
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    assert "[refresh]" in shown and "concurrency = 16" in shown


def test_config_show_is_valid_toml_that_loads_back(digest_home: Paths, capsys) -> None:
    """`config show` prints TOML; pasting it back as the config gives the same settings."""
    write(digest_home, '[newsletter]\ntitle = "T"\n[refresh]\nconcurrency = 3\n')
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    data = tomllib.loads(shown)
    assert config_as_dict(parse_config(data)) == config_as_dict(load_config(digest_home))
    assert set(data) >= {"newsletter", "refresh", "select", "articles", "smtp", "store"}  # every table shown


def test_config_init_writes_a_valid_file_once(digest_home: Paths, capsys) -> None:
    assert main(["config", "init"]) == 0
    assert isinstance(load_config(digest_home), Config) and load_config(digest_home).source
    assert main(["config", "init"]) == 1


def test_digest_home_moves_everything(tmp_path: Path) -> None:
    p = get_paths({"DIGEST_HOME": str(tmp_path / "h")})
    for d in (p.config_dir, p.data_dir, p.cache_dir, p.log_dir):
        assert d == (tmp_path / "h") or (tmp_path / "h") in d.parents
    assert p.db_file.parent == p.data_dir


def cron(paths: Paths, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m digest ...` as cron runs it: env -i, no terminal, DIGEST_HOME only (under DIGEST_HOME the
    config folder is DIGEST_HOME itself)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(paths.config_dir), "DIGEST_HOME": str(paths.config_dir)}
    return subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m", "digest",
                           *argv], cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_a_low_contrast_accent_is_a_warning_in_check_and_a_note_in_build(digest_home: Paths, store: Store) -> None:
    """#F5C518 (white on it: 1.63:1) is corrected by the build, so `config check` warns, in one line naming
    the setting, the colours and the ratios, and exits 0 (a cron job that checks first goes on); the
    build notes the same line and exits 0."""
    from helpers_smtp import make_draft

    write(digest_home, '[newsletter]\naccent_color = "#F5C518"\n')
    r = cron(digest_home, "config", "check")
    assert r.returncode == 0, r.stderr
    [warning] = r.stderr.splitlines()
    assert warning.startswith("digest: config warning: newsletter.accent_color #F5C518 has low contrast: ")
    assert "white text on it 1.63:1" in warning and "(WCAG AA asks 4.5:1)" in warning
    assert "#111111 text on it" in warning  # what the email uses instead
    assert r.stdout.strip() == f"config ok: {digest_home.config_file} (1 warning)"

    make_draft(store, 2)
    r = cron(digest_home, "build")
    assert r.returncode == 0, r.stderr
    assert f"note: {warning.removeprefix('digest: config warning: ')}" in r.stdout.splitlines()


@pytest.mark.parametrize("value", ["red", "#12345", "#F5C51G"])
def test_an_accent_that_is_not_a_colour_is_still_an_error(digest_home: Paths, store: Store, value: str) -> None:
    """What cannot be read is not used at all (the build falls back to the default and notes it): check
    keeps exit 2 for it, and names the setting and the value."""
    from helpers_smtp import make_draft

    write(digest_home, f'[newsletter]\naccent_color = "{value}"\n')
    r = cron(digest_home, "config", "check")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [f"digest: config: newsletter.accent_color {value!r} is not a #rrggbb colour; "
                                     "the default #BE4825 is used"]
    make_draft(store, 1)
    r = cron(digest_home, "build")
    assert r.returncode == 0 and f"note: newsletter.accent_color {value!r} is not a #rrggbb colour" in r.stdout
