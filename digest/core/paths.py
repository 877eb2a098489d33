"""Every file location comes from here.

platformdirs picks the usual per-user folders; DIGEST_HOME moves all of them into one folder, which
tests, cron jobs and portable installs rely on (tests never touch the developer's real config).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP = "digest"


@dataclass(frozen=True, slots=True)
class Paths:
    """Where digest keeps its files: the config, the data (the store, archives), the cache and the logs."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "digest.db"

    @property
    def user_themes_dir(self) -> Path:
        return self.config_dir / "themes"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "out"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "run.lock"

    def ensure(self) -> Paths:
        """Make the folders; the data, cache and log folders owner-only (they hold recipients' addresses
        and the issues sent), tightened if an older digest made them open to others."""
        from digest.core.fsutil import private_dir, tighten_tree

        self.config_dir.mkdir(parents=True, exist_ok=True)
        for d in (self.data_dir, self.cache_dir, self.log_dir):
            private_dir(d)
        tighten_tree(self.archive_dir)
        tighten_tree(self.output_dir)
        return self


def get_paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("DIGEST_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(root, root / "data", root / "cache", root / "logs")
    import platformdirs  # deferred: only needed without DIGEST_HOME

    return Paths(
        Path(platformdirs.user_config_dir(APP)),
        Path(platformdirs.user_data_dir(APP)),
        Path(platformdirs.user_cache_dir(APP)),
        Path(platformdirs.user_log_dir(APP)),
    )


def _resource_dir(name: str) -> Path:
    """themes/ and sample_feeds/: inside the wheel (digest/_data) or at the top of a checkout."""
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg / "_data" / name, pkg.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}/ is missing from this installation (looked in {pkg / '_data'})")


def builtin_themes_dir() -> Path:
    return _resource_dir("themes")


def sample_feeds_dir() -> Path:
    return _resource_dir("sample_feeds")
