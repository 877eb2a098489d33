"""WCAG AA contrast of every theme's text, measured where the reader sees it: headless Chromium renders the
built golden digest and reports, for every visible run of text, its computed colour, the background
behind it (the nearest ancestor with one), its size and weight. AA: 4.5:1 for text under 24 px (18.66 px
bold), 3:1 above. Three looks: light, dark (prefers-color-scheme, as Apple Mail and Outlook for Mac
apply it) and Outlook.com's dark mode (the [data-ogsc]/[data-ogsb] rules, which it switches on by
marking the body). A bright accent colour from the config must not break it either."""

from __future__ import annotations

import re

import pytest
from helpers_browser import probe, require_chromium
from helpers_digest import NOW, load_golden, make_config, make_paths

from digest.core.build import build_digest
from digest.core.emailcss import AA_LARGE, AA_SMALL, contrast
from digest.core.store import Store

pytestmark = pytest.mark.browser

THEMES = ["geekwire", "minimal", "plain"]
LOOKS = {"light": ((), ""), "dark": (("--force-dark-mode",), ""), "outlook.com-dark": ((), "data-ogsc data-ogsb")}
SCRIPT = r"""
function bg(el){for(;el;el=el.parentElement){var c=getComputedStyle(el).backgroundColor;
  if(c&&c!=='transparent'&&!/rgba\(.*,\s*0\)$/.test(c))return c;}return 'rgb(255, 255, 255)';}
var out={},w=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT),n;
while((n=w.nextNode())){var t=n.data.replace(/[\s\u200c\u00a0]+/g,' ').trim();if(!t)continue;
  var el=n.parentElement;if(!el.getClientRects().length)continue;var cs=getComputedStyle(el);
  if(cs.visibility==='hidden'||cs.opacity==='0')continue;
  var k=[cs.color,bg(el),cs.fontSize,cs.fontWeight,el.tagName+'.'+el.className].join('|');
  if(!(k in out))out[k]=t.slice(0,50);}
return out;
"""
_RGB = re.compile(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)")


def _rgb(css: str) -> tuple[int, int, int]:
    m = _RGB.match(css)
    assert m, f"unexpected colour {css!r}"
    assert m.group(4) in (None, "1"), f"translucent text colour {css!r}: contrast depends on what is behind"
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _failures(runs: dict[str, str]) -> list[str]:
    bad = []
    for key, sample in runs.items():
        color, back, size, weight, where = key.split("|")
        px = float(size.removesuffix("px"))
        large = px >= 24 or (px >= 18.66 and int(weight) >= 700)
        need = AA_LARGE if large else AA_SMALL
        ratio = contrast(_rgb(color), _rgb(back))
        if ratio < need:
            bad.append(f"{where} {sample!r}: {color} on {back} at {size}/{weight} is {ratio:.2f}:1 (needs {need}:1)")
    return bad


def _build(tmp_path, theme: str, **newsletter: object):
    paths = make_paths(tmp_path)
    cfg = make_config(preferences_url="https://example.com/preferences", **newsletter)
    with Store(paths.db_file) as store:
        load_golden(store, cfg)
        return build_digest(store, cfg, paths, theme=theme, now=NOW)


@pytest.mark.parametrize("look", list(LOOKS))
@pytest.mark.parametrize("theme", THEMES)
def test_every_text_passes_aa(tmp_path, theme, look):
    require_chromium()
    page = _build(tmp_path, theme).html_path
    extra, attrs = LOOKS[look]
    runs = probe(tmp_path, None, page, SCRIPT, *extra, body_attrs=attrs)
    assert isinstance(runs, dict) and len(runs) >= 5, runs  # the page rendered, with text in several styles
    bad = _failures(runs)
    assert not bad, f"{theme} ({look}): {len(bad)} text style(s) below WCAG AA:\n" + "\n".join(bad)


@pytest.mark.parametrize("look", ["light", "dark"])
def test_a_bright_accent_is_corrected_and_reported(tmp_path, look):
    require_chromium()
    r = _build(tmp_path, "geekwire", accent_color="#F5C518")
    assert any("#F5C518" in n and "1.63:1" in n for n in r.notes), r.notes  # names the colour and the ratio
    extra, attrs = LOOKS[look]
    runs = probe(tmp_path, None, r.html_path, SCRIPT, *extra, body_attrs=attrs)
    assert not _failures(runs), _failures(runs)  # type: ignore[arg-type]
