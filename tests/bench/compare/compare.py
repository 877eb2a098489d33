"""digest against what users would pick instead (issue 6, "Comparison"), in one run.

The same generated feeds (tests/bench/feedgen.py: ~75 KB RSS, 30 items each, ETag/Last-Modified/304) are
served on 127.0.0.1 from another process, and for each size (default 100, 500, 2,000 feeds) this times:

  refresh, cold        `digest refresh` on an empty store   vs  `newsboat -x reload` on an empty cache
  refresh, all-304     the same, every feed answering 304   (newsboat: reload-threads 1 and 8, the better is
                       the baseline; both tools get one unmeasured reload first, because newsboat keeps
                       Last-Modified only from its second reload)
  feeds-to-email       `digest run --dry-run` (refresh, select, render the digest, write the .eml)
                       vs `r2e run` (rss2email: fetch, and one email per new entry), both on a fresh state

plus the peak RSS of each tool's whole process tree (sampled from /proc every 20 ms with bench_refresh's
helpers). digest is installed from this repository into its own scratch venv (`<workdir>/digest-venv`:
`python -m venv`, then `pip install REPO`, the README's non-editable `pip install .`) and run as a user
runs it, through the venv's `digest` console script, with no PYTHONPATH and its working directory in the
workdir, so it never sees the checkout or the packages of the environment running this script (trio, for
one, changes httpcore's start-up). The venv is kept and reinstalled when digest/, themes/, sample_feeds/ or
pyproject.toml change (a hash of them is stored in the venv; a changed pyproject.toml or Python gets a new
venv). A failed install stops the script; --digest-from-checkout runs `python -m digest` with
PYTHONPATH=REPO in the current environment instead, for developers. rss2email is installed from PyPI into
another scratch venv. newsboat is the system's when installed; otherwise Debian's package and the
libraries it lacks here are fetched with `apt-get download` (no root) and unpacked into the workdir
(--newsboat-from-deb does that even when one is installed). Nothing is sent anywhere: rss2email delivers
into a Maildir (its `email-protocol = maildir`), digest writes its dry-run files.

Writes tests/bench/out/compare.csv and compare-time.png / compare-rss.png. Figures are printed, never
asserted: the targets (digest <= 0.5x newsboat's best refresh, rss2email >= 5x digest for feeds-to-email)
are printed next to the ratios.

Run: python tests/bench/compare/compare.py [--sizes 100,500,2000] [--repeat 3] [--timeout 900] [--workdir DIR]
     [--record tests/bench/compare/results] [--digest-from-checkout] [--busy]
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import csv
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent.parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH))
from bench_refresh import _children, _pss_kb, _rss_kb  # noqa: E402
from feedgen import FeedServer, write_feeds  # noqa: E402

ITEMS_PER_FEED = 30  # feedgen.make_feed's default
RECIPIENT = "reader@example.com"


@dataclass
class Result:
    size: int
    task: str  # refresh_cold | refresh_304 | feeds_to_email
    tool: str  # digest | newsboat | rss2email
    variant: str
    seconds: float | None  # None: timed out, failed or skipped
    peak_mb: float | None
    status: str  # ok | timeout | failed: ... | skipped: ...
    items: int | None = None  # stories stored / messages written: a check that the work was done
    cpu_s: float | None = None  # user + system CPU of the whole process tree
    pss_mb: float | None = None  # peak PSS of the tree: pages shared by its processes counted once

    def row(self) -> list[object]:
        return [self.size, self.task, self.tool, self.variant,
                "" if self.seconds is None else f"{self.seconds:.3f}",
                "" if self.peak_mb is None else f"{self.peak_mb:.1f}", self.status,
                "" if self.items is None else self.items,
                "" if self.cpu_s is None else f"{self.cpu_s:.3f}",
                "" if self.pss_mb is None else f"{self.pss_mb:.1f}"]


@dataclass
class Timing:
    """One measured run of a tool: what `timed` saw."""
    seconds: float | None  # None: timed out or failed
    peak_mb: float
    status: str
    cpu_s: float | None = None
    pss_mb: float | None = None

    def result(self, size: int, task: str, tool: str, variant: str, items: int | None) -> Result:
        return Result(size, task, tool, variant, self.seconds, self.peak_mb, self.status, items,
                      self.cpu_s, self.pss_mb)


def timed(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None) -> Timing:
    """Wall seconds (None on timeout/failure), peak RSS and PSS of the process tree in MB, the status, and
    the CPU (user + system) of the whole tree.

    The CPU comes from getrusage(RUSAGE_CHILDREN) before and after: it counts every process of the tree
    that was waited for (digest's parse workers are reaped by digest), like /usr/bin/time. This script has
    no other child that ends meanwhile (the feed server and --busy's loops end only after the runs).
    bench_refresh.peak_of_tree does the same sampling but has no time limit and exits on a failure; a
    comparison must survive a tool that hangs or fails and report it, so the loop is repeated here with a
    deadline (the whole process group is killed) and the exit status kept."""
    # stderr goes to a file, not a pipe: rss2email logs a line per entry and would block on a full pipe
    with tempfile.TemporaryFile() as errf:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, start_new_session=True)
        tree_peak, pss_peak = 0, 0
        while proc.poll() is None:
            if time.perf_counter() - t > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return Timing(None, tree_peak / 1024, f"timeout after {timeout:.0f} s")
            tree = [proc.pid, *_children(proc.pid)]
            tree_peak = max(tree_peak, sum(_rss_kb(p) for p in tree))
            pss_peak = max(pss_peak, sum(_pss_kb(p) for p in tree))
            time.sleep(0.02)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            errf.seek(0)
            err = errf.read().decode(errors="replace")
            last = (err.strip().splitlines() or [""])[-1][-300:]  # a traceback's last line names the error
            return Timing(None, tree_peak / 1024, f"failed: exit {proc.returncode}: {last}")
    return Timing(wall, tree_peak / 1024, "ok", cpu, pss_peak / 1024)


def quiet(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None) -> None:
    """An unmeasured step (setup, warm-up); its failure stops the script with the tool's message."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}):\n{proc.stderr[-1500:]}")


def opml(base: str, n: int) -> str:
    return ('<?xml version="1.0"?><opml version="2.0"><head><title>bench</title></head><body>'
            + "".join(f'<outline type="rss" text="feed{i}" xmlUrl="{base}/feed{i}.xml"/>' for i in range(n))
            + "</body></opml>\n")


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# -- the machine and the tools ----------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": ram, "os": platform.platform()}


def version_of(cmd: list[str], env: dict[str, str] | None = None, *, full_env: dict[str, str] | None = None,
               cwd: Path | None = None) -> str:
    """The first version-looking word `cmd` prints; `env` is added to this environment, `full_env` replaces it."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=cwd,
                             env=full_env if full_env is not None else {**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    first = ((out.stdout or out.stderr).strip().splitlines() or ["unknown"])[0]
    return next((w for w in first.split() if w[:1].isdigit()), first)  # "newsboat 2.21.0 - https://..." -> 2.21.0


def _apt_depends(pkg: str) -> list[str]:
    """The packages `pkg` depends on (first choice of each alternative; virtual names left out)."""
    out = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", pkg],
                         capture_output=True, text=True, timeout=60).stdout
    names = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(("Depends:", "PreDepends:")):
            name = line.split(":", 1)[1].strip()
            if not name.startswith("<"):
                names.append(name.split(":")[0])  # "libc6:i386" -> libc6
    return names


def _installed(pkg: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return out.returncode == 0 and "install ok installed" in out.stdout


def install_newsboat(root: Path, timeout: float, *, from_deb: bool) -> tuple[str, dict[str, str]] | None:
    """newsboat and the environment to run it with. The system's when it is installed (and --newsboat-from-deb
    is not given); otherwise Debian's package, plus whichever libraries it needs that this machine lacks,
    fetched with `apt-get download` (no root needed) and unpacked with `dpkg -x` into the scratch folder,
    run with LD_LIBRARY_PATH pointing there."""
    system = shutil.which("newsboat")
    if system and not from_deb:
        return system, {}
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        print("newsboat: not installed and no apt-get/dpkg here to fetch Debian's package; skipping it "
              "(on Debian/Ubuntu: sudo apt-get install newsboat)")
        return None
    unpacked, debs = root / "root", root / "debs"
    exe = unpacked / "usr" / "bin" / "newsboat"
    if not exe.exists():
        print(f"fetching newsboat and its missing libraries from Debian into {root} ...", flush=True)
        fresh(debs)
        wanted, queue = ["newsboat"], ["newsboat"]
        while queue:  # the dependency closure, stopping at what is installed here
            for dep in _apt_depends(queue.pop()):
                if dep not in wanted and not _installed(dep):
                    wanted.append(dep)
                    queue.append(dep)
        for pkg in wanted:
            got = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True,
                                 timeout=timeout)
            if got.returncode != 0:
                print(f"newsboat: `apt-get download {pkg}` failed; skipping newsboat:\n{got.stderr[-500:]}")
                return None
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True, timeout=timeout)
        print(f"  unpacked {', '.join(wanted)}")
    libdirs = [str(d) for d in (unpacked / "usr" / "lib" / "x86_64-linux-gnu", unpacked / "lib" / "x86_64-linux-gnu",
                                unpacked / "usr" / "lib") if d.is_dir()]
    env = {"LD_LIBRARY_PATH": os.pathsep.join([*libdirs, os.environ.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)}
    check = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env={**os.environ, **env},
                           timeout=60)
    if check.returncode != 0:
        print(f"newsboat: the unpacked binary does not run; skipping it:\n{(check.stderr or check.stdout)[-500:]}")
        return None
    return str(exe), env


def install_rss2email(venv: Path, timeout: float) -> Path | None:
    """rss2email from PyPI into a scratch venv (kept in the workdir, so a rerun reuses it)."""
    r2e = venv / "bin" / "r2e"
    if r2e.exists():
        return r2e
    print(f"installing rss2email from PyPI into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "rss2email"], timeout=timeout,
                             capture_output=True, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        print(f"rss2email: could not be installed ({e}); skipping it")
        return None
    if pip.returncode != 0:
        print(f"rss2email: pip install failed ({pip.returncode}); skipping it:\n{pip.stderr[-1000:]}")
        return None
    return r2e if r2e.exists() else None


def _tree_hash(paths: list[Path]) -> str:
    """sha256 over the files under `paths` (relative name and content; bytecode caches left out)."""
    h = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(f for f in top.rglob("*") if f.is_file())
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _pip_step(cmd: list[str], step: str, timeout: float, cwd: Path) -> None:
    """One install step; a failure ends the script with a one-line error naming the step."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemExit(f"digest: {step} failed: {e}") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        # pip's reason is its last ERROR: line; its many WARNING: lines (ignored index locations) are not
        reason = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[-1] if lines else "")
        raise SystemExit(f"digest: {step} failed (exit {proc.returncode}): {reason[:300]}")


