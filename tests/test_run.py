"""`digest run` the way cron runs it: a subprocess under `env -i`, no terminal, a real SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers_smtp import Recorder, config_toml, make_draft, recipients, smtp_server, wait_for
from helpers_tui import wait_for as tui_wait_for

from digest.core import mail
from digest.core.lock import RunLock
from digest.core.paths import Paths
from digest.core.run import run_once
from digest.core.store import Store

REPO = Path(__file__).resolve().parent.parent


def bare_env(home: Path, *, digest_home: bool = True) -> dict[str, str]:
    """What `env -i PATH=/usr/bin:/bin HOME=...` leaves a job: no TERM, no LANG, no DIGEST_* but ours."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    if digest_home:
        env["DIGEST_HOME"] = str(home)
    return env


def start_run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    # cwd = the checkout so `-m digest` resolves without an install; the absolute interpreter path is
    # what `digest cron` prints
    return subprocess.Popen(["env", "-i", *[f"{k}={v}" for k, v in (env or bare_env(home)).items()],
                             sys.executable, "-m", "digest", "run", *args],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # no controlling terminal


def digest_run(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
               ) -> tuple[int, str, str]:
    proc = start_run(home, *args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def digest_cli(home: Path, *args: str) -> tuple[int, str, str]:
    """Any digest command as cron would run it (bare environment, no terminal): exit code, stdout, stderr."""
    proc = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in bare_env(home).items()],
                           sys.executable, "-m", "digest", *args],
                          cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                          start_new_session=True)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def add_fresh_stories(store: Store, n: int) -> list[int]:
    """n stories in a feed of their own (disabled, so no refresh touches it), dated ahead of everything
    else so they head the TUI's story list; their ids newest first, the list's order."""
    from digest.core.models import ParsedStory

    feed = store.add_feed("http://127.0.0.1:9/fresh.xml", title="Fresh Feed", section="Startups")
    store.update_feed(feed.id, disabled=True)
    top = time.time() + 3600
    store.save_stories(feed.id, [
        ParsedStory(guid=f"fresh-{i}", link=f"https://fresh.example/{i}", canonical_link=f"https://fresh.example/{i}",
                    title=f"Fresh headline {i}", summary="New.", published_at=top - i)
        for i in range(n)
    ])
    return [s.id for s in sorted(store.stories(), key=lambda s: -s.published_at) if s.guid.startswith("fresh-")]


async def list_shows(pilot: Any, app: Any, count: int) -> None:
    """Wait until the story list holds at least count ids (it pages its rows in from SQLite) and has focus."""
    from digest.tui.widgets.story_list import StoryList

    def shown() -> bool:
        lists = app.screen.query(StoryList)
        return bool(lists) and len(lists.first().ids) >= count and app.screen.focused is lists.first()

    await tui_wait_for(pilot, shown, 60, "the story list")


async def flag_and_step(pilot: Any, app: Any, store: Store, expected: int) -> None:
    """Flag the story under the cursor with the TUI's keys (f, Enter in the section picker), wait until
    the store has `expected` flags, then move down a row."""
    from digest.tui.widgets.story_list import StoryList

    await pilot.press("f")
    await tui_wait_for(pilot, lambda: type(app.screen).__name__ == "ChoiceModal" and app.screen.is_mounted, 60,
                       "the section picker")
    await pilot.press("enter")
    await tui_wait_for(pilot, lambda: store.counts()["flagged"] >= expected, 60, f"{expected} flags")
    await tui_wait_for(pilot, lambda: type(app.screen).__name__ == "MainScreen", 60, "the picker closed")
    stories = app.screen.query_one(StoryList)
    before = stories.cursor
    await pilot.press("j")
    await tui_wait_for(pilot, lambda: stories.cursor == min(before + 1, len(stories.ids) - 1), 60, "the next row")


