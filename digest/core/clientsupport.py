"""Which CSS properties, HTML elements and attributes a built email uses, checked against caniemail.com's
support data for the clients most readers use (ISSUE 18, NEWSLETTER.md).

The data is a subset of the MIT-licensed npm package `caniemail` (themes/_support/, with its LICENSE):
only the clients below, the newest test result per platform. Regenerate it after `npm pack caniemail`:

    python -m digest.core.clientsupport update package/data/caniemail.json

A feature a client does not support (`n`) or supports only in part (`a`) is acceptable only when
themes/_support/allowlist.toml names it with the fallback the markup carries and why that is enough;
anything else is reported, naming the feature, the clients and an example of where it is used.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import field
from html.parser import HTMLParser
from pathlib import Path

from digest.core.paths import builtin_themes_dir
from digest.core.record import record

# (family, platform) in caniemail's data -> the name we report. Outlook for Windows means the
# Word-rendered desktop versions (2007-2019), whose newest test result is kept.
CLIENTS: dict[tuple[str, str], str] = {
    ("gmail", "desktop-webmail"): "Gmail web",
    ("gmail", "ios"): "Gmail iOS",
    ("gmail", "android"): "Gmail Android",
    ("outlook", "windows"): "Outlook Windows",
    ("outlook", "outlook-com"): "Outlook.com",
    ("outlook", "macos"): "Outlook macOS",
    ("apple-mail", "macos"): "Apple Mail macOS",
    ("apple-mail", "ios"): "Apple Mail iOS",
    ("yahoo", "desktop-webmail"): "Yahoo web",
}
SUPPORT_DIR = "_support"
DATA_FILE = "caniemail-subset.json"
ALLOWLIST_FILE = "allowlist.toml"

# CSS properties caniemail has no page for; listed so a new property is a decision, not an accident.
NO_DATA_CSS = {
    "color": "universally supported; caniemail has no page for it",
    "font-family": "universally supported (Outlook for Windows gets Arial/Georgia from the MSO <style>)",
    "font-style": "universally supported; caniemail has no page for it",
    "-webkit-text-size-adjust": "vendor hint for iOS; ignored elsewhere, which is harmless",
    "-ms-text-size-adjust": "vendor hint for Windows Phone; ignored elsewhere, which is harmless",
    "mso-hide": "Outlook for Windows only (hides the preheader there); ignored elsewhere",
    "mso-line-height-rule": "Outlook for Windows only (exact line heights); ignored elsewhere",
    "mso-padding-alt": "Outlook for Windows only; ignored elsewhere",
    "mso-table-lspace": "Outlook for Windows only (no gap beside tables); ignored elsewhere",
    "mso-table-rspace": "Outlook for Windows only (no gap beside tables); ignored elsewhere",
    "mso-text-raise": "Outlook for Windows only; ignored elsewhere",
    "mso-font-width": "Outlook for Windows only; ignored elsewhere",
}
NO_DATA_HTML = {
    "html", "head", "meta", "title", "tr", "td", "th", "tbody", "b", "br", "a", "center",
}
NO_DATA_ATTR = {
    "href", "src", "alt", "class", "style", "border", "bgcolor", "name", "content", "charset", "id",
    "http-equiv", "xmlns", "xmlns:v", "xmlns:o", "colspan",
    "tabindex",  # on decorative image links (-1: skipped by keyboard); a client that drops it loses nothing else
}
# attribute -> caniemail slug
ATTR_SLUGS = {
    "align": "html-align", "valign": "html-valign", "width": "html-width", "height": "html-height",
    "cellpadding": "html-cellpadding", "cellspacing": "html-cellspacing", "role": "html-role",
    "aria-label": "html-aria-label", "aria-hidden": "html-aria-hidden", "lang": "html-lang",
    "dir": "html-dir", "target": "html-target", "background": "html-background", "srcset": "html-srcset",
    "loading": "html-loading-attribute", "hidden": "html-hidden",
}
TAG_SLUGS = {
    "h1": "html-h1-h6", "h2": "html-h1-h6", "h3": "html-h1-h6", "h4": "html-h1-h6", "h5": "html-h1-h6",
    "h6": "html-h1-h6", "ul": "html-lists", "ol": "html-lists", "li": "html-lists", "dl": "html-lists",
    "strong": "html-strong", "small": "html-small", "img": "html-img", "table": "html-table",
    "p": "html-p", "div": "html-div", "span": "html-span", "style": "html-style", "body": "html-body",
    "address": "html-address", "hr": "html-hr", "pre": "html-pre", "code": "html-code",
    "blockquote": "html-blockquote", "picture": "html-picture", "svg": "html-svg", "video": "html-video",
    "audio": "html-audio", "form": "html-form", "wbr": "html-wbr", "abbr": "html-abbr", "del": "html-del",
    "strike": "html-strike", "link": "html-link", "base": "html-base", "object": "html-object",
}
_SIDES = re.compile(r"-(top|right|bottom|left)(?=-|$)")


@record
class Usage:
    """Features found in one HTML document: caniemail slug -> a few examples of where."""

    slugs: dict[str, list[str]] = field(default_factory=dict)
    unknown: dict[str, list[str]] = field(default_factory=dict)  # used, but neither in the data nor listed

    def add(self, slug: str, where: str) -> None:
        ex = self.slugs.setdefault(slug, [])
        if len(ex) < 3 and where not in ex:
            ex.append(where)

    def add_unknown(self, what: str, where: str) -> None:
        ex = self.unknown.setdefault(what, [])
        if len(ex) < 3 and where not in ex:
            ex.append(where)


def css_property_slug(prop: str, known: set[str]) -> str | None:
    """`padding-left` -> css-padding, `border-top-color` -> css-border, `max-width` -> css-max-width."""
    prop = prop.strip().lower()
    candidates = [prop, _SIDES.sub("", prop)]
    candidates += [candidates[-1].rsplit("-", 1)[0]] if "-" in candidates[-1] else []
    for c in candidates:
        if f"css-{c}" in known:
            return f"css-{c}"
    return None


class _Scan(HTMLParser):
    """Elements, attributes and inline styles. Markup inside `<!--[if mso]>` comments is read only by
    Outlook for Windows, so it is not held against the other clients: it counts once, as "mso"."""

    def __init__(self, usage: Usage, known: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.u, self.known = usage, known
        self.in_style = False
        self.css: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.u.add("html-doctype", f"<!{decl}>")

    def handle_comment(self, data: str) -> None:
        self.u.add("html-comments", "<!--" + data[:30] + "...")
        if data.startswith("[if") and "mso" in data and "<" in data.split("]>", 1)[-1]:
            self.u.add("mso", "<!--[if mso]>" + data.split("]>", 1)[-1][:40] + "...")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"<{tag}>"
        if tag in TAG_SLUGS:
            self.u.add(TAG_SLUGS[tag], where)
        elif tag not in NO_DATA_HTML:
            self.u.add_unknown(where, where)
        if tag == "style":
            self.in_style = True
        a = dict(attrs)
        if tag == "meta" and (a.get("name") or "").lower() in ("color-scheme", "supported-color-schemes"):
            self.u.add("html-meta-color-scheme", f'<meta name="{a.get("name")}">')
        if tag == "a" and (a.get("href") or "").startswith("mailto:"):
            self.u.add("html-mailto-links", '<a href="mailto:...">')
        if tag == "img":
            ext = (a.get("src") or "").lower().split("?")[0].rsplit(".", 1)[-1]
            slug = {"jpg": "image-jpg", "jpeg": "image-jpg", "png": "image-png", "gif": "image-gif",
                    "webp": "image-webp", "svg": "image-svg", "avif": "image-avif"}.get(ext)
            if slug:
                self.u.add(slug, f'<img src="...{ext}">')
        for k, v in attrs:
            k = k.lower()
            if k in ATTR_SLUGS:
                self.u.add(ATTR_SLUGS[k], f"{where} {k}=")
            elif k.startswith("aria-"):
                self.u.add(f"html-{k}", f"{where} {k}=")
            elif k.startswith("data-"):
                pass  # inert
            elif k not in NO_DATA_ATTR:
                self.u.add_unknown(f"attribute {k}", where)
            if k == "style" and v:
                scan_declarations(v, self.u, self.known, where)

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.css.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False


def scan_declarations(block: str, usage: Usage, known: set[str], where: str) -> None:
    for decl in block.split(";"):
        if ":" not in decl:
            continue
        prop, value = (x.strip().lower() for x in decl.split(":", 1))
        if not prop:
            continue
        slug = css_property_slug(prop, known)
        if slug:
            usage.add(slug, f"{where} {prop}")
        elif prop not in NO_DATA_CSS:
            usage.add_unknown(f"css {prop}", where)
        if "!important" in value:
            usage.add("css-important", f"{where} {prop}")
        if re.search(r"\d(px)\b", value):
            usage.add("css-unit-px", f"{where} {prop}")
        if re.search(r"\d%", value):
            usage.add("css-unit-percent", f"{where} {prop}")
        if prop == "display" and value.startswith("none"):
            usage.add("css-display-none", f"{where} display:none")


def scan_stylesheet(css: str, usage: Usage, known: set[str]) -> None:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for m in re.finditer(r"@media([^{]*)\{", css):
        usage.add("css-at-media", "@media" + m.group(1).strip()[:40])
        if "prefers-color-scheme" in m.group(1):
            usage.add("css-at-media-prefers-color-scheme", "@media (prefers-color-scheme)")
    for sel, body in re.findall(r"([^{}@]+)\{([^{}]*)\}", css):
        sel = sel.strip()
        if sel.startswith(("only ", "screen", "(")):
            continue
        if "," in sel:
            usage.add("css-selector-grouping", sel[:40])
        for one in sel.split(","):
            one = one.strip()
            if "[" in one:
                usage.add("css-selector-attribute", one)
            if "." in one:
                usage.add("css-selector-class", one)
            if re.search(r"\S\s+\S", one):
                usage.add("css-selector-descendant", one)
            if re.match(r"^[a-z]", one):
                usage.add("css-selector-type", one)
            if ":" in one:
                usage.add_unknown(f"pseudo-class in {one}", one)
        scan_declarations(body, usage, known, sel[:40])


def scan(html: str, known: set[str]) -> Usage:
    usage = Usage()
    p = _Scan(usage, known)
    p.feed(html)
    p.close()
    for css in p.css:
        scan_stylesheet(css, usage, known)
    return usage


# -- the data and the allowlist -----------------------------------------------------------------------


def support_dir() -> Path:
    return builtin_themes_dir() / SUPPORT_DIR


def load_data(path: Path | None = None) -> dict[str, dict[str, object]]:
    doc = json.loads((path or support_dir() / DATA_FILE).read_text(encoding="utf-8"))
    return {f["slug"]: f for f in doc["features"]}


def load_allowlist(path: Path | None = None) -> dict[str, dict[str, object]]:
    data = tomllib.loads((path or support_dir() / ALLOWLIST_FILE).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, dict)}


@record
class Finding:
    slug: str
    title: str
    clients: dict[str, str]  # client -> "n" / "a" plus note numbers
    examples: list[str]
    allowed: str = ""  # the allowlist's fallback + reason, when it has one

    def line(self) -> str:
        cl = ", ".join(f"{c} ({v})" for c, v in self.clients.items())
        return f"{self.slug} ({self.title}): not fully supported in {cl}; used at {'; '.join(self.examples)}"


def check(html: str, data: dict[str, dict[str, object]] | None = None,
          allow: dict[str, dict[str, object]] | None = None) -> tuple[list[Finding], list[Finding], list[str]]:
    """(problems, allowed, unknown): features some target client lacks and the allowlist does not
    cover; those it covers; and features the data does not know and the lists above do not name."""
    data = load_data() if data is None else data
    allow = load_allowlist() if allow is None else allow
    usage = scan(html, set(data))
    problems: list[Finding] = []
    allowed: list[Finding] = []
    for slug, examples in sorted(usage.slugs.items()):
        feat = data.get(slug)
        if feat is None:
            if slug in allow:
                allowed.append(Finding(slug, slug, {}, examples, str(allow[slug].get("fallback", ""))))
            else:
                usage.add_unknown(slug, examples[0])
            continue
        stats: dict[str, str] = feat["support"]  # type: ignore[assignment]
        gaps = {c: v for c, v in stats.items() if not v.startswith("y")}
        if not gaps:
            continue
        f = Finding(slug, str(feat["title"]), gaps, examples)
        entry = allow.get(slug)
        covered: list[str] = list(entry.get("clients", gaps)) if entry else []  # type: ignore[call-overload]
        if entry and set(gaps) <= set(covered):
            f.allowed = f"{entry.get('fallback', '')} ({entry.get('reason', '')})"
            allowed.append(f)
        else:
            problems.append(f)
    unknown = [f"{what} at {', '.join(ex)}" for what, ex in sorted(usage.unknown.items())]
    return problems, allowed, unknown


# -- regenerating the subset --------------------------------------------------------------------------


def _latest(results: dict[str, str]) -> str:
    """The newest test result of one platform (caniemail lists them oldest first)."""
    return list(results.values())[-1] if results else "u"


def subset(full: dict[str, object]) -> dict[str, object]:
    features = []
    for feat in full["data"]:  # type: ignore[attr-defined]
        stats = feat["stats"]
        support = {}
        for (family, platform), name in CLIENTS.items():
            value = _latest(stats.get(family, {}).get(platform, {}))
            if value != "u":
                support[name] = value
        notes = {k: v for k, v in (feat.get("notes_by_num") or {}).items()
                 if any(f"#{k}" in v2 for v2 in support.values())}
        features.append({"slug": feat["slug"], "title": feat["title"], "support": support, "notes": notes})
    return {"source": "npm package caniemail (MIT, https://github.com/shellscape/caniemail; data from caniemail.com)",
            "last_update_date": full.get("last_update_date"), "clients": list(CLIENTS.values()),
            "features": features}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "update":
        print("usage: python -m digest.core.clientsupport update path/to/caniemail.json", file=sys.stderr)
        return 2
    full = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = support_dir() / DATA_FILE
    doc = subset(full)
    feats = doc.pop("features")
    head = json.dumps(doc, ensure_ascii=False)[:-1]
    lines = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in feats)  # type: ignore[attr-defined]
    out.write_text(f'{head}, "features": [\n{lines}\n]}}\n', encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
