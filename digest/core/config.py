"""The TOML config: typed, with defaults, and errors that name the key and what is allowed."""

from __future__ import annotations

import re
from dataclasses import field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.core.configerror import ConfigError
from digest.core.paths import Paths
from digest.core.record import record

if TYPE_CHECKING:
    from digest.core.rulespec import Rule


@record
class NewsletterConfig:
    """[newsletter]: the digest's name, sender, postal address and look."""

    title: str = "My Tech Digest"
    tagline: str = "The stories worth your time, picked by hand"
    from_: str = "Digest <digest@localhost>"
    to: list[str] = field(default_factory=list)
    reply_to: str = ""
    postal_address: str = ""  # required for sending (CAN-SPAM); building works without it
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""
    preferences_url: str = ""  # "Manage preferences" in the footer (a page of your list provider), when set
    tips_email: str = ""
    web_url: str = ""
    theme: str = "geekwire"
    accent_color: str = "#BE4825"
    sponsor_name: str = ""
    sponsor_url: str = ""
    sponsor_text: str = ""


@record
class SectionConfig:
    """One [[sections]] entry: a section of the digest and how many stories it takes on its own."""

    name: str
    max_auto: int = 5
    kind: str = "stories"  # stories | jobs | events (how a theme lays the section out)


@record
class RefreshConfig:
    """[refresh]: how feeds are fetched (concurrency, timeouts, the size limit)."""

    concurrency: int = 16
    per_host: int = 2
    timeout_s: float = 20.0
    max_bytes: int = 10_000_000
    user_agent: str = ""


@record
class SelectConfig:
    """[select]: the rules that pick a digest's stories when none are flagged."""

    since_last_digest: bool = True
    max_age_hours: int = 72
    include_keywords: list[str] = field(default_factory=list)
    exclude_keywords: list[str] = field(default_factory=list)
    # Ads ("Sponsored: ...", "[Sponsor]", ad-network links) are never picked nor Trending (digest.core.ads).
    skip_ads: bool = True
    # At most this many stories of one feed in an automatic selection, so one noisy feed cannot fill the
    # issue (0: no cap).
    max_per_feed: int = 2


@record
class ArticlesConfig:
    """The page behind a story (digest.core.articles)."""

    # Before a build, fetch the article of flagged stories that have no picture or only a teaser.
    at_build: bool = True
    # Links come from feed authors: loopback, private and link-local addresses are refused unless this is
    # set (or the story's own feed is on such a host).
    allow_private: bool = False


@record
class SmtpConfig:
    """[smtp]: the mail server a digest is sent through, and how to log in to it."""

    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password_env: str = "DIGEST_SMTP_PASSWORD"
    password_cmd: str = ""
    rate_per_s: float = 0.0  # 0 = no limit
    timeout_s: float = 30.0


@record
class StoreConfig:
    """Retention (digest.core.store.retention): how long a story is kept after digest first saw it.
    Flagged stories, stories in a draft or an issued digest, stories a `keep` rule matches ([[rules]]) and
    each feed's newest keep_min_per_feed are never removed; 0 days keeps every story."""

    keep_days: int = 90  # read stories
    keep_unread_days: int = 180
    keep_min_per_feed: int = 20


