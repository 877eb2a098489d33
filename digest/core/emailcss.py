"""Colour arithmetic and the generated CSS that depends on the configured accent colour.

WCAG 2.x contrast (relative luminance, https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio): AA asks 4.5:1
for text under 18.66 px bold / 24 px regular, 3:1 above. A user's accent colour is used as a band behind
white text and as small label text, so a bright accent (`#F5C518`) would give 1.6:1 white-on-yellow. The
renderer does not trust it: it picks the text colour on the accent (white or near-black, whichever
passes), darkens the accent where it is text on white, lightens it for dark mode, and reports the changes
in one line (`accent_problems`), so the build and `digest config check` name the colour and the ratios.

Outlook.com's dark mode ignores `prefers-color-scheme`; it rewrites colours itself and marks the elements
it touched with `data-ogsc` (text colour) and `data-ogsb` (background). `outlook_dark_css` turns a theme's
`@media (prefers-color-scheme: dark)` rules into `[data-ogsc] sel {color}` / `[data-ogsb] sel {background}`
rules, so one dark palette serves Apple Mail, Outlook.com and Outlook for Mac.
"""

from __future__ import annotations

import re

from digest.core.record import record

AA_SMALL = 4.5  # WCAG 2.1 1.4.3, text under 18.66 px bold / 24 px regular
AA_LARGE = 3.0
WHITE = "#ffffff"
INK = "#111111"
# lighter than every dark-mode background the built-in themes use (boxes included): passing here passes on all
DARK_REFERENCE = "#2a2a2a"
_HEX = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_hex(color: str) -> tuple[int, int, int]:
    h = color.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", h):
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def luminance(color: str | tuple[int, int, int]) -> float:
    rgb = parse_hex(color) if isinstance(color, str) else color
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str | tuple[int, int, int], b: str | tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(color: str, other: str, amount: float) -> str:
    """`color` moved `amount` (0..1) of the way to `other`."""
    a, b = parse_hex(color), parse_hex(other)
    return to_hex(tuple(x + (y - x) * amount for x, y in zip(a, b, strict=True)))  # type: ignore[arg-type]


def toward_contrast(color: str, background: str, target: float = AA_SMALL) -> str:
    """`color` mixed toward black or white (whichever the background is not) in small steps until it
    reaches `target` against `background`: the nearest passing shade, so the hue stays recognisable."""
    if contrast(color, background) >= target:
        return color.lower()
    end = "#000000" if luminance(background) > 0.18 else WHITE
    for step in range(1, 21):
        c = mix(color, end, step / 20)
        if contrast(c, background) >= target:
            return c
    return end


@record
class AccentPalette:
    accent: str  # the band and button background (the user's colour, unchanged)
    on_accent: str  # text on the band and button
    text: str  # the accent as small text on white and on the tint
    tint: str  # the light box behind Trending
    dark_text: str  # the accent as text in dark mode
    problems: list[str]


def accent_palette(accent: str, key: str = "newsletter.accent_color") -> AccentPalette:
    """The colours derived from the accent, each passing AA, and at most one line about where the accent
    itself does not pass (naming the setting, the colour, each ratio, and what is used instead)."""
    given, accent = accent, accent.lower()  # messages and the band keep the user's spelling
    on_white, on_ink = contrast(WHITE, accent), contrast(INK, accent)
    on_accent = WHITE if on_white >= AA_SMALL or on_white >= on_ink else INK
    low: list[str] = []  # where the accent falls short, with the ratio
    used: list[str] = []  # what the email uses instead
    stuck = contrast(on_accent, accent) < AA_SMALL  # no text colour passes on it: only the user can fix that
    if stuck:
        low.append(f"white text on it {on_white:.2f}:1, {INK} text {on_ink:.2f}:1")
    elif on_accent != WHITE:
        low.append(f"white text on it {on_white:.2f}:1")
        used.append(f"{INK} text on it")
    text = toward_contrast(accent, WHITE)
    if text != accent:
        low.append(f"as text on white {contrast(accent, WHITE):.2f}:1")
        used.append(f"{text} for labels")
    problems: list[str] = []
    if low:
        # one line per setting: `digest config check` warns with it and the build notes it
        line = f"{key} {given} has low contrast: {', '.join(low)} (WCAG AA asks {AA_SMALL}:1)"
        if used:
            line += f"; the email uses {' and '.join(used)}"
        if stuck:
            line += "; pick a darker or lighter colour"
        problems.append(line)
    # the Trending box: a tint of the accent, as light as it must be for the labels to pass on it
    tint = next((t for t in (mix(accent, WHITE, a / 100) for a in range(90, 101)) if contrast(text, t) >= AA_SMALL),
                WHITE)
    dark_text = toward_contrast(accent, DARK_REFERENCE)
    if text == accent:
        text = given
    return AccentPalette(given, on_accent, text, tint, dark_text, problems)


def accent_unreadable(accent: str, key: str = "newsletter.accent_color") -> str | None:
    """The error for an accent that is not a colour at all (the email falls back to the default), else None.
    `digest config check` calls this an error (exit 2); low contrast is only a warning (accent_palette)."""
    if not _HEX.fullmatch(accent or ""):
        return f"{key} {accent!r} is not a #rrggbb colour; the default #BE4825 is used"
    return None


def accent_problems(accent: str, key: str = "newsletter.accent_color") -> list[str]:
    """What the build notes about the accent colour ([] when it passes): that it cannot be read, or its
    low contrast."""
    unreadable = accent_unreadable(accent, key)
    return [unreadable] if unreadable else accent_palette(accent, key).problems


# -- Outlook.com dark mode ----------------------------------------------------------------------------

_DARK_MEDIA = re.compile(r"@media[^{]*prefers-color-scheme:\s*dark[^{]*\{", re.IGNORECASE)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


def _dark_block(css: str) -> str:
    """The body of the first `@media (prefers-color-scheme: dark)` block (braces balanced)."""
    m = _DARK_MEDIA.search(css)
    if m is None:
        return ""
    depth, i = 1, m.end()
    while i < len(css) and depth:
        depth += {"{": 1, "}": -1}.get(css[i], 0)
        i += 1
    return css[m.end():i - 1]


def outlook_dark_css(css: str) -> str:
    """The dark block's colour declarations as Outlook.com rules: `color` and `border-color` under
    [data-ogsc], `background-color` under [data-ogsb]. Empty when the theme has no dark block."""
    out: list[str] = []
    for sel, body in _RULE.findall(re.sub(r"/\*.*?\*/", "", _dark_block(css), flags=re.S)):
        decls = [d.strip() for d in body.split(";") if d.strip()]
        fg = [d for d in decls if d.split(":")[0].strip() in ("color", "border-color", "border-top-color")]
        bg = [d for d in decls if d.split(":")[0].strip() in ("background-color", "background")]
        sels = [s.strip() for s in sel.split(",") if s.strip()]
        for attr, group in (("data-ogsc", fg), ("data-ogsb", bg)):
            if group:
                scoped = ", ".join(f"[{attr}] {s}" if s != "body" else f"body[{attr}]" for s in sels)
                out.append(f"{scoped} {{ {'; '.join(group)}; }}")
    return "\n".join(out)
