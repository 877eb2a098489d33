"""Subscribers: the table and its commands, newsletter.to merged in, one unsubscribe URL per reader (an
HMAC token, never the address), and an unsubscribed address never sent to again, also by a resumed
issue. Delivery runs against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_smtp import make_config, make_draft, recipients, smtp_server

from digest.cli import Ctx, main
from digest.core import archive, subscribers
from digest.core.mail import send_digest
from digest.core.paths import Paths, get_paths
from digest.core.store import Store

FAST = (0.01,)
UNSUB = "https://example.org/unsubscribe?t={token}"
REPO = Path(__file__).resolve().parent.parent


def cli(paths: Paths, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ctx=Ctx(paths, stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_add_list_remove_import_export(store: Store, digest_home: Paths, tmp_path) -> None:
    code, out, err = cli(digest_home, "subscribers", "add", "Ann <ann@example.net>", "bob@example.net")
    assert code == 0 and "added 2" in out, err
    assert cli(digest_home, "subscribers", "add", "ann@EXAMPLE.NET")[1].strip() == "added 0, 1 already listed"
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("Name,Email\nCara,cara@example.net\n,dan@example.net\n", encoding="utf-8")
    code, out, err = cli(digest_home, "subscribers", "import", str(csv_file))
    assert code == 0 and "2 addresses, 2 added" in out, err
    rows = json.loads(cli(digest_home, "subscribers", "list", "--json")[1])
    assert [r["address"] for r in rows] == ["ann@example.net", "bob@example.net", "cara@example.net", "dan@example.net"]
    assert rows[2]["name"] == "Cara" and rows[2]["source"] == "import:people.csv"
    assert rows[0]["name"] == "Ann"  # from "Ann <ann@example.net>"
    assert rows[0]["added_at"].endswith("Z") and rows[0]["unsubscribed_at"] is None  # ISO dates, as elsewhere
    assert all(len(r["token"]) == 26 and "@" not in r["token"] for r in rows)  # never the address in clear
    assert cli(digest_home, "subscribers", "remove", "bob@example.net")[0] == 0
    code, out, _ = cli(digest_home, "subscribers", "export")
    assert out.splitlines()[0] == "email,name,status,source,token" and "bob@" not in out and "cara@" in out
    key = digest_home.data_dir / subscribers.SECRET_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64


@pytest.mark.parametrize(("argv", "message"), [
    (("add", "not-an-address"), "not an email address: 'not-an-address'"),
    (("import", "/nonexistent/x.csv"), "/nonexistent/x.csv: cannot read"),
])
def test_bad_input_is_one_line_and_exit_2(store: Store, digest_home: Paths, argv, message) -> None:
    code, out, err = cli(digest_home, "subscribers", *argv)
    assert code == 2 and message in err and "Traceback" not in err, (out, err)


def test_an_unknown_token_is_one_line_and_exit_1(store: Store, digest_home: Paths) -> None:
    # not a usage error: the command line was right, the token is not one digest made (see below)
    code, out, err = cli(digest_home, "subscribers", "unsubscribe", "zzzz")
    assert code == 1 and out == ""
    assert err.splitlines() == ["digest: unknown unsubscribe token 'zzzz' (no subscriber or newsletter.to address "
                                "has it)"]


def unsubscribe_as_cron(paths: Paths, stdin: bytes, *values: str) -> tuple[int, str, str]:
    """`... | digest subscribers unsubscribe -` as cron runs it: a real process under env -i."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(paths.config_dir), "DIGEST_HOME": str(paths.config_dir)}
    r = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], sys.executable, "-m", "digest",
                        "subscribers", "unsubscribe", *(values or ("-",))],
                       cwd=REPO, input=stdin, capture_output=True, timeout=120)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_unsubscribe_from_stdin_records_every_good_line_and_names_each_bad_one(store: Store,
                                                                              digest_home: Paths) -> None:
    subscribers.add(store, digest_home, [(a, "") for a in ("ann@example.net", "bob@example.net", "cy@example.net",
                                                          "dee@example.net")], "cli")
    key = subscribers.secret(digest_home)
    assert cli(digest_home, "subscribers", "unsubscribe", "cy@example.net")[0] == 0  # done an earlier day
    lines = [
        subscribers.token_for(key, "ann@example.net").encode(),  # 1
        b"",  # 2: blank lines are skipped, but counted
        b"nonsense-token",  # 3
        b"  Bob <bob@example.net>  ",  # 4: one value a line, spaces and all
        b"x" * 500,  # 5: cropped in the message
        b"cy@example.net",  # 6: already
        b"\xff\xfe not utf-8",  # 7: a stray byte fails its own line only
        subscribers.token_for(key, "dee@example.net").upper().encode(),  # 8: tokens in any case
    ]
    code, out, err = unsubscribe_as_cron(digest_home, b"\r\n".join(lines) + b"\r\n")
    assert code == 1, (out, err)
    assert out.splitlines() == [
        "unsubscribed: ann@example.net", "unsubscribed: bob@example.net", "already unsubscribed: cy@example.net",
        "unsubscribed: dee@example.net", "3 unsubscribed, 1 already unsubscribed, 3 lines not understood"]
    bad = err.splitlines()
    assert len(bad) == 3 and "Traceback" not in err, err
    assert bad[0] == ("digest: standard input line 3: unknown unsubscribe token 'nonsense-token' (no subscriber "
                      "or newsletter.to address has it)")
    assert bad[1].startswith("digest: standard input line 5: unknown unsubscribe token '" + "x" * 60 + "...' (")
    assert bad[2].startswith("digest: standard input line 7: unknown unsubscribe token '\ufffd\ufffd not utf-8'")
    assert {r["address"]: r["status"] for r in store.subscribers()} == dict.fromkeys(
        ("ann@example.net", "bob@example.net", "cy@example.net", "dee@example.net"), "unsubscribed")

    # every line understood: exit 0, the summary and nothing on stderr; no lines at all: nothing printed
    subscribers.add(store, digest_home, [("eve@example.net", "")], "cli")
    code, out, err = unsubscribe_as_cron(digest_home, b"eve@example.net\nann@example.net\n")
    assert (code, err) == (0, "") and out.splitlines()[-1] == "1 unsubscribed, 1 already unsubscribed"
    assert unsubscribe_as_cron(digest_home, b"") == (0, "", "")
    assert unsubscribe_as_cron(digest_home, b"\n  \n") == (0, "", "")
    # arguments are named by their place when there are several
    code, out, err = unsubscribe_as_cron(digest_home, b"", "ann@example.net", "nope")
    assert code == 1 and err.startswith("digest: argument 2: unknown unsubscribe token 'nope'")
    assert out.splitlines()[-1] == "0 unsubscribed, 1 already unsubscribed, 1 value not understood"