@record
class Config:
    """The whole config file, each table as its own part."""

    newsletter: NewsletterConfig = field(default_factory=NewsletterConfig)
    sections: list[SectionConfig] = field(default_factory=list)
    refresh: RefreshConfig = field(default_factory=RefreshConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    articles: ArticlesConfig = field(default_factory=ArticlesConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s), for the TUI
    rules: list[Rule] = field(default_factory=list)  # [[rules]]: digest.core.rules
    source: Path | None = None

    def __post_init__(self) -> None:
        if not self.sections:
            self.sections = default_sections()

    def section_names(self) -> list[str]:
        return [s.name for s in self.sections]

    def section(self, name: str) -> SectionConfig | None:
        for s in self.sections:
            if s.name.casefold() == name.casefold():
                return s
        return None


def default_sections() -> list[SectionConfig]:
    return [
        SectionConfig("Top Stories", 5),
        SectionConfig("Startups", 4),
        SectionConfig("Engineering", 3),
        SectionConfig("Jobs", 6, "jobs"),
        SectionConfig("Events", 5, "events"),
    ]


# (min, max) for numbers, a tuple of choices for strings. Sources: SMTP ports are 16-bit; 256 concurrent
# connections is far past what one machine's feed list needs; the rest are sanity limits.
_LIMITS: dict[str, Any] = {
    "refresh.concurrency": (1, 256),
    "refresh.per_host": (1, 64),
    "refresh.timeout_s": (1, 600),
    "refresh.max_bytes": (10_000, 1_000_000_000),
    "smtp.port": (1, 65535),
    "smtp.security": ("starttls", "ssl", "none"),
    "smtp.rate_per_s": (0, 10_000),
    "smtp.timeout_s": (1, 600),
    "select.max_age_hours": (1, 24 * 365),
    "select.max_per_feed": (0, 500),
    "sections.max_auto": (0, 500),
    "sections.kind": ("stories", "jobs", "events"),
    "store.keep_days": (0, 100 * 365),
    "store.keep_unread_days": (0, 100 * 365),
    "store.keep_min_per_feed": (0, 100_000),
}

SECRET_KEYS = {"password"}


def _check(where: str, key: str, value: Any, default: Any, label: str | None = None) -> Any:
    """`where` finds the key's limits; `label` (sections[2]) names the table in the message."""
    limit = _LIMITS.get(f"{where}.{key}" if where else key)
    name = f"{label or where}.{key}" if (label or where) else key
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings, got {value!r}")
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{name} must be {_type_name(expected)}, got {value!r}")
    if isinstance(limit, tuple) and limit and isinstance(limit[0], str):
        if value not in limit:
            raise ConfigError(f"{name} must be one of {', '.join(limit)}, got {value!r}")
    elif isinstance(limit, tuple) and not (limit[0] <= value <= limit[1]):
        raise ConfigError(f"{name} must be from {limit[0]} to {limit[1]}, got {value!r}")
    return value


def _type_name(t: type) -> str:
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}.get(
        t, t.__name__
    )


def _fill(obj: Any, data: Any, where: str, label: str | None = None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{where}] must be a table, got {data!r}")
    known = {f.name.rstrip("_"): f for f in fields(obj)}
    for key, value in data.items():
        if key == "password" and where == "smtp":
            raise ConfigError("smtp.password is not allowed: put the password in the environment "
                              "variable named by smtp.password_env, or use smtp.password_cmd")
        f = known.get(key)
        if f is None:
            raise ConfigError(f"unknown key {label or where}.{key} (known: {', '.join(sorted(known))})")
        setattr(obj, f.name, _check(where, key, value, getattr(obj, f.name), label))
    return obj


def parse_config(data: dict[str, Any], source: Path | None = None) -> Config:
    cfg = Config(source=source)
    for key, value in data.items():
        if key in ("newsletter", "refresh", "select", "smtp", "articles", "store"):
            _fill(getattr(cfg, key), value, key)
        elif key == "sections":
            if not isinstance(value, list) or not value:
                raise ConfigError("sections must be a non-empty array of tables ([[sections]])")
            sections = []
            for i, raw in enumerate(value):
                if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
                    raise ConfigError(f"sections[{i}].name must be a non-empty string")
                sec = SectionConfig(raw["name"].strip())
                _fill(sec, {k: v for k, v in raw.items() if k != "name"}, "sections", f"sections[{i}]")
                sections.append(sec)
            first: dict[str, int] = {}
            for i, sec in enumerate(sections):
                j = first.setdefault(sec.name.casefold(), i)
                if j != i:
                    raise ConfigError(f"sections[{i}].name {sec.name!r} repeats sections[{j}] "
                                      f"({sections[j].name!r}): each section once")
            cfg.sections = sections
        elif key == "keys":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError("[keys] must map binding ids to key names, e.g. flag = \"f,space\"")
            cfg.keys = dict(value)
        elif key == "rules":
            # here: the rules' module (with hashlib and unicodedata, ~4 ms) loads for a config that has rules,
            # not at every command's start (a refresh from cron)
            from digest.core.rulespec import parse_rules

            cfg.rules = parse_rules(value)
        else:
            # a key outside every table (`theme = "x"` above [newsletter]) is not a table: say what it is
            what = f"unknown table [{key}]" if isinstance(value, dict | list) else f"unknown key {key} outside a table"
            raise ConfigError(
                f"{what} (known tables: newsletter, sections, refresh, select, articles, smtp, store, keys, rules)"
            )
    check_newsletter(cfg.newsletter)
    return cfg


