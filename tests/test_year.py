"""A year of cron (issue 16): one `digest run` a simulated day for 365 days, retention at its defaults.

The world (tests/yearsim.py) is 300 generated feeds on 127.0.0.1 that post daily, die, move with 301, answer
410, reuse guids and republish old items, and an SMTP server on 127.0.0.1 that files every message. The
clock is injected (digest.core.clock), never slept on. Checked: the store levels off, nothing is sent
twice, no pruned story comes back as new, `digest store check` passes every 30 days, and every story a
person flagged or an issue carried is still there at the end.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers_smtp import recipients
from yearsim import WorldProcess, Year, config_toml, run_year

from digest.cli import Ctx, main
from digest.core.paths import Paths
from digest.core.store import Store

pytestmark = pytest.mark.slow

DAYS = 365
STORY_LINK = re.compile(r"https://site\d+\.sim\.example/p/\d+\b")


def store_check(paths: Paths) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["store", "check"], ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue() + err.getvalue()


def test_a_year_of_daily_runs(digest_home: Paths, tmp_path: Path) -> None:
    with WorldProcess(tmp_path, n_feeds=300) as world:
        (tmp_path / "config.toml").write_text(config_toml(world.smtp_port))

        def every_day(day: int, year: Year) -> None:
            if day % 30 == 29:
                year.checks.append((day, *store_check(digest_home)))

        year = run_year(tmp_path, world, DAYS, every_day=every_day)
        messages = world.messages()

    bad = [d for d in year.days if d.code not in (0, 3)]
    assert not bad, f"runs that failed: {[(d.day, d.line) for d in bad[:5]]}"
    assert sum(d.code == 0 for d in year.days) > DAYS * 0.9  # almost every day has news to send

    # the store levels off: day 365 within 20% of day 200 (main file + WAL)
    size = {d.day: d.db_bytes + d.wal_bytes for d in year.days}
    assert abs(size[DAYS - 1] - size[199]) <= 0.2 * size[199], (size[199], size[DAYS - 1])
    stories = {d.day: d.stories for d in year.days}
    assert abs(stories[DAYS - 1] - stories[199]) <= 0.2 * stories[199], (stories[199], stories[DAYS - 1])
    assert len(year.pruned) > stories[DAYS - 1]  # retention did remove most of what the year brought

    # no pruned story came back as new
    assert not year.returned, sorted(year.returned)[:5]

    # nothing sent twice: each story link goes out in one issue only, to each recipient once
    per_rcpt: dict[str, Counter[str]] = {}
    for rcpt, raw in messages:
        # the decoded parts: quoted-printable may break a link across lines in the raw bytes
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = "".join(part.get_content() for part in msg.walk() if part.get_content_type() == "text/plain")
        per_rcpt.setdefault(rcpt, Counter()).update(set(STORY_LINK.findall(text)))
    assert set(per_rcpt) == set(recipients(2))
    for rcpt, links in per_rcpt.items():
        twice = [link for link, n in links.items() if n > 1]
        assert not twice, f"{rcpt} got these stories in more than one issue: {twice[:5]}"
    assert len(messages) == 2 * sum(d.code == 0 for d in year.days)

    # `digest store check` passed every 30 days
    assert len(year.checks) == DAYS // 30
    assert all(code == 0 for _, code, _ in year.checks), [c for c in year.checks if c[1] != 0]

    # every story a person flagged, and every story an issue carried, is still stored
    assert year.flagged and year.issued >= year.flagged
    with Store(digest_home.db_file) as store:
        have = {r[0] for r in store.db.execute("SELECT id FROM stories")}
    assert year.flagged <= have and year.issued <= have
