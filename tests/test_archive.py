"""The archive: files and manifest per issue, the static index, resumed issues reading their archived
bytes, and `digest archive list|show|open`."""

from __future__ import annotations

import email
import email.policy
import io
import json
from pathlib import Path

import pytest
from helpers_smtp import Recorder, config_toml, make_config, make_draft, recipients, smtp_server

from digest.cli import Ctx, main
from digest.core import archive
from digest.core.config import SectionConfig
from digest.core.mail import send_digest
from digest.core.paths import Paths
from digest.core.publish import strip_web_view
from digest.core.store import Store

FAST = (0.01,)


def cli(paths: Paths, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_every_issue_is_kept_with_a_manifest(store: Store, digest_home: Paths) -> None:
    ids = make_draft(store, 3)
    to = recipients(2)
    with smtp_server() as (ctl, rec):
        report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
    d = digest_home.archive_dir / "1"
    assert report.archive_dir == d
    assert {p.name for p in d.iterdir()} == {"index.html", "email.html", "digest.txt", "digest.eml", "manifest.json"}
    m = json.loads((d / "manifest.json").read_text())
    assert m["number"] == 1 and m["status"] == "sent" and m["subject"] == report.subject
    assert m["date"].endswith("Z") and m["sent_at"].endswith("Z")
    assert [s["id"] for s in m["stories"]] == ids
    assert m["stories"][0]["headline"] == "Story number 0 about things"
    assert m["stories"][0]["url"] == "https://news.example.org/story/0"
    assert [(r["address"], r["status"]) for r in m["recipients"]] == [(a, "sent") for a in to]
    assert all(r["message_id"] and r["reply"].startswith("250") for r in m["recipients"])
    assert m["delivery"] == "smtp" and m["delivery_counts"] == {"sent": 2}
    eml = email.message_from_bytes((d / "digest.eml").read_bytes(), policy=email.policy.default)
    assert eml["Subject"] == report.subject and "undisclosed-recipients" in eml["To"]
    assert not any(a in (d / "digest.eml").read_text() for a in to)  # the archive copy exposes nobody
    sent_html = rec.received[0].message.get_body(("html",)).get_content().replace("\r\n", "\n")
    page = (d / "index.html").read_text()
    assert '<meta property="og:title"' in page  # the web view carries OpenGraph tags; the email does not
    assert "og:title" not in sent_html
    assert strip_web_view(page).rstrip("\n") == sent_html.rstrip("\n")
    assert (d / "email.html").read_text().rstrip("\n") == sent_html.rstrip("\n")


def test_index_lists_issues_newest_first_and_escapes(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    draft = store.draft()
    assert draft is not None
    store.update_digest(draft.id, title="<script>alert(1)</script> & friends")
    cfg = make_config(1, recipients(1))
    cfg.smtp.host = ""
    archive.issue_files_only(store, cfg, digest_home)
    make_draft(store, 1, prefix="Second")
    archive.issue_files_only(store, cfg, digest_home)
    page = (digest_home.archive_dir / "index.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert page.index('href="2/"') < page.index('href="1/"')
    assert [m["number"] for m in archive.list_issues(digest_home)] == [2, 1]
    assert archive.list_issues(digest_home)[0]["delivery"] == "files"


def test_a_resumed_issue_goes_out_byte_for_byte_as_archived(store: Store, digest_home: Paths) -> None:
    """Between the failed first run and the rerun, the editor changes the title and theme: the rest of
    the recipients still get the issue as it was frozen."""
    make_draft(store, 2)
    to = recipients(3)
    rec = Recorder(reject={to[2]: "550 5.1.1 unknown"})
    with smtp_server(rec) as (ctl, _):
        cfg = make_config(ctl.port, to)
        send_digest(store, cfg, digest_home, retry_delays=FAST)
        cfg.newsletter.title = "A Renamed Newsletter"
        cfg.newsletter.theme = "plain"
        rec.reject.clear()
        send_digest(store, cfg, digest_home, retry_delays=FAST)
    msgs = [r.message for r in rec.received]
    assert len(msgs) == 3 and len({m["Subject"] for m in msgs}) == 1
    assert len({m.get_body(("html",)).get_content() for m in msgs}) == 1
    assert "Renamed" not in msgs[2]["Subject"]


def test_render_failure_gives_the_stories_back_to_the_draft(store: Store, digest_home: Paths,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import digest.core.render as render
    from digest.core.themes import ThemeError

    ids = make_draft(store, 2)

    def broken(*a: object, **k: object) -> None:
        make_draft(store, 1, prefix="Meanwhile")  # a flag made between the freeze and the failure
        raise ThemeError("email.html.j2:3: broken on purpose")

    monkeypatch.setattr(render, "render_digest", broken)
    with smtp_server() as (ctl, rec), pytest.raises(ThemeError):
        send_digest(store, make_config(ctl.port, recipients(2)), digest_home)
    digests = store.list_digests()
    assert [(d.number, d.status) for d in digests] == [(1, "draft")]
    assert len(store.digest_items(1)) == len(ids) + 1  # the meanwhile flag was merged back in
    assert store.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
    assert rec.received == []


def test_archive_cli(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    code, out, err = cli(digest_home, "archive", "list")
    assert code == 0 and "no issues archived yet" in out
    make_draft(store, 2)
    to = recipients(2)
    rec = Recorder(reject={to[1]: "550 nope"})
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        assert cli(digest_home, "send")[0] == 1
    code, out, err = cli(digest_home, "archive", "list")
    assert code == 0 and out.startswith("#1") and "1/2 sent (1 failed)" in out
    code, out, err = cli(digest_home, "archive", "list", "--json")
    [item] = json.loads(out)
    assert item["number"] == 1 and item["status"] == "built" and item["delivery_counts"] == {"sent": 1, "failed": 1}
    code, out, err = cli(digest_home, "archive", "show", "1", "--json")
    m = json.loads(out)
    assert code == 0 and [r["status"] for r in m["recipients"]] == ["sent", "failed"]
    code, out, err = cli(digest_home, "archive", "show", "1")
    assert code == 0 and "550 nope" in out and "Story number 1" in out
    code, out, err = cli(digest_home, "archive", "open", "1")
    assert code == 0 and out.strip() == str(digest_home.archive_dir / "1" / "index.html")
    code, out, err = cli(digest_home, "archive", "show", "7")
    assert code == 1 and "#7" in err


def test_the_manifest_and_the_feed_list_stories_in_the_issues_order(store: Store, digest_home: Paths) -> None:
    # sections in the config's order ("Top Stories" before "Startups"), not by name as the items table has them
    startups = make_draft(store, 2, section="Startups", prefix="Startup")
    top = make_draft(store, 2, section="Top Stories", prefix="Top")
    cfg = make_config(25, [])
    cfg.sections = [SectionConfig("Top Stories", 5), SectionConfig("Startups", 5)]
    archive.issue_files_only(store, cfg, digest_home)
    m = json.loads((digest_home.archive_dir / "1" / "manifest.json").read_text())
    assert [s["id"] for s in m["stories"]] == top + startups
    assert [s["section"] for s in m["stories"]] == ["Top Stories"] * 2 + ["Startups"] * 2
    code, out, _ = cli(digest_home, "archive", "show", "1")
    assert code == 0 and out.index("[Top Stories]") < out.index("[Startups]")
    feed = (digest_home.archive_dir / "feed.xml").read_text()
    assert feed.index("Top number 0") < feed.index("Startup number 0")
