"""Article pages and teaser feeds written for the tests, and the real pages saved in tests/pages/.

    page = article_page("Forkyard raises $12M", image="https://img.example/f.jpg", description="...")
    srv.route("/a/1", html_response(page))
"""

from __future__ import annotations

import gzip
import html
from pathlib import Path

from feedserver import Response, rss

PAGES = Path(__file__).resolve().parent / "pages"

PARAGRAPHS = [
    "Forkyard, the Seattle startup that builds scheduling software for restaurant kitchens, said on Tuesday "
    "that it raised a $12 million Series A round led by a local venture firm, with earlier backers joining.",
    "The company will use the money to hire engineers and to open an office in Portland, its chief executive "
    "said in an interview, adding that revenue tripled over the past year as more kitchens signed up.",
    "Restaurants have struggled with staffing since the pandemic, and software that predicts busy hours has "
    "become one of the few tools owners say pays for itself within a season of use.",
    "Forkyard now counts more than 900 restaurants as customers across the Pacific Northwest and California, "
    "and plans to reach 2,000 by the end of next year, according to the company.",
]


def real_page(name: str) -> bytes:
    """A page saved from the web (see tests/pages/README.md)."""
    return gzip.decompress((PAGES / name).read_bytes())


def article_page(title: str, *, paragraphs: list[str] | None = None, image: str | None = None,
                 image_size: tuple[int, int] | None = (1200, 800), description: str | None = None,
                 author: str = "Alex Writer", site_name: str | None = "Example News", canonical: str | None = None,
                 body_images: list[tuple[str, int | None]] | None = None, og: bool = True) -> bytes:
    """An article page with a header, navigation, the article and a footer, as news sites lay them out.
    og=False leaves out every og:/twitter: tag (a page that has only its text and <img> tags)."""
    meta = [f'<meta name="author" content="{html.escape(author)}">'] if author else []
    if og:
        meta.append(f'<meta property="og:title" content="{html.escape(title)}">')
        if image:
            meta.append(f'<meta property="og:image" content="{html.escape(image)}">')
            if image_size:
                meta.append(f'<meta property="og:image:width" content="{image_size[0]}">')
                meta.append(f'<meta property="og:image:height" content="{image_size[1]}">')
        if description:
            meta.append(f'<meta property="og:description" content="{html.escape(description)}">')
        if site_name:
            meta.append(f'<meta property="og:site_name" content="{html.escape(site_name)}">')
    if canonical:
        meta.append(f'<link rel="canonical" href="{html.escape(canonical)}">')
    figures = "".join(
        f'<figure><img src="{html.escape(src)}"{f" width={w}" if w else ""} alt="A picture"></figure>'
        for src, w in (body_images or [])
    )
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in (paragraphs or PARAGRAPHS))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} | Example News</title>
{"".join(meta)}
<script>window.ads = [1, 2, 3];</script>
</head><body>
<header><a href="/"><img src="/logo.png" width="120" height="40" alt="Example News"></a>
<nav><ul><li><a href="/tech">Tech</a></li><li><a href="/biz">Business</a></li>
<li><a href="/jobs">Jobs</a></li></ul></nav>
</header>
<main><article><h1>{html.escape(title)}</h1><p class="byline">By {html.escape(author)}</p>
{figures}{paras}</article></main>
<aside><h3>Most read</h3><ul><li><a href="/x">Another story</a></li></ul></aside>
<footer><p>Copyright 2026 Example News. All rights reserved.</p></footer>
</body></html>""".encode()


def html_response(body: bytes, content_type: str = "text/html; charset=utf-8") -> Response:
    return Response(200, {"Content-Type": content_type}, body)


def teaser_feed(title: str, links: list[tuple[str, str]], *, summary: str = "Forkyard raised money. Read more…",
                images: bool = False) -> bytes:
    """An RSS feed whose items carry only a one-line teaser (and, unless images, no picture)."""
    items = []
    for i, (headline, link) in enumerate(links):
        item = {"title": headline, "link": link, "guid": f"{title}-{i}",
                "date": f"Wed, 25 Nov 2026 {10 + i % 10:02d}:00:00 GMT", "description": html.escape(summary)}
        if images:
            item["raw"] = f'<enclosure url="https://img.example.com/{i}.jpg" type="image/jpeg" length="1"/>'
        items.append(item)
    return rss(title, items)
