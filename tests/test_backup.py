"""`digest store backup` taken while a refresh writes (issue 16): the copy restores to a store that passes
`digest store check` and has every flag.

The refresh is a real `digest refresh` process against feeds on 127.0.0.1; one feed holds its answer until
the backup is done, so the backup runs while the refresh has stored some feeds and still has the store open
and more to write. Nothing sleeps: the test waits on the stored story count and on the server's event.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

from feedserver import FeedServer, Request, Response, simple_rss
from helpers_smtp import make_config, make_draft, recipients, smtp_server, wait_for

from digest.cli import Ctx, main
from digest.core import archive
from digest.core.mail import send_digest
from digest.core.paths import Paths, get_paths
from digest.core.store import Store

REPO = Path(__file__).resolve().parent.parent
FEEDS = 24


def cli(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_a_backup_during_a_refresh_restores_with_every_flag(store: Store, digest_home: Paths, tmp_path: Path,
                                                            feed_server: FeedServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    flagged = set(make_draft(store, 12))
    release = threading.Event()

    def held(req: Request) -> Response:
        release.wait(120)
        return Response(200, {"Content-Type": "application/rss+xml"}, simple_rss("held", 20))

    for i in range(FEEDS):
        feed_server.feed(f"/f{i}.xml", simple_rss(f"f{i}", 20))
        store.add_feed(feed_server.url(f"/f{i}.xml"), title=f"Feed {i}")
    feed_server.route("/held.xml", held)
    store.add_feed(feed_server.url("/held.xml"), title="Held")
    before = store.count_stories()

    env = {**os.environ, "DIGEST_HOME": str(digest_home.config_dir), "PYTHONPATH": str(REPO)}
    refresh = subprocess.Popen([sys.executable, "-m", "digest", "refresh"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # every other feed stored: the refresh now waits for the held one, its store still open
        assert wait_for(lambda: store.count_stories() >= before + FEEDS * 20, timeout=120)
        assert refresh.poll() is None
        backup = tmp_path / "backup.db"
        code, out, err = cli(digest_home, "store", "backup", str(backup))
        assert code == 0, err
        assert refresh.poll() is None  # the backup did not wait for the refresh to end
    finally:
        release.set()
        out, err = refresh.communicate(timeout=120)
    assert refresh.returncode == 0, err
    assert store.count_stories() == before + (FEEDS + 1) * 20

    # restore into another home: the copy is the store as of one commit during the refresh
    other = tmp_path / "other"
    monkeypatch.setenv("DIGEST_HOME", str(other))
    paths = get_paths().ensure()
    code, out, err = cli(paths, "store", "restore", str(backup))
    assert code == 0, err
    code, out, err = cli(paths, "store", "check")
    assert (code, err) == (0, ""), err
    with Store(paths.db_file) as restored:
        assert {it.story.id for it in restored.digest_items()} == flagged
        assert restored.count_stories() >= before + FEEDS * 20
        assert restored.check_store().ok


_FILE_LIMIT = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
sys.argv = ["digest", *sys.argv[2:]]
runpy.run_module("digest", run_name="__main__")
"""


def test_a_backup_that_cannot_be_written_names_the_backup_not_the_store(store: Store, digest_home: Paths,
                                                                        tmp_path: Path) -> None:
    """The store's disk has room; the copy cannot be written (here a real limit on the size of any file
    the process writes, as a full disk under the backup would). The line named the store."""
    make_draft(store, 400)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = digest_home.db_file.stat().st_size
    assert size > 200_000
    backup = tmp_path / "backup.db"
    env = {**os.environ, "DIGEST_HOME": str(digest_home.config_dir), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _FILE_LIMIT, str(size // 4), "store", "backup", str(backup)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [f"digest: store error: cannot write the backup {backup}: disk I/O error"]
    assert not backup.exists() and list(tmp_path.glob(".backup.db.*")) == []  # no half-written copy left
    assert store.check_store().ok


def test_restore_refuses_a_backup_older_than_the_archives_last_issue(store: Store, digest_home: Paths,
                                                                     tmp_path: Path) -> None:
    """A backup from before issue #2 went out does not know #2: restored, the next run numbered its issue
    #2 again (overwriting #2's archive) and sent #2's stories to every reader a second time."""
    to = recipients(2)
    make_draft(store, 2, prefix="First")
    with smtp_server() as (ctl, rec):
        send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=(0.01,))
        backup = tmp_path / "before-2.db"
        assert cli(digest_home, "store", "backup", str(backup))[0] == 0
        make_draft(store, 2, prefix="Second")
        send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=(0.01,))
    assert [m["number"] for m in archive.list_issues(digest_home)] == [2, 1]
    store.close()

    code, out, err = cli(digest_home, "store", "restore", str(backup))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "issue #2" in err and "--force" in err and str(backup) in err
    assert not list(digest_home.data_dir.glob("digest.db.before-restore-*"))
    with Store(digest_home.db_file) as s:
        assert s.get_digest(number=2).status == "sent"  # the store is as it was

    code, out, err = cli(digest_home, "store", "restore", "--force", str(backup))
    assert code == 0, err
    with Store(digest_home.db_file) as s:
        assert [d.number for d in s.list_digests() if d.status == "sent"] == [1]
