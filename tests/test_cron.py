"""`digest cron`: the crontab line parses and runs under cron's bare environment; the systemd units verify."""

from __future__ import annotations

import configparser
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digest.cli import Ctx, main
from digest.core.paths import Paths
from digest.core.run import parse_at, schedule

FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def cron(paths: Paths, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["cron", *args], ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def parse_crontab_line(line: str) -> tuple[list[str], str]:
    """Five schedule fields and the command, as cron(8) splits them; every field must be * or in range."""
    parts = line.split(None, 5)
    assert len(parts) == 6, line
    fields, command = parts[:5], parts[5]
    for value, (lo, hi) in zip(fields, FIELD_RANGES, strict=True):
        assert value == "*" or (value.isdigit() and lo <= int(value) <= hi), (value, line)
    return fields, command


def test_crontab_line_daily_and_weekly(digest_home: Paths) -> None:
    code, out, err = cron(digest_home, "--at", "06:45")
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln and not ln.startswith("#")]
    fields, command = parse_crontab_line(lines[0])
    assert fields == ["45", "6", "*", "*", "*"]
    argv = shlex.split(command.replace("\\%", "%"))
    env = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("/"))
    prog = [a for a in argv if "=" not in a or a.startswith("/")]
    assert env["DIGEST_HOME"] == str(digest_home.config_dir)
    assert Path(prog[0]).is_absolute() and os.access(prog[0], os.X_OK)
    assert prog[1:] == ["-m", "digest", "run", "--quiet"]
    sched = json.loads(cron(digest_home, "--weekly", "--day", "sunday", "--at", "7:05", "--json")[1])
    fields, _ = parse_crontab_line(sched["crontab"])
    assert fields == ["5", "7", "*", "*", "0"]
    assert "OnCalendar=Sun *-*-* 07:05:00" in sched["digest.timer"]


def test_a_day_alone_means_weekly_on_that_day(digest_home: Paths) -> None:
    # `--day fri` without --weekly printed a daily schedule: the day was dropped without a word
    code, out, err = cron(digest_home, "--day", "fri", "--at", "08:30")
    assert code == 0, err
    assert out.startswith("# crontab line (weekly on Fri;")
    # cron starts with an empty environment: the text says where the SMTP password must come from
    assert "an SMTP password in smtp.password_env is not set" in out and "smtp.password_cmd" in out
    line = next(ln for ln in out.splitlines() if ln and not ln.startswith("#"))
    assert parse_crontab_line(line)[0] == ["30", "8", "*", "*", "5"]
    assert "OnCalendar=Fri *-*-* 08:30:00" in out
    assert cron(digest_home, "--day", "someday")[0] == 2
    # without --day, daily as before; --weekly alone is Monday
    assert parse_crontab_line(json.loads(cron(digest_home, "--json")[1])["crontab"])[0][4] == "*"
    assert parse_crontab_line(json.loads(cron(digest_home, "--weekly", "--json")[1])["crontab"])[0][4] == "1"


def test_the_crontab_command_runs_in_crons_environment(digest_home: Paths, tmp_path: Path) -> None:
    """Run the printed command exactly as cron would: /bin/sh -c with a bare environment. An empty store
    has nothing to send: exit 3, and --quiet keeps cron from mailing anyone."""
    sched = schedule(at="07:00")
    _fields, command = parse_crontab_line(sched["crontab"])
    proc = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", f"HOME={tmp_path}", "/bin/sh", "-c",
                           command.replace("\\%", "%")], cwd="/", capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert (digest_home.log_dir / "digest.log").exists()


def test_systemd_units(digest_home: Paths, tmp_path: Path) -> None:
    sched = schedule(at="07:00", weekly=True, day="fri")
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    (unit_dir / "digest.service").write_text(sched["digest.service"])
    (unit_dir / "digest.timer").write_text(sched["digest.timer"])
    # structural check, always
    svc = configparser.ConfigParser(strict=False, interpolation=None)
    svc.optionxform = str  # type: ignore[assignment,method-assign]
    svc.read_string(sched["digest.service"])
    assert svc["Service"]["Type"] == "oneshot"
    exec_start = shlex.split(svc["Service"]["ExecStart"])
    assert Path(exec_start[0]).is_absolute() and exec_start[1:] == ["-m", "digest", "run"]
    assert set(svc["Service"]["SuccessExitStatus"].split()) == {"3", "75"}
    assert f'Environment="DIGEST_HOME={digest_home.config_dir}"' in sched["digest.service"].splitlines()
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read_string(sched["digest.timer"])
    assert timer["Timer"]["OnCalendar"] == "Fri *-*-* 07:00:00"
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"
    # the real parser where there is one
    if shutil.which("systemd-analyze"):
        cal = subprocess.run(["systemd-analyze", "calendar", "Fri *-*-* 07:00:00"], capture_output=True, text=True)
        assert cal.returncode == 0, cal.stderr
        res = subprocess.run(["systemd-analyze", "verify", str(unit_dir / "digest.service"),
                              str(unit_dir / "digest.timer")], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "Unknown" not in res.stderr and "Failed" not in res.stderr, res.stderr


def test_the_service_command_runs(digest_home: Paths, tmp_path: Path) -> None:
    """ExecStart with the unit's Environment= lines, in a bare environment (what systemd --user gives)."""
    sched = schedule(at="07:00")
    svc = configparser.ConfigParser(strict=False, interpolation=None)
    svc.optionxform = str  # type: ignore[assignment,method-assign]
    svc.read_string(sched["digest.service"].replace("%%", "%"))
    envs = [shlex.split(line)[0] for line in sched["digest.service"].splitlines() if line.startswith("Environment=")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update(e.removeprefix("Environment=").split("=", 1) for e in envs)  # type: ignore[misc]
    proc = subprocess.run(shlex.split(svc["Service"]["ExecStart"]), env=env, cwd="/", capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3 and "nothing new to send" in proc.stdout, proc.stderr


def test_bad_times_are_usage_errors(digest_home: Paths) -> None:
    for bad in ("7", "25:00", "07:60", "7pm"):
        code, out, err = cron(digest_home, "--at", bad)
        assert code == 2 and "--at" in err, bad
    for bad in ("someday", "funday", "monkey"):  # "monkey" is not Monday, though it starts like one
        code, out, err = cron(digest_home, "--weekly", "--day", bad)
        assert code == 2 and f"got {bad!r}" in err, (bad, err)
    assert json.loads(cron(digest_home, "--weekly", "--day", "TUE", "--json")[1]) \
        == json.loads(cron(digest_home, "--weekly", "--day", "Tuesday", "--json")[1])
    assert parse_at(" 23:59 ") == (23, 59)


def test_digest_home_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched = schedule(env={"HOME": str(tmp_path)})
    assert "DIGEST_HOME" not in sched["crontab"] and "DIGEST_HOME" not in sched["digest.service"]
    assert sys.executable in sched["crontab"]
