"""Build the current draft into digest-<number>.html / .txt / .eml, written atomically.

The draft stays a draft: building can be repeated as the editor changes things; sending freezes it.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from digest.core import clock
from digest.core.fsutil import atomic_write
from digest.core.message import build_message
from digest.core.models import Digest
from digest.core.record import record
from digest.core.render import render_digest, render_text
from digest.core.select import auto_select

if TYPE_CHECKING:
    from digest.core.config import Config
    from digest.core.paths import Paths
    from digest.core.store import Store

NOTHING_TO_BUILD = "nothing to build: flag stories with `digest flag ID` or use --auto"


class BuildError(Exception):
    pass


@record
class BuildResult:
    digest: Digest
    html_path: Path
    text_path: Path
    eml_path: Path
    subject: str
    html_bytes: int
    story_count: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "digest": self.digest.to_json(),
            "html": str(self.html_path),
            "text": str(self.text_path),
            "eml": str(self.eml_path),
            "subject": self.subject,
            "html_bytes": self.html_bytes,
            "story_count": self.story_count,
            "notes": self.notes,
        }


def build_digest(
    store: Store, config: Config, paths: Paths, *, theme: str | None = None, out_dir: Path | None = None,
    auto: bool = False, now: datetime | None = None,
) -> BuildResult:
    now = now or clock.now_local()  # local: the header shows the sender's date
    draft = store.draft()
    if (draft is None or not store.digest_items(draft.id)) and auto:
        auto_select(store, config, now=now.timestamp())
        draft = store.draft()
    if draft is None or not store.digest_items(draft.id):
        raise BuildError(NOTHING_TO_BUILD)
    theme = theme or config.newsletter.theme
    from digest.core.articles import fetch_for_digest  # pycurl and trafilatura only when a page is fetched

    fetch_notes = fetch_for_digest(store, config, draft.id)
    rendered = render_digest(store, config, paths, draft, theme=theme, now=now)
    out = Path(out_dir) if out_dir is not None else paths.output_dir
    stem = out / f"digest-{draft.number}"
    msg = build_message(
        config.newsletter, subject=rendered.subject, html=rendered.html, text=rendered.text,
        to=config.newsletter.to or ["undisclosed-recipients:;"], date=now.timestamp(),
    )
    html_path = atomic_write(stem.with_suffix(".html"), rendered.html)
    text_path = atomic_write(stem.with_suffix(".txt"), rendered.text)
    eml_path = atomic_write(stem.with_suffix(".eml"), msg.as_bytes())
    built = {"html": str(html_path), "text": str(text_path), "eml": str(eml_path)}
    store.update_digest(draft.id, theme=theme, paths=built, built_at=clock.now())
    digest = store.get_digest(digest_id=draft.id)
    notes = fetch_notes + list(rendered.notes)
    if not config.newsletter.postal_address:
        notes.append("newsletter.postal_address is not set: the law (CAN-SPAM) requires it before sending")
    if not (config.newsletter.unsubscribe_url or config.newsletter.unsubscribe_mailto):
        notes.append("no newsletter.unsubscribe_url: Gmail and Yahoo expect one-click unsubscribe from bulk senders")
    return BuildResult(
        digest=digest, html_path=html_path, text_path=text_path, eml_path=eml_path,
        subject=rendered.subject, html_bytes=len(rendered.html.encode("utf-8")),
        story_count=rendered.story_count, notes=notes,
    )


def preview_text(store: Store, config: Config, paths: Paths, *, theme: str | None = None,
                 now: datetime | None = None) -> str:
    """The text part of the current draft, for the TUI's live preview; "" when there is nothing.
    `now` freezes the date in the masthead (snapshot tests)."""
    draft = store.draft()
    if draft is None or not store.digest_items(draft.id):
        return ""
    return render_text(store, config, paths, draft, theme=theme, now=now)
