"""digest.core.config_rules: [[rules]] written back into the user's config file with their comments and
layout kept, checked before writing (stale index, invalid result), and created where digest.core.paths
says when there is no file yet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from digest.core.config import load_config
from digest.core.config_rules import add_rule, delete_rule, replace_rule
from digest.core.configerror import ConfigError
from digest.core.paths import Paths

USER_FILE = """\
# my digest
[newsletter]
title = "Morning Brief"  # what the subject says

# noise I never want
[[rules]]
name = "ads"  # sponsored posts
action = "hide"
words = ["sponsored"]  # the tell

[keys]
flag = "f,space"  # as it was
"""


def test_no_file_yet_the_rule_creates_one_where_paths_say(digest_home: Paths) -> None:
    assert not digest_home.config_file.exists()
    config = add_rule(digest_home, {"action": "hide", "regex": r"\bpromo(ted)?\b"})
    text = digest_home.config_file.read_text(encoding="utf-8")
    assert text.startswith("# digest configuration")
    assert "regex = '\\bpromo(ted)?\\b'" in text  # a literal string: the backslashes as typed
    assert [r.regex for r in config.rules] == [r"\bpromo(ted)?\b"]
    assert load_config(digest_home).rules == config.rules


def test_adding_editing_and_deleting_keep_the_users_comments_and_layout(digest_home: Paths) -> None:
    digest_home.config_file.write_text(USER_FILE, encoding="utf-8")
    config = add_rule(digest_home, {"action": "boost", "boost": 3, "fields": ["title"], "words": ["rust"]})
    text = digest_home.config_file.read_text(encoding="utf-8")
    assert text.startswith(USER_FILE.split("[keys]")[0])  # everything before [keys] untouched
    assert text.endswith('[keys]\nflag = "f,space"  # as it was\n')
    assert [r.action for r in config.rules] == ["hide", "boost"]
    assert config.newsletter.title == "Morning Brief" and config.keys == {"flag": "f,space"}

    config = replace_rule(digest_home, 0, config.rules[0], {"name": "ads", "action": "hide",
                                                          "words": ["sponsored", "advertorial"]})
    text = digest_home.config_file.read_text(encoding="utf-8")
    assert 'name = "ads"  # sponsored posts' in text  # an unchanged line keeps its comment
    assert config.rules[0].words == ("sponsored", "advertorial")
    assert "# noise I never want" in text and "# what the subject says" in text

    config = delete_rule(digest_home, 1, config.rules[1])
    assert [r.label() for r in config.rules] == ["ads"]
    assert "rust" not in digest_home.config_file.read_text(encoding="utf-8")
    # the delete undone: back at its index
    config = add_rule(digest_home, {"action": "boost", "boost": 3, "fields": ["title"], "words": ["rust"]}, at=0)
    assert [r.action for r in config.rules] == ["boost", "hide"]


def test_an_edit_that_would_break_the_config_writes_nothing(digest_home: Paths) -> None:
    digest_home.config_file.write_text(USER_FILE, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml: nothing written: rules\[1\]\.regex: "):
        add_rule(digest_home, {"action": "hide", "regex": "(unclosed"})
    assert digest_home.config_file.read_text(encoding="utf-8") == USER_FILE


def test_a_rule_changed_on_disk_meanwhile_is_not_overwritten(digest_home: Paths) -> None:
    digest_home.config_file.write_text(USER_FILE, encoding="utf-8")
    seen = load_config(digest_home).rules[0]
    changed = USER_FILE.replace('words = ["sponsored"]', 'words = ["promoted"]')
    digest_home.config_file.write_text(changed, encoding="utf-8")
    with pytest.raises(ConfigError, match="changed on disk"):
        replace_rule(digest_home, 0, seen, {"action": "keep", "words": ["x"]})
    with pytest.raises(ConfigError, match="changed on disk"):
        delete_rule(digest_home, 3, seen)
    assert digest_home.config_file.read_text(encoding="utf-8") == changed


def test_a_config_that_cannot_be_written_is_one_line_naming_the_file(digest_home: Paths, tmp_path: Path) -> None:
    # a regular file where the config folder should be: no write can succeed, root or not
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("", encoding="utf-8")
    paths = dataclasses.replace(digest_home, config_dir=blocked)
    with pytest.raises(ConfigError) as e:
        add_rule(paths, {"action": "hide", "words": ["x"]})
    assert str(e.value).startswith(f"{paths.config_file}: cannot write: ") and "\n" not in str(e.value)
    assert blocked.read_text(encoding="utf-8") == ""


def test_an_inline_rules_array_stays_inline(digest_home: Paths) -> None:
    digest_home.config_file.write_text('rules = [{action = "hide", words = ["x"]}]\n', encoding="utf-8")
    config = add_rule(digest_home, {"action": "keep", "words": ["y"]})
    assert [r.action for r in config.rules] == ["hide", "keep"]
    assert digest_home.config_file.read_text(encoding="utf-8").count("\n") == 1
