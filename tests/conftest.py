"""Shared fixtures. Kept generic: every test module (core, TUI, mail, render) sees these.

The one autouse fixture points DIGEST_HOME at the test's tmp_path, so no test ever reads or writes the
developer's real config, store or archive.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `from feedserver import ...` in any test module

from feedserver import FeedServer  # noqa: E402

from digest.core.paths import Paths, get_paths  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FEEDS = REPO / "sample_feeds"


@pytest.fixture(autouse=True)
def _isolated_digest_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path))


@pytest.fixture
def digest_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """DIGEST_HOME = tmp_path; returns the Paths every part of digest will use (folders created)."""
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path))
    return get_paths().ensure()


@pytest.fixture
def store(digest_home: Paths) -> Iterator:
    """A real SQLite store file in the test's DIGEST_HOME."""
    from digest.core.store import Store

    s = Store(digest_home.db_file)
    yield s
    s.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A real threaded HTTP server on 127.0.0.1; set routes with .feed/.redirect/.route, read .requests."""
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def fast_config():
    """Defaults, with short timeouts so failure cases finish quickly."""
    from digest.core.config import Config, RefreshConfig

    return Config(refresh=RefreshConfig(timeout_s=2.0))


@pytest.fixture
def sample_feeds_dir() -> Path:
    return SAMPLE_FEEDS