def test_unsubscribe_help_states_the_contract(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["subscribers", "unsubscribe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "named on stderr" in text and "N unsubscribed, M lines not understood" in text
    assert "1 some value not understood (the rest are recorded)" in text


def test_a_bad_csv_row_stores_nothing(store: Store, digest_home: Paths, tmp_path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("email\nok@example.net\nnope\n", encoding="utf-8")
    code, _, err = cli(digest_home, "subscribers", "import", str(f))
    assert code == 2 and "bad.csv: line 3: not an email address: 'nope' (nothing imported)" in err
    assert store.subscribers() == []


def test_each_reader_gets_their_own_unsubscribe_link_and_it_works(store: Store, digest_home: Paths,
                                                                 monkeypatch) -> None:
    to = recipients(2)  # newsletter.to
    subscribers.add(store, digest_home, [("sub@example.net", "Sub")], "cli")
    make_draft(store, 2)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, to)
        cfg.newsletter.unsubscribe_url = UNSUB
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert sorted(report.sent) == sorted([*to, "sub@example.net"])
        got = {r.rcpt_tos[0]: r.message for r in rec.received}
    key = subscribers.secret(digest_home)
    tokens = {}
    for address, msg in got.items():
        token = subscribers.token_for(key, address)
        tokens[address] = token
        assert msg["List-Unsubscribe"].startswith(f"<https://example.org/unsubscribe?t={token}>")
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert f'href="https://example.org/unsubscribe?t={token}"' in html and f"?t={token}" in text
        assert "{token}" not in html and address not in msg["List-Unsubscribe"]
    assert len(set(tokens.values())) == 3
    # the public web view carries no reader's token; the archive keeps the mailed template
    page = (digest_home.archive_dir / "1" / "index.html").read_text()
    assert "{token}" not in page and not any(t in page for t in tokens.values())
    # the web form's token comes back: that reader is recorded and skipped from now on
    code, out, err = cli(digest_home, "subscribers", "unsubscribe", tokens["reader2@example.net"])
    assert code == 0 and "unsubscribed: reader2@example.net" in out, err
    code, out, _ = cli(digest_home, "subscribers", "unsubscribe", "-", monkeypatch=monkeypatch,
                       stdin=f"{tokens['sub@example.net']}\n{tokens['sub@example.net']}\n")
    assert out.splitlines() == ["unsubscribed: sub@example.net", "already unsubscribed: sub@example.net",
                                "1 unsubscribed, 1 already unsubscribed"]
    assert subscribers.recipients(store, cfg) == ["reader1@example.net"]
    make_draft(store, 1, prefix="Next")
    with smtp_server() as (ctl, rec):
        cfg.smtp.port = ctl.port
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert report.sent == ["reader1@example.net"]
        assert [r.rcpt_tos for r in rec.received] == [["reader1@example.net"]]
    # a stale CSV cannot bring an unsubscribed reader back
    assert subscribers.add(store, digest_home, [("sub@example.net", "")], "import:old.csv") == (0, 1)
    assert "sub@example.net" not in subscribers.recipients(store, cfg)


def test_a_resumed_issue_skips_who_unsubscribed_after_the_freeze(store: Store, digest_home: Paths) -> None:
    to = recipients(3)
    make_draft(store, 2)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, to)
        cfg.newsletter.unsubscribe_url = UNSUB
        # an earlier run froze the issue and queued everyone, then died before sending
        issue = archive.issue_for_delivery(store, cfg, digest_home, recipients=subscribers.recipients(store, cfg))
        assert [r["recipient"] for r in store.deliveries(issue.digest_id)] == to
        assert cli(digest_home, "subscribers", "unsubscribe", "reader2@example.net")[0] == 0
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert report.resumed and sorted(report.sent) == ["reader1@example.net", "reader3@example.net"]
        assert "reader2@example.net" not in rec.by_rcpt()
        # the resumed copies still carry each reader's token (read back from the archive's email.html)
        msg = rec.by_rcpt()["reader3@example.net"][0].message
        token = subscribers.token_for(subscribers.secret(digest_home), "reader3@example.net")
        assert f"?t={token}" in msg.get_body(("html",)).get_content()
    assert store.get_digest(digest_id=issue.digest_id).status == "sent"


def test_subscribers_alone_are_enough_to_send(store: Store, digest_home: Paths) -> None:
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, [])
        with pytest.raises(Exception, match="no recipients: newsletter.to is empty and there are no subscribers"):
            send_digest(store, cfg, digest_home, retry_delays=FAST)
        subscribers.add(store, digest_home, [("only@example.net", "")], "cli")
        report = send_digest(store, cfg, digest_home, retry_delays=FAST)
        assert report.sent == ["only@example.net"]
    assert re.fullmatch(r"[a-z2-7]{26}", store.subscriber("only@example.net")["token"])  # type: ignore[index]