def install_digest(venv: Path, timeout: float) -> Path:
    """digest from this repository into a scratch venv, as `pip install .` installs it for a user (not
    editable: the wheel, with themes/ and sample_feeds/ copied in). The venv is kept in the workdir; a stamp
    in it records what was installed. Changed sources (digest/, themes/, sample_feeds/) are reinstalled with
    `pip install --no-deps --force-reinstall`; a changed pyproject.toml (dependencies) or Python gets a
    fresh venv and a full install. Returns the venv's `digest` console script."""
    stamp, exe, python = venv / "digest-install.json", venv / "bin" / "digest", venv / "bin" / "python"
    want = {
        "python": f"{sys.base_prefix} {platform.python_version()}",
        "pyproject": _tree_hash([REPO / "pyproject.toml"]),
        "sources": _tree_hash([REPO / "digest", REPO / "themes", REPO / "sample_feeds"]),
    }
    try:
        have = json.loads(stamp.read_text())
    except (OSError, ValueError):
        have = {}
    cwd = venv.parent  # never the checkout: pip and the checks below must not pick it up from the cwd
    if have == want and exe.exists() and python.exists():
        print(f"digest: reusing {venv} (sources unchanged since its install)", flush=True)
    elif (exe.exists() and python.exists() and have.get("python") == want["python"]
          and have.get("pyproject") == want["pyproject"]):
        print(f"digest: sources changed; reinstalling {REPO} into {venv} ...", flush=True)
        stamp.unlink(missing_ok=True)
        _pip_step([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
                  f"`pip install --no-deps --force-reinstall {REPO}` into {venv}", timeout, cwd)
    else:
        print(f"digest: installing {REPO} into a scratch venv {venv} (pip install, not editable) ...", flush=True)
        _pip_step([sys.executable, "-m", "venv", "--clear", str(venv)], f"`python -m venv {venv}`", timeout, cwd)
        _pip_step([str(python), "-m", "pip", "install", "-q", str(REPO)], f"`pip install {REPO}` into {venv}",
                  timeout, cwd)
    if not exe.exists():
        raise SystemExit(f"digest: install check failed: {exe} is missing after `pip install {REPO}`")
    # the installed package must be the one imported, not the checkout
    where = subprocess.run([str(python), "-c", "import digest; print(digest.__file__)"], cwd=cwd,
                           env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
                           capture_output=True, text=True, timeout=60)
    loc = where.stdout.strip()
    if where.returncode != 0 or not Path(loc).resolve().is_relative_to(venv.resolve()):
        raise SystemExit(f"digest: install check failed: the venv imports digest from {loc or where.stderr[-200:]!r}, "
                         f"not from {venv}")
    if have != want:
        stamp.write_text(json.dumps(want, indent=1) + "\n")
    return exe


# -- the tools ----------------------------------------------------------------------------------------

class Digest:
    """digest, run either through a venv's console script (`exe`: installed, as a user runs it; cwd in the
    workdir, no PYTHONPATH) or, with exe None, as `python -m digest` from the checkout in this environment."""

    def __init__(self, work: Path, base: str, timeout: float, exe: Path | None) -> None:
        self.work, self.base, self.timeout = work, base, timeout
        self.from_checkout = exe is None
        self.cmd = [sys.executable, "-m", "digest"] if exe is None else [str(exe)]
        self.cwd = None if exe is None else work

    def env(self, home: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        if self.from_checkout:
            env["PYTHONPATH"] = str(REPO)
        if home is not None:
            env["DIGEST_HOME"] = str(home)
        return env

    def how(self) -> str:
        return ("from the checkout: python -m digest with PYTHONPATH in the dev environment" if self.from_checkout
                else "pip install into a scratch venv")

    def _home(self, name: str, n: int, config: str = "") -> Path:
        home = fresh(self.work / name)
        (home / "feeds.opml").write_text(opml(self.base, n))
        if config:
            (home / "config.toml").write_text(config)
        quiet([*self.cmd, "feeds", "import", str(home / "feeds.opml")], self.env(home), self.timeout, self.cwd)
        return home

    @staticmethod
    def stories(home: Path) -> int:
        db = sqlite3.connect(home / "data" / "digest.db")
        try:
            return int(db.execute("SELECT count(*) FROM stories").fetchone()[0])
        finally:
            db.close()

    def refresh(self, n: int) -> list[Result]:
        home = self._home("digest-refresh", n)
        env = self.env(home)
        tm = timed([*self.cmd, "refresh"], env, self.timeout, self.cwd)
        out = [tm.result(n, "refresh_cold", "digest", "", self.stories(home))]
        if tm.seconds is None:
            return out + [Result(n, "refresh_304", "digest", "", None, None,
                                 "skipped: the cold refresh did not finish")]
        quiet([*self.cmd, "refresh"], env, self.timeout, self.cwd)  # the unmeasured reload newsboat also gets
        tm = timed([*self.cmd, "refresh"], env, self.timeout, self.cwd)
        return out + [tm.result(n, "refresh_304", "digest", "", self.stories(home))]

    def run_dry(self, n: int) -> Result:
        config = (
            '[newsletter]\ntitle = "Bench Digest"\nfrom = "Bench <digest@example.org>"\n'
            f'to = ["{RECIPIENT}"]\n'
            # the generated items are dated 1-25 Nov 2026: a year's window keeps them eligible whenever this runs
            "\n[select]\nmax_age_hours = 8760\n"
        )
        home = self._home("digest-run", n, config)
        tm = timed([*self.cmd, "run", "--dry-run"], self.env(home), self.timeout, self.cwd)
        written = len(list((home / "data" / "archive").glob("*/dry-run/*.eml"))) if tm.seconds is not None else None
        return tm.result(n, "feeds_to_email", "digest", "run --dry-run", written)


class Newsboat:
    def __init__(self, exe: str, env: dict[str, str], work: Path, base: str, timeout: float) -> None:
        self.exe, self.extra_env, self.work, self.base, self.timeout = exe, env, work, base, timeout

    def refresh(self, n: int, threads: int) -> list[Result]:
        d = fresh(self.work / f"newsboat-t{threads}")
        urls = d / "urls"
        urls.write_text("".join(f"{self.base}/feed{i}.xml\n" for i in range(n)))
        conf = d / "config"
        conf.write_text(f"reload-threads {threads}\nshow-read-feeds yes\n")
        env = {**os.environ, **self.extra_env, "HOME": str(d), "XDG_CONFIG_HOME": str(d), "XDG_DATA_HOME": str(d)}
        cmd = [self.exe, "-x", "reload", "-u", str(urls), "-c", str(d / "cache.db"), "-C", str(conf)]
        v = f"reload-threads {threads}"
        tm = timed(cmd, env, self.timeout)
        out = [tm.result(n, "refresh_cold", "newsboat", v, self.items(d))]
        if tm.seconds is None:
            return out + [Result(n, "refresh_304", "newsboat", v, None, None,
                                 "skipped: the cold reload did not finish")]
        quiet(cmd, env, self.timeout)  # newsboat keeps Last-Modified only from its second reload on
        tm = timed(cmd, env, self.timeout)
        return out + [tm.result(n, "refresh_304", "newsboat", v, self.items(d))]

    @staticmethod
    def items(d: Path) -> int | None:
        try:
            db = sqlite3.connect(d / "cache.db")
            try:
                return int(db.execute("SELECT count(*) FROM rss_item").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return None


class Rss2email:
    def __init__(self, r2e: Path, work: Path, base: str, timeout: float) -> None:
        self.r2e, self.work, self.base, self.timeout = r2e, work, base, timeout

    def run(self, n: int) -> Result:
        d = fresh(self.work / "rss2email")
        conf, data, maildir = d / "r2e.cfg", d / "r2e.json", d / "Maildir"
        # TMPDIR too: rss2email keeps its lock file in the temp folder
        env = {**os.environ, "HOME": str(d), "XDG_CONFIG_HOME": str(d), "XDG_DATA_HOME": str(d), "TMPDIR": str(d)}
        base = [str(self.r2e), "-c", str(conf), "-d", str(data)]
        quiet([*base, "new", RECIPIENT], env, self.timeout)
        cp = configparser.ConfigParser(interpolation=None)
        cp.optionxform = str  # type: ignore[assignment,method-assign]  # keep rss2email's key spelling
        cp.read(conf)
        # rss2email's own delivery choices: sendmail, smtp, imap, maildir. A Maildir keeps every message on
        # this machine and costs no process or connection per message (sendmail would fork one each).
        cp["DEFAULT"]["email-protocol"] = "maildir"
        cp["DEFAULT"]["maildir-path"] = str(maildir)
        cp["DEFAULT"]["maildir-mailbox"] = "INBOX"
        cp["DEFAULT"]["from"] = "bench@example.org"
        with conf.open("w") as f:
            cp.write(f)
        maildir.mkdir()  # rss2email's Maildir creates the mailbox but not the folder holding it
        (d / "feeds.opml").write_text(opml(self.base, n))
        quiet([*base, "opmlimport", str(d / "feeds.opml")], env, self.timeout)
        tm = timed([*base, "run"], env, self.timeout)
        sent = sum(1 for _ in (maildir / "INBOX" / "new").iterdir()) if (maildir / "INBOX" / "new").is_dir() else 0
        return tm.result(n, "feeds_to_email", "rss2email", "r2e run (maildir)", sent)


# -- report -------------------------------------------------------------------------------------------

def fastest_of(tries: list[Result]) -> list[Result]:
    """One result per (size, task, tool, variant): the fastest that finished, else the first, in order.
    Every tool gets the same number of tries, so best-of-N is fair to all of them."""
    chosen: dict[tuple[int, str, str, str], Result] = {}
    for r in tries:
        key = (r.size, r.task, r.tool, r.variant)
        old = chosen.get(key)
        if old is None or (r.seconds is not None and (old.seconds is None or r.seconds < old.seconds)):
            chosen[key] = r
    return list(chosen.values())


def best(results: list[Result], size: int, task: str, tool: str) -> Result | None:
    ok = [r for r in results if r.size == size and r.task == task and r.tool == tool and r.seconds is not None]
    return min(ok, key=lambda r: r.seconds or 0.0) if ok else None


def find(results: list[Result], size: int, task: str, tool: str) -> Result | None:
    return next((r for r in results if r.size == size and r.task == task and r.tool == tool), None)


def print_ratios(results: list[Result], sizes: list[int]) -> None:
    print("\nratios (same run, same server):")
    for n in sizes:
        for task, label in (("refresh_cold", "refresh cold"), ("refresh_304", "refresh all-304")):
            d, nb = best(results, n, task, "digest"), best(results, n, task, "newsboat")
            if d and nb and d.seconds and nb.seconds:
                r = d.seconds / nb.seconds
                print(f"  {n:>5} feeds  {label:<16} digest/newsboat-best = {r:5.2f}  (target <= 0.50: "
                      f"{'met' if r <= 0.5 else 'NOT met'}; newsboat best = {nb.variant})")
            if d and d.cpu_s is not None:
                # CPU of digest's whole tree (issue 21's targets: 160 µs a stored story cold, 0.25 ms a feed
                # all-304, start-up included)
                if task == "refresh_cold" and d.items:
                    us = d.cpu_s / d.items * 1e6
                    print(f"  {n:>5} feeds  {label:<16} digest CPU per story = {us:5.0f} µs (target <= 160: "
                          f"{'met' if us <= 160 else 'NOT met'})")
                elif task == "refresh_304":
                    ms = d.cpu_s / n * 1e3
                    print(f"  {n:>5} feeds  {label:<16} digest CPU per feed  = {ms:5.2f} ms (target <= 0.25: "
                          f"{'met' if ms <= 0.25 else 'NOT met'})")
        d, nb = best(results, n, "refresh_cold", "digest"), best(results, n, "refresh_cold", "newsboat")
        if d and nb and d.pss_mb and nb.peak_mb:
            print(f"  {n:>5} feeds  refresh cold     digest PSS / newsboat RSS = {d.pss_mb:.0f} / {nb.peak_mb:.0f} MB "
                  f"(digest RSS {d.peak_mb:.0f} MB)")
        d, r2 = find(results, n, "feeds_to_email", "digest"), find(results, n, "feeds_to_email", "rss2email")
        if d and d.seconds and r2:
            if r2.seconds:
                r = r2.seconds / d.seconds
                print(f"  {n:>5} feeds  feeds-to-email   rss2email/digest     = {r:5.1f}x (target >= 5x: "
                      f"{'met' if r >= 5 else 'NOT met'})")
            elif r2.status.startswith("timeout"):
                limit = float(r2.status.split()[2])
                print(f"  {n:>5} feeds  feeds-to-email   rss2email/digest     > {limit / d.seconds:5.1f}x "
                      f"(rss2email {r2.status}; target >= 5x)")


def cpu_per_unit(r: Result) -> str:
    """CPU of the tree per stored story (a cold refresh: µs) or per feed (an all-304 refresh: ms)."""
    if r.cpu_s is None or not r.task.startswith("refresh"):
        return "-"
    if r.task == "refresh_304":
        return f"{r.cpu_s / r.size * 1e3:.2f} ms/feed"
    if r.items:
        return f"{r.cpu_s / r.items * 1e6:.0f} µs/item"
    return "-"


def print_table(results: list[Result]) -> None:
    print(f"\n{'feeds':>6}  {'task':<15} {'tool':<10} {'variant':<20} {'seconds':>9} {'CPU s':>8} "
          f"{'per unit':>15} {'RSS MB':>7} {'PSS MB':>7} {'items':>8}  status")
    for r in results:
        secs = f"{r.seconds:9.2f}" if r.seconds is not None else f"{'-':>9}"
        cpu = f"{r.cpu_s:8.2f}" if r.cpu_s is not None else f"{'-':>8}"
        peak = f"{r.peak_mb:7.0f}" if r.peak_mb is not None else f"{'-':>7}"
        pss = f"{r.pss_mb:7.0f}" if r.pss_mb is not None else f"{'-':>7}"
        items = f"{r.items:8d}" if r.items is not None else f"{'-':>8}"
        print(f"{r.size:>6}  {r.task:<15} {r.tool:<10} {r.variant:<20} {secs} {cpu} {cpu_per_unit(r):>15} "
              f"{peak} {pss} {items}  {r.status}")


def plot(results: list[Result], sizes: list[int], title: str) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plots")
        return []
    OUT.mkdir(parents=True, exist_ok=True)
    tasks = [("refresh_cold", "refresh, cold"), ("refresh_304", "refresh, all 304"),
             ("feeds_to_email", "feeds to email")]
    series = sorted({(r.tool, r.variant) for r in results})
    style = {"digest": "-o", "newsboat": "--s", "rss2email": ":^"}
    paths = []
    for metric, ylabel, name in (("seconds", "wall time (s)", "compare-time.png"),
                                 ("peak_mb", "peak RSS of the process tree (MB)", "compare-rss.png")):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
        for ax, (task, label) in zip(axes, tasks, strict=True):
            for tool, variant in series:
                pts = [(r.size, getattr(r, metric)) for r in results
                       if r.task == task and r.tool == tool and r.variant == variant and r.seconds is not None]
                if pts:
                    xs, ys = zip(*sorted(pts), strict=True)
                    ax.plot(xs, ys, style.get(tool, "-x"), label=f"{tool} {variant}".strip())
            ax.set_title(label)
            ax.set_xlabel("feeds")
            ax.set_xscale("log")
            ax.set_xticks(sizes, [str(s) for s in sizes])
            if metric == "seconds":
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)  # from zero, so flat memory looks flat
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        path = OUT / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """n processes spinning at nice 19 for the duration: another workload on the cores (a compile, a browser),
    which the scheduler still lets the measured tools preempt. Started and ended outside any measured run,
    so their CPU never enters a tool's figure."""
    loops = [subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"],
                              stdin=subprocess.DEVNULL) for _ in range(n)]
    try:
        yield
    finally:
        for p in loops:
            p.kill()
            p.wait()


def replot(csv_path: Path) -> None:
    lines = csv_path.read_text().splitlines()
    notes = [next(csv.reader([line])) for line in lines if line.startswith("# ")]
    title = " | ".join(", ".join(row[1:]) for row in notes)
    results = []
    for r in csv.DictReader(line for line in lines if not line.startswith("# ")):
        results.append(Result(int(r["feeds"]), r["task"], r["tool"], r["variant"],
                              float(r["seconds"]) if r["seconds"] else None,
                              float(r["peak_rss_mb"]) if r["peak_rss_mb"] else None, r["status"],
                              int(r["items"]) if r["items"] else None,
                              float(r["cpu_s"]) if r.get("cpu_s") else None,
                              float(r["peak_pss_mb"]) if r.get("peak_pss_mb") else None))
    sizes = sorted({r.size for r in results})
    print_table(results)
    print_ratios(results, sizes)
    print("wrote " + ", ".join(str(p) for p in plot(results, sizes, title)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,500,2000", help="comma-separated feed counts (default 100,500,2000)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per measured tool run")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "digest-compare",
                    help="scratch folder: feeds, stores, the digest and rss2email venvs (kept, so reruns reuse them)")
    ap.add_argument("--digest-from-checkout", action="store_true",
                    help="for developers: run digest as `python -m digest` from the checkout in this environment "
                         "(PYTHONPATH=REPO) instead of installing it into <workdir>/digest-venv; the figures then "
                         "depend on this environment's packages")
    ap.add_argument("--skip", default="", help="tools to leave out, comma-separated: newsboat,rss2email")
    ap.add_argument("--newsboat-from-deb", action="store_true",
                    help="use Debian's newsboat unpacked into the workdir even when one is installed")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per tool and size; the fastest counts, for every tool alike (default 1)")
    ap.add_argument("--repeat-max-size", type=int, default=500,
                    help="sizes above this run once whatever --repeat says (2,000 feeds take ~15 min a run)")
    ap.add_argument("--record", type=Path, default=None,
                    help="also copy the CSV and plots here (the README shows tests/bench/compare/results/)")
    ap.add_argument("--busy", action="store_true",
                    help="keep both cores busy with two niced busy loops while every tool runs (a loaded machine)")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw the plots from tests/bench/out/compare.csv and print its ratios; run nothing")
    args = ap.parse_args()
    if args.plot_only:
        replot(OUT / "compare.csv")
        return
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)

    m = machine()
    if args.busy:
        m["os"] += "; both cores busy (two niced busy loops)"
    digest_exe = None if args.digest_from_checkout else install_digest(work / "digest-venv", args.timeout)
    newsboat = None if "newsboat" in skip else install_newsboat(work / "newsboat-deb", args.timeout,
                                                                 from_deb=args.newsboat_from_deb)
    r2e = None if "rss2email" in skip else install_rss2email(work / "r2e-venv", args.timeout)
    probe = Digest(work, "", args.timeout, digest_exe)
    versions = {
        "digest": f"{version_of([*probe.cmd, '--version'], full_env=probe.env(), cwd=probe.cwd)} ({probe.how()})",
        "newsboat": version_of([newsboat[0], "--version"], newsboat[1]) if newsboat else "not installed",
        "rss2email": version_of([str(r2e), "--version"]) if r2e else "not installed",
        "python": platform.python_version(),
    }
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM; {m['os']}")
    print("versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"sizes: {sizes}; {ITEMS_PER_FEED} items per feed (~75 KB); timeout per tool run {args.timeout:.0f} s; "
          f"workdir {work}")

    feeds_dir = work / "feeds"
    t = time.perf_counter()
    write_feeds(feeds_dir, max(sizes))
    print(f"{max(sizes)} feeds generated in {time.perf_counter() - t:.1f} s")

    results: list[Result] = []
    r2e_gave_up = ""
    with FeedServer(feeds_dir) as base, busy_loops(2 if args.busy else 0):
        print(f"serving on {base}" + (" with both cores kept busy by two niced loops" if args.busy else "") + "\n",
              flush=True)
        dg = Digest(work, base, args.timeout, digest_exe)
        nb = Newsboat(newsboat[0], newsboat[1], work, base, args.timeout) if newsboat else None
        rs = Rss2email(r2e, work, base, args.timeout) if r2e else None
        for n in sizes:
            tries: list[Result] = []
            for _ in range(args.repeat if n <= args.repeat_max_size else 1):
                tries += dg.refresh(n)
                if nb is not None:
                    for threads in (1, 8):
                        tries += nb.refresh(n, threads)
                tries.append(dg.run_dry(n))
                if rs is not None:
                    if r2e_gave_up:
                        tries.append(Result(n, "feeds_to_email", "rss2email", "r2e run (maildir)", None, None,
                                            f"skipped: {r2e_gave_up} at a smaller size"))
                    else:
                        res = rs.run(n)
                        if res.status.startswith("timeout"):
                            r2e_gave_up = res.status
                        tries.append(res)
            step = fastest_of(tries)
            for r in step:
                secs = f"{r.seconds:8.2f} s" if r.seconds is not None else r.status
                print(f"{n:>5} feeds  {r.task:<15} {r.tool:<9} {r.variant:<20} {secs:>10}  "
                      f"CPU {cpu_per_unit(r):>14}  peak {r.peak_mb or 0:5.0f} MB (PSS {r.pss_mb or 0:4.0f})  "
                      f"items {r.items if r.items is not None else '-'}", flush=True)
            results += step

    print_table(results)
    print_ratios(results, sizes)
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / "compare.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["# machine", f"{m['nproc']} cores", m["cpu"], m["ram"], m["os"]])
        w.writerow(["# versions", *(f"{k} {v}" for k, v in versions.items())])
        w.writerow(["feeds", "task", "tool", "variant", "seconds", "peak_rss_mb", "status", "items", "cpu_s",
                    "peak_pss_mb"])
        w.writerows(r.row() for r in results)
    title = (f"{m['nproc']} cores, {m['cpu']}, {m['ram']} RAM | "
             + ", ".join(f"{k} {v}" for k, v in versions.items()))
    pngs = plot(results, sizes, title)
    print(f"\nwrote {csv_path}" + "".join(f", {p}" for p in pngs))
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        for path in (csv_path, *pngs):
            shutil.copy2(path, args.record / path.name)
        print(f"recorded in {args.record}")


if __name__ == "__main__":
    main()
