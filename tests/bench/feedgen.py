"""Generate realistic feeds for benchmarks (made at run time, never committed) and serve them on
127.0.0.1 with ETag / Last-Modified / 304 support, from a separate process so the server does not
share the measured process's GIL."""

from __future__ import annotations

import email.utils
import hashlib
import multiprocessing
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORDS = (  # noqa: SIM905 - a word list reads better as prose
    "cloud startup robotics seattle funding series seed battery climate ferry engineer data model "
    "platform launch customers revenue investors policy council transit housing chip quantum space "
    "rocket satellite biotech health retail logistics delivery warehouse software open source team "
    "hiring layoffs acquisition merger partnership research university students founders product "
    "market growth analysis security privacy outage latency database kernel compiler browser mobile"
).split()
AUTHORS = ["Dana Okafor", "Lena Hartwig", "Owen Castellanos", "Priya Natarajan", "Marcus Bell", "Ines Duarte"]
CATS = ["Startups", "Cloud", "AI", "Space", "Biotech", "Policy", "Funding", "Climate Tech", "Retail", "Security"]


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def make_feed(i: int, items: int = 30, host: str = "127.0.0.1") -> bytes:
    """About 75 KB of RSS 2.0 with HTML descriptions, authors and categories (like a news site's)."""
    rng = random.Random(i)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>Bench feed {i}</title><link>https://site{i}.bench.example/</link>",
        f"<description>Feed {i} for the refresh benchmark</description>",
    ]
    for j in range(items):
        slug = f"{i}-{j}-{rng.randrange(10**6)}"
        link = f"https://site{i}.bench.example/2026/11/{slug}/"
        day = 1 + (j % 25)
        date = email.utils.format_datetime(
            __import__("datetime").datetime(2026, 11, day, rng.randrange(24), rng.randrange(60),
                                             tzinfo=__import__("datetime").UTC))
        paras = "".join(
            f"<p>{' '.join(_sentence(rng, rng.randrange(8, 18)) for _ in range(4))} "
            f'<a href="https://site{i}.bench.example/tag/{rng.choice(WORDS)}">{rng.choice(WORDS)}</a></p>'
            for _ in range(4)
        )
        desc = (
            f'<img width="1260" height="841" src="https://img.bench.example/{slug}-1260x841.jpg" alt="" '
            f'srcset="https://img.bench.example/{slug}-630x421.jpg 630w" />{paras}'
            f'<p><a href="{link}">Read More</a></p>'
        )
        cats = "".join(f"<category><![CDATA[{c}]]></category>" for c in rng.sample(CATS, 3))
        out.append(
            f"<item><title>{_sentence(rng, rng.randrange(6, 12))[:-1]}</title><link>{link}</link>"
            f"<dc:creator><![CDATA[{rng.choice(AUTHORS)}]]></dc:creator><pubDate>{date}</pubDate>{cats}"
            f'<guid isPermaLink="false">https://site{i}.bench.example/?p={slug}</guid>'
            f"<description><![CDATA[{desc}]]></description></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode()


def write_feeds(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"feed{i}.xml"
        if not p.exists():
            p.write_bytes(make_feed(i))
        paths.append(p)
    return paths


def _serve(folder: str, port_q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    files: dict[str, tuple[bytes, str]] = {}
    for p in Path(folder).glob("*.xml"):
        data = p.read_bytes()
        files["/" + p.name] = (data, '"' + hashlib.sha1(data).hexdigest()[:16] + '"')
    last_modified = "Wed, 25 Nov 2026 12:00:00 GMT"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            entry = files.get(self.path)
            if entry is None:
                self.send_error(404)
                return
            data, etag = entry
            if self.headers.get("If-None-Match") == etag or self.headers.get("If-Modified-Since") == last_modified:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_q.put(server.server_address[1])
    server.serve_forever()


class FeedServer:
    """`with FeedServer(folder) as base_url:` serves folder/*.xml from another process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> str:
        q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        self.proc = multiprocessing.get_context("fork").Process(target=_serve, args=(str(self.folder), q), daemon=True)
        self.proc.start()
        port = q.get(timeout=30)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(5)