def test_config_check_accepts_subscribers_instead_of_newsletter_to(store: Store, digest_home: Paths) -> None:
    digest_home.config_file.write_text(
        '[newsletter]\nfrom = "D <d@example.org>"\npostal_address = "1 Way"\n'
        'unsubscribe_url = "https://example.org/u?t={token}"\n[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n',
        encoding="utf-8")
    code, _, err = cli(digest_home, "config", "check")
    assert code == 2 and "newsletter.to lists no recipients" in err
    subscribers.add(store, digest_home, [("a@example.net", "")], "cli")
    code, out, err = cli(digest_home, "config", "check")
    assert code == 0 and "config ok" in out, err


def test_an_address_is_one_reader_whatever_its_case(store: Store, digest_home: Paths) -> None:
    # the part before the @ too: mail services do not tell BOB@ from bob@, and an unsubscribe must hold
    cfg = make_config(25, ["Carol@Example.net"])
    subscribers.add(store, digest_home, [("carol@example.net", ""), ("bob@example.net", ""),
                                         ("alice@example.net", "")], "cli")
    assert subscribers.recipients(store, cfg) == ["Carol@Example.net", "bob@example.net", "alice@example.net"]
    assert cli(digest_home, "subscribers", "unsubscribe", "BOB@example.net")[0] == 0
    key = subscribers.secret(digest_home)
    assert cli(digest_home, "subscribers", "unsubscribe", subscribers.token_for(key, "alice@example.net"))[0] == 0
    assert subscribers.recipients(store, cfg) == ["Carol@Example.net"]
    # a list that spells them otherwise does not bring them back
    assert subscribers.add(store, digest_home, [("Bob@Example.NET", ""), ("ALICE@example.net", "")], "import:x.csv") \
        == (0, 2)
    cfg.newsletter.to.append("BOB@example.net")
    assert subscribers.recipients(store, cfg) == ["Carol@Example.net"]


