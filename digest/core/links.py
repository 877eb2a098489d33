"""urljoin() with a shortcut for links that are already absolute, as nearly every feed's links are.

urljoin parses the base and the link (two urlparse calls, ~7 us) even when the link stands on its own.
A plain absolute http(s) URL (ASCII, no fragment, no ';' parameters, no IPv6 brackets, a non-empty
query if any) comes back from urljoin exactly as it went in, whatever the base, as long as the base
itself parses; join_url returns it at once then. Anything else goes through urljoin.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urljoin, urlsplit

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
