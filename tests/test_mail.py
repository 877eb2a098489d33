"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS, implicit TLS, AUTH, faults,
and a process killed mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_smtp import (
    PASSWORD,
    USER,
    Authenticator,
    Recorder,
    config_toml,
    free_port,
    make_config,
    make_draft,
    recipients,
    smtp_server,
    tls_pair,
    wait_for,
)

from digest.core import mail, smtp
from digest.core.archive import issue_dir, load_manifest
from digest.core.mail import MailConfigError, NothingToSend, send_digest
from digest.core.paths import Paths
from digest.core.smtp import check_smtp, smtp_problems
from digest.core.store import Store

REPO = Path(__file__).resolve().parent.parent
FAST = (0.01, 0.01, 0.01)


def _rows(store: Store, digest_id: int = 1) -> dict[str, dict]:
    return {r["recipient"]: r for r in mail.deliveries(store, digest_id)}


# -- the happy path -----------------------------------------------------------------------------------

def test_one_message_per_recipient_over_one_connection(store: Store, digest_home: Paths) -> None:
    ids = make_draft(store, 3)
    to = recipients(4)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, to)
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert report.ok and sorted(report.sent) == sorted(to) and report.marked_sent
    assert rec.connections == 1, "the batch must reuse one SMTP connection"
    by = rec.by_rcpt()
    assert sorted(by) == sorted(to)
    assert all(len(v) == 1 for v in by.values())
    ids_seen = set()
    for addr, (got,) in by.items():
        msg = got.message
        assert got.rcpt_tos == [addr] and got.mail_from == "digest@example.org"
        assert msg["To"] == addr  # no exposed list
        for other in to:
            if other != addr:
                assert other.encode() not in got.data
        assert msg["List-Unsubscribe"].startswith("<https://example.org/unsub>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert "Story number 0" in msg.get_body(("plain",)).get_content()
        assert msg["Subject"] == report.subject
        ids_seen.add(msg["Message-ID"])
    assert len(ids_seen) == len(to), "Message-ID must be unique per recipient"
    rows = _rows(store)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert all(r["reply"].startswith("250") and r["attempts"] == 1 for r in rows.values())
    assert {r["message_id"] for r in rows.values()} == ids_seen
    d = store.get_digest(number=1)
    assert d.status == "sent"
    assert all(s.read for s in store.stories_by_ids(ids))
    m = load_manifest(digest_home, 1)
    assert m and m["status"] == "sent" and [r["status"] for r in m["recipients"]] == ["sent"] * 4


def test_flags_made_during_a_send_go_into_a_new_draft(store: Store, digest_home: Paths) -> None:
    make_draft(store, 2)
    late = make_draft(store, 1, prefix="Late")  # flagged now: part of this issue
    extra: list[int] = []

    def during(done: int, total: int, r: str, status: str) -> None:
        if done == 1:  # the TUI flags a story while the batch is going out
            extra.extend(make_draft(store, 1, prefix="Meanwhile"))

    with smtp_server() as (ctl, rec):
        send_digest(store, make_config(ctl.port, recipients(2)), digest_home, on_progress=during, retry_delays=FAST)
    assert store.get_digest(number=1).status == "sent"
    assert late[0] in [it.story.id for it in store.digest_items(1)]
    draft = store.draft()
    assert draft is not None and draft.number == 2
    assert [it.story.id for it in store.digest_items(draft.id)] == extra
    assert not store.get_story(extra[0]).read  # not marked sent


def test_a_flag_that_lands_in_the_frozen_issue_is_moved_to_the_next_draft(store: Store, digest_home: Paths
                                                                         ) -> None:
    """Store.flag looks the draft up before its transaction: a flag racing the freeze can land in the
    frozen issue after it was rendered. It must go out next time, not be marked sent unseen."""
    make_draft(store, 2)
    racer = make_draft(store, 1, prefix="Racer")[0]
    store.unflag(racer)

    def during(done: int, total: int, r: str, status: str) -> None:
        if done == 1:
            with store.tx() as db:
                db.execute("INSERT INTO digest_items(digest_id, story_id, section, position) VALUES (1, ?, 'X', 9)",
                           (racer,))

    with smtp_server() as (ctl, rec):
        send_digest(store, make_config(ctl.port, recipients(2)), digest_home, on_progress=during, retry_delays=FAST)
    assert racer not in [it.story.id for it in store.digest_items(1)]
    draft = store.draft()
    assert draft is not None and racer in [it.story.id for it in store.digest_items(draft.id)]
    assert not store.get_story(racer).read


def test_an_unflag_that_lands_in_the_frozen_issue_keeps_the_sent_story(store: Store, digest_home: Paths) -> None:
    """The mirror race: an unflag meant for the draft deletes an item of the frozen, rendered issue. The
    story went out, so it stays in the issue and is marked sent (never selected again)."""
    ids = make_draft(store, 3)

    def during(done: int, total: int, r: str, status: str) -> None:
        if done == 1:
            with store.tx() as db:
                db.execute("DELETE FROM digest_items WHERE digest_id = 1 AND story_id = ?", (ids[1],))

    with smtp_server() as (ctl, rec):
        send_digest(store, make_config(ctl.port, recipients(2)), digest_home, on_progress=during, retry_delays=FAST)
    assert sorted(it.story.id for it in store.digest_items(1)) == ids
    assert store.get_story(ids[1]).read
    assert store.db.execute("SELECT count(*) FROM sent_links").fetchone()[0] == 3


def test_nothing_to_send(store: Store, digest_home: Paths) -> None:
    with pytest.raises(NothingToSend):
        send_digest(store, make_config(free_port(), recipients(1)), digest_home)
    assert store.list_digests() == [] or store.list_digests()[0].status == "draft"


def test_rate_limit_spaces_messages(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, recipients(5), rate_per_s=25.0)
        t = time.monotonic()
        send_digest(store, cfg, digest_home, retry_delays=FAST)
        elapsed = time.monotonic() - t
    assert len(rec.received) == 5
    assert elapsed >= 4 / 25 - 0.01


# -- TLS and AUTH ----------------------------------------------------------------------------------------

def test_starttls_with_auth(store: Store, digest_home: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    server_ctx, ca = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("DIGEST_TEST_SMTP_PW", PASSWORD)
    make_draft(store, 2)
    auth = Authenticator()
    with smtp_server(starttls=server_ctx, auth=auth) as (ctl, rec):
        cfg = make_config(ctl.port, recipients(3), security="starttls", username=USER)
        assert check_smtp(cfg) == []
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert report.ok and len(rec.received) == 3
    assert auth.attempts[-1] == (USER, PASSWORD) and rec.tls_sessions >= 1
    _assert_secret_nowhere(digest_home, PASSWORD)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(store: Store, digest_home: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_ctx, ca = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("DIGEST_TEST_SMTP_PW", PASSWORD)
    make_draft(store, 1)
    auth = Authenticator()
    # aiosmtpd only counts STARTTLS as TLS when deciding to offer AUTH; this connection is TLS from the start
    with smtp_server(implicit_tls=server_ctx, auth=auth, auth_require_tls=False) as (ctl, rec):
        cfg = make_config(ctl.port, recipients(2), security="ssl", username=USER)
        assert check_smtp(cfg) == []
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert report.ok and len(rec.received) == 2 and auth.attempts[-1] == (USER, PASSWORD)


def test_untrusted_certificate_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_ctx, _ca = tls_pair(tmp_path)  # the CA is not trusted: no SSL_CERT_FILE
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with smtp_server(starttls=server_ctx) as (ctl, rec):
        problems = check_smtp(make_config(ctl.port, ["a@example.net"], security="starttls"))
    assert len(problems) == 1
    assert f"127.0.0.1:{ctl.port}" in problems[0] and "STARTTLS" in problems[0] and "certificate" in problems[0]


def test_starttls_missing_is_named() -> None:
    with smtp_server() as (ctl, rec):
        problems = check_smtp(make_config(ctl.port, ["a@example.net"], security="starttls"))
    assert problems and "STARTTLS" in problems[0] and f"127.0.0.1:{ctl.port}" in problems[0]


def test_auth_failure_names_step_and_never_the_password(store: Store, digest_home: Paths, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    server_ctx, ca = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    wrong = "Wr0ng-horse-battery"
    monkeypatch.setenv("DIGEST_TEST_SMTP_PW", wrong)
    make_draft(store, 1)
    with smtp_server(starttls=server_ctx, auth=Authenticator()) as (ctl, rec):
        cfg = make_config(ctl.port, recipients(3), security="starttls", username=USER)
        problems = check_smtp(cfg)
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert len(problems) == 1 and "AUTH" in problems[0] and f"127.0.0.1:{ctl.port}" in problems[0]
    assert wrong not in problems[0]
    assert sorted(report.failed) == recipients(3) and not report.sent and not rec.received
    assert all("AUTH" in why and wrong not in why for why in report.failed.values())
    assert store.get_digest(number=1).status == "built"  # nothing went out: a rerun tries again
    _assert_secret_nowhere(digest_home, wrong)


def test_connect_refused_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    problems = check_smtp(make_config(port, ["a@example.net"]), timeout=2)
    assert problems and f"127.0.0.1:{port}" in problems[0] and "connect" in problems[0]


def _assert_secret_nowhere(paths: Paths, secret: str) -> None:
    for f in Path(paths.data_dir).rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    for f in Path(paths.log_dir).rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


# -- settings ---------------------------------------------------------------------------------------------

def test_smtp_problems_name_each_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.core.config import Config

    monkeypatch.delenv("DIGEST_SMTP_PASSWORD", raising=False)
    cfg = Config()
    cfg.smtp.username = "me"
    problems = "\n".join(smtp_problems(cfg))
    for key in ("smtp.host", "newsletter.from", "newsletter.to", "newsletter.postal_address",
                "newsletter.unsubscribe_url", "DIGEST_SMTP_PASSWORD"):
        assert key in problems
    ready = make_config(25, ["a@example.net"])
    assert smtp_problems(ready) == []
    ready.newsletter.unsubscribe_url = "http://example.org/u"
    assert "https://" in smtp_problems(ready)[0]


def test_password_cmd(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(25, ["a@example.net"], username="me", password_cmd="printf 'from-the-vault\\nignored\\n'")
    assert smtp.smtp_password(cfg.smtp) == "from-the-vault"
    assert smtp_problems(cfg) == []
    cfg.smtp.password_cmd = "echo hunter2-secret; echo 'vault locked' >&2; exit 4"
    problems = smtp_problems(cfg)
    # the exit status, never the output: a failing password manager may still print the secret
    assert problems == ["smtp.password_cmd failed (exit 4); run it by hand to see why"]
    with pytest.raises(MailConfigError, match="exit 4"):
        smtp.smtp_password(cfg.smtp)


def test_send_refuses_incomplete_settings(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    cfg = make_config(25, ["a@example.net"])
    cfg.newsletter.postal_address = ""
    with pytest.raises(MailConfigError, match="postal_address"):
        send_digest(store, cfg, digest_home)
    assert store.draft() is not None and store.draft().status == "draft"  # nothing frozen


# -- faults ------------------------------------------------------------------------------------------------

def test_rejected_recipient_is_reported_and_a_rerun_sends_only_to_it(store: Store, digest_home: Paths) -> None:
    make_draft(store, 2)
    to = recipients(4)
    rec = Recorder(reject={to[1]: "550 5.1.1 no such user here"})
    with smtp_server(rec) as (ctl, _):
        cfg = make_config(ctl.port, to)
        first = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert list(first.failed) == [to[1]] and "550 5.1.1" in first.failed[to[1]]
        assert sorted(first.sent) == sorted(set(to) - {to[1]})
        assert store.get_digest(number=1).status == "built" and not first.marked_sent
        assert _rows(store)[to[1]]["status"] == "failed"
        # a flag made now belongs to the next issue, even though #1 is not finished
        make_draft(store, 1, prefix="Next")
        rec.reject.clear()
        second = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert second.resumed and second.digest_number == 1
    assert second.sent == [to[1]] and sorted(second.skipped) == sorted(set(to) - {to[1]})
    assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
    subjects = {r.message["Subject"] for r in rec.received}
    assert len(subjects) == 1  # the same issue
    assert store.get_digest(number=1).status == "sent"
    assert store.draft() is not None and store.draft().number == 2


def test_connection_dropped_mid_batch_is_retried(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    to = recipients(5)
    rec = Recorder(drop_at_mail={3})
    with smtp_server(rec) as (ctl, _):
        report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
    assert report.ok and sorted(report.sent) == sorted(to)
    assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
    assert rec.connections == 2
    assert _rows(store)[to[2]]["attempts"] == 1  # dropped at MAIL FROM: 'sending' was never recorded
    assert "connection" in _rows(store)[to[2]]["reply"] or _rows(store)[to[2]]["reply"].startswith("250")


def test_4xx_then_accept(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    to = recipients(3)
    rec = Recorder(tempfail={to[0]: 2})
    with smtp_server(rec) as (ctl, _):
        report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
    assert report.ok and sorted(report.sent) == sorted(to)
    assert len(rec.by_rcpt()[to[0]]) == 1
    assert _rows(store)[to[0]]["status"] == "sent"


def test_4xx_forever_gives_up_and_reports(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    to = recipients(2)
    rec = Recorder(tempfail={to[0]: 99})
    with smtp_server(rec) as (ctl, _):
        report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
    assert report.sent == [to[1]]
    assert "gave up after 4 attempts" in report.failed[to[0]] and "451" in report.failed[to[0]]


def test_reply_lost_after_data_is_unknown_and_not_resent(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    to = recipients(3)
    rec = Recorder(drop_after_data_for=to[1])
    with smtp_server(rec) as (ctl, _):
        cfg = make_config(ctl.port, to)
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert report.unknown == [to[1]] and report.ok
        assert sorted(report.sent) == [to[0], to[2]]
        assert _rows(store)[to[1]]["status"] == "sending"
        assert load_manifest(digest_home, 1)["recipients"][1]["status"] == "unknown"
        assert {a: len(v) for a, v in rec.by_rcpt().items()} == dict.fromkeys(to, 1)
        # --force-unknown resends it, with the same Message-ID so providers can drop the duplicate
        first_id = rec.by_rcpt()[to[1]][0].message["Message-ID"]
        again = send_digest(store, cfg, digest_home, force_unknown=True, retry_delays=FAST)
    assert again.sent == [to[1]]
    copies = rec.by_rcpt()[to[1]]
    assert len(copies) == 2 and copies[1].message["Message-ID"] == first_id


# -- dry run and proofs ------------------------------------------------------------------------------------

def test_dry_run_writes_messages_to_the_archive(store: Store, digest_home: Paths) -> None:
    make_draft(store, 2)
    to = recipients(3)
    report = send_digest(store, make_config(free_port(), to), digest_home, dry_run=True)
    assert len(report.dry_run_paths) == 3
    assert all(p.parent == issue_dir(digest_home, 1) / "dry-run" for p in report.dry_run_paths)
    import email
    import email.policy

    got = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"] for p in report.dry_run_paths]
    assert got == to
    assert "dry run" in report.summary_line() and str(issue_dir(digest_home, 1)) in report.summary_line()
    assert store.draft() is not None and mail.deliveries(store, store.draft().id) == []  # nothing recorded


def test_proof_to_goes_only_to_the_given_address(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        report = send_digest(store, make_config(ctl.port, recipients(3)), digest_home, to=["editor@example.com"])
    assert report.proof and report.sent == ["editor@example.com"]
    assert [r.rcpt_tos for r in rec.received] == [["editor@example.com"]]
    assert store.draft() is not None and store.draft().number == 1  # still a draft
    assert mail.deliveries(store, 1) == []


# -- a process killed mid-batch ---------------------------------------------------------------------------

def _send_proc(home: Path) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "DIGEST_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "digest", "send"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("where", ["after-data", "before-data"])
def test_sigkill_mid_batch_then_rerun_every_recipient_gets_exactly_one(
        store: Store, digest_home: Paths, tmp_path: Path, where: str) -> None:
    make_draft(store, 2)
    to = recipients(5)
    rec = Recorder()
    if where == "after-data":
        rec.hold_data_for = to[2]  # the server has the message; the client dies before hearing 250
    else:
        rec.hold_at_mail = 3  # the client dies before DATA: the server never had it
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        proc = _send_proc(tmp_path)
        assert wait_for(rec.held.is_set, 30), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        rec.release.set()
        state = _rows(store)
        assert state[to[0]]["status"] == state[to[1]]["status"] == "sent"
        assert state[to[2]]["status"] == ("sending" if where == "after-data" else "queued")
        assert store.get_digest(number=1).status == "built"
        rerun = _send_proc(tmp_path)
        out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    line = out.decode()
    assert "digest #1" in line
    counts = {a: len(v) for a, v in rec.by_rcpt().items()}
    assert counts == dict.fromkeys(to, 1), counts
    if where == "after-data":
        assert "unknown" in line and to[2] in line
    assert store.get_digest(number=1).status == "sent"
    m = json.loads((issue_dir(digest_home, 1) / "manifest.json").read_text())
    assert m["status"] == "sent" and len(m["recipients"]) == 5


def test_send_cli_exit_codes(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    import io

    from digest.cli import Ctx, main

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), ctx=Ctx(digest_home, stdout=out, stderr=err))
        return code, out.getvalue(), err.getvalue()

    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)))
        assert run("send")[0] == 3  # empty draft
        make_draft(store, 1)
        code, out, err = run("send", "--dry-run")
        assert code == 0 and "dry-run" in out and not rec.received
        code, out, err = run("send", "--to", "bad addr")  # no proof to "bad": refused, nothing sent
        assert code == 2 and "--to: not an email address: 'bad'" in err and "'bad addr'" in err, err
        code, out, err = run("send", "--to", "me@example.com", "--json")
        assert code == 0 and json.loads(out)["sent"] == ["me@example.com"]
        code, out, err = run("send")
        assert code == 0 and "sent to 2 recipient(s)" in out
        assert run("send")[0] == 3  # nothing new: nobody gets it twice
    assert len(rec.received) == 3
    (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)).replace("postal_address", "#"))
    make_draft(store, 1, prefix="More")
    code, out, err = run("send")
    assert code == 2 and "postal_address" in err


def test_errors_are_scrubbed_of_the_password() -> None:
    """smtplib's own exceptions can carry server text; our errors never carry the password."""
    conn = smtp.Connection(make_config(1, ["a@b.c"]).smtp, "pw-Zz9")
    assert conn._scrub("x pw-Zz9 y") == "x *** y"


# -- the per-recipient template ------------------------------------------------------------------------

def _norm_boundary(b: bytes) -> bytes:
    import re

    return re.sub(rb"=+[0-9]+==", b"B", b)


def test_template_copy_is_what_email_would_flatten() -> None:
    from digest.core.config import NewsletterConfig
    from digest.core.message import POLICY, build_message

    nl = NewsletterConfig(from_="Zoë Digest <d@example.org>", unsubscribe_url="https://x.org/u", reply_to="r@x.org")
    kw = dict(subject="Ünïcode subject that is long enough to fold " * 3, html="<p>" + "héllo " * 5000 + "</p>\n.\n",
              text="text ü\n.\n..\n")
    t = mail._Template(build_message(nl, to="x", **kw))  # type: ignore[arg-type]
    for rcpt in ["plain@example.net", '"Doe, Jane" <jane@example.net>',
                 "Zoë Ürsula Ümlaut-Long-Name-Person With A Very Long Name Indeed <zoe@example.net>"]:
        ref = build_message(nl, to=rcpt, message_id="<id1@example.org>", date=0, **kw).as_bytes(policy=POLICY)  # type: ignore[arg-type]
        assert _norm_boundary(t.render(rcpt, "<id1@example.org>", 0)) == _norm_boundary(ref)


def test_template_matches_email_for_any_display_name() -> None:
    """Property: for any display name, the per-recipient copy is byte-for-byte what EmailMessage gives
    (the envelope recipient comes from the address alone, so a strange name can never redirect mail)."""
    from email.utils import formataddr

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from digest.core.config import NewsletterConfig
    from digest.core.message import POLICY, build_message

    nl = NewsletterConfig(from_="d@example.org")
    t = mail._Template(build_message(nl, subject="s", html="<p>h</p>", text="t", to="x"))

    @settings(max_examples=200, deadline=None)
    @given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80))
    def check(name: str) -> None:
        rcpt = formataddr((name, "reader@example.net"))
        ref = build_message(nl, subject="s", html="<p>h</p>", text="t", to=rcpt, message_id="<m@example.org>",
                            date=0).as_bytes(policy=POLICY)
        assert _norm_boundary(t.render(rcpt, "<m@example.org>", 0)) == _norm_boundary(ref)

    check()


def test_password_cmd_runs_once_per_send(store: Store, digest_home: Paths, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server_ctx, ca = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    calls = tmp_path / "calls"
    make_draft(store, 1)
    with smtp_server(starttls=server_ctx, auth=Authenticator()) as (ctl, rec):
        cfg = make_config(ctl.port, recipients(3), security="starttls", username=USER,
                          password_cmd=f"echo x >> {calls}; echo '{PASSWORD}'")
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
    assert report.ok and len(rec.received) == 3
    assert calls.read_text().count("x") == 1  # a password manager is asked once, not per message
    _assert_secret_nowhere(digest_home, PASSWORD)


def test_send_refuses_while_another_process_delivers(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """`digest send` by hand while cron's `digest run` delivers (here: the test holds the run lock)."""
    from digest.core.lock import RunLock

    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, recipients(2)))
        with RunLock(digest_home.lock_file):
            proc = _send_proc(tmp_path)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 75 and f"process {os.getpid()}" in err.decode()
        assert store.draft() is not None and store.draft().status == "draft"  # nothing frozen
        assert rec.received == []
        proc = _send_proc(tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and len(rec.received) == 2


def test_a_second_sender_cannot_claim_a_recipient(store: Store, digest_home: Paths) -> None:
    """Defence in depth behind the lock: the queued -> sending step is conditional."""
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, recipients(3))

        def steal(done: int, total: int, r: str, status: str) -> None:
            if done == 1:  # someone else moves recipient 2 to 'sending' behind our back
                with store.tx() as db:
                    db.execute("UPDATE deliveries SET status = 'sending' WHERE recipient = ?", (recipients(3)[1],))

        report = send_digest(store, cfg, digest_home, on_progress=steal, retry_delays=FAST)
    assert recipients(3)[1] in report.skipped
    assert [r.rcpt_tos for r in rec.received] == [[recipients(3)[0]], [recipients(3)[2]]]


def test_header_injection_is_refused() -> None:
    from digest.core.config import NewsletterConfig
    from digest.core.message import build_message

    t = mail._Template(build_message(NewsletterConfig(from_="d@example.org"), subject="s", html="h", text="t", to="x"))
    with pytest.raises(ValueError, match="line breaks"):
        t.render("a@example.net\r\nBcc: everyone@example.net", "<m@example.org>")
    cfg = make_config(25, ["a@example.net\nBcc: b@example.net"])
    assert any("newsletter.to" in p for p in smtp_problems(cfg))


@pytest.mark.slow
def test_repeated_random_kills_never_duplicate(store: Store, digest_home: Paths, tmp_path: Path) -> None:
    """Kill the sender at random moments, over and over, then let it finish: nobody ever has two copies,
    every 'sent' recipient has exactly one, and only recipients reported unknown may have none."""
    import random

    make_draft(store, 1)
    to = recipients(25)
    rec = Recorder(data_delay=0.03)
    rnd = random.Random(5)
    with smtp_server(rec) as (ctl, _):
        (tmp_path / "config.toml").write_text(config_toml(ctl.port, to))
        for _ in range(6):
            target = len(rec.received) + rnd.randint(1, 4)
            proc = _send_proc(tmp_path)
            wait_for(lambda t=target, p=proc: len(rec.received) >= t or p.poll() is not None, 60)
            time.sleep(rnd.uniform(0, 0.04))  # anywhere in the next message's transaction
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        final = _send_proc(tmp_path)
        final.communicate(timeout=120)
    assert final.returncode in (0, 3)  # 3: a "killed" run had already finished the issue
    resumes = (digest_home.log_dir / "digest.log").read_text().count("resuming it")
    assert resumes >= 2, "the kills should have interrupted several batches"
    counts = {a: len(v) for a, v in rec.by_rcpt().items()}
    rows = _rows(store)
    assert max(counts.values()) == 1, counts
    for addr, row in rows.items():
        if row["status"] == "sent":
            assert counts.get(addr) == 1, addr
        else:
            assert row["status"] == "sending" and counts.get(addr, 0) <= 1, (addr, row)
    assert store.get_digest(number=1).status == "sent"


def test_config_check_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_ctx, ca = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("DIGEST_TEST_SMTP_PW", PASSWORD)
    with smtp_server(starttls=server_ctx, auth=Authenticator()) as (ctl, rec):
        cfg = make_config(ctl.port, recipients(1), security="starttls", username=USER)
        assert smtp.config_check_smtp(cfg) == []
        cfg.newsletter.postal_address = ""
        monkeypatch.setenv("DIGEST_TEST_SMTP_PW", "wrong")
        problems = smtp.config_check_smtp(cfg)
    assert any("postal_address" in p for p in problems)
    assert any(f"127.0.0.1:{ctl.port}: AUTH failed" in p for p in problems)
    assert rec.received == []
    monkeypatch.delenv("DIGEST_TEST_SMTP_PW")
    problems = smtp.config_check_smtp(make_config(ctl.port, recipients(1), username=USER))
    assert problems == ["smtp.username is set but the environment variable DIGEST_TEST_SMTP_PW is not set "
                        "(set it, or use smtp.password_cmd)"]


def test_a_non_ascii_address_fails_alone(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    to = ["ascii@example.net", "zoë@example.net", "other@example.net"]
    with smtp_server() as (ctl, rec):
        report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
    assert list(report.failed) == ["zoë@example.net"] and "SMTPUTF8" in report.failed["zoë@example.net"]
    assert sorted(report.sent) == ["ascii@example.net", "other@example.net"]


def test_an_issue_every_address_of_which_is_refused_waits_for_the_settings_to_be_fixed(
        store: Store, digest_home: Paths) -> None:
    """A relay that refuses every recipient (550 relaying denied: no login configured) refuses the sender,
    not the addresses: the issue is not finished without its readers however often it is tried."""
    make_draft(store, 2)
    to = recipients(2)
    rec = Recorder(reject=dict.fromkeys(to, "550 5.7.1 relaying denied"))
    with smtp_server(rec) as (ctl, _):
        for _ in range(3):
            report = send_digest(store, make_config(ctl.port, to), digest_home, retry_delays=FAST)
            assert set(report.failed) == set(to) and not report.given_up and not report.marked_sent
    assert store.get_digest(number=1).status == "built"