def test_tokens_of_links_already_sent_still_work(store: Store, digest_home: Paths) -> None:
    # a token is the HMAC of the address with only its domain folded, as it always was: links in
    # readers' mailboxes keep working after the comparison folded the part before the @
    import base64
    import hashlib
    import hmac

    key = subscribers.secret(digest_home)
    made = hmac.new(key, b"Dana@example.net", hashlib.sha256).digest()[:16]
    assert subscribers.token_for(key, "Dana <Dana@EXAMPLE.net>") == base64.b32encode(made).decode().rstrip("=").lower()
    make_draft(store, 1)
    with smtp_server() as (ctl, rec):
        cfg = make_config(ctl.port, ["Dana@example.net"])
        cfg.newsletter.unsubscribe_url = UNSUB
        assert send_digest(store, cfg, digest_home, retry_delays=FAST).sent == ["Dana@example.net"]
    code, out, err = cli(digest_home, "subscribers", "unsubscribe", subscribers.token_for(key, "Dana@example.net"))
    assert code == 0 and "unsubscribed: Dana@example.net" in out, err
    assert subscribers.recipients(store, cfg) == []


def test_the_upgrade_merges_rows_that_name_one_reader(digest_home: Paths) -> None:
    import sqlite3

    from digest.core.store.schema import MIGRATIONS

    Store(digest_home.db_file).close()
    db = sqlite3.connect(digest_home.db_file)
    rows = [("bob@x.org", "unsubscribed", "t1"), ("BOB@x.org", "active", "t2"),  # the unsubscribe wins
            ("Ann@x.org", "active", "t3"), ("ann@x.org", "active", "t4"),  # the older row stays
            ("Émile@x.org", "unsubscribed", "t5"), ("émile@x.org", "active", "t6"),  # beyond ASCII too
            ("cy@x.org", "active", "t7")]
    db.executemany("INSERT INTO subscribers(key, address, status, token, added_at) VALUES (?, ?, ?, ?, 0)",
                   [(k, k, status, token) for k, status, token in rows])
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    db.commit()
    db.close()
    s = Store(digest_home.db_file)
    got = [(r["address"], r["status"], r["token"]) for r in s.subscribers()]
    assert got == [("bob@x.org", "unsubscribed", "t1"), ("Ann@x.org", "active", "t3"),
                   ("Émile@x.org", "unsubscribed", "t5"), ("cy@x.org", "active", "t7")]
    assert s.subscriber("ANN@X.ORG")["token"] == "t3" and s.subscriber("ÉMILE@x.org")["status"] == "unsubscribed"
    s.close()


@pytest.mark.parametrize(("value", "message"), [
    # parseaddr kept Ann and dropped Bob without a word
    ("ann@example.net, bob@example.net", "more than one address in 'ann@example.net, bob@example.net'"),
    ("ann@example.net;bob@example.net", "more than one address in"),
    # parseaddr joined the halves into another domain, or took an empty label
    ("ann@exa mple.net", "not an email address: 'ann@exa mple.net'"),
    ("ann@example..net", "not an email address"),
    ("ann@example.net.", "not an email address"),
    ("Smith, Ann <ann@example.net>", "not an email address"),  # the name needs quotes: "Smith, Ann"
])
def test_a_value_must_hold_exactly_one_address_as_written(store: Store, digest_home: Paths, monkeypatch,
                                                           value: str, message: str) -> None:
    code, out, err = cli(digest_home, "subscribers", "add", value)
    assert code == 2 and message in err and out == "", (out, err)
    assert store.subscribers() == []
    # an unsubscribe line with two addresses is not understood (exit 1), rather than half recorded
    code, out, err = cli(digest_home, "subscribers", "unsubscribe", "-", stdin=value + "\n", monkeypatch=monkeypatch)
    assert code == 1 and message in err, (out, err)
    assert store.subscribers() == []


def test_names_and_plain_forms_are_still_addresses(store: Store, digest_home: Paths) -> None:
    code, out, err = cli(digest_home, "subscribers", "add", '"Smith, Ann" <ann@example.net>', "<bob@example.net>",
                         "cara@example.net (Cara)")
    assert code == 0 and out.strip() == "added 3", err
    assert [(r["address"], r["name"]) for r in store.subscribers()] == [
        ("ann@example.net", "Smith, Ann"), ("bob@example.net", ""), ("cara@example.net", "Cara")]


