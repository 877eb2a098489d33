"""Adding feeds: a feed URL, a local file, or a website whose feed is found by autodiscovery."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from digest.core import clock
from digest.core.config import Config
from digest.core.fetch import fetch_one
from digest.core.links import canonical_feed_url
from digest.core.localfeeds import fetch_local, is_local, local_path
from digest.core.models import Feed
from digest.core.opml import read_opml, write_opml
from digest.core.parse import ParseError, parse_feed
from digest.core.paths import sample_feeds_dir
from digest.core.record import record
from digest.core.refresh import RefreshReport, refresh
from digest.core.store import FeedExistsError, Store
from digest.core.textclean import clean_feed


class FeedAddError(Exception):
    """Why a feed could not be added, in one line that names the URL."""


_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
               "application/rdf+xml", "application/xml", "text/xml")


class _AlternateLinks(HTMLParser):
    """<link rel="alternate" type="application/rss+xml" href="..."> in a page's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        rels = a.get("rel", "").lower().split()
        if "alternate" in rels and a.get("type", "").lower().split(";")[0].strip() in _FEED_TYPES and a.get("href"):
            self.links.append((a["href"], a.get("title", "")))


def discover_feed_links(html_bytes: bytes, base: str) -> list[str]:
    parser = _AlternateLinks()
    parser.feed(html_bytes[:2_000_000].decode("utf-8", "replace"))
    return [urljoin(base, href) for href, _ in parser.links]