# Settings that end up in a mail header (Subject, From, To, Reply-To, List-Unsubscribe): a line break in
# one would add a header of the config's choosing ("Bcc:"), and the email package refuses it at build
# time with a traceback, so they are refused here, where the key can be named.
HEADER_KEYS = ("title", "from_", "reply_to", "unsubscribe_url", "unsubscribe_mailto")
# C0 controls and DEL, but not tab: none belongs in a one-line setting.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A theme is a folder name among the themes, never a path: "/etc" or "../x" would load templates from
# anywhere on disk.
_THEME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_newsletter(nl: NewsletterConfig) -> None:
    """The newsletter settings that would fail (or be abused) later, refused now with the key named."""
    for key in HEADER_KEYS:
        value = getattr(nl, key)
        if _CONTROL.search(value):
            raise ConfigError(f"newsletter.{key.rstrip('_')} must be one line without control characters "
                              f"(it goes into a mail header), got {value!r}")
    if nl.to:
        # here, not at the top: email.utils (socket, random, calendar, email.charset...) cost every
        # command's start ~7 ms, a refresh from cron included, for a config that lists recipients
        from email.utils import getaddresses
    for i, entry in enumerate(nl.to):
        if _CONTROL.search(entry):
            raise ConfigError(f"newsletter.to[{i}] must be one line without control characters, got {entry!r}")
        found = [addr for _, addr in getaddresses([entry]) if addr]
        if len(found) != 1 or "@" not in found[0]:
            what = f"{len(found)} addresses" if len(found) > 1 else "no email address"
            raise ConfigError(f"newsletter.to[{i}] must be exactly one address (one list entry each), "
                              f"got {what} in {entry!r}")
    theme = nl.theme
    if not theme.strip():
        raise ConfigError("newsletter.theme must name a theme")
    if not _THEME_NAME.fullmatch(theme) or ".." in theme:
        raise ConfigError(f"newsletter.theme must be a theme's name (letters, digits, '.', '-', '_'), not a path: "
                          f"got {theme!r}")


def load_config(paths: Paths) -> Config:
    path = paths.config_file
    if not path.exists():
        return Config(source=None)
    import tomllib  # here: ~4 ms to import, for a file that may not exist

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    try:
        return parse_config(data, path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


SAMPLE_CONFIG = """\
# digest configuration. Every key is optional; `digest config show` prints the values in force.

[newsletter]
title = "My Tech Digest"
tagline = "The stories worth your time, picked by hand"
from = "Digest <digest@example.com>"
to = []   # who gets it: ["you@example.com", "Ann <ann@example.org>"], and/or `digest subscribers add`
# postal_address = "123 Example St, Seattle, WA 98101"   # required for sending (CAN-SPAM)
# unsubscribe_url = "https://example.com/unsubscribe"   # List-Unsubscribe + footer link
theme = "geekwire"

[[sections]]
name = "Top Stories"
max_auto = 5

[[sections]]
name = "Startups"
max_auto = 4

[[sections]]
name = "Engineering"
max_auto = 3

[[sections]]
name = "Jobs"
kind = "jobs"
max_auto = 6

[[sections]]
name = "Events"
kind = "events"
max_auto = 5

[refresh]
concurrency = 16
per_host = 2
timeout_s = 20
max_bytes = 10_000_000

[select]
since_last_digest = true
include_keywords = []
exclude_keywords = []
skip_ads = true              # ads are never auto-selected nor Trending
max_per_feed = 2             # at most this many stories of one feed in an automatic selection

[articles]
at_build = true              # fetch the page behind flagged teaser / picture-less stories at build
allow_private = false        # article links to loopback / private addresses are refused

[store]
keep_days = 90            # read stories, counted from when digest first saw them (0 = keep all)
keep_unread_days = 180    # unread stories
keep_min_per_feed = 20    # each feed's newest stories stay whatever their age

# [smtp]
# host = "smtp.example.com"
# port = 587
# security = "starttls"      # starttls | ssl | none
# username = "me@example.com"
# password_env = "DIGEST_SMTP_PASSWORD"   # or password_cmd = "pass show smtp"
"""


def config_as_dict(cfg: Config) -> dict[str, Any]:
    """What `digest config show` prints; secrets are never part of the config, so nothing to mask."""

    def table(obj: Any) -> dict[str, Any]:
        return {f.name.rstrip("_"): getattr(obj, f.name) for f in fields(obj)}

    return {
        "newsletter": table(cfg.newsletter),
        "sections": [table(s) for s in cfg.sections],
        "refresh": table(cfg.refresh),
        "select": table(cfg.select),
        "articles": table(cfg.articles),
        "smtp": table(cfg.smtp),
        "store": table(cfg.store),
        "keys": dict(cfg.keys),
        "rules": [r.to_toml_table() for r in cfg.rules],
    }
