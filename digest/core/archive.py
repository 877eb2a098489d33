"""The archive: every issued digest kept as files, plus the freeze that makes an issue of the draft.

Layout (under paths.archive_dir; publishable as static pages, see publish note below):
    index.html                 every issue, newest first, linking to <number>/
    feed.xml                   an Atom feed of the issues (digest.core.publish)
    <number>/index.html        the email's HTML (the web view: {web_url}/<number>/), with OpenGraph tags
    <number>/email.html        the HTML exactly as mailed (per-reader {token} placeholders kept)
    <number>/digest.txt        the text part
    <number>/digest.eml        the message as sent, addressed to "undisclosed-recipients:;"
    <number>/manifest.json     number, date, subject, stories, recipients and their delivery status
    <number>/dry-run/*.eml     messages written by `digest send --dry-run`
manifest.json and dry-run/ hold subscriber addresses: leave them out when publishing
(`rsync --exclude manifest.json --exclude dry-run`).

An issue is frozen once: its status goes from 'draft' to 'built' in one transaction together with its
recipients' 'queued' rows, so flags a person makes afterwards (TUI) go into a new draft. The rendered
files are written before the first message leaves, and a resumed delivery reads them back, so every
recipient of one issue gets the same bytes even if the theme or the config changed in between.
"""

from __future__ import annotations

import html as htmlmod
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.core import clock
from digest.core.config import Config
from digest.core.fsutil import atomic_write, private_dir
from digest.core.message import build_message
from digest.core.models import Digest
from digest.core.paths import Paths
from digest.core.publish import FEED_NAME, strip_web_view, web_view, write_feed
from digest.core.smtp import MailError
from digest.core.store import NotFoundError, Store

log = logging.getLogger("digest.archive")

HTML_NAME, TEXT_NAME, EML_NAME, MANIFEST_NAME = "index.html", "digest.txt", "digest.eml", "manifest.json"
EMAIL_HTML_NAME = "email.html"  # the HTML exactly as mailed ({token} placeholders kept): what a resumed run sends


class NothingToSend(MailError):
    """No draft with stories and no issue waiting for delivery (exit code 3)."""


@dataclass
class Issue:
    digest_id: int
    number: int
    subject: str
    preheader: str
    html: str
    text: str
    story_count: int
    story_ids: list[int] = field(default_factory=list)
    dir: Path | None = None
    resumed: bool = False
    notes: list[str] = field(default_factory=list)


def issue_dir(paths: Paths, number: int) -> Path:
    return paths.archive_dir / str(number)


def dry_run_dir(paths: Paths, number: int) -> Path:
    return issue_dir(paths, number) / "dry-run"


def write_dry_run(out: Path, index: int, recipient: str, data: bytes) -> Path:
    safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient.split("<")[-1].rstrip(">").strip())[:100]
    return atomic_write(out / f"{index:04d}-{safe}.eml", data)


# -- finding the issue -----------------------------------------------------------------------------

def pending_digest(store: Store) -> Digest | None:
    """An issue frozen by an earlier send that did not finish (status 'built' with an archive path).
    `digest build` leaves the draft a draft, so a built status always comes from a freeze."""
    return store.pending_issue()


def _render(store: Store, config: Config, paths: Paths, digest: Digest, now: float | None) -> Issue:
    from digest.core.articles import fetch_for_digest
    from digest.core.render import render_digest  # deferred: Jinja2 + css-inline

    ids = store.item_story_ids(digest.id)  # read before rendering: see complete_issue
    when = datetime.fromtimestamp(now, UTC) if now is not None else None
    notes = fetch_for_digest(store, config, digest.id)  # [articles] at_build: pictures and blurbs for teasers
    r = render_digest(store, config, paths, digest, now=when)
    return Issue(digest.id, digest.number, r.subject, r.preheader, r.html, r.text, r.story_count, ids,
                 notes=notes + list(r.notes))


