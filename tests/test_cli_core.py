"""The CLI as an API: feeds, refresh, stories, flag/unflag; --json field names; exit codes.

Most cases call digest.cli.main in-process (fast); a few run `python -m digest` as cron would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from feedserver import FeedServer, Response, simple_rss

from digest.cli import ExitCode, main
from digest.core.paths import Paths
from digest.core.store import Store

REPO = Path(__file__).resolve().parent.parent

STORY_FIELDS = {"id", "feed_id", "guid", "link", "canonical_link", "title", "author", "summary", "image_url",
                "categories", "published_at", "fetched_at", "read"}
FEED_FIELDS = {"id", "url", "title", "site_url", "section", "last_status", "last_error", "consecutive_failures",
               "last_success_at", "retry_after", "disabled"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def feeds_in_store(paths: Paths) -> list:
    if not paths.db_file.exists():
        return []
    with Store(paths.db_file) as s:
        return s.list_feeds()


@pytest.fixture
def loaded(digest_home: Paths, sample_feeds_dir: Path, capsys) -> Paths:
    """The six sample feeds imported and refreshed."""
    assert main(["feeds", "import", "--allow-files", str(sample_feeds_dir / "feeds.opml")]) == 0
    assert main(["refresh"]) == 0
    capsys.readouterr()
    return digest_home


# -- feeds --------------------------------------------------------------------------------------------


def test_feeds_add_file_list_remove(digest_home: Paths, sample_feeds_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "feeds", "add", str(sample_feeds_dir / "jobs.xml"), "--section", "Jobs")
    assert code == 0 and "added feed" in out and "Sound Work" in out
    [feed] = run_json(capsys, "feeds", "list")
    assert set(feed) >= FEED_FIELDS
    assert feed["section"] == "Jobs" and feed["title"] == "Sound Work: Tech Jobs"
    assert feed["url"] == str((sample_feeds_dir / "jobs.xml").resolve())
    assert feed["last_status"] == "" and feed["consecutive_failures"] == 0

    code, out, err = run(capsys, "feeds", "add", str(sample_feeds_dir / "jobs.xml"))
    assert code == 1 and "already" in err and len(err.strip().splitlines()) == 1

    code, out, _ = run(capsys, "feeds", "list")
    assert code == 0 and "Sound Work" in out

    code, out, _ = run(capsys, "feeds", "remove", str(feed["id"]))
    assert code == 0 and "removed" in out
    assert run_json(capsys, "feeds", "list") == []
    code, _, err = run(capsys, "feeds", "remove", str(feed["id"]))
    assert code == 1 and str(feed["id"]) in err


def _cron(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m digest ...` as cron runs it: env -i, no terminal, only DIGEST_HOME."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "DIGEST_HOME": str(home)}
    return subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m", "digest",
                           *argv], cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_feeds_list_has_a_header_row_and_a_count_line(digest_home: Paths, feed_server: FeedServer) -> None:
    """Its columns are bare values (a section, a count, a status), so a header names them; like the other
    listings it ends with a count line, here adding up to the feeds listed. --json stays as it was."""
    feed_server.feed("/ok", simple_rss("fine"))
    feed_server.route("/broken", Response(500, body=b"no"))
    feed_server.route("/gone", Response(410, body=b"gone"))
    with Store(digest_home.db_file) as store:
        store.add_feed(feed_server.url("/ok"), title="Fine Feed", section="Startups")
        store.add_feed(feed_server.url("/broken"), title="Broken Feed")
        store.add_feed(feed_server.url("/gone"), title="Gone Feed")
    assert _cron(digest_home.config_dir, "refresh").returncode == 0
    with Store(digest_home.db_file) as store:
        store.add_feed(feed_server.url("/later"), title="Added Later")  # never fetched
        off = store.add_feed(feed_server.url("/off"), title="Switched Off")
        store.update_feed(off.id, disabled=True, last_status="error", last_error="turned off")

    r = _cron(digest_home.config_dir, "feeds", "list")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    header, body, count = lines[0], lines[1:-1], lines[-1]
    assert header.split() == ["ID", "FEED", "SECTION", "STORIES", "LAST", "OK", "STATUS", "(URL", "below)"]
    name = slice(header.index("FEED"), header.index("SECTION"))  # each feed: its row, then its URL
    rows = {line[name].strip(): line for line in body[::2]}
    assert sorted(rows) == ["Added Later", "Broken Feed", "Fine Feed", "Gone Feed", "Switched Off"]
    assert all(u.startswith("      http://127.0.0.1:") for u in body[1::2])
    fine = rows["Fine Feed"]
    for column, value in (("SECTION", "Startups"), ("LAST OK", "just now")):  # values start under their label
        assert fine[header.index(column):].startswith(value), (column, fine)
    # the story count ends where its label ends (numbers right-aligned)
    end = header.index("STORIES") + len("STORIES")
    assert fine[:end].endswith(" 3") and fine[end:end + 2] == "  "
    assert rows["Broken Feed"][header.index("STATUS"):].startswith("FAILING x1: ")
    assert rows["Added Later"][header.index("STATUS"):] == "never fetched"
    assert rows["Switched Off"][header.index("STATUS"):] == "disabled: turned off"
    # a feed that answered 410 is no longer fetched: disabled, not failing (its one failure is the 410)
    assert rows["Gone Feed"][header.index("STATUS"):].startswith("disabled: HTTP 410 Gone")
    assert count == "5 feeds: 1 ok, 1 failing, 2 disabled, 1 never fetched"

    r = _cron(digest_home.config_dir, "feeds", "list", "--json")
    feeds = json.loads(r.stdout)  # nothing but the JSON array: no header, no count line
    assert r.returncode == 0 and len(feeds) == 5 and all(set(f) >= FEED_FIELDS for f in feeds)


def test_feeds_add_relative_path_and_title(digest_home: Paths, sample_feeds_dir: Path, capsys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sample_feeds_dir)
    code, _, err = run(capsys, "feeds", "add", "climate.json", "--title", "My climate", "--section", " Climate  ")
    assert code == 0, err
    [feed] = run_json(capsys, "feeds", "list")
    assert feed["title"] == "My climate" and Path(feed["url"]).is_absolute()
    assert feed["section"] == "Climate"  # as typed between quotes, spaces and all: the name OPML import gives


def test_feeds_add_http_feed(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    feed_server.feed("/rss", simple_rss("direct"))
    code, out, err = run(capsys, "feeds", "add", feed_server.url("/rss"), "--section", "Startups")
    assert code == 0, err
    [feed] = run_json(capsys, "feeds", "list")
    assert feed["url"] == feed_server.url("/rss") and feed["title"] == "direct feed"


SITE = b"""<!doctype html><html><head><title>A site</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Site feed" href="/feeds/main.xml">
<link rel="alternate" type="application/atom+xml" href="/feeds/atom.xml">
</head><body><h1>Welcome</h1></body></html>"""


def test_feeds_add_site_url_finds_the_feed(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    feed_server.route("/", Response(200, {"Content-Type": "text/html; charset=utf-8"}, SITE))
    feed_server.feed("/feeds/main.xml", simple_rss("site"))
    code, out, err = run(capsys, "feeds", "add", feed_server.url("/"))
    assert code == 0, err
    [feed] = run_json(capsys, "feeds", "list")
    assert feed["url"] == feed_server.url("/feeds/main.xml")
    assert feed["title"] == "site feed"
    assert main(["refresh"]) == 0


def test_feeds_add_site_url_with_absolute_link_and_uppercase_rel(digest_home: Paths, feed_server: FeedServer,
                                                                 capsys) -> None:
    page = (f'<html><head><LINK REL="Alternate" TYPE="application/atom+xml" '
            f'HREF="{feed_server.url("/a.atom")}"></head></html>').encode()
    feed_server.route("/blog/", Response(200, {"Content-Type": "text/html"}, page))
    feed_server.feed("/a.atom", b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom here</title>'
                                b"<entry><id>1</id><title>x</title></entry></feed>",
                     content_type="application/atom+xml")
    code, _, err = run(capsys, "feeds", "add", feed_server.url("/blog/"))
    assert code == 0, err
    assert [f.url for f in feeds_in_store(digest_home)] == [feed_server.url("/a.atom")]


def test_feeds_add_a_page_that_links_to_no_feed_says_so_once(digest_home: Paths, feed_server: FeedServer,
                                                              capsys) -> None:
    feed_server.route("/about", Response(200, {"Content-Type": "text/html"},
                                         b"<!doctype html><html><head><title>About</title></head></html>"))
    code, _, err = run(capsys, "feeds", "add", feed_server.url("/about"))
    assert code == 1 and err.strip() == (f"digest: cannot add feed: {feed_server.url('/about')}: a web page that "
                                         "links to no RSS, Atom or JSON feed; give the feed's own URL"), err
    assert feeds_in_store(digest_home) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url", [
    "ftp://example.com/feed.xml",
    "http://",
    "no/such/file.xml",
    "",
    "mailto:someone@example.com",
    "http://[::1/feed.xml",  # urlsplit raises: it once escaped as a traceback
    "http://127.0.0.1:99999/feed.xml",
])
def test_feeds_add_bad_url(digest_home: Paths, capsys, url: str) -> None:
    code, out, err = run(capsys, "feeds", "add", url)
    assert code == ExitCode.FAILURE
    assert len(err.strip().splitlines()) == 1 and err.startswith("digest:")
    assert "Traceback" not in err
    assert feeds_in_store(digest_home) == []


def test_feeds_add_unreachable_or_not_a_feed(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    page = b"<html><head></head><body>x</body></html>"
    feed_server.route("/page", Response(200, {"Content-Type": "text/html"}, page))
    feed_server.route("/500", Response(500, body=b"no"))
    for url in (f"http://127.0.0.1:{_closed_port()}/feed", feed_server.url("/page"), feed_server.url("/500"),
                feed_server.url("/404")):
        code, _, err = run(capsys, "feeds", "add", url)
        assert code == 1, url
        assert len(err.strip().splitlines()) == 1 and url in err
    assert feeds_in_store(digest_home) == []


def test_feeds_import_export(digest_home: Paths, sample_feeds_dir: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "feeds", "import", "--allow-files", str(sample_feeds_dir / "feeds.opml"))
    assert code == 0 and "imported 6 feeds" in out
    code, out, _ = run(capsys, "feeds", "export")
    assert code == 0 and out.count("xmlUrl=") == 6 and out.startswith("<?xml")
    target = tmp_path / "exported.opml"
    code, out, _ = run(capsys, "feeds", "export", str(target))
    assert code == 0 and target.read_text().count("xmlUrl=") == 6
    code, _, err = run(capsys, "feeds", "import", str(tmp_path / "missing.opml"))
    assert code == 1 and "missing.opml" in err
    (tmp_path / "bad.opml").write_text("<html/>")
    code, _, err = run(capsys, "feeds", "import", str(tmp_path / "bad.opml"))
    assert code == 1 and "bad.opml" in err


# -- refresh ------------------------------------------------------------------------------------------


def test_refresh_json_report(digest_home: Paths, sample_feeds_dir: Path, feed_server: FeedServer, capsys) -> None:
    feed_server.route("/broken", Response(500, body=b"x"))
    assert main(["feeds", "import", "--allow-files", str(sample_feeds_dir / "feeds.opml")]) == 0
    with Store(digest_home.db_file) as s:
        bad = s.add_feed(feed_server.url("/broken"), title="Broken")
    capsys.readouterr()
    report = run_json(capsys, "refresh")
    assert report["feeds"] == 7 and report["ok"] == 6 and report["failed"] == 1
    assert report["new_stories"] == 60
    [failed] = [r for r in report["results"] if r["status"] == "error"]
    assert failed["feed_id"] == bad.id and "500" in failed["error"] and failed["http_status"] == 500
    assert {"feed_id", "url", "title", "status", "new", "stories", "error"} <= set(failed)

    report = run_json(capsys, "refresh")
    assert report["not_modified"] == 6 and report["new_stories"] == 0

    code, out, err = run(capsys, "refresh")
    assert code == 0
    assert "7 feeds" in out and "1 failed" in out and len(out.strip().splitlines()) == 1
    assert "Broken" in err and "500" in err
    [feed] = [f for f in run_json(capsys, "feeds", "list") if f["id"] == bad.id]
    assert feed["consecutive_failures"] == 3 and feed["last_status"] == "error"


def test_refresh_one_feed_and_unknown_feed(loaded: Paths, capsys) -> None:
    report = run_json(capsys, "refresh", "--feed", "1")
    assert report["feeds"] == 1
    code, _, err = run(capsys, "refresh", "--feed", "999")
    assert code == 1 and "999" in err


def test_refresh_all_failing_exits_1(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    feed_server.route("/x", Response(500))
    with Store(digest_home.db_file) as s:
        s.add_feed(feed_server.url("/x"))
    code, _, err = run(capsys, "refresh")
    assert code == 1 and "500" in err


def test_refresh_with_no_feeds(digest_home: Paths, capsys) -> None:
    code, out, _ = run(capsys, "refresh")
    assert code == 0 and "no feeds" in out


# -- stories ------------------------------------------------------------------------------------------


def test_stories_json_fields_and_order(loaded: Paths, capsys) -> None:
    stories = run_json(capsys, "stories")
    assert len(stories) == 60  # all matches unless --limit
    assert set(stories[0]) >= STORY_FIELDS
    dates = [s["published_at"] for s in stories]
    assert dates == sorted(dates, reverse=True)
    assert all(s["published_at"].endswith("Z") for s in stories)
    with Store(loaded.db_file) as store:
        # summary and content are packed into one column (store/body.py); digest_summary reads it
        db_row = store.db.execute("SELECT *, digest_summary(body) AS summary FROM stories WHERE id = ?",
                                  (stories[0]["id"],)).fetchone()
    for key in ("guid", "link", "canonical_link", "title", "author", "summary", "image_url", "feed_id"):
        assert stories[0][key] == db_row[key], key


def test_stories_filters(loaded: Paths, capsys) -> None:
    feeds = {f["title"]: f for f in run_json(capsys, "feeds", "list")}
    jobs = feeds["Sound Work: Tech Jobs"]
    assert len(run_json(capsys, "stories", "--feed", str(jobs["id"]))) == 12
    assert len(run_json(capsys, "stories", "--section", "startups")) == 18
    assert len(run_json(capsys, "stories", "--limit", "5")) == 5
    found = run_json(capsys, "stories", "--search", "tidewat")
    assert len(found) == 3 and all("Tidewater" in s["title"] for s in found)
    since = run_json(capsys, "stories", "--since", "2026-11-25T00:00:00Z")
    assert since and all(s["published_at"] >= "2026-11-25T00:00:00Z" for s in since)
    assert len(since) < 60
    combined = run_json(capsys, "stories", "--section", "Top Stories", "--search", "raises", "--limit", "1")
    assert len(combined) == 1 and combined[0]["section"] == "Top Stories"


def test_stories_since_relative(digest_home: Paths, tmp_path: Path, capsys) -> None:
    import time
    from email.utils import formatdate

    from feedserver import rss

    now = time.time()
    items = [{"title": f"{h}h old", "guid": str(h), "date": formatdate(now - h * 3600, usegmt=True)}
             for h in (1, 5, 30, 80)]
    (tmp_path / "rel.xml").write_bytes(rss("rel", items))
    assert main(["feeds", "add", str(tmp_path / "rel.xml")]) == 0
    assert main(["refresh"]) == 0
    capsys.readouterr()
    assert [s["title"] for s in run_json(capsys, "stories", "--since", "24h")] == ["1h old", "5h old"]
    assert len(run_json(capsys, "stories", "--since", "2d")) == 3
    assert len(run_json(capsys, "stories", "--since", "90m")) == 1
    assert len(run_json(capsys, "stories", "--since", "1w")) == 4


def test_flag_unflag_flagged_unread(loaded: Paths, capsys) -> None:
    stories = run_json(capsys, "stories", "--search", "kelpline")
    first = stories[0]["id"]
    code, out, _ = run(capsys, "flag", str(first), "--blurb", "Worth it", "--headline", "Kelpline!")
    assert code == 0 and "flagged" in out
    code, _, _ = run(capsys, "flag", str(stories[1]["id"]), "--section", "startups")
    assert code == 0
    flagged = run_json(capsys, "stories", "--flagged")
    assert {s["id"] for s in flagged} == {first, stories[1]["id"]}
    mine = next(s for s in flagged if s["id"] == first)
    assert (mine["blurb"], mine["headline"], mine["flagged"]) == ("Worth it", "Kelpline!", True)
    assert next(s for s in flagged if s["id"] != first)["draft_section"] == "Startups"

    code, _, err = run(capsys, "flag", str(first), "--section", "No Such Section")
    assert code == 2 and "No Such Section" in err
    code, _, err = run(capsys, "flag", "999999")
    assert code == 1 and "999999" in err

    # its blurb and headline are the editor's words: not dropped without --force
    code, _, err = run(capsys, "unflag", str(first))
    assert code == 2 and f"story {first} has your blurb and headline" in err and "--force" in err
    assert first in {s["id"] for s in run_json(capsys, "stories", "--flagged")}
    code, out, _ = run(capsys, "unflag", str(first), "--force")
    assert code == 0 and "unflagged" in out
    code, out, _ = run(capsys, "unflag", str(first))
    assert code == 0 and "not flagged" in out
    assert len(run_json(capsys, "stories", "--flagged")) == 1

    with Store(loaded.db_file) as s:
        s.set_read([first])
    assert len(run_json(capsys, "stories", "--unread")) == 59


def test_a_story_already_sent_is_flagged_again_only_with_force(loaded: Paths, capsys) -> None:
    first, second = (s["id"] for s in run_json(capsys, "stories", "--limit", "2"))
    assert run(capsys, "flag", str(first))[0] == 0
    with Store(loaded.db_file) as s:
        draft = s.draft()
        assert draft is not None
        s.mark_sent(draft.id)
    # sent once: a flag by accident would send it twice
    code, out, err = run(capsys, "flag", str(first), "--section", "Startups")
    assert code == 2 and f"story {first} went out in digest #1 already" in err and "--force" in err, (out, err)
    assert run_json(capsys, "stories", "--flagged") == []
    assert run(capsys, "flag", str(second))[0] == 0  # a story never sent: as before
    code, out, err = run(capsys, "flag", str(first), "--force")
    assert code == 0 and f"flagged {first} for digest #2" in out, err
    assert {s["id"] for s in run_json(capsys, "stories", "--flagged")} == {first, second}
    assert run(capsys, "flag", str(first), "--blurb", "Still news")[0] == 0  # flagged now: no --force to edit it


def test_stories_text_output(loaded: Paths, capsys) -> None:
    code, out, _ = run(capsys, "stories", "--limit", "3")
    assert code == 0 and len(out.strip().splitlines()) == 3
    code, out, err = run(capsys, "stories", "--search", "zzzznotthere")
    assert code == 0 and out == "" and "no stories" in err


# -- exit codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["no-such-command"],
    ["stories", "--limit", "0"],
    ["stories", "--limit", "x"],
    ["stories", "--since", "yesterday-ish"],
    ["feeds", "remove", "abc"],
    ["flag"],
    ["refresh", "--bogus"],
    ["feeds"],
    ["config"],
])
def test_usage_errors_exit_2(digest_home: Paths, capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == ExitCode.USAGE
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["refresh"], ["refresh", "--feed", "3", "--feed", "4", "--json"], ["feeds", "add", "x", "--section", "S"],
    ["stories", "--since", "24h", "--limit", "5"], ["run", "--dry-run"], ["build"],
    ["cron", "--weekly", "--day", "tue"],
])
def test_the_one_command_parser_reads_as_the_whole_one(argv: list[str]) -> None:
    """main builds only the first argument's command parser (building all took ~7 ms of every start):
    it reads the same arguments, with the same defaults, as the whole parser."""
    import argparse

    from digest.cli import build_parser

    one = build_parser(argv[0])
    [commands] = [a for a in one._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(commands.choices) == [argv[0]]
    assert vars(one.parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_an_unknown_command_gets_the_whole_parser_and_its_list_of_commands(digest_home: Paths, capsys) -> None:
    code, _, err = run(capsys, "refreshh")
    assert code == ExitCode.USAGE
    assert "invalid choice: 'refreshh'" in err and "'refresh'" in err and "'build'" in err and "'cron'" in err


def test_exit_code_values_are_the_contract() -> None:
    assert [int(c) for c in (ExitCode.OK, ExitCode.FAILURE, ExitCode.USAGE, ExitCode.NOTHING_TO_SEND,
                             ExitCode.LOCKED)] == [0, 1, 2, 3, 75]


# -- as cron runs it ----------------------------------------------------------------------------------


def _digest(home: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIGEST_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "digest", *argv], capture_output=True, text=True, env=env,
                          cwd=cwd or home, timeout=60)


def test_subprocess_import_refresh_stories(tmp_path: Path, sample_feeds_dir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = _digest(home, "feeds", "import", "--allow-files", str(sample_feeds_dir / "feeds.opml"))
    assert r.returncode == 0, r.stderr
    r = _digest(home, "refresh", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] == 6 and report["new_stories"] == 60
    assert r.stderr == ""  # no progress bar without a terminal
    r = _digest(home, "stories", "--json", "--limit", "3")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 3
    assert (home / "data" / "digest.db").exists()


def test_subprocess_usage_error_and_no_tty(tmp_path: Path) -> None:
    r = _digest(tmp_path, "stories", "--limit", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = _digest(tmp_path)  # the TUI needs a terminal
    assert r.returncode == 2 and "terminal" in r.stderr
    r = _digest(tmp_path, "--version")
    assert r.returncode == 0 and "digest" in r.stdout


def test_the_quick_exit_keeps_output_exit_codes_and_atexit_handlers(tmp_path: Path) -> None:
    """console() ends the process without the interpreter's teardown once main returns: what it wrote to a
    pipe is all there (stdout flushed: the same as main's with the interpreter's exit), a failure's exit
    code is kept, and atexit handlers (logging's) still run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as from cron
    env.update(DIGEST_HOME=str(tmp_path), PYTHONPATH=str(REPO))

    def run(entry: str, *argv: str) -> subprocess.CompletedProcess[str]:
        code = ("import atexit, sys\n"
                "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
                f"from digest.cli import {entry}\n"
                "sys.argv = ['digest'] + sys.argv[1:]\n"
                f"raise SystemExit({entry}())\n")
        return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=60)

    for argv in (("config", "path"), ("completion", "bash")):  # a line still in stdout's buffer; 15 KB
        quick, usual = run("console", *argv), run("main", *argv)
        assert quick.returncode == usual.returncode == 0 and quick.stderr == usual.stderr == "atexit ran\n"
        assert quick.stdout == usual.stdout and quick.stdout.strip()
    r = run("console", "feeds", "remove", "12345")
    assert r.returncode == 1 and "12345" in r.stderr and r.stderr.endswith("atexit ran\n")