def test_run_under_env_i_sends_the_flagged_draft(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    ids = make_draft(store, 3)
    to = recipients(3)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        code, out, err = digest_run(tmp_path)
    assert code == 0, (out, err)
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest #1 sent to 3 recipient(s)"), out
    assert "\x1b[" not in out + err and "\r" not in out + err  # no colours, no progress bars
    assert err == ""
    assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
    assert store.get_digest(number=1).status == "sent"
    assert all(s.read for s in store.stories_by_ids(ids))
    log = (digest_home.log_dir / "digest.log").read_text()
    assert "run result (exit 0)" in log and "refreshed" in log
    assert (digest_home.archive_dir / "1" / "index.html").exists()
    assert (digest_home.archive_dir / "index.html").exists()


def test_nothing_new_exits_3_and_sends_nothing(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)))
        code, out, err = digest_run(tmp_path)
        assert code == 3, (out, err)
        assert "nothing new to send" in out
        code, out, err = digest_run(tmp_path, "--quiet")
        assert code == 3 and out == "" and err == ""
    assert rec.received == [] and rec.connections == 0
    assert [d for d in store.list_digests() if d.status != "draft"] == []


def test_a_second_run_exits_75_naming_the_holder(store: Store, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(config_toml(1, recipients(1)))
    paths = Paths(tmp_path, tmp_path / "data", tmp_path / "cache", tmp_path / "logs")
    with RunLock(paths.lock_file):  # the test holds the lock, as a running `digest run` would
        t = time.monotonic()
        code, out, err = digest_run(tmp_path)
        assert time.monotonic() - t < 20  # at once, not after waiting
    assert code == 75, (out, err)
    assert out == "" and f"process {os.getpid()}" in err  # a failure: on stderr, which cron mails


def test_two_runs_started_together(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """The first run is held inside its SMTP transaction; the second starts meanwhile and gets 75 with the
    first one's PID; the first then finishes normally."""
    make_draft(store, 2)
    to = recipients(3)
    rec = Recorder(hold_data_for=to[1])
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        first = start_run(tmp_path)
        assert wait_for(rec.held.is_set, 60)
        code, out, err = digest_run(tmp_path)
        holder = int(digest_home.lock_file.read_text().strip())
        rec.release.set()
        out1, err1 = first.communicate(timeout=60)
    assert code == 75 and f"process {holder}" in err
    assert holder != os.getpid()
    assert first.returncode == 0, err1
    assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)


def test_config_errors_exit_2(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[newsletter]\ncolour = 'blue'\n")
    code, out, err = digest_run(tmp_path)
    assert code == 2 and out == "" and err.startswith("digest run: config error: ") and "newsletter.colour" in err
    (tmp_path / "config.toml").write_text(config_toml(25, recipients(1)).replace("postal_address", "#"))
    make_draft(store, 1)
    code, out, err = digest_run(tmp_path)
    assert code == 2 and "newsletter.postal_address" in err
    assert store.draft() is not None and store.draft().status == "draft"  # nothing frozen
    code, out, err = digest_run(tmp_path, "--quiet")
    assert code == 2 and out == "" and "postal_address" in err


def test_without_smtp_the_files_are_written_and_the_issue_closed(store: Store, digest_home: Paths,
                                                                 tmp_path: Path) -> None:
    make_draft(store, 2)
    (tmp_path / "config.toml").write_text('[newsletter]\ntitle = "Files Only"\n')
    code, out, err = digest_run(tmp_path)
    assert code == 0, (out, err)
    assert "digest #1 written to" in out and "nothing sent" in out
    d = digest_home.archive_dir / "1"
    assert {p.name for p in d.iterdir()} >= {"index.html", "digest.txt", "digest.eml", "manifest.json"}
    assert store.get_digest(number=1).status == "sent"
    code, out, err = digest_run(tmp_path)
    assert code == 3, (out, err)  # those stories never go out again


def test_platformdirs_defaults_without_digest_home(tmp_path: Path) -> None:
    """Cron without DIGEST_HOME: everything under $HOME by platformdirs' rules."""
    env = bare_env(tmp_path, digest_home=False)
    code, out, err = digest_run(tmp_path, env=env)
    assert code == 3, (out, err)
    logs = list(tmp_path.rglob("digest.log"))
    assert logs and all(str(p).startswith(str(tmp_path)) for p in logs)


def test_a_partial_failure_is_finished_by_the_next_run(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    make_draft(store, 2)
    to = recipients(3)
    rec = Recorder(reject={to[2]: "550 5.2.1 mailbox disabled"})
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        code, out, err = digest_run(tmp_path)
        assert code == 1 and err.startswith("digest run: deliver: ") and to[2] in err and "550 5.2.1" in err, err
        # meanwhile the editor flags a story: it belongs to the next issue
        later = make_draft(store, 1, prefix="Later")
        rec.reject.clear()
        code, out, err = digest_run(tmp_path)
        assert code == 0 and out.startswith("resumed digest #1"), out
        assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
        code, out, err = digest_run(tmp_path)
        assert code == 0 and out.startswith("digest #2 sent to 3"), out
    assert [it.story.id for it in store.digest_items(store.get_digest(number=2).id)] == later
    assert len(rec.received) == 6


def test_a_dead_address_does_not_hold_back_every_later_issue(store: Store, digest_home: Paths,
                                                            tmp_path: Path) -> None:
    """A reader's mailbox that no longer exists (550 to RCPT TO on every try) kept issue #1 pending for
    ever: every later run resumed it, failed on that address again and never built another issue, so
    nobody got anything new. Refused by a second run, the issue is finished without that address; the next
    issue goes out at once (the address was refused by the issue before), and the address is still named."""
    make_draft(store, 2)
    to = recipients(3)
    dead = to[1]
    rec = Recorder(reject={dead: "550 5.1.1 no such user"})
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        code, out, err = digest_run(tmp_path)
        assert code == 1 and "550 5.1.1" in err and "finished without" not in err, err
        assert store.get_digest(number=1).status == "built"  # a second chance for a mailbox disabled a day
        code, out, err = digest_run(tmp_path)
        assert code == 1 and err.startswith("digest run: deliver: resumed digest #1"), err
        assert f"the issue is finished without {dead}" in err and len(err.splitlines()) == 1, err
        assert store.get_digest(number=1).status == "sent"
        later = make_draft(store, 1, prefix="Later")
        code, out, err = digest_run(tmp_path)
        assert code == 1 and err.startswith("digest run: deliver: digest #2 sent to 2 of 3"), err
        assert dead in err and "finished without" in err
        assert store.get_digest(number=2).status == "sent"
    assert [it.story.id for it in store.digest_items(store.get_digest(number=2).id)] == later
    got = {a: len(v) for a, v in rec.by_rcpt().items()}
    assert got == {to[0]: 2, to[2]: 2}  # each issue once to everyone the server took


def test_a_failing_feed_does_not_stop_the_run(store: Store, digest_home: Paths, tmp_path: Path,
                                              feed_server) -> None:  # type: ignore[no-untyped-def]
    make_draft(store, 1)
    store.add_feed(f"http://127.0.0.1:{feed_server.port}/missing.xml", title="Broken")
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(1)))
        code, out, err = digest_run(tmp_path)
        assert code == 0, (out, err)
        # named in the one line cron mails, not only in the log
        assert out.startswith("digest #1 sent to 1 recipient(s)") and out.rstrip().endswith(
            "; 1 feed failed to refresh (Broken: see `digest feeds list`)"), out
        code, out, err = digest_run(tmp_path)
    assert code == 3 and "nothing new to send" in out and "1 feed failed to refresh (Broken" in out, (out, err)
    assert len(rec.received) == 1
    assert "Broken" in (digest_home.log_dir / "digest.log").read_text()


def test_run_once_in_process_and_verbose(store: Store, digest_home: Paths, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)))
        code, line = run_once(digest_home, verbose=True)
    assert code == 0 and line.startswith("digest #1 sent to 2")
    assert "picked" not in capsys.readouterr().out  # the log goes to stderr, never stdout
    assert mail.deliveries(store, 1)[0]["status"] == "sent"