def _load(store: Store, config: Config, paths: Paths, digest: Digest) -> Issue:
    """A frozen issue, from its archived files (re-rendered only if they never got written)."""
    d = issue_dir(paths, digest.number)
    manifest = load_manifest(paths, digest.number, missing_ok=True)
    if manifest and (d / HTML_NAME).exists() and (d / TEXT_NAME).exists():
        ids = [s["id"] for s in manifest.get("stories", [])]
        mailed = d / EMAIL_HTML_NAME  # older archives have only the web view
        html = mailed.read_text(encoding="utf-8") if mailed.exists() else strip_web_view(
            (d / HTML_NAME).read_text(encoding="utf-8"))
        return Issue(digest.id, digest.number, manifest["subject"], manifest.get("preheader", ""), html,
                     (d / TEXT_NAME).read_text(encoding="utf-8"),
                     len(ids), ids, d, resumed=True, notes=list(manifest.get("notes") or []))
    issue = _render(store, config, paths, digest, None)
    _write_issue(store, config, paths, digest, issue)
    issue.resumed = True
    return issue


def preview_issue(store: Store, config: Config, paths: Paths, *, now: float | None = None) -> Issue:
    """For dry runs and proofs: the issue waiting for delivery, else the draft rendered as it stands
    (nothing is frozen or recorded)."""
    pending = pending_digest(store)
    if pending is not None:
        return _load(store, config, paths, pending)
    draft = store.draft()
    if draft is None or not store.item_story_ids(draft.id):
        raise NothingToSend("nothing to send: the draft has no stories (flag some, or `digest run` "
                            "picks them by the [select] rules)")
    return _render(store, config, paths, draft, now)


def freeze_draft(store: Store, recipients: list[str], from_: str, *, now: float | None = None) -> Digest | None:
    """Turn the draft into an issue: status 'built' and the recipients queued, in one transaction.
    None when there is no draft or it has no stories (no empty digest goes out)."""
    return store.freeze_draft(recipients, from_, archive_path=issue_dir_for_db, now=now)


def issue_dir_for_db(number: int) -> str:
    # stored relative to the archive dir, so moving DIGEST_HOME keeps the record valid
    return str(number)


def _unfreeze(store: Store, digest_id: int) -> None:
    """Rendering a just-frozen issue failed: give its stories back to the draft so the editor can fix it
    (merging any flags made meanwhile into it)."""
    store.unfreeze(digest_id)


def _freeze_and_render(store: Store, config: Config, paths: Paths, recipients: list[str],
                       now: float | None) -> Issue:
    digest = freeze_draft(store, recipients, config.newsletter.from_, now=now)
    if digest is None:
        raise NothingToSend("nothing to send: the draft has no stories")
    try:
        issue = _render(store, config, paths, digest, now)
    except BaseException:
        _unfreeze(store, digest.id)
        raise
    _write_issue(store, config, paths, digest, issue)
    log.info("digest #%d frozen and archived in %s (%d stories)", digest.number, issue.dir, issue.story_count)
    return issue


def issue_for_delivery(store: Store, config: Config, paths: Paths, *, recipients: list[str],
                       now: float | None = None) -> Issue:
    """The issue to deliver: the one an earlier run left unfinished, else the draft, frozen now."""
    pending = pending_digest(store)
    if pending is not None:
        log.info("digest #%d was frozen by an earlier run and is not finished: resuming it", pending.number)
        return _load(store, config, paths, pending)
    return _freeze_and_render(store, config, paths, recipients, now)


def issue_with_unknown(store: Store, config: Config, paths: Paths) -> Issue | None:
    """For --force-unknown: the newest issue with a recipient left in 'sending'."""
    digest = store.issue_with_unknown_delivery()
    return None if digest is None else _load(store, config, paths, digest)


def issue_files_only(store: Store, config: Config, paths: Paths, *, now: float | None = None) -> Issue:
    """`digest run` without SMTP: freeze, render and archive the issue, and mark it issued so its stories
    are not picked again (the files are the delivery)."""
    pending = pending_digest(store)
    issue = _load(store, config, paths, pending) if pending else _freeze_and_render(store, config, paths, [], now)
    complete_issue(store, config, paths, issue.digest_id, issue.story_ids)
    return issue


