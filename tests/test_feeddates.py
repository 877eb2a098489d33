"""The fast parser's date reader gives what feedparser's gives, for every string.

digest.core.feeddates reads the two common forms itself and hands everything else to feedparser; the
fast path and the feedparser path must never date a story differently. These tests compare the two on
well-formed dates, on near misses built from the same parts, and on arbitrary text."""

from __future__ import annotations

import subprocess
import sys

from feedparser.datetimes import _parse_date as feedparser_date
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from digest.core.feeddates import parse_date

MANY = settings(max_examples=600, deadline=None, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate), suppress_health_check=[HealthCheck.too_slow])

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Sunday", "sun", "Xyz", ""]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "nov", "NOV",
          "November", "Xyz", "Ma"]
ZONES = ["GMT", "UT", "UTC", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "gmt", "A", "N", "MET",
         "XYZ", "GMT+2", "Etc/GMT", "+0000", "-0000", "+0530", "-0800", "+2359", "+05", "+05:30", "-9999", ""]


def _num(lo: int, hi: int, widths: tuple[int, ...] = (1, 2)) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(lo, hi), st.sampled_from(widths)).map(lambda t: str(t[0]).zfill(t[1]))


rfc822 = st.builds(
    lambda day, sep, d, mon, y, h, mi, s, zone, pad: f"{pad}{day}{sep}{d} {mon} {y} {h}:{mi}{s} {zone}{pad}".strip(" ")
    if not pad else f"{pad}{day}{sep}{d} {mon} {y} {h}:{mi}{s} {zone}{pad}",
    st.sampled_from(DAYS), st.sampled_from([", ", " ", ",", ""]), _num(0, 32), st.sampled_from(MONTHS),
    st.one_of(_num(1, 9999, (4,)), _num(0, 99, (2,))), _num(0, 25), _num(0, 61, (2,)),
    st.one_of(st.just(""), _num(0, 61, (2,)).map(lambda s: ":" + s)), st.sampled_from(ZONES),
    st.sampled_from(["", " ", "\t"]),
)

w3dtf = st.builds(
    lambda y, mo, d, t, h, mi, s, frac, zone: f"{y}-{mo}-{d}{t}{h}:{mi}{s}{frac}{zone}",
    _num(1, 9999, (4,)), _num(0, 13, (2,)), _num(0, 32, (2,)), st.sampled_from(["T", "t", " "]),
    _num(0, 25, (2,)), _num(0, 61, (2,)), st.one_of(st.just(""), _num(0, 61, (2,)).map(lambda s: ":" + s)),
    st.sampled_from(["", ".5", ".123456"]),
    st.sampled_from(["Z", "z", "+00:00", "-05:00", "+05:30", "+14:00", "-23:59", "+0530", "+05", "", " GMT"]),
)


# the forms feeds really use, every part valid: the fast reader's own ground
rfc822_valid = st.builds(
    lambda day, d, mon, y, h, mi, s, zone: f"{day}{d} {mon} {y} {h}:{mi}{s} {zone}",
    st.sampled_from(["Mon, ", "Thu, ", "Sun, ", ""]), _num(1, 28), st.sampled_from(MONTHS[:12]),
    _num(1970, 2100, (4,)), _num(0, 23, (2,)), _num(0, 59, (2,)),
    st.one_of(st.just(""), _num(0, 59, (2,)).map(lambda s: ":" + s)),
    st.sampled_from(["GMT", "UT", "UTC", "Z", "EST", "PDT", "+0000", "-0500", "+0530", "+1400", "-1200"]),
)
w3dtf_valid = st.builds(
    lambda y, mo, d, h, mi, s, zone: f"{y}-{mo}-{d}T{h}:{mi}{s}{zone}",
    _num(1970, 2100, (4,)), _num(1, 12, (2,)), _num(1, 28, (2,)), _num(0, 23, (2,)), _num(0, 59, (2,)),
    st.sampled_from(["", ":00", ":59", ":30.25"]), st.sampled_from(["Z", "+00:00", "-05:00", "+05:30"]),
)


@MANY
@given(st.one_of(rfc822_valid, w3dtf_valid, rfc822, w3dtf, st.text(max_size=40)))
@example("Sun, 01 Nov 2026 12:48:00 +0000")
@example("2026-11-01T12:48:00Z")
@example("Mon, 30 Feb 2026 00:00:00 GMT")  # no such day: feedparser's other readers decide
@example("2026-02-30T00:00:00Z")
@example("9999-12-31T23:59:59-01:00")  # past year 9999 once the offset is applied
@example("0001-01-01T00:00:00+01:00")
@example("Sun, 01 Nov 2026 24:00:00 +0000")
@example("Sun, 01 Nov 2026 12:48:00 +0000 (UTC)")
def test_same_date_as_feedparser(value: str) -> None:
    assert parse_date(value) == feedparser_date(value)


def test_common_forms_do_not_import_feedparser() -> None:
    """The point of the module: a worker reading ordinary dates never loads the feedparser package."""
    code = (
        "import sys\n"
        "from digest.core.feeddates import parse_date\n"
        "assert parse_date('Sun, 01 Nov 2026 12:48:00 GMT')[:5] == (2026, 11, 1, 12, 48)\n"
        "assert parse_date('2026-11-01T12:48:00+01:00')[:5] == (2026, 11, 1, 11, 48)\n"
        "assert 'feedparser' not in sys.modules, 'feedparser was imported'\n"
        "assert parse_date('Sun, 01 Nov 26 12:48:00 GMT')[:5] == (2026, 11, 1, 12, 48)\n"
        "assert 'feedparser' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
