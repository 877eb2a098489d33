"""The HTTP details around libcurl that digest.core.fetch keeps to itself: bounded decompression of a body,
Retry-After, the URL as it goes on the wire, and where certificates come from."""

from __future__ import annotations

import os
import zlib
from urllib.parse import quote, urlsplit, urlunsplit

import pycurl

# Decompression never produces more than this per step.
CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    pass


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 10.2.3). Capped at a week, so a typo on
    the server does not silence a feed for ever."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = float(value)
    else:
        import email.utils  # here: ~6 ms to import (email.charset, calendar, ...), for a rare header

        try:
            dt = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        delay = dt.timestamp() - now
    return now + max(0.0, min(delay, 7 * 86_400))


class Decoder:
    """Content-Encoding decoding in bounded steps. Done here rather than by libcurl (which is asked for
    no decoding): each received chunk is inflated CHUNK bytes at a time and the body limit is checked
    between steps, so a gzip bomb is cut off after about `limit` decoded bytes, never inflated whole."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.lower().strip()
        if enc in ("", "identity"):
            self.z = None
        elif enc in ("gzip", "x-gzip"):
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self.z = zlib.decompressobj()
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self.raw_deflate_tried = False

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        if self.z is None:
            return [data]
        out = []
        try:
            chunk = self.z.decompress(data, CHUNK)
            out.append(chunk)
            total = len(chunk)
            while self.z.unconsumed_tail:
                if total > limit:
                    raise BodyTooLarge
                chunk = self.z.decompress(self.z.unconsumed_tail, CHUNK)
                total += len(chunk)
                out.append(chunk)
        except zlib.error:
            if not self.raw_deflate_tried and isinstance(self.z, type(zlib.decompressobj())):
                # some servers send raw deflate without the zlib header
                self.raw_deflate_tried = True
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise
        return out


def wire_url(url: str) -> str:
    """The URL as it goes on the wire: curl takes ASCII, so a host is IDNA-encoded and the rest
    percent-encoded, as browsers do."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise ValueError(f"bad host name {host!r}: {e}") from None
    netloc = parts.netloc.rsplit("@", 1)
    hostport = netloc[-1].replace(host, ascii_host, 1) if host else netloc[-1]
    userinfo = quote(netloc[0], safe=":%") + "@" if len(netloc) == 2 else ""
    safe = "/:@!$&'()*+,;=%~-._?"
    return urlunsplit((parts.scheme, userinfo + hostport, quote(parts.path, safe=safe),
                       quote(parts.query, safe=safe), quote(parts.fragment, safe=safe)))


def ca_source() -> str:
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    named = " and ".join(f"{k}={v}" for k, v in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", capath)) if v)
    if cafile and not os.path.isfile(cafile):
        named += ": no such file"
    return named or "certifi"


def ca_options() -> list[tuple[int, str | None]]:
    """Where certificates are verified against: SSL_CERT_FILE / SSL_CERT_DIR when either is set (only
    those, as OpenSSL and Python read them), else certifi's bundle (what requests and pip use). libcurl
    caches the parsed store on the multi handle, so it is read once per refresh."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return [(pycurl.CAINFO, cafile or None), (pycurl.CAPATH, capath or None)]
    import certifi

    return [(pycurl.CAINFO, certifi.where())]