def test_feeds_add_follows_a_permanent_redirect(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    feed_server.redirect("/old.xml", "/new.xml", 301)
    feed_server.feed("/new.xml", simple_rss("new"))
    code, _, err = run(capsys, "feeds", "add", feed_server.url("/old.xml"))
    assert code == 0, err
    assert [f.url for f in feeds_in_store(digest_home)] == [feed_server.url("/new.xml")]


def test_feeds_add_site_with_a_json_feed_link(digest_home: Paths, feed_server: FeedServer, capsys) -> None:
    page = b'<html><head><link rel="alternate" type="application/feed+json" href="feed.json"></head></html>'
    feed_server.route("/site/", Response(200, {"Content-Type": "text/html"}, page))
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON site",
           "items": [{"id": "1", "title": "Hello", "url": "https://j.example/1"}]}
    feed_server.route("/site/feed.json", Response(200, {"Content-Type": "application/feed+json"},
                                                  json.dumps(doc).encode()))
    code, _, err = run(capsys, "feeds", "add", feed_server.url("/site/"), "--section", "Engineering")
    assert code == 0, err
    [feed] = feeds_in_store(digest_home)
    assert (feed.url, feed.title, feed.section) == (feed_server.url("/site/feed.json"), "JSON site", "Engineering")
