"""URL rules for feed links: urljoin with a shortcut, the canonical form of a link, and which links are safe.

join_url: urljoin() with a shortcut for links that are already absolute, as nearly every feed's links are.
urljoin parses the base and the link (two urlparse calls, ~7 us) even when the link stands on its own.
A plain absolute http(s) URL (ASCII, no fragment, no ';' parameters, no IPv6 brackets, a non-empty
query if any) comes back from urljoin exactly as it went in, whatever the base, as long as the base
itself parses; join_url returns it at once then. Anything else goes through urljoin.

canonical_url and safe_link live here, apart from the readers and the HTML cleaner, so that code that only
compares or checks links (and the tests of these rules) loads neither nh3 nor a feed parser.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

_PLAIN_ABSOLUTE = re.compile(
    r"https?://[-A-Za-z0-9._~%!$&'()*+,=:@]+"  # host (and user info, port): no brackets, ASCII only
    r"(?:/[!-\"$-:<->@-~]*)?"  # path: printable ASCII without '#', ';', '?'
    r"(?:\?[!-\"$-~]+)?\Z"  # a non-empty query without '#'
)


@functools.lru_cache(maxsize=256)
def _base_parses(base: str) -> bool:
    try:
        urlsplit(base)
    except ValueError:
        return False
    return True


def join_url(base: str, url: str) -> str:
    """urljoin(base, url), raising ValueError where urljoin would."""
    if _PLAIN_ABSOLUTE.match(url) and (not base or _base_parses(base)):
        return url
    return urljoin(base, url)


# Query parameters that only track the reader; stripping them makes the same story from two feeds
# recognisable as one (Trending) and keeps links clean in the email.
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|igshid|yclid|"
    r"oly_enc_id|oly_anon_id|vero_id|wt_mc|ncid|cmpid|sr_share|__s)$",
    re.I,
)
SAFE_SCHEMES = {"http", "https", "mailto"}


# An absolute http(s) URL already in canonical form but for perhaps its "/": lower-case host, and no
# port, user, query or fragment, nor anything urlsplit would remove or read another way (whitespace,
# controls). Most feed links are; canonical_url returns them as they are (~1 us, not ~7).
_PLAIN_HTTP_URL = re.compile(r"https?://[a-z0-9.-]+(/[^?#\x00-\x20\x7f]*)?")


def canonical_url(url: str) -> str:
    """The link as a stable identity: lower-case scheme and host, no default port, no fragment, no
    tracking parameters. Returns '' for anything that is not an absolute http(s) URL."""
    url = url.strip()
    plain = _PLAIN_HTTP_URL.fullmatch(url)
    if plain:
        return url if plain.group(1) else url + "/"
    return _canonical_url(url)


def _canonical_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return ""
        host = parts.hostname.lower()
        port = parts.port
    except ValueError:
        return ""
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query, doseq=True), ""))


def strip_tracking(url: str) -> str:
    """The link a reader is sent to: `url` without its tracking parameters (utm_*, fbclid, ...), and
    otherwise exactly as the feed wrote it (its other parameters, their order and escaping, the fragment),
    unlike canonical_url, which is an identity for comparing links, not a link to follow."""
    if "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    pairs = parts.query.split("&")
    kept = [p for p in pairs if not _TRACKING_PARAMS.match(unquote_plus(p.split("=", 1)[0]))]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query="&".join(p for p in kept if p)))


def safe_link(url: str, base: str = "") -> str:
    """An absolute http/https/mailto URL, or '' (javascript:, data: and friends never survive)."""
    url = (url or "").strip()
    if not url:
        return ""
    if base:
        try:
            url = join_url(base, url)
        except ValueError:
            return ""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return url if scheme in SAFE_SCHEMES else ""


def canonical_feed_url(url: str) -> str:
    """The form two spellings of one feed URL share, for finding duplicates: scheme and host lower-case,
    the default port and the fragment (never sent to the server) dropped, an empty path made "/".
    Unlike canonical_url (a story's identity) the query is kept as written, tracking-looking parameters
    too, and so is user info: for a feed they may be what selects it. Raises ValueError for a URL that
    does not parse."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