def test_an_exported_list_imported_into_a_new_home_keeps_its_unsubscribes(store: Store, digest_home: Paths,
                                                                           tmp_path) -> None:
    # moving to a new machine: export here, import there; Bob unsubscribed and must stay so
    assert cli(digest_home, "subscribers", "add", "ann@example.net", "bob@example.net")[0] == 0
    assert cli(digest_home, "subscribers", "unsubscribe", "bob@example.net")[0] == 0
    exported = tmp_path / "export.csv"
    assert cli(digest_home, "subscribers", "export", str(exported))[0] == 0
    assert "bob@example.net,,unsubscribed," in exported.read_text()
    other = get_paths({"DIGEST_HOME": str(tmp_path / "newhome")}).ensure()
    new_store = Store(other.db_file)
    try:
        code, out, err = cli(other, "subscribers", "import", str(exported))
        assert code == 0, err
        assert out.strip() == (f"{exported}: 2 addresses, 1 added, 0 already listed, "
                               "1 marked unsubscribed (1 newly recorded)")
        assert {r["address"]: r["status"] for r in new_store.subscribers()} == {
            "ann@example.net": "active", "bob@example.net": "unsubscribed"}
        make_draft(new_store, 1)
        with smtp_server() as (ctl, rec):
            cfg = make_config(ctl.port, [])
            report = send_digest(new_store, cfg, other, retry_delays=FAST)
            assert report.sent == ["ann@example.net"] and list(rec.by_rcpt()) == ["ann@example.net"]
        # an active reader of the new home whom the file marks unsubscribed is unsubscribed by it
        assert cli(other, "subscribers", "add", "cara@example.net")[0] == 0
        marked = tmp_path / "marked.csv"
        marked.write_text("email,status\ncara@example.net,Unsubscribed\n", encoding="utf-8")
        code, out, err = cli(other, "subscribers", "import", str(marked))
        assert code == 0 and "1 marked unsubscribed (1 newly recorded)" in out, err
        assert new_store.subscriber("cara@example.net")["status"] == "unsubscribed"  # type: ignore[index]
    finally:
        new_store.close()


def test_a_signup_form_csv_imports_as_written(store: Store, digest_home: Paths, tmp_path) -> None:
    # Google Forms style: a BOM, CRLF, quoted fields, a timestamp before the address, a blank line, and
    # one reader who signed up twice in another case
    f = tmp_path / "form.csv"
    f.write_bytes('\ufeff"Timestamp","Email Address","Full Name"\r\n'
                  '"2024/01/02 10:00","Ann@Example.net","Smith, Ann"\r\n'
                  '\r\n'
                  '"2024/01/02 11:00","ann@example.net","Ann again"\r\n'
                  '"2024/01/03 09:00"," bob@example.net ","Bob ""The Builder"""\r\n'.encode("utf-8"))
    code, out, err = cli(digest_home, "subscribers", "import", str(f))
    assert code == 0 and out.strip() == f"{f}: 3 addresses, 2 added, 0 already listed, 1 repeated in the file", err
    assert [(r["address"], r["name"]) for r in store.subscribers()] == [
        ("Ann@Example.net", "Smith, Ann"), ("bob@example.net", 'Bob "The Builder"')]
    # Excel in much of Europe writes ';'; a mailing tool splits the name; a file may start with the name
    for name, text in [("semi.csv", "E-mail;Name\ncara@example.net;Cara Díaz\n"),
                       ("tool.csv", "First Name,Last Name,Email Address\nDan,Ode,dan@example.net\n"),
                       ("bare.csv", "Eve,eve@example.net\n")]:
        (tmp_path / name).write_text(text, encoding="utf-8")
        code, out, err = cli(digest_home, "subscribers", "import", str(tmp_path / name))
        assert code == 0 and "1 address, 1 added" in out, err
    names = {r["address"]: r["name"] for r in store.subscribers()}
    assert names["cara@example.net"] == "Cara Díaz" and names["dan@example.net"] == "Dan Ode"
    assert names["eve@example.net"] == "Eve"


def test_every_bad_row_is_named_by_its_line_in_the_file(store: Store, digest_home: Paths, tmp_path) -> None:
    f = tmp_path / "bad.csv"
    # line 3 is blank and lines 4-5 are one row (a quoted line break): the numbers are the file's lines
    f.write_text('email,name,status\nok@example.net,Ok,\n\nann@example.net,"Ann\nSmith",\nnope,,\n'
                 'x@example..net,,\nbob@example.net,,cleaned\n', encoding="utf-8")
    code, out, err = cli(digest_home, "subscribers", "import", str(f))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"digest: {f}: line 6: not an email address: 'nope'",
        f"digest: {f}: line 7: not an email address: 'x@example..net'",
        f"digest: {f}: line 8: status 'cleaned' is neither active nor unsubscribed",
        f"digest: {f}: 3 rows not understood (nothing imported)",
    ]
    assert store.subscribers() == []
