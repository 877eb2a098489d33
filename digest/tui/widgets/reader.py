"""The reader pane: headline, source, author, date, categories, image link, then the story's text (or,
after the `article` key, the full article fetched from the story's link)."""

from __future__ import annotations

import contextlib
import webbrowser
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from digest.core.models import Article, Story
from digest.core.textclean import terminal_text
from digest.tui.htmltext import html_to_markdown
from digest.tui.timefmt import date
from digest.tui.widgets.url_line import NoteLine, UrlLine

# Past this, the reader shows the start and a note: Textual's Markdown widget builds one widget per block,
# and a 1 MB scraped article would take seconds to lay out. 60k characters is ~10k words.
MAX_MARKDOWN = 60_000


class Reader(VerticalScroll, can_focus=True):
    # j and space are the reading keys: at a story's end they go on to the next one (mutt's and slrn's
    # space). The arrows, PageDown and End only scroll and stop at the end: a reader paging with PageDown
    # must not be carried into the next story, and have it marked read, by one press too many.
    BINDINGS = [
        Binding("j", "line_or_next", "Scroll down", show=False, id="reader.down",
                tooltip="Scroll down; at the story's end, the next story"),
        Binding("space", "page_or_next", "Page down", show=False, id="reader.page",
                tooltip="Page down; at the story's end, the next story"),
        Binding("down", "scroll_down", "Scroll down", show=False, id="reader.line_down",
                tooltip="Scroll down (stops at the story's end)"),
        Binding("pagedown", "page_down", "Page down", show=False, id="reader.page_down",
                tooltip="Page down (stops at the story's end)"),
        Binding("k,up", "scroll_up", "Scroll up", show=False, id="reader.up"),
        Binding("pageup", "page_up", "Page up", show=False, id="reader.page_up"),
        Binding("g,home", "scroll_home", "Top", show=False, id="reader.top"),
        Binding("G,end", "scroll_end", "Bottom", show=False, id="reader.bottom"),
        Binding("escape", "back", "Back to the list", show=False, id="reader.back"),
    ]

    class PastEnd(Message):
        """j or space at the end of a story: the screen moves on to the next one."""

    class Back(Message):
        """Esc in the reader: back to the list."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.story: Story | None = None
        self.article: Article | None = None  # shown in place of the feed's text
        self.article_note = ""  # why the article could not be had (one line under the notes)
        self.article_note_url = ""  # the address that failed, shown after the reason when there is room

    def _at_end(self) -> bool:
        return self.story is not None and self.scroll_y >= self.max_scroll_y

    def action_line_or_next(self) -> None:
        if self._at_end():
            self.post_message(self.PastEnd())
        else:
            self.action_scroll_down()

    def action_page_or_next(self) -> None:
        if self._at_end():
            self.post_message(self.PastEnd())
        else:
            self.action_page_down()

    def action_back(self) -> None:
        self.post_message(self.Back())

    def refresh_story(self) -> None:
        """Re-read the shown story (its read/flag state, headline or blurb changed elsewhere: this screen,
        the CLI); shown again only when something changed, keeping the scroll position."""
        if self.story is not None:
            app: Any = self.app
            with contextlib.suppress(Exception):  # removed meanwhile: keep what is shown
                fresh = app.store.get_story(self.story.id)
                if fresh != self.story:
                    self.show(fresh)

    def compose(self) -> ComposeResult:
        # the links get lines of their own between the head and the notes, so they never wrap mid-URL
        with Vertical(id="reader-top"):
            yield Static("", id="reader-head", markup=True)
            yield UrlLine(id="reader-link")
            yield UrlLine(id="reader-image")
            yield Static("", id="reader-notes", markup=True)
            yield NoteLine(id="reader-article-error")

    def _set_body(self, markdown: str) -> None:
        """Show markdown in the body, mounting the Markdown widget on first use: importing it (markdown-it)
        costs ~100 ms, which the first frame need not wait for."""
        found = self.query("#reader-body")
        if found:
            found.first().update(markdown)  # type: ignore[attr-defined]
            return
        from textual.widgets import Markdown

        self.mount(Markdown(markdown, id="reader-body", open_links=False))

    def show_placeholder(self, text: str) -> None:
        self.story = None
        self.article, self.article_note, self.article_note_url, self.loading = None, "", "", False
        self.query_one("#reader-head", Static).update(f"[dim]{escape(text)}[/]")
        self._set_links("", "")
        self._set_notes([])
        self.query_one("#reader-article-error", NoteLine).set_note("article:", "")
        if self.query("#reader-body"):
            self._set_body("")

    def show(self, story: Story) -> None:
        same = self.story is not None and self.story.id == story.id
        self.story = story
        if not same:
            self.article, self.article_note, self.article_note_url, self.loading = None, "", "", False
        head = [f"[b]{escape(story.headline or story.title or '(untitled)')}[/b]"]
        if story.headline and story.headline != story.title:
            head.append(f"[dim]original: {escape(story.title)}[/]")
        byline = story.feed_title
        if story.author:
            byline += f" · {story.author}"
        head.append(f"[$accent]{escape(byline)}[/]")
        head.append(f"[dim]{escape(date(story.published_at))}[/]")
        if story.categories:
            head.append("[dim]" + escape(" · ".join(story.categories[:8])) + "[/]")
        # terminal_text: no control character from a stored row reaches the terminal
        self.query_one("#reader-head", Static).update(terminal_text("\n".join(head)))
        self._set_links(story.canonical_link or story.link, story.image.url if story.image else "")
        notes = []
        if story.flagged:
            notes.append(f"[b $warning]★ in the digest[/] [dim]({escape(story.draft_section or '')})[/]")
            if story.blurb:
                notes.append(f"[i]{escape(story.blurb)}[/]")
        if self.article is not None:
            a = self.article
            what = " · ".join(x for x in (a.site_name, a.author) if x)
            notes.append(f"[b $success]full article[/] [dim]{escape(what)}[/]")
        self._set_notes(notes)
        link = story.canonical_link or story.link
        # the URL only when it is not the link shown above (it usually is)
        self.query_one("#reader-article-error", NoteLine).set_note(
            "article:", self.article_note, "" if self.article_note_url == link else self.article_note_url)
        if not same:
            body = html_to_markdown(story.content) or html_to_markdown(story.summary) or "*(no text in the feed)*"
            if len(body) > MAX_MARKDOWN:
                body = body[:MAX_MARKDOWN] + "\n\n*… (cut here; press o to read the rest in the browser)*"
            self._set_body(body)
            self.scroll_home(animate=False)

    def _set_links(self, link: str, image: str) -> None:
        self.query_one("#reader-link", UrlLine).set_url(link or "", "link:")
        self.query_one("#reader-image", UrlLine).set_url(image, "image:")

    def _set_notes(self, notes: list[str]) -> None:
        widget = self.query_one("#reader-notes", Static)
        widget.display = bool(notes)
        widget.update(terminal_text("\n".join(notes)))

    def fetching_article(self) -> None:
        """The spinner while the article is fetched (in a worker: the app goes on)."""
        self.loading = True

    def show_article(self, story_id: int, article: Article | None, error: str = "", url: str = "") -> None:
        """The article in place of the feed's text, or one line saying why there is none (error, and the
        url that failed). Ignored when the reader has moved to another story meanwhile."""
        if self.story is None or self.story.id != story_id:
            return
        self.loading = False
        if article is not None and article.ok:
            self.article, self.article_note, self.article_note_url = article, "", ""
            body = html_to_markdown(article.html) or escape(article.text) or "*(the page has no text)*"
            if len(body) > MAX_MARKDOWN:
                body = body[:MAX_MARKDOWN] + "\n\n*… (cut here; press o to read the rest in the browser)*"
            self._set_body(body)
            self.scroll_home(animate=False)
        else:
            self.article_note, self.article_note_url = error, url
        self.show(self.story)

    def show_feed_text(self) -> None:
        """Back from the article to the feed's own text."""
        if self.story is None:
            return
        story, self.story = self.story, None
        self.show(story)

    def on_markdown_link_clicked(self, event: Any) -> None:
        event.stop()
        if event.href.startswith(("http://", "https://", "mailto:")):
            webbrowser.open(event.href)
