"""The main screen's actions on the current story: flag, edit, read/unread, open in the browser.

A mixin of MainScreen (split out to keep main.py about the layout, loading and search); it uses the
screen's StoryList, reader and sidebar loading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from digest.core.store import NotFoundError
from digest.tui.textfmt import brief
from digest.tui.widgets.reader import Reader
from digest.tui.widgets.story_list import StoryList

if TYPE_CHECKING:
    from digest.tui.app import DigestApp


def unflag_keeping_undo(store: Any, story_id: int) -> Callable[[], None] | None:
    """Take a story out of the draft and return what puts it back as it was: same section, place,
    headline and blurb (None if it was not in the draft)."""
    item = next((i for i in store.digest_items() if i.story.id == story_id), None)
    if item is None or not store.unflag(story_id):
        return None

    def undo() -> None:
        store.flag(story_id, item.section, headline=item.headline, blurb=item.blurb)
        store.move_item(story_id, section=item.section, position=item.position)

    return undo


class StoryActions:
    if TYPE_CHECKING:
        app: Any

        @property
        def dapp(self) -> DigestApp: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def load_sidebar(self) -> Any: ...
        def reload(self, *, sidebar: bool = True) -> None: ...
        def _show_current(self) -> None: ...
        def offer_undo(self, label: str, run: Callable[[], None]) -> None: ...
        def keys_of(self, binding_id: str) -> list[str]: ...

    def _current_story(self) -> Any:
        sid = self.query_one(StoryList).current_id
        if sid is None:
            return None
        try:
            return self.dapp.store.get_story(sid)
        except NotFoundError:
            return None

    def section_names(self) -> list[str]:
        """The config's sections, then those only feeds name (folders of an OPML import), then any other
        the draft uses (`digest flag --section`, a feed since re-sectioned): a story can join them."""
        from digest.tui.widgets.sidebar import NO_SECTION, Sidebar, section_order

        # before the sidebar's first load (a key in the first frames, a busy machine) the feeds come from
        # the store: a few ms for 500 feeds, where the folders of an OPML import were missing
        feeds = list(self.query_one(Sidebar).feeds.values()) or self.dapp.store.list_feeds(counts=False)
        names = [s for s in section_order(self.dapp.config.section_names(), feeds) if s != NO_SECTION]
        known = {s.casefold() for s in names}
        # the draft is a few dozen rows: read on the event loop, as the digest screen does
        used = {i.section.casefold(): i.section for i in self.dapp.store.digest_items()
                if i.section.casefold() not in known}
        return names + sorted(used.values(), key=str.casefold)

    def _default_section(self, story: Any, sections: list[str] | None = None) -> str:
        """The story's feed's section (as the section list spells it), else the first section."""
        if sections is None:
            sections = self.section_names()
        for name in sections:
            if story.feed_section and name.casefold() == story.feed_section.casefold():
                return name
        return sections[0] if sections else "Top Stories"

    def _after_story_change(self, story_id: int) -> None:
        self.query_one(StoryList).invalidate([story_id])
        self._show_current()
        self.load_sidebar()

    def action_flag(self) -> None:
        story = self._current_story()
        if story is None:
            return
        from digest.tui.screens.modals import ChoiceModal, ConfirmModal  # deferred: not for the first frame

        if story.flagged and (story.blurb or story.headline):
            # the blurb and headline are someone's writing: one key press must not throw them away
            kept = " and ".join(w for w, v in (("headline", story.headline), ("blurb", story.blurb)) if v)
            verb = "goes" if " and " not in kept else "go"
            body = f"{brief(story.headline or story.title)}\n\nYour {kept} {verb} with it."

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._unflag(story)

            self.app.push_screen(ConfirmModal("Take this story out of the digest?", body, yes="Unflag"),
                                 confirmed)
            return
        if story.flagged:
            self._unflag(story)
            return

        sections = self.section_names()

        def chosen(section: str | None) -> None:
            if section is None:
                return
            self.dapp.store.flag(story.id, section)
            self.notify(f"Flagged for {section}: {brief(story.title)}", timeout=3)
            self._after_story_change(story.id)

        self._unless_sent(story, lambda: self.app.push_screen(
            ChoiceModal("Flag into which section?", sections, self._default_section(story, sections),
                        note=brief(story.title)),
            chosen,
        ))

    def _unless_sent(self, story: Any, then: Callable[[], object]) -> None:
        """then(), or for a story an earlier issue carried, then() once the user says so: digest sends a
        story once, and flagging it again is a choice, never an accident (as `digest flag` needs --force)."""
        from digest.tui.screens.modals import ConfirmModal

        sent = None if story.flagged else self.dapp.store.sent_in(story.id)
        if sent is None:
            then()
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmModal(f"This story went out in digest #{sent}",
                                          f"{brief(story.title)}\n\nPut it in the next issue too?", yes="Flag again"),
                             confirmed)

    def _unflag(self, story: Any) -> None:
        undo = unflag_keeping_undo(self.dapp.store, story.id)
        if undo is not None:
            def run() -> None:
                undo()
                self._after_story_change(story.id)
                self.reload(sidebar=False)  # the Flagged view lists it again (the sidebar is on its way)

            self.offer_undo("unflag", run)
        keys = self.app.get_key_display(Binding(self.keys_of("undo")[0], "undo"))
        self.notify(f"Removed from the digest: {brief(story.title)} · {keys} undoes", timeout=4)
        self._after_story_change(story.id)

    def action_edit(self) -> None:
        from digest.tui.screens.modals import EditModal

        story = self._current_story()
        if story is None:
            return

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            headline, blurb = result
            section = story.draft_section or self._default_section(story)
            self.dapp.store.flag(story.id, section, headline=headline, blurb=blurb)
            if not story.flagged:
                self.notify(f"Flagged for {section} with your blurb.", timeout=3)
            self._after_story_change(story.id)

        self._unless_sent(story, lambda: self.app.push_screen(
            EditModal(story.title, story.headline or "", story.blurb or ""), done))

    def action_toggle_read(self) -> None:
        stories = self.query_one(StoryList)
        row = stories.row(stories.cursor)
        if row is None:
            return
        self.dapp.store.set_read([row.id], not row.read)
        stories.invalidate([row.id])
        self.load_sidebar()

    def action_open_link(self) -> None:
        story = self._current_story()
        if story is None:
            return
        link = story.canonical_link or story.link
        if not link:
            self.notify("This story has no link.", severity="warning")
            return
        self.dapp.open_link(link)
        if not story.read:
            self.dapp.store.set_read([story.id], True)
            self._after_story_change(story.id)

    def action_article(self) -> None:
        """The full article behind the story, in the reader (again: back to the feed's text). Fetched in a
        worker with a spinner; a stored article or a recent failure answers at once, with no request."""
        reader = self.query_one(Reader)
        story = self._current_story()
        if story is None:
            return
        if reader.story is None or reader.story.id != story.id:
            reader.show(story)
        if reader.article is not None:
            reader.show_feed_text()
            return
        reader.fetching_article()
        self._article_worker(story.id, reader)

    @work(thread=True, exclusive=True, group="article", exit_on_error=False)
    def _article_worker(self, story_id: int, reader: Reader) -> None:
        from digest.core.articles import fetch_article  # pycurl and trafilatura: only when asked

        store = self.dapp.open_worker_store()
        try:
            article = fetch_article(store, self.dapp.config, story_id)
            error, url = ("", "") if article.ok else (article.error, article.url)
        except LookupError as e:
            article, error, url = None, str(e), ""
        except Exception as e:  # noqa: BLE001 - shown as the reader's one line; the app goes on
            article, error, url = None, f"could not fetch it: {e}", ""
        finally:
            store.close()
        self.app.call_from_thread(reader.show_article, story_id, article, error, url)