def test_tui_flags_during_a_run_go_into_the_next_digest(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """While `digest run` is mid-delivery, another process (the TUI) flags and unflags stories on the same
    store: neither side fails with "database is locked", and the flags land in the next draft."""
    make_draft(store, 2)
    fresh = make_draft(store, 3, prefix="Fresh")
    for sid in fresh:
        store.unflag(sid)
    to = recipients(2)
    rec = Recorder(hold_data_for=to[0])
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        proc = start_run(tmp_path)
        assert wait_for(rec.held.is_set, 60)
        assert store.get_digest(number=1).status == "built"
        for sid in fresh:
            store.flag(sid, "Startups")
        store.unflag(fresh[0])
        rec.release.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert store.get_digest(number=1).status == "sent"
    draft = store.draft()
    assert draft is not None and draft.number == 2
    assert sorted(it.story.id for it in store.digest_items(draft.id)) == fresh[1:]
    assert not any(s.read for s in store.stories_by_ids(fresh))
    sent_bodies = b"".join(r.data for r in rec.received)
    assert b"Fresh number" not in sent_bodies


async def test_a_tui_session_flags_stories_while_run_delivers(store: Store, digest_home: Paths,
                                                              tmp_path: Path) -> None:
    """The real TUI (Pilot) on the same store, flagging with its key bindings while `digest run` is in the
    middle of an SMTP transaction: no "database is locked", and the flags become the next draft."""
    import asyncio

    from digest.core.config import Config
    from digest.tui.app import make_app

    make_draft(store, 2)
    fresh = add_fresh_stories(store, 3)
    to = recipients(2)
    rec = Recorder(hold_data_for=to[0])
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        proc = start_run(tmp_path)
        assert await asyncio.to_thread(wait_for, rec.held.is_set, 60)
        app = make_app(Config(), store, digest_home, load_samples_when_empty=False, open_url=lambda u: True)
        async with app.run_test(size=(120, 40)) as pilot:
            await list_shows(pilot, app, 5)
            for n, _ in enumerate(fresh, 1):
                await flag_and_step(pilot, app, store, n)
            flagged_now = store.counts()["flagged"]
        rec.release.set()
        out, err = await asyncio.to_thread(proc.communicate, None, 60)
    assert proc.returncode == 0, (out, err)
    assert flagged_now == 3
    assert store.get_digest(number=1).status == "sent"
    draft = store.draft()
    assert draft is not None and draft.number == 2
    assert sorted(it.story.id for it in store.digest_items(draft.id)) == sorted(fresh)
    assert b"Fresh headline" not in b"".join(r.data for r in rec.received)


async def test_run_killed_mid_delivery_while_the_tui_flags_then_rerun(store: Store, digest_home: Paths,
                                                                      tmp_path: Path) -> None:
    """SIGKILL of `digest run` in the middle of an SMTP transaction while the TUI (Pilot) has the same store
    open and keeps flagging: the TUI carries on, its flags all land in the next draft, the store passes
    an integrity check, and the rerun finishes the issue without sending anyone the digest twice (the
    recipient whose DATA was in flight is reported unknown rather than resent)."""
    import asyncio
    import signal

    from digest.core.config import Config
    from digest.tui.app import make_app
    from digest.tui.widgets.story_list import StoryList

    make_draft(store, 2)
    fresh = add_fresh_stories(store, 4)
    to = recipients(3)
    rec = Recorder(hold_data_for=to[1])

    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        app = make_app(Config(), store, digest_home, load_samples_when_empty=False, open_url=lambda u: True)
        async with app.run_test(size=(120, 40)) as pilot:
            await list_shows(pilot, app, 6)
            proc = start_run(tmp_path)
            assert await asyncio.to_thread(wait_for, rec.held.is_set, 60)
            await flag_and_step(pilot, app, store, 1)  # the run holds its issue; the TUI writes the next draft
            await flag_and_step(pilot, app, store, 2)
            os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            rec.release.set()
            await flag_and_step(pilot, app, store, 3)  # after the kill, in the same TUI session
            await flag_and_step(pilot, app, store, 4)
            flagged_in_tui = store.counts()["flagged"]
            assert store.get_digest(number=1).status == "built"  # the killed run did not finish it
            rerun = start_run(tmp_path)
            out, err = await asyncio.to_thread(rerun.communicate, None, 60)
            await pilot.press("g")  # the TUI still answers after the rerun
            await tui_wait_for(pilot, lambda: app.screen.query_one(StoryList).current_id == fresh[0], 60, "row 1")
    assert rerun.returncode == 0, (out, err)
    assert flagged_in_tui == 4
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.get_digest(number=1).status == "sent"
    counts = {a: len(v) for a, v in rec.by_rcpt().items()}
    assert counts == dict.fromkeys(to, 1), counts  # the held message reached the server once, never again
    assert "unknown" in out.decode() and to[1] in out.decode()
    draft = store.draft()
    assert draft is not None and draft.number == 2
    assert sorted(it.story.id for it in store.digest_items(draft.id)) == sorted(fresh)
    assert b"Fresh headline" not in b"".join(r.data for r in rec.received)


def test_missing_password_is_a_config_error_naming_the_variable(store: Store, digest_home: Paths,
                                                               tmp_path: Path) -> None:
    make_draft(store, 1)
    (tmp_path / "config.toml").write_text(config_toml(2525, recipients(1), username="me"))
    code, out, err = digest_run(tmp_path)
    assert code == 2 and "DIGEST_TEST_SMTP_PW" in err, (out, err)
    assert store.draft() is not None and store.draft().status == "draft"  # nothing frozen


def test_quiet_run_still_reports_unknown_recipients(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """A run killed after the server had the message: the rerun (quiet, as from cron) finishes the issue,
    does not resend, and says so on stderr so cron mails it. --force-unknown then resends that one."""
    import signal

    make_draft(store, 1)
    to = recipients(3)
    rec = Recorder(hold_data_for=to[1])
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        proc = start_run(tmp_path)
        assert wait_for(rec.held.is_set, 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        rec.release.set()
        code, out, err = digest_run(tmp_path, "--quiet")
        assert code == 0 and out == "" and "unknown" in err and to[1] in err, (out, err)
        assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
        env = bare_env(tmp_path)
        resend = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m",
                                 "digest", "send", "--force-unknown"], cwd=REPO, capture_output=True, text=True,
                                timeout=60)
    assert resend.returncode == 0, resend.stderr
    assert len(rec.by_rcpt()[to[1]]) == 2
    assert mail.deliveries(store, 1)[1]["status"] == "sent"


def signal_pending(pid: int, sig: int) -> bool:
    """Whether sig is still pending for the process (its SigPnd/ShdPnd masks in /proc/PID/status): once it
    is not, the kernel has run the process's C-level handler, and Python runs the Python handler before it
    resumes the interrupted system call (PEP 475)."""
    bit = 1 << (sig - 1)
    with open(f"/proc/{pid}/status") as f:
        masks = [int(line.split()[1], 16) for line in f if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(m & bit for m in masks)


def test_sigterm_finishes_the_message_in_flight_and_leaves_the_rest_queued(store: Store, digest_home: Paths,
                                                                            tmp_path: Path) -> None:
    """systemd stops a unit with SIGTERM: no recipient is left unknown, the rest go out on the next run."""
    import signal

    make_draft(store, 1)
    to = recipients(5)
    rec = Recorder(hold_data_for=to[1])
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        proc = start_run(tmp_path)
        assert wait_for(rec.held.is_set, 60)
        proc.send_signal(signal.SIGTERM)
        # the run's handler must have the signal before the held message is answered, or it would go on
        # to the next message: the kernel has delivered it once no SIGTERM is pending in /proc
        assert wait_for(lambda: not signal_pending(proc.pid, signal.SIGTERM), 60)
        rec.release.set()
        raw_out, raw_err = proc.communicate(timeout=60)
        out, err = raw_out.decode(), raw_err.decode()
        assert proc.returncode == 1 and err.startswith("digest run: deliver: ") and "stopped" in err, (out, err)
        rows = {r["recipient"]: r["status"] for r in mail.deliveries(store, 1)}
        assert [rows[a] for a in to] == ["sent", "sent", "queued", "queued", "queued"]
        code, out, err = digest_run(tmp_path)
    assert code == 0 and out.startswith("resumed digest #1"), (out, err)
    assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)


def test_lock_is_reentrant_in_process_and_released_on_exit(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with RunLock(path) as outer:
        assert path.read_text().strip() == str(os.getpid())
        with RunLock(path):  # `digest run` holding it while send_digest takes it again
            pass
        assert outer.held and path.read_text().strip() == str(os.getpid())
        code = ("import sys; from pathlib import Path; from digest.core.lock import RunLock, LockHeld\n"
                "try:\n    RunLock(Path(sys.argv[1])).acquire()\nexcept LockHeld as e:\n    print(e.pid)\n")
        probe = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True,
                               timeout=60)
        assert probe.stdout.strip() == str(os.getpid()), probe.stderr
    assert path.read_text() == ""  # released: no stale PID
    with RunLock(path):
        pass


def test_log_file_rotates(digest_home: Paths) -> None:
    import logging.handlers

    from digest.core.logsetup import setup_logging

    log = setup_logging(digest_home)
    [fh] = [h for h in log.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert fh.baseFilename == str(digest_home.log_dir / "digest.log")
    assert fh.maxBytes == 1_000_000 and fh.backupCount == 5


def test_a_part_sent_issue_is_not_closed_when_smtp_is_removed(store: Store, digest_home: Paths,
                                                              tmp_path: Path) -> None:
    make_draft(store, 1)
    to = recipients(2)
    rec = Recorder(reject={to[1]: "550 no"})
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        assert digest_run(tmp_path)[0] == 1
    (tmp_path / "config.toml").write_text('[newsletter]\ntitle = "No SMTP"\n')
    code, out, err = digest_run(tmp_path)
    assert code == 2 and "part-sent" in err
    assert store.get_digest(number=1).status == "built"


# -- digest run --dry-run ---------------------------------------------------------------------------


def _dry_run_files(paths: Paths, number: int) -> list[str]:
    d = paths.archive_dir / str(number) / "dry-run"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_dry_run_writes_the_messages_and_leaves_the_draft(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """A rehearsal of the cron job: same pipeline, messages as files, no SMTP connection, no issue frozen;
    it can be repeated, and the real run afterwards sends the same stories as issue #1."""
    ids = make_draft(store, 3)
    to = recipients(2)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        for _ in range(2):  # repeatable: the second rehearsal gives the same result
            code, out, err = digest_run(tmp_path, "--dry-run")
            assert code == 0, (out, err)
            assert out.startswith("digest #1: dry run, wrote 2 message(s) to ") and "3 stories" in out, out
            assert "nothing sent" in out and err == ""
            assert _dry_run_files(digest_home, 1) == ["0001-reader1@example.net.eml", "0002-reader2@example.net.eml",
                                                      "digest.txt", "index.html"]
            assert rec.connections == 0 and rec.received == []
            draft = store.draft()
            assert draft is not None and draft.number == 1 and draft.status == "draft"
            assert sorted(it.story.id for it in store.digest_items(draft.id)) == ids
            assert not any(s.read for s in store.stories_by_ids(ids))
            assert mail.deliveries(store, draft.id) == []
            assert not (digest_home.archive_dir / "1" / "manifest.json").exists()  # not an issue
        eml = (digest_home.archive_dir / "1" / "dry-run" / "0002-reader2@example.net.eml").read_bytes()
        assert b"To: reader2@example.net" in eml and b"Story number 2 about things" in eml
        assert "dry run" in (digest_home.log_dir / "digest.log").read_text()
        code, out, err = digest_run(tmp_path)
    assert code == 0 and out.startswith("digest #1 sent to 2"), (out, err)
    assert store.get_digest(number=1).status == "sent"


def test_dry_run_picks_by_the_rules_and_gives_the_draft_back(store: Store, digest_home: Paths, tmp_path: Path,
                                                             feed_server) -> None:  # type: ignore[no-untyped-def]
    """Nothing flagged: the refresh fetches, the rules pick, the files are written, and the picks are taken
    out of the draft again (they were never the editor's flags). No recipients: the issue is still written."""
    from datetime import UTC, datetime
    from email.utils import format_datetime

    from feedserver import rss

    now = datetime.now(UTC)
    feed_server.feed("/news.xml", rss("News", [
        {"title": f"Fresh news item {i}", "link": f"https://news.example/{i}", "guid": f"n{i}",
         "date": format_datetime(now, usegmt=True), "description": f"<p>Body {i}.</p>"} for i in range(4)
    ]), etag='"v1"')
    store.add_feed(feed_server.url("/news.xml"), title="News", section="Top Stories")
    # no [smtp], no recipients; four stories of one feed (the per-feed cap is tested in test_select)
    (tmp_path / "config.toml").write_text('[newsletter]\ntitle = "Rehearsal"\n[select]\nmax_per_feed = 0\n')
    for _ in range(2):
        code, out, err = digest_run(tmp_path, "--dry-run")
        assert code == 0, (out, err)
        assert "dry run, wrote the issue (no recipients: newsletter.to and subscribers are empty)" in out, out
        assert "4 stories" in out
        assert _dry_run_files(digest_home, 1) == ["digest.txt", "index.html"]
        assert "Fresh news item 3" in (digest_home.archive_dir / "1" / "dry-run" / "digest.txt").read_text()
        assert store.digest_items() == []  # the draft is as the editor left it: empty
        assert [d for d in store.list_digests() if d.status != "draft"] == []
    assert len(feed_server.requests_for("/news.xml")) == 2  # the refresh ran both times
    code, out, err = digest_run(tmp_path)  # the real run picks the same stories and issues #1
    assert code == 0 and out.startswith("digest #1 written to"), (out, err)
    code, out, err = digest_run(tmp_path, "--dry-run")  # everything went out: nothing new to rehearse
    assert code == 3 and "nothing new to send" in out, (out, err)


def test_dry_run_exit_codes_are_those_of_run(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(config_toml(1, recipients(1)))
    code, out, err = digest_run(tmp_path, "--dry-run")
    assert code == 3 and "nothing new to send" in out, (out, err)
    make_draft(store, 1)
    with RunLock(digest_home.lock_file):
        code, out, err = digest_run(tmp_path, "--dry-run", "--quiet")
    assert code == 75 and f"process {os.getpid()}" in err, (out, err)
    (tmp_path / "config.toml").write_text(config_toml(1, recipients(1)).replace("postal_address", "#"))
    code, out, err = digest_run(tmp_path, "--dry-run")
    assert code == 2 and "newsletter.postal_address" in err  # the rehearsal catches what the run would
    assert _dry_run_files(digest_home, 1) == []


def test_dry_run_of_a_half_sent_issue_rehearses_its_resumption(store: Store, digest_home: Paths,
                                                               tmp_path: Path) -> None:
    make_draft(store, 2)
    to = recipients(2)
    rec = Recorder(reject={to[1]: "550 no"})
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        assert digest_run(tmp_path)[0] == 1
        before = mail.deliveries(store, 1)
        code, line = run_once(digest_home, dry_run=True)
        assert code == 0 and line.startswith("resumed digest #1: dry run, wrote 2 message(s)"), line
        assert mail.deliveries(store, 1) == before and len(rec.received) == 1
        assert store.get_digest(number=1).status == "built"


# -- build notes in the one line ----------------------------------------------------------------------

NOTED = "newsletter.accent_color #F5C518 has low contrast"  # the build corrects it and notes it


def test_the_run_line_counts_the_build_notes_and_says_where_they_are(store: Store, digest_home: Paths,
                                                                     tmp_path: Path) -> None:
    """`digest build` prints its notes; the run's one line counts them and names where to read them (the
    issue's manifest through `digest archive show N`, or the log for a dry run); --quiet prints nothing."""
    make_draft(store, 2)
    (tmp_path / "config.toml").write_text('[newsletter]\ntitle = "Noted"\naccent_color = "#F5C518"\n')
    log = digest_home.log_dir / "digest.log"

    code, out, err = digest_run(tmp_path, "--dry-run")
    assert (code, err) == (0, ""), (out, err)
    [line] = out.splitlines()
    assert line.startswith("digest #1: dry run") and line.endswith(f"; 1 build note (see the log, {log})"), line
    assert f"build note: {NOTED}" in log.read_text()

    code, out, err = digest_run(tmp_path)
    assert (code, err) == (0, ""), (out, err)
    [line] = out.splitlines()
    assert line.startswith("digest #1 written to") and line.endswith("; 1 build note (see `digest archive show 1`)")
    code, shown, err = digest_cli(tmp_path, "archive", "show", "1")
    assert code == 0, err
    assert "\n1 build note:\n  " + NOTED in shown, shown
    assert "\n2 stories:\n" in shown, shown

    make_draft(store, 1, prefix="Later")
    assert digest_run(tmp_path, "--quiet") == (0, "", "")  # a note is not a failure
    assert store.get_digest(number=2).status == "sent"
    code, shown, err = digest_cli(tmp_path, "archive", "show", "2")
    assert code == 0 and "\n1 story:\n" in shown, (shown, err)


def test_the_sent_line_counts_the_build_notes(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)).replace(
            "[newsletter]\n", '[newsletter]\naccent_color = "#F5C518"\n'))
        code, out, err = digest_run(tmp_path)
    assert (code, err) == (0, ""), (out, err)
    [line] = out.splitlines()
    assert line.startswith("digest #1 sent to 2 recipient(s), 1 story; archive ")
    assert line.endswith("; 1 build note (see `digest archive show 1`)"), line
    assert len(rec.received) == 2


def test_send_counts_the_build_notes_as_run_does(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """`digest send` ends its line as `digest run` does; a dry run keeps no manifest, so it lists the notes
    under the line instead of pointing at `digest archive show`."""
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)).replace(
            "[newsletter]\n", '[newsletter]\naccent_color = "#F5C518"\n'))
        code, out, err = digest_cli(tmp_path, "send", "--dry-run")
        assert (code, err) == (0, ""), (out, err)
        line, note = out.splitlines()
        assert line.startswith("digest #1: dry run, wrote 2 message(s) to ")
        assert line.endswith("; 1 build note (below)"), line
        assert note.startswith(f"  note: {NOTED}"), note
        assert rec.received == []
        code, out, err = digest_cli(tmp_path, "send")
    assert (code, err) == (0, ""), (out, err)
    [line] = out.splitlines()
    assert line.startswith("digest #1 sent to 2 recipient(s), 1 story; archive ")
    assert line.endswith("; 1 build note (see `digest archive show 1`)"), line
    assert len(rec.received) == 2