def complete_issue(store: Store, config: Config, paths: Paths, digest_id: int, story_ids: list[int]) -> None:
    """Mark the issue sent (its stories become never-select-again) and refresh the archive.

    Store.flag/unflag look the draft up before their transaction, so a TUI edit racing the freeze can
    land in the frozen issue after it was rendered. The rendered story list wins: a story flagged in
    late goes to the current draft (it was never sent), one unflagged late is put back (it was sent)."""
    digest = store.get_digest(digest_id=digest_id)
    if digest.status != "sent" and story_ids:
        _reconcile_items(store, paths, digest, story_ids)
    if digest.status != "sent":
        store.mark_sent(digest_id)
    update_manifest(store, paths, digest_id)
    rebuild_index(paths, config)


def _reconcile_items(store: Store, paths: Paths, digest: Digest, story_ids: list[int]) -> None:
    current = store.item_story_ids(digest.id)
    rendered = set(story_ids)
    late = [i for i in current if i not in rendered]
    gone = [i for i in story_ids if i not in set(current)]
    if late:
        store.move_items_to_draft(digest.id, late)
        log.info("digest #%d: %d story(ies) flagged after the freeze moved to the next draft",
                 digest.number, len(late))
    if gone:
        manifest = load_manifest(paths, digest.number, missing_ok=True) or {}
        section = {s["id"]: s["section"] for s in manifest.get("stories", [])}
        store.restore_items(digest.id, {sid: section.get(sid, "") for sid in gone})
        log.info("digest #%d: %d story(ies) unflagged after the freeze were sent and stay in it",
                 digest.number, len(gone))


# -- files ------------------------------------------------------------------------------------------

