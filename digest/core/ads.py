"""Ads in feeds: items that are paid placements, not news ("Sponsored: ...", "Ad - ...", "[Sponsor]", links
through ad networks). They are never picked by the automatic rules nor shown as Trending ([select]
skip_ads, on by default); a person may still flag one by hand.
"""

from __future__ import annotations

import re

# A title that opens with a sponsor label ("Sponsored:", "[Sponsor]", "Ad - ", "Advertisement |",
# "Promoted:", "Partner content:") or that says "(Sponsored)" / "sponsored post" / "paid post" anywhere.
_TITLE = re.compile(
    r"^\s*[\[(]?\s*(?:sponsored|sponsor|advertisement|advertorial|ad|promoted|paid\s+post|partner\s+content)"
    r"(?:\s*[\])]|\s*[:|]|\s*[-–—]\s|\s*$)"
    r"|[\[(]\s*(?:sponsored|sponsor|advertisement|ad|promoted)\s*[\])]"
    r"|\b(?:sponsored\s+(?:post|content|link|story)|paid\s+(?:post|content)|advertorial)\b",
    re.IGNORECASE,
)
# Links that go through ad networks or ad-serving paths rather than to an article.
_LINK = re.compile(
    r"://(?:[^/]*\.)?(?:doubleclick\.net|googleadservices\.com|googlesyndication\.com|adnxs\.com|taboola\.com"
    r"|outbrain\.com|adclick\.g\.doubleclick|feedads\.|ads\.[^/]+|adserver\.[^/]+|pubads\.[^/]+)"
    r"|/(?:sponsored|advertorial|adclick|ad-click|sponsor-post)(?:[/?.-]|$)"
    r"|[?&]utm_(?:medium|campaign)=(?:sponsor|sponsored|paid|ad|cpc|display)\b",
    re.IGNORECASE,
)


def is_ad(title: str, link: str = "") -> bool:
    """Whether a feed item is an ad, by its title or its link."""
    return bool(_TITLE.search(title or "")) or bool(link and _LINK.search(link))
