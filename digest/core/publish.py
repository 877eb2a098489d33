"""A digest people can follow on the web: the published archive's Atom feed of issues, OpenGraph tags and
a canonical link on each issue page, and a Markdown rendering of the draft for pasting into Buttondown,
Ghost or Substack.

The feed is written with ElementTree (escaping is the library's job, not a template's). Entry links are
absolute when `newsletter.web_url` is set (where the archive is published) and relative ("3/") otherwise,
which feed readers resolve against the feed's own address.
"""

from __future__ import annotations

import html as htmlmod
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from digest.core import clock
from digest.core.config import Config
from digest.core.fsutil import atomic_write
from digest.core.paths import Paths

ATOM = "http://www.w3.org/2005/Atom"
FEED_NAME = "feed.xml"
FEED_LIMIT = 50  # the newest issues; a reader that subscribes late can browse index.html for the rest
WEB_START, WEB_END = "<!-- web view -->", "<!-- /web view -->"
_LEAD_IMG = re.compile(r'<img\b[^>]*\bsrc="(https?://[^"]+)"', re.I)


def issue_url(config: Config, number: int) -> str:
    base = config.newsletter.web_url.strip()
    return f"{base.rstrip('/')}/{number}/" if base else f"{number}/"


def _iso(value: str | None) -> str:
    return value or clock.now_utc().isoformat(timespec="seconds").replace("+00:00", "Z")


def write_feed(paths: Paths, config: Config, issues: list[dict[str, Any]],
               manifest: Callable[[int], dict[str, Any] | None]) -> None:
    """archive/feed.xml: one Atom entry per issue (newest first), each linking to its web view.
    `issues` is archive.list_issues(); `manifest(number)` (the archive's reader, passed in so this module
    does not import the archive that calls it) gives the preheader and the stories for the summary."""

    ET.register_namespace("", ATOM)
    nl = config.newsletter
    base = nl.web_url.strip()
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = nl.title
    if nl.tagline:
        ET.SubElement(feed, f"{{{ATOM}}}subtitle").text = nl.tagline
    ET.SubElement(feed, f"{{{ATOM}}}id").text = base or f"urn:digest:{quote(nl.title)}"
    if base:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base.rstrip('/')}/{FEED_NAME}")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=base or "./")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = nl.from_.split("<")[0].strip().strip('"') or nl.title
    shown = issues[:FEED_LIMIT]
    stamps = [str(m.get("sent_at") or m.get("date")) for m in shown if m.get("sent_at") or m.get("date")]
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _iso(max(stamps, default=None))
    for m in shown:
        number = int(m["number"])
        meta = manifest(number) or {}
        url = issue_url(config, number)
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = f"#{number}: {m.get('subject', '')}"
        ET.SubElement(entry, f"{{{ATOM}}}id").text = url if base else f"urn:digest:{quote(nl.title)}:{number}"
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=url)
        ET.SubElement(entry, f"{{{ATOM}}}published").text = _iso(m.get("date"))
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _iso(m.get("sent_at") or m.get("date"))
        heads = "".join(f"<li>{htmlmod.escape(s.get('headline', ''))}</li>" for s in meta.get("stories", []))
        summary = ET.SubElement(entry, f"{{{ATOM}}}summary", type="html")
        summary.text = f"<p>{htmlmod.escape(meta.get('preheader', ''))}</p><ul>{heads}</ul>"
    data = ET.tostring(feed, encoding="unicode", xml_declaration=False)
    atomic_write(paths.archive_dir / FEED_NAME, '<?xml version="1.0" encoding="utf-8"?>\n' + data + "\n")


def web_view(html: str, config: Config, number: int, subject: str, description: str) -> str:
    """The issue's email HTML with what a shared link and a search engine need: a canonical link, the
    OpenGraph title/description/url/image, and the feed's address. Only for the archived page: mail
    clients ignore these, and the sent message stays exactly as rendered."""
    esc = htmlmod.escape
    url = issue_url(config, number)
    html = html.replace("{token}", "")  # a public page has no reader: the unsubscribe link asks for one
    tags = [
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{esc(config.newsletter.title)}">',
        f'<meta property="og:title" content="{esc(subject)}">',
        f'<meta property="og:description" content="{esc(description)}">',
        f'<meta name="description" content="{esc(description)}">',
        f'<link rel="alternate" type="application/atom+xml" title="{esc(config.newsletter.title)}" '
        f'href="../{FEED_NAME}">',
    ]
    if config.newsletter.web_url.strip():  # canonical and og:url must be absolute
        tags += [f'<link rel="canonical" href="{esc(url)}">', f'<meta property="og:url" content="{esc(url)}">']
    m = _LEAD_IMG.search(html.split("<body", 1)[-1])
    if m:
        tags.append(f'<meta property="og:image" content="{m.group(1)}">')  # already escaped in the HTML
    i = html.find("</head>")
    block = WEB_START + "\n" + "\n".join(tags) + "\n" + WEB_END
    return html if i < 0 else html[:i] + block + html[i:]


def strip_web_view(html: str) -> str:
    """The email HTML back from an archived web view (archives written before email.html existed)."""
    return re.sub(re.escape(WEB_START) + ".*?" + re.escape(WEB_END), "", html, count=1, flags=re.S)


# -- Markdown ---------------------------------------------------------------------------------------

def _md(text: str) -> str:
    """Text safe inside Markdown: the characters that would start markup are escaped."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", text or "")


def render_markdown(ctx: dict[str, Any]) -> str:
    """The draft as Markdown (the template context, render.build_context): title, sections with linked
    headlines, bylines and blurbs, Trending after the first section (as the themes place it), footer."""
    nl = ctx["newsletter"]
    out = [f"# {_md(nl['title'])}", "", f"*Issue #{nl['number']} · {nl['date']}*"]
    if nl.get("tagline"):
        out += ["", _md(nl["tagline"])]

    def head(s: dict[str, Any]) -> str:
        return f"[{_md(s['headline'])}]({s['url']})" if s.get("url") else _md(s["headline"])

    for i, sec in enumerate(ctx["sections"]):
        out += ["", f"## {_md(sec['name'])}"]
        for s in sec["stories"]:
            if sec["kind"] == "events":
                when = s["event"]["start"] or s["published"]
                date = f"**{when:%a %b %-d, %-I:%M %p}** · " if when else ""
                where = " · ".join(x for x in (s["event"]["location"], s["event"]["organizer"]) if x)
                out += ["", f"- {date}{head(s)}" + (f" · {_md(where)}" if where else "")]
            elif sec["kind"] == "jobs":
                at = " · ".join(x for x in (s["company"], s["city"]) if x)
                out += ["", f"- {head(s)}" + (f" · {_md(at)}" if at else "")]
            else:
                out += ["", f"### {head(s)}"]
                by = " · ".join(dict.fromkeys(x for x in (s["author"], s["source"]) if x))
                if by:
                    out += ["", f"*{_md(by)}*"]
                if s["blurb"]:
                    out += ["", _md(s["blurb"])]
        if i == 0 and ctx["trending"]:
            out += ["", "## Trending", ""]
            out += [f"{n}. {head(s)} ({s['count']} sources)" for n, s in enumerate(ctx["trending"], 1)]
    out += [""]
    return "\n".join(out)