def normalise_location(url: str) -> str:
    url = url.strip()
    if not url:
        raise FeedAddError("empty feed URL")
    if is_local(url):
        path = local_path(url).resolve()
        if not path.is_file():
            raise FeedAddError(f"{url}: no such file")
        return str(path)
    try:
        parts = urlsplit(url)
    except ValueError as e:  # "http://[::1/feed": Invalid IPv6 URL
        raise FeedAddError(f"{url}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise FeedAddError(f"{url}: only http, https and file URLs can be feeds")
    if not parts.hostname:
        raise FeedAddError(f"{url}: not a valid URL (no host)")
    return url


def _probe(url: str, config: Config) -> tuple[str, str]:
    """Fetch the URL; if it is a feed return (url, title); if it is a page, follow its first
    alternate feed link. Raises FeedAddError naming the URL and the reason."""
    cfg = config.refresh
    if is_local(url):
        res = fetch_local(url, max_bytes=cfg.max_bytes)
        if res.status != "ok":
            raise FeedAddError(f"{url}: {res.error}")
        try:
            return url, clean_feed(parse_feed(res.body, url)).title
        except ParseError as e:
            raise FeedAddError(f"{url}: not a feed: {e}") from None
    private_ok: bool | None = None  # the URL the user typed may be on a private address
    for attempt in range(2):
        res = fetch_one(url, timeout_s=cfg.timeout_s, max_bytes=cfg.max_bytes, user_agent=cfg.user_agent,
                        private_ok=private_ok)
        if res.status != "ok":
            raise FeedAddError(f"{url}: {res.error}")
        final = res.new_url or url
        try:
            parsed = clean_feed(parse_feed(res.body, res.final_url or url, res.content_type))
            return final, parsed.title
        except ParseError as e:
            links = discover_feed_links(res.body, res.final_url or url) if attempt == 0 else []
            if not links:
                if e.html:  # a web page without a <link rel="alternate"> to its feed: say so, once
                    raise FeedAddError(f"{url}: a web page that links to no RSS, Atom or JSON feed; "
                                       "give the feed's own URL") from None
                raise FeedAddError(f"{url}: not a feed ({e})") from None
            url = links[0]
            # the page's author wrote that link: from a public page it may only lead to public addresses
            private_ok = bool(res.private_ok)
    raise FeedAddError(f"{url}: the page's feed link does not lead to a feed")


def add_feed(store: Store, config: Config, url: str, *, section: str = "", title: str = "",
             full_text: bool = False) -> Feed:
    """Check the location really gives a feed (finding it from a website if need be), then store it.
    full_text: fetch the article behind each new story at refresh (for feeds that truncate)."""
    location = normalise_location(url)
    if store.feed_by_url(location):
        raise FeedAddError(f"{location}: already added")
    feed_url, feed_title = _probe(location, config)
    try:
        return store.add_feed(feed_url, title=title or feed_title, section=section, full_text=full_text)
    except FeedExistsError as e:
        raise FeedAddError(str(e)) from None


@dataclass(slots=True, frozen=True)
class Duplicate:
    """An OPML entry not imported because its feed is there already, with enough to name both."""

    entry: str  # the URL as the file writes it
    title: str  # the entry's title in the file ("" when it has none)
    feed: Feed  # the stored feed it is the same as (by canonical URL)
    in_file: bool  # an earlier entry of the same file, imported just now; False: subscribed before the import


@record
class OpmlImport:
    """What an OPML import did: each entry is added, skipped as already there, or refused with why, so
    len(added) + len(skipped) + len(refused) is the number of feed entries in the file."""

    added: list[Feed] = field(default_factory=list)
    skipped: list[Duplicate] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (the entry as written, why)

    @property
    def entries(self) -> int:
        return len(self.added) + len(self.skipped) + len(self.refused)


def import_opml(store: Store, path: Path | str, *, allow_files: bool = False) -> OpmlImport:
    """Add every feed of an OPML file (no network: the next refresh fetches them).

    An OPML file is someone else's list, so its entries are checked like links from a stranger: only
    http and https URLs are feeds; `javascript:`, `file:`, `ftp:` and the rest are refused, and so are
    local paths unless `allow_files` (`--allow-files`), and even then only files inside the OPML file's
    own folder (a shared list naming ../../etc/passwd or ~/.ssh/id_rsa would otherwise have refresh read
    them). Duplicates are found by the canonical feed URL (HTTP://Host/x and .../x#frag are one feed),
    within the file and against the feeds already stored."""
    path = Path(path)
    data = path.read_bytes()
    folder = path.resolve().parent
    result = OpmlImport()
    known: dict[str, tuple[Feed, bool]] = {}  # canonical URL -> (the feed, added by this import)
    for f in store.list_feeds():
        try:
            known[canonical_feed_url(f.url) if not is_local(f.url) else f.url] = (f, False)
        except ValueError:
            known[f.url] = (f, False)
    for item in read_opml(data, None, source=str(path)):
        url, why = _admit(item.url, folder, allow_files)
        if why:
            result.refused.append((item.url, why))
            continue
        if url in known:
            feed, in_file = known[url]
            result.skipped.append(Duplicate(item.url, item.title, feed, in_file))
            continue
        feed = store.add_feed(url, title=item.title, section=item.section, site_url=item.site_url,
                              full_text=item.full_text)
        known[url] = (feed, True)
        result.added.append(feed)
    return result


def _admit(raw: str, folder: Path, allow_files: bool) -> tuple[str, str]:
    """(the URL to store, "") for an entry that may be a feed, else ("", why not)."""
    try:
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if not parts.hostname:
                return "", "not a valid URL (no host)"
            return canonical_feed_url(raw), ""
    except ValueError as e:
        return "", f"not a valid URL ({e})"
    if scheme not in ("", "file"):
        return "", f"{scheme}: URLs are not feeds (only http and https)"
    if not allow_files:
        return "", "a local file; use --allow-files to import files in the OPML file's folder"
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        return "", "a file on another host"
    written = unquote(parts.path) if scheme == "file" else raw
    if written.startswith("~"):
        return "", "outside the OPML file's folder"
    target = (folder / written).resolve()  # an absolute path stays itself; symlinks are followed
    if not target.is_relative_to(folder):
        return "", "outside the OPML file's folder"
    return str(target), ""


def export_opml(store: Store, *, include_samples: bool = True) -> str:
    """The feeds as OPML. The TUI leaves the bundled samples out: their URLs are paths into this
    installation (site-packages), which mean nothing in another reader or on another machine."""
    return write_opml([f for f in store.list_feeds() if include_samples or not is_sample(f.url)])


def is_sample(url: str) -> bool:
    if not is_local(url):
        return False
    try:
        return local_path(url).resolve().is_relative_to(sample_feeds_dir().resolve())
    except (OSError, ValueError):
        return False


# The newest sample story is placed this long before "now" when the samples are loaded.
SAMPLE_AGE_S = 3600.0


def load_sample_feeds(store: Store, config: Config, *, now: float | None = None) -> tuple[list[Feed], RefreshReport]:
    """First run: the feeds in sample_feeds/ (local files, no network) into the store, refreshed.

    The sample stories are dated November 2026; their dates are moved forward together so the newest
    is an hour old. Otherwise, months later, the demo would have nothing "new", no Trending (a 7-day
    window) and nothing for the automatic rules to pick."""
    now = clock.now() if now is None else now
    added = import_opml(store, sample_feeds_dir() / "feeds.opml", allow_files=True).added
    ids = [f.id for f in added]
    report = refresh(store, config, ids, now=now)
    if ids:
        newest = store.newest_published(ids)
        if newest is not None and newest < now - SAMPLE_AGE_S:
            store.shift_published(ids, now - SAMPLE_AGE_S - newest)
    return added, report
