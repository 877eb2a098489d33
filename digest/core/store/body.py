"""A story's summary and content, stored once, compressed, in one column (stories.body).

Text is most of a story's bytes (the scale run's 4.4 KB a story was ~3 KB of summary and HTML content, at
one row to a 4 KB page); zlib gives it back at about a third. The two are packed together (the summary
usually repeats the content's first words, so they compress better as one stream) with the summary's
length in front. Only the reader, the digest and the search index read them, one story at a time, so
unpacking costs tens of microseconds where it is needed and nothing in the story list.

SQL sees the summary through digest_summary(body), a function every Store connection registers: the FTS
index is built from it (the stories_text view), and the delete/update triggers give it the old summary.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial

LEVEL = 6  # zlib's default: 817 bytes a story on the 100-feed corpus, against 858 at level 1
# ISA-L (the `isal` package) writes the same zlib stream, read back by zlib.decompress like any other. At
# its level 1, 851 bytes a story on the benchmark's generated feeds (zlib's level 6: 823) in 11.5 us,
# against libdeflate's level 1 (826 bytes) in 16.4 us and zlib's level 6 in 37.5 (tests/bench/README.md,
# issue 21): compressing was the largest single cost of a story in the parse workers.
ISAL_LEVEL = 1
_LEN = struct.Struct(">I")
_compress: Callable[[bytes], bytes] | None = None


def _compressor() -> Callable[[bytes], bytes]:
    """ISA-L's zlib compressor, imported on first use (a refresh where every feed answers 304 never
    packs); zlib's where it is not installed (an environment from before it was a dependency): the format,
    and what unpack() gives back, are the same."""
    global _compress
    try:
        from isal.isal_zlib import compress as isal_compress
    except ImportError:
        _compress = partial(zlib.compress, level=LEVEL)
        return _compress
    _compress = partial(isal_compress, level=ISAL_LEVEL)
    return _compress


def pack(summary: str, content: str) -> bytes:
    """summary + content as one compressed blob (a zlib stream); b"" when both are empty (most JSON Feed
    items)."""
    if not summary and not content:
        return b""
    s = summary.encode("utf-8", "surrogatepass")
    return (_compress or _compressor())(_LEN.pack(len(s)) + s + content.encode("utf-8", "surrogatepass"))


def unpack(body: bytes | None) -> tuple[str, str]:
    """(summary, content) from a blob pack() made."""
    if not body:
        return "", ""
    raw = zlib.decompress(body)
    n = _LEN.unpack_from(raw)[0]
    return (raw[4:4 + n].decode("utf-8", "surrogatepass"), raw[4 + n:].decode("utf-8", "surrogatepass"))


# Blobs being inserted, with their summaries (known_summaries): the FTS triggers ask digest_summary for the
# summary of each row save_stories inserts, and decompressing the blob it has just compressed cost ~10 us
# a story. Shared by the threads of a process: a blob stands for one summary, so an entry another thread
# put there is as good as one's own, and one removed meanwhile only means the blob is decompressed.
_in_hand: dict[bytes, str] = {}


@contextmanager
def known_summaries(summaries: Mapping[bytes, str]) -> Iterator[None]:
    """Within the block, digest_summary(blob) answers from `summaries` (blob -> its summary, as pack()
    made them) without decompressing."""
    _in_hand.update(summaries)
    try:
        yield
    finally:
        for blob in summaries:
            _in_hand.pop(blob, None)


# A body up to this many compressed bytes is inflated whole by ISA-L when it is installed: for the short
# bodies of most stories (a summary, no content: ~220 bytes) zlib's stream set-up is most of the cost
# (RuleIndex.load on 100k stories: 0.46 -> 0.34 s of CPU when libdeflate did it; ISA-L takes ~2.0 us a
# short body, libdeflate 2.35); a longer one has its summary alone inflated (a feed's full content can be
# tens of KB after it). A short body that inflates to far more (a run of one character) costs only time.
WHOLE_UP_TO = 1024
_whole: Callable[[bytes], bytes | bytearray | None] | None = None


def _whole_inflater() -> Callable[[bytes], bytes | bytearray | None]:
    global _whole
    try:
        from isal.isal_zlib import decompress as isal_decompress
        from isal.isal_zlib import error
    except ImportError:
        _whole = _no_whole
        return _whole
    # isal's stubs declare its error an instance of Exception; it is the class igzip_lib.IsalError
    isal_errors: tuple[type[BaseException], ...] = (error,) if isinstance(error, type) else (Exception,)

    def whole(body: bytes) -> bytes | bytearray | None:
        try:
            return isal_decompress(body)
        except isal_errors:  # damaged: the stream below says how
            return None

    _whole = whole
    return whole


def _no_whole(body: bytes) -> None:
    return None


def summary_of(body: bytes | None) -> str:
    """The summary alone: it is packed first, so only its bytes are inflated, never the (larger) content.
    Reader rules read 100k summaries at once (digest.core.rules). A blob being inserted (known_summaries)
    is not inflated at all."""
    if not body:
        return ""
    summary = _in_hand.get(body)
    if summary is not None:
        return summary
    if len(body) <= WHOLE_UP_TO:
        raw = (_whole or _whole_inflater())(body)
        if raw is not None and len(raw) >= 4:
            n = _LEN.unpack_from(raw)[0]
            if len(raw) >= 4 + n:
                return raw[4:4 + n].decode("utf-8", "surrogatepass")
    d = zlib.decompressobj()
    head = d.decompress(body, 4)
    if len(head) < 4:
        return unpack(body)[0]
    n = _LEN.unpack_from(head)[0]
    raw = d.decompress(d.unconsumed_tail, n) if n else b""
    while len(raw) < n and d.unconsumed_tail:
        raw += d.decompress(d.unconsumed_tail, n - len(raw))
    if len(raw) < n:
        return unpack(body)[0]
    return raw.decode("utf-8", "surrogatepass")


def summaries_of(bodies: Iterable[bytes | None]) -> list[str]:
    """summary_of() of many bodies: reader rules read 100k at once (digest.core.rules)."""
    return [summary_of(b) for b in bodies]


def register(db: sqlite3.Connection) -> None:
    """The SQL functions the schema needs (the FTS view and triggers, migrations 4 and 6). Deterministic, so
    SQLite may use them in indexes and views."""
    db.create_function("digest_summary", 1, summary_of, deterministic=True)
    db.create_function("digest_pack", 2, pack, deterministic=True)
    db.create_function("digest_lower", 1, _lower, deterministic=True)
    db.create_function("digest_phrase", 3, _phrase, deterministic=True)


def _phrase(title: str | None, summary: str | None, pattern: str) -> bool:
    """digest_phrase(title, summary, pattern): search's phrase check (digest.core.store.search)."""
    from digest.core.store.search import phrase_in

    return phrase_in(title, summary, pattern)


def _lower(text: str | None) -> str | None:
    """SQL's lower() with Python's case mapping (SQLite's folds ASCII letters only): migration 6."""
    return text.lower() if isinstance(text, str) else text