def _write_issue(store: Store, config: Config, paths: Paths, digest: Digest, issue: Issue) -> None:
    d = issue_dir(paths, digest.number)
    # every issue's .eml and manifest (recipients): owner-only, an older archive tightened
    private_dir(paths.archive_dir)
    private_dir(d)
    issue.dir = d
    eml = build_message(config.newsletter, subject=issue.subject, html=issue.html, text=issue.text,
                        to="undisclosed-recipients:;", date=digest.built_at)
    atomic_write(d / EMAIL_HTML_NAME, issue.html)
    atomic_write(d / HTML_NAME, web_view(issue.html, config, digest.number, issue.subject, issue.preheader))
    atomic_write(d / TEXT_NAME, issue.text)
    atomic_write(d / EML_NAME, eml.as_bytes())
    from digest.core.select import draft_sections

    # the issue's order: sections as the config orders them (the email's), items as the editor placed them
    sections = draft_sections(store, config, digest.id)
    items = {it.story.id: it for sec in sections for it in sec.items}
    place = {sid: n for n, sid in enumerate(items)}
    stories = []
    for sid in sorted(issue.story_ids, key=lambda i: place.get(i, len(place))):
        it = items.get(sid)
        if it is None:
            continue
        s = it.story
        stories.append({"id": s.id, "section": it.section, "headline": it.headline or s.title,
                        "url": s.canonical_link or s.link, "source": s.feed_title, "author": s.author,
                        "published_at": _iso(s.published_at)})
    manifest = {
        "number": digest.number, "date": _iso(digest.built_at or clock.now()), "sent_at": None,
        "status": digest.status, "title": config.newsletter.title, "subject": issue.subject,
        "preheader": issue.preheader, "theme": digest.theme or config.newsletter.theme,
        "files": {"html": HTML_NAME, "text": TEXT_NAME, "eml": EML_NAME},
        "notes": issue.notes, "stories": stories, "recipients": [],
    }
    atomic_write(d / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    update_manifest(store, paths, digest.id)


def update_manifest(store: Store, paths: Paths, digest_id: int) -> dict[str, Any] | None:
    """Copy the delivery records and status from the store into the manifest (the store is the truth;
    the manifest is what `archive show` and a published archive read)."""
    try:
        digest = store.get_digest(digest_id=digest_id)
    except NotFoundError:
        return None
    manifest = load_manifest(paths, digest.number, missing_ok=True)
    if manifest is None:
        return None
    rows = store.deliveries(digest_id)
    manifest["status"] = digest.status
    manifest["sent_at"] = _iso(digest.sent_at)
    manifest["delivery"] = "smtp" if rows else "files"
    manifest["recipients"] = [
        {"address": r["recipient"], "status": "unknown" if r["status"] == "sending" else r["status"],
         "message_id": r["message_id"], "reply": r["reply"], "attempts": r["attempts"], "at": _iso(r["at"])}
        for r in rows
    ]
    counts: dict[str, int] = {}
    for r in manifest["recipients"]:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    manifest["delivery_counts"] = counts
    atomic_write(issue_dir(paths, digest.number) / MANIFEST_NAME,
                 json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def load_manifest(paths: Paths, number: int, *, missing_ok: bool = False) -> dict[str, Any] | None:
    path = issue_dir(paths, number) / MANIFEST_NAME
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        if missing_ok:
            return None
        raise NotFoundError(f"digest #{number} is not in the archive ({path.parent})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NotFoundError(f"{path}: unreadable manifest: {e}") from None


def list_issues(paths: Paths) -> list[dict[str, Any]]:
    """Every archived issue (newest first) as a short summary: what `archive list --json` prints."""
    out = []
    root = paths.archive_dir
    if not root.is_dir():
        return []
    for d in root.iterdir():
        if not d.name.isdigit():
            continue
        m = load_manifest(paths, int(d.name), missing_ok=True)
        if m is None:
            continue
        out.append({
            "number": m["number"], "date": m.get("date"), "sent_at": m.get("sent_at"), "status": m.get("status"),
            "subject": m.get("subject", ""), "stories": len(m.get("stories", [])),
            "recipients": len(m.get("recipients", [])), "delivery": m.get("delivery", "files"),
            "delivery_counts": m.get("delivery_counts", {}), "path": str(d),
        })
    out.sort(key=lambda m: -int(m["number"]))
    return out


def issue_html_path(paths: Paths, number: int) -> Path:
    load_manifest(paths, number)  # raises NotFoundError naming the number
    return issue_dir(paths, number) / HTML_NAME


def rebuild_index(paths: Paths, config: Config) -> Path:
    """archive/index.html: a plain static page linking every issue (relative links, no script)."""
    esc = htmlmod.escape
    rows = []
    for m in list_issues(paths):
        date = (m["sent_at"] or m["date"] or "")[:10]
        rows.append(f'<li><a href="{m["number"]}/">#{m["number"]} · {esc(m["subject"])}</a> '
                    f'<time datetime="{esc(date)}">{esc(date)}</time></li>')
    title = esc(config.newsletter.title)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: archive</title>
<link rel="alternate" type="application/atom+xml" title="{title}" href="{FEED_NAME}">
<style>
body {{ font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 40rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.6rem; border-bottom: 4px solid {esc(config.newsletter.accent_color)}; padding-bottom: .3rem; }}
ol {{ list-style: none; padding: 0; }} li {{ margin: .6rem 0; }}
time {{ color: #666; font-size: .9rem; margin-left: .4rem; }}
a {{ color: #1a4f8b; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{esc(config.newsletter.tagline)} · <a href="{FEED_NAME}">Follow with a feed reader</a></p>
<ol>
{chr(10).join(rows) or "<li>No issues yet.</li>"}
</ol>
</body>
</html>
"""
    # archive/feed.xml, next to index.html
    write_feed(paths, config, list_issues(paths), lambda n: load_manifest(paths, n, missing_ok=True))
    return atomic_write(paths.archive_dir / "index.html", page)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
