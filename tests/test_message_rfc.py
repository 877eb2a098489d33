"""The built .eml of every theme keeps the line limits spam filters check: quoted-printable lines at most
76 characters (RFC 2045 6.7; SpamAssassin MIME_QP_LONG_LINE), header lines folded (RFC 5322 2.1.1: 78
"should", 998 "must"), List-Unsubscribe kept verbatim (never RFC 2047-encoded), and the parts decode back
to exactly what was rendered."""

from __future__ import annotations

import email.policy
import re
from email.parser import BytesParser

import pytest
from helpers_digest import NOW, load_golden, make_config, make_paths

from digest.core.build import build_digest
from digest.core.message import POLICY, build_message
from digest.core.store import Store

THEMES = ["geekwire", "minimal", "plain"]
LONG_URL = "https://example.com/unsubscribe?list=seattle-tech-digest&token=" + "ab12cd34" * 8


def _check_lines(raw: bytes) -> None:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF (SMTP wants CRLF)"
    for line in head.split(b"\r\n"):
        # a header line may pass 78 only when it holds one unbreakable token (a Message-ID, one URL)
        if len(line) > 78:
            token = re.sub(rb"^[A-Za-z-]+: ", b"", line).strip()
            assert len(line) <= 998 and b" " not in token, f"unfolded header line: {line[:90]!r}"
    in_qp = False
    for line in body.split(b"\r\n"):
        if line.lower().startswith(b"content-transfer-encoding:"):
            in_qp = b"quoted-printable" in line.lower()
        elif line.startswith(b"--"):
            in_qp = False
        elif in_qp:
            assert len(line) <= 76, f"quoted-printable line of {len(line)} characters: {line[:90]!r}"


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_eml_keeps_the_rfc_line_limits(tmp_path, theme):
    paths = make_paths(tmp_path)
    title = "Seattle Tech Digest, the week in Pacific Northwest startups, cloud and AI"
    cfg = make_config(unsubscribe_url=LONG_URL, title=title)
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        r = build_digest(store, cfg, paths, theme=theme, now=NOW)
    raw = r.eml_path.read_bytes()
    assert len(r.subject) > 78, "the golden subject must be long enough to need folding"
    _check_lines(raw)
    html = r.html_path.read_text(encoding="utf-8")
    assert max(len(x) for x in html.splitlines()) > 76, "the HTML has long lines: the encoding must split them"
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert msg["Subject"] == r.subject  # folded, and unfolds back to the same text
    assert msg["List-Unsubscribe"] == f"<{LONG_URL}>, <mailto:digest@example.com?subject=unsubscribe>"
    assert b"=?utf-8?" not in re.search(rb"List-Unsubscribe:.*?\r\n(?! )", raw, re.S).group(0)  # type: ignore[union-attr]
    parts = list(msg.iter_parts())
    assert parts[1].get_content().replace("\r\n", "\n").rstrip() == html.rstrip()
    assert parts[0].get_content().replace("\r\n", "\n").rstrip() == r.text_path.read_text(encoding="utf-8").rstrip()


def test_list_unsubscribe_folds_between_items_and_unfolds_verbatim():
    nl = make_config(unsubscribe_url=LONG_URL, unsubscribe_mailto="unsubscribe@example.com").newsletter
    raw = build_message(nl, subject="s", html="<p>x</p>", text="x", to="a@example.com",
                        message_id="<1@example.com>", date=0).as_bytes(policy=POLICY)
    head = raw.partition(b"\r\n\r\n")[0].decode()
    field = re.search(r"List-Unsubscribe: .*?\r\n(?! )", head + "\r\n", re.S).group(0)  # type: ignore[union-attr]
    assert field == f"List-Unsubscribe: <{LONG_URL}>,\r\n <mailto:unsubscribe@example.com>\r\n"
    _check_lines(raw)


def test_a_long_subject_with_non_ascii_is_folded_and_round_trips():
    subject = "Seattle Tech Digest: Tidewater Energy raises $42M — turning old ferries into grid batteries " * 2
    nl = make_config().newsletter
    raw = build_message(nl, subject=subject.strip(), html="<p>x</p>", text="x", to="a@example.com",
                        date=0).as_bytes(policy=POLICY)
    _check_lines(raw)
    assert BytesParser(policy=email.policy.default).parsebytes(raw)["Subject"] == subject.strip()
