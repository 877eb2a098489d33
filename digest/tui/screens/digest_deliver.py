"""The digest screen's way out: pick the theme, build, open the HTML, send (digest.tui.screens.digest keeps
the arranging). Building and sending run in thread workers; each ends in one message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.screen import Screen

from digest.core.models import DigestItem
from digest.core.wording import count
from digest.tui.screens.modals import ChoiceModal, ConfirmModal

if TYPE_CHECKING:
    from digest.tui.app import DigestApp


def draft_signature(items: list[DigestItem], theme: str) -> tuple[Any, ...]:
    """What a build is made of: each story's section, place, headline and blurb, and the theme. A build
    whose signature differs from the draft's now is out of date."""
    return theme, tuple(sorted((i.story.id, i.section, i.position, i.headline or "", i.blurb or "")
                               for i in items))


class BuildAndSend(Screen[None]):
    """Theme, build, open and send actions of the digest screen (its base class)."""

    items: list[DigestItem]
    theme_name: str
    last_build: Any
    built_signature: tuple[Any, ...] | None = None  # the draft the last build was made from

    def build_is_stale(self) -> bool:
        """The draft (a story moved, edited, flagged or removed) or the theme changed since the last build."""
        return self.last_build is not None and draft_signature(self.items, self.theme_name) != self.built_signature

    @property
    def dapp(self) -> DigestApp:
        return self.app  # type: ignore[return-value]

    def load(self, keep: int | None = None) -> None:
        raise NotImplementedError

    def _update_info(self) -> None:
        raise NotImplementedError

    def _schedule_preview(self) -> None:
        raise NotImplementedError

    def action_theme(self) -> None:
        from digest.core.themes import list_themes

        themes = list_themes(self.dapp.paths)
        names = [t.name for t in themes]
        notes = "\n".join(f"{t.name}: {t.description}" for t in themes if t.description)  # one line each

        def chosen(name: str | None) -> None:
            if not name:
                return
            self.theme_name = name
            draft = self.dapp.store.draft(create=True)
            if draft is not None:
                self.dapp.store.update_digest(draft.id, theme=name)
            self._update_info()
            self._schedule_preview()

        self.app.push_screen(ChoiceModal("Theme", names, self.theme_name, note=notes), chosen)

    def action_build(self) -> None:
        if not self.items:
            self.notify("Nothing to build: flag some stories first.", severity="warning")
            return
        self.dapp.show_progress("Building")  # the bar, not a message: the result is the one message
        self.build_worker(self.theme_name)

    @work(thread=True, exclusive=True, group="build", exit_on_error=False)
    def build_worker(self, theme: str) -> None:
        from digest.core.build import BuildError, build_digest

        store = self.dapp.open_worker_store()
        try:
            # read before the build: a change made while it runs then shows the build as out of date
            signature = draft_signature(store.digest_items(), theme)
            result = build_digest(store, self.dapp.config, self.dapp.paths, theme=theme)
        except BuildError as e:
            self.app.call_from_thread(self.notify, str(e), title="Build failed", severity="error", timeout=10)
            return
        finally:
            store.close()
            self.app.call_from_thread(self.dapp.hide_progress)
        self.app.call_from_thread(self._built, result, signature)

    def _built(self, result: Any, signature: tuple[Any, ...]) -> None:
        self.last_build, self.built_signature = result, signature
        kb = result.html_bytes / 1024
        notes = result.notes
        # one message: what was built, then anything to look at (a build used to stack four toasts)
        stories = count(result.story_count, "story", "stories")
        lines = [f"{stories}, {kb:.0f} KB HTML", str(result.html_path), *map(str, notes)]
        self.notify("\n".join(lines), title=f"Built: {result.subject}", timeout=8,
                    severity="warning" if notes else "information")
        self.load()

    def _html_path(self) -> str | None:
        if self.last_build is not None:
            return str(self.last_build.html_path)
        for d in self.dapp.store.list_digests():
            if d.paths.get("html"):
                return d.paths["html"]
        return None

    def action_open_html(self) -> None:
        path = self._html_path()
        if path is None:
            self.notify("Build first (b).", severity="warning")
            return
        from pathlib import Path

        if self.build_is_stale():
            self.notify("This build is from before your latest changes: b builds again.", severity="warning",
                        timeout=4)
        self.dapp.open_link(Path(path).resolve().as_uri())

    def action_send(self) -> None:
        from digest.core.archive import pending_digest

        # an issue an interrupted send froze is finished even with an empty draft; otherwise there is
        # nothing to confirm (after a send the draft is empty: s used to ask, then fail)
        if not self.items and pending_digest(self.dapp.store) is None:
            self.notify("Nothing to send: flag some stories first.", severity="warning")
            return
        self.check_smtp_worker()

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def check_smtp_worker(self) -> None:
        # off the event loop: smtp_problems runs password_cmd when one is configured
        from digest.core.smtp import smtp_problems

        problems = smtp_problems(self.dapp.config)
        self.app.call_from_thread(self._confirm_send, problems)

    def _confirm_send(self, problems: list[str]) -> None:
        from digest.core.smtp import NO_RECIPIENTS
        from digest.core.subscribers import recipients

        to = recipients(self.dapp.store, self.dapp.config)  # newsletter.to + subscribers - unsubscribed
        if to and NO_RECIPIENTS in problems:
            problems = [p for p in problems if p != NO_RECIPIENTS]
        if problems:
            self.notify("\n".join(problems), title="Sending is not set up", severity="warning", timeout=12)
            return
        from digest.core.archive import pending_digest

        # what goes out: an issue an interrupted send froze, else the draft as it is now (a send renders
        # it again: a build is a preview)
        pending = pending_digest(self.dapp.store)
        if pending is not None:
            what = (f"Finish sending digest #{pending.number}, which an earlier send left unfinished "
                    "(readers who had it are skipped), to:")
        else:
            what = f"Send the draft as it is now ({count(len(self.items), 'story', 'stories')}) to:"
        body = what + "\n" + "\n".join(f"  {a}" for a in to[:10])
        if len(to) > 10:
            body += f"\n  …and {len(to) - 10} more"
        if pending is None and self.last_build is None:
            body += "\n\n(Not previewed in this session: b builds a preview first.)"
        elif pending is None and self.build_is_stale():
            body += "\n\n(The draft changed after your last build: the draft as it is now goes out, not that preview.)"

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.notify("Sending…", timeout=2)
                self.send_worker()

        self.app.push_screen(ConfirmModal("Send the digest?", body, yes="Send"), confirmed)

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def send_worker(self) -> None:
        from digest.core.lock import LockHeld
        from digest.core.mail import send_digest
        from digest.core.smtp import MailError

        store = self.dapp.open_worker_store()
        try:
            report = send_digest(store, self.dapp.config, self.dapp.paths)
        except (MailError, LockHeld) as e:  # digest's own: the message names the setting or the step
            self.app.call_from_thread(self.notify, str(e), title="Send failed", severity="error", timeout=15)
            return
        except Exception as e:  # anything else (an OSError...): its type says what kind of failure
            self.app.call_from_thread(self.notify, f"{type(e).__name__}: {e}", title="Send failed",
                                      severity="error", timeout=15)
            return
        finally:
            store.close()
        self.app.call_from_thread(self._sent, report)

    def _sent(self, report: Any) -> None:
        """The draft became issue #N and a new, empty draft took its place: show that one (the table kept
        the sent stories, and the "Built" line the sent files). The message is the CLI's summary line, so a
        failed or possibly-delivered recipient is named with its reason, as `digest send` names it."""
        trouble = bool(report.failed or report.unknown)
        self.notify(report.summary_line(), title="Sent with problems" if trouble else "Sent",
                    severity="error" if trouble else "information", timeout=15 if trouble else 6)
        self.last_build, self.built_signature = None, None
        self.load()
