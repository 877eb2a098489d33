"""The issue's pictures, made ours: downloaded, resized and cropped with Pillow into archive/N/img/.

Only when `newsletter.web_url` is set (the archive is published there): the email then points at
<web_url>/N/img/..., so every reader sees the same light pictures, not whatever the source site serves
that day (a 4 MB original, a hotlink block, a picture gone after a redesign). The lead becomes 600 px wide
(the email's width); every other picture a square at twice the 132 px thumbnail, for sharp retina screens.
A picture that cannot be downloaded for a reason that may pass (a timeout, a server error, a refusal, one
too large to open) keeps its original URL; one that is gone (404, 410) or is no photo (an SVG, a web page, a
broken file, a tracking pixel or an icon) is left out of the issue: the reader would see a broken picture, a
blank or a blown-up pixel. Nothing is embedded (no base64: Gmail and Outlook block or clip data: images).

Pictures are fetched through the feed fetcher (its limits) all at once; a picture already in the folder
(a rebuild) is not fetched again. Pillow is imported only here, when there is something to do.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.core import clock
from digest.core.fsutil import atomic_write

if TYPE_CHECKING:
    from digest.core.config import Config

LEAD_WIDTH = 600  # the email's width
# A lead taller than 3:4 is cropped (a portrait photo would push the stories below the fold).
LEAD_MAX_HEIGHT = 800
THUMB_SIZE = 264  # 2x the geekwire theme's 132 px thumbnail column
JPEG_QUALITY = 82  # visually lossless for photos at a third of the size of quality 95
# Larger pictures are refused as decompression bombs (Pillow's own default warns at 89M pixels); a news
# photo is a few megapixels.
MAX_PIXELS = 40_000_000
# A JPEG is decoded at 1/2, 1/4 or 1/8 of its sides (draft, below): a 48 MP camera photo costs under 3 MP
# of memory, so JPEGs may have this many times MAX_PIXELS.
JPEG_DRAFT_ALLOWANCE = 4
# Favicons, avatars and tracking pixels are 1-32 px; the smallest picture drawn is a 132 px thumbnail, so a
# side under this would be blown up three times or more (a 1x1 pixel became a black 264 px square).
MIN_SIDE_PX = 48
PHOTO_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP")  # MPO: a camera's JPEG with extra frames (Pillow's name)
ACCEPT = "image/avif;q=0.1,image/webp,image/jpeg,image/png,image/gif;q=0.8,*/*;q=0.1"


def _name(url: str, kind: str) -> str:
    return f"{hashlib.sha256(url.encode()).hexdigest()[:20]}-{kind}.jpg"


class NotAPicture(ValueError):
    """The bytes are no photo for an email (an SVG, a page, a broken file, a pixel): the issue leaves it out."""


def process(data: bytes, kind: str) -> bytes:
    """The picture as a JPEG: `lead` 600 px wide (at most 800 high, centre-cropped), `thumb` a 264 px
    square cropped from the centre. Raises NotAPicture when the bytes are no photo to show, ValueError
    when the picture is too large to open."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # ~30 ms of imports: only when there are pictures

    # The size is checked below, by format: Pillow's own check only warns (on stderr, into cron's mail) up to
    # twice its limit and then decodes the whole picture, and it cannot know that a JPEG is decoded smaller.
    Image.MAX_IMAGE_PIXELS = None
    try:
        img: Any = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise NotAPicture(f"not a picture Pillow can read: {e}") from None
    if img.format not in PHOTO_FORMATS:
        raise NotAPicture(f"not a photo format ({img.format or 'unknown'})")
    limit = MAX_PIXELS * (JPEG_DRAFT_ALLOWANCE if img.format in ("JPEG", "MPO") else 1)
    if img.width * img.height > limit:
        raise ValueError(f"{img.width}x{img.height} px: too large to open (over {limit:,} pixels)")
    if min(img.size) < MIN_SIDE_PX:
        raise NotAPicture(f"{img.width}x{img.height} px: a tracking pixel or an icon, not a photo")
    try:
        target = (LEAD_WIDTH, LEAD_WIDTH) if kind == "lead" else (THUMB_SIZE, THUMB_SIZE)
        img.draft("RGB", (target[0] * 2, target[1] * 2))  # JPEG: decode at a fraction of the size (fast)
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGB", img.size, (255, 255, 255))  # transparent PNGs on the email's white
            white.paste(img, mask=img.getchannel("A"))
            img = white
        img = img.convert("RGB")
        if kind == "lead":
            height = max(1, round(img.height * LEAD_WIDTH / img.width))
            img = img.resize((LEAD_WIDTH, height), Image.Resampling.LANCZOS)
            if height > LEAD_MAX_HEIGHT:
                img = ImageOps.fit(img, (LEAD_WIDTH, LEAD_MAX_HEIGHT), Image.Resampling.LANCZOS)
        else:
            img = ImageOps.fit(img, (THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    except (OSError, SyntaxError) as e:  # a truncated or damaged file, found while decoding it
        raise NotAPicture(f"not a picture Pillow can read: {e}") from None
    return out.getvalue()


def localise(images: list[tuple[dict[str, Any], str, bool]], config: Config, folder: Path,
             base_url: str) -> list[str]:
    """Point each (image dict of the template context, "lead" | "thumb", may it be on a private address)
    at our own copy in `folder` (published at `base_url`), made from the original. The dicts are changed
    in place: url, width, height; the dict of a picture that is gone or no photo is emptied (the caller
    leaves it out). Returns notes: how many pictures were left out and how many kept their original URL,
    and why the first of each did. Picture URLs are written by feed and page authors: they are fetched on
    public addresses only, unless the story's feed is on a private one or [articles] allow_private is set."""
    from digest.core.articles import placeholder_host

    todo: dict[tuple[str, str], list[dict[str, Any]]] = {}
    private: dict[str, bool] = {}
    for image, kind, private_ok in images:
        url = image["url"]
        if placeholder_host(url):  # example.com and the like: nothing to download (sample feeds, tests)
            continue
        todo.setdefault((url, kind), []).append(image)
        private[url] = private.get(url, False) or private_ok
    if not todo:
        return []
    done: dict[tuple[str, str], Path] = {}
    missing: list[tuple[str, str]] = []
    for key in todo:
        path = folder / _name(*key)
        if path.exists():
            done[key] = path
        else:
            missing.append(key)
    failures: list[str] = []
    gone: dict[str, str] = {}
    if missing:
        failures = _download(missing, config, folder, done, private, gone)
    for key, path in done.items():
        w, h = _size(path)
        for image in todo[key]:
            image.update(url=f"{base_url.rstrip('/')}/{path.name}", width=w, height=h)
    dropped = [key for key in todo if key[0] in gone and key not in done]
    for key in dropped:
        for image in todo[key]:
            image.clear()
    notes = []
    if dropped:
        first = dropped[0][0]
        notes.append(f"{len(dropped)} of {len(todo)} pictures left out ({first}: {gone[first]})")
    if failures:
        notes.append(f"{len(failures)} of {len(todo)} pictures kept their original URL ({failures[0]})")
    return notes


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        width, height = img.size
    return int(width), int(height)


def _download(keys: list[tuple[str, str]], config: Config, folder: Path, done: dict[tuple[str, str], Path],
              private: dict[str, bool], gone: dict[str, str]) -> list[str]:
    """Fetch and make the pictures into `done`; returns why each that may yet work did not (its original
    URL stays), and puts each that is gone or no photo into `gone` (url -> why)."""
    from digest.core.fetch import Fetcher

    cfg = config.refresh
    failures: list[str] = []
    urls = sorted({url for url, _ in keys})
    kinds: dict[str, list[str]] = {}
    for url, kind in keys:
        kinds.setdefault(url, []).append(kind)
    with Fetcher(concurrency=cfg.concurrency, per_host=cfg.per_host, timeout_s=cfg.timeout_s,
                 max_bytes=cfg.max_bytes, now=clock.now(), user_agent=cfg.user_agent, accept=ACCEPT) as fetcher:
        for i, url in enumerate(urls):
            fetcher.add(i, url, private_ok=private[url])
        left = len(urls)
        while left:
            for i, result in fetcher.poll(None):
                left -= 1
                url = urls[i]
                if result.http_status in (404, 410):  # the reader would get the same answer: a broken picture
                    gone[url] = f"HTTP {result.http_status}"
                    continue
                if result.status != "ok":
                    failures.append(f"{url}: {result.error or result.status}")
                    continue
                for kind in kinds[url]:
                    try:
                        data = process(result.body, kind)
                    except NotAPicture as e:
                        gone[url] = str(e)
                        break
                    except ValueError as e:
                        failures.append(f"{url}: {e}")
                        break
                    done[(url, kind)] = atomic_write(folder / _name(url, kind), data)
    return failures
