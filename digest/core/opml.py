"""OPML 2.0 import and export, so a newsboat or Feedly user can move in (and out).

Sections travel as outline groups (a folder outline holding feed outlines), the way Feedly, Inoreader
and newsboat's exporters write them; a feed's `category` attribute is read too. A feed whose articles are
fetched at refresh carries `fullText="true"` (OPML 2.0 allows any attribute on an outline; readers that do
not know it ignore it).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from digest.core.models import Feed
from digest.core.record import record
from digest.core.textclean import clean_line


class OpmlError(Exception):
    pass


@record
class OpmlFeed:
    url: str
    title: str = ""
    site_url: str = ""
    section: str = ""
    full_text: bool = False


def _resolve(url: str, base_dir: Path | None) -> str:
    """Relative paths in an OPML file (our sample feeds use them) resolve against the file's folder."""
    if base_dir is None or "://" in url or url.startswith("/"):
        return url
    return str((base_dir / url).resolve())


def read_opml(data: bytes, base_dir: Path | None = None, *, source: str = "OPML") -> list[OpmlFeed]:
    # no network, no entities, no DTDs: an OPML file is data, never a reason to fetch or expand anything
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise OpmlError(f"{source}: not valid XML: {e}") from None
    if root.tag != "opml":
        raise OpmlError(f"{source}: not an OPML file (root element is <{root.tag}>)")
    body = root.find("body")
    if body is None:
        raise OpmlError(f"{source}: no <body>")
    out: list[OpmlFeed] = []

    def walk(node: etree._Element, section: str) -> None:
        for child in node:
            if child.tag != "outline":
                continue
            # the file's strings are someone else's text: no control or bidi characters (textclean)
            url = clean_line(child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            label = clean_line(child.get("title") or child.get("text") or "").strip()
            if url:
                if label == url:  # exporters (ours too) put the URL in `text` when a feed has no title
                    label = ""
                category = clean_line(child.get("category") or "").strip().strip("/").split(",")[0].split("/")[-1]
                full_text = (child.get("fullText") or "").strip().lower() in ("true", "1", "yes")
                out.append(OpmlFeed(_resolve(url, base_dir), label, clean_line(child.get("htmlUrl") or "").strip(),
                                    section or category, full_text))
            else:
                walk(child, label or section)

    walk(body, "")
    return out


def write_opml(feeds: list[Feed], title: str = "digest feeds") -> str:
    by_section: dict[str, list[Feed]] = {}
    for f in feeds:
        by_section.setdefault(f.section, []).append(f)

    def line(f: Feed, indent: str) -> str:
        attrs = [f"type={quoteattr('rss')}", f"text={quoteattr(f.name)}", f"title={quoteattr(f.name)}",
                 f"xmlUrl={quoteattr(f.url)}"]
        if f.site_url:
            attrs.append(f"htmlUrl={quoteattr(f.site_url)}")
        if f.section:
            attrs.append(f"category={quoteattr('/' + f.section)}")
        if f.full_text:
            attrs.append('fullText="true"')
        return f"{indent}<outline {' '.join(attrs)}/>"

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">', "  <head>",
             f"    <title>{_esc(title)}</title>", "  </head>", "  <body>"]
    for section in sorted(by_section, key=lambda s: (s == "", s.casefold())):
        if section:
            lines.append(f"    <outline text={quoteattr(section)} title={quoteattr(section)}>")
            lines.extend(line(f, "      ") for f in by_section[section])
            lines.append("    </outline>")
        else:
            lines.extend(line(f, "    ") for f in by_section[section])
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
