"""Writing [[rules]] back into the user's config file (the TUI's rules screen), keeping everything else of
the file as the user wrote it: comments, blank lines, key order, the other tables. tomlkit parses and
re-emits TOML losslessly, where tomllib can only read; an edited rule keeps the comments of the lines whose
values did not change.

Every edit is checked before anything is written: the file must still hold, at the index being edited, the
rule the caller saw (another editor may have changed it since the app loaded it), and the whole edited file
must parse as a valid config. The write is atomic (fsutil.atomic_write), so a failure loses nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.core.configerror import ConfigError
from digest.core.paths import Paths
from digest.core.rulespec import Rule, parse_rules

if TYPE_CHECKING:
    from digest.core.config import Config

# the start of a config file the rules screen creates (there was none): what it is
NEW_FILE_HEADER = ("# digest configuration, started by the TUI's rules screen. Every key is optional;\n"
                   "# `digest config show` prints the values in force.\n\n")


def add_rule(paths: Paths, table: dict[str, Any], *, at: int | None = None) -> Config:
    """Append the rule (or put it at index `at`: an undone delete goes back where it was); returns the
    config as reloaded from the file."""

    def edit(rules: Any) -> None:
        # `rules = [{...}]` written inline stays inline: a [[rules]] table cannot go into that array
        item = dict(table) if _inline(rules) else _table(table)
        rules.insert(len(rules) if at is None else at, item)

    return _edit(paths, edit, None, None)


def replace_rule(paths: Paths, index: int, old: Rule, table: dict[str, Any]) -> Config:
    """Rule `index` (which must still be `old`) becomes `table`: keys whose values did not change keep their
    lines and comments."""

    def edit(rules: Any) -> None:
        current = rules[index]
        for key in [k for k in current if k not in table]:
            del current[key]
        for key, value in table.items():
            if current.get(key) != value:
                current[key] = _value(key, value)

    return _edit(paths, edit, index, old)


def delete_rule(paths: Paths, index: int, old: Rule) -> Config:
    def edit(rules: Any) -> None:
        del rules[index]

    return _edit(paths, edit, index, old)


def _edit(paths: Paths, change: Any, index: int | None, old: Rule | None) -> Config:
    import tomlkit  # here: only the rules screen writes the config (~15 ms to import)
    from tomlkit.exceptions import TOMLKitError

    from digest.core.config import load_config, parse_config

    path: Path = paths.config_file
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else NEW_FILE_HEADER
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as e:
        raise ConfigError(f"{path}: {e}") from None
    if "rules" not in doc:
        doc.append("rules", tomlkit.aot())
    rules: Any = doc["rules"]
    if not isinstance(rules, list):  # AoT and Array are lists
        raise ConfigError(f"{path}: rules: must be an array of tables ([[rules]]), got {rules!r}")
    if index is not None:
        try:
            current = parse_rules(doc.unwrap()["rules"])
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        if index >= len(current) or current[index] != old:
            raise ConfigError(f"{path}: its rules changed on disk since digest read them; nothing written "
                              f"(restart digest to load them)")
    change(rules)
    if not rules:
        del doc["rules"]  # no empty `rules = []` left behind by deleting the last rule
    new_text = tomlkit.dumps(doc)
    try:
        parse_config(doc.unwrap(), path)
    except ConfigError as e:
        raise ConfigError(f"{path}: nothing written: {e}") from None
    from digest.core.fsutil import atomic_write

    try:
        atomic_write(path, new_text)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror or e}") from None
    return load_config(paths)


def _inline(rules: Any) -> bool:
    from tomlkit.items import AoT

    return not isinstance(rules, AoT)


def _table(data: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key, value in data.items():
        table[key] = _value(key, value)
    table.add(tomlkit.nl())  # a blank line before whatever table follows, as a person would write it
    return table


def _value(key: str, value: Any) -> Any:
    """A regex as a TOML literal string ('\\bad\\b' rather than "\\\\bad\\\\b") when it can be one."""
    import tomlkit

    if key == "regex" and isinstance(value, str) and "'" not in value and "\n" not in value:
        return tomlkit.string(value, literal=True)
    return value
