"""Feeds that are files on disk (the sample feeds, a path in an OPML file): read with the same limits as a
fetch, and 'not modified' while the file is unchanged."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.core.models import FetchResult


def is_local(url: str) -> bool:
    if url.startswith(("http://", "https://")):
        return False  # most feeds: no need to split the URL (~5 us a feed of every refresh)
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # "http://[::1/feed": not a file either; fetching it says what is wrong
        return False
    return url.startswith("file://") or not scheme or (len(url) > 1 and url[1] == ":")


def local_path(url: str) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    return Path(url).expanduser()


def fetch_local(url: str, *, max_bytes: int, last_modified: str | None = None) -> FetchResult:
    """A feed file on disk; its mtime plays the part of Last-Modified, so an unchanged file is
    'not modified' and costs no parse."""
    path = local_path(url)
    try:
        st = path.stat()
        stamp = f"mtime:{st.st_mtime_ns}:{st.st_size}"
        if last_modified == stamp:
            return FetchResult("not_modified", last_modified=stamp, final_url=url)
        if st.st_size > max_bytes:
            return FetchResult("error", error=f"file larger than {max_bytes:,} bytes", final_url=url)
        with path.open("rb") as f:
            body = f.read(max_bytes + 1)
    except FileNotFoundError:
        return FetchResult("error", error=f"no such file: {path}", final_url=url)
    except IsADirectoryError:
        return FetchResult("error", error=f"is a folder, not a feed file: {path}", final_url=url)
    except OSError as e:
        return FetchResult("error", error=f"cannot read {path}: {e.strerror or e}", final_url=url)
    if len(body) > max_bytes:
        return FetchResult("error", error=f"file larger than {max_bytes:,} bytes", final_url=url)
    return FetchResult("ok", body=body, last_modified=stamp, final_url=url)
