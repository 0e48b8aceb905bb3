"""A venue's door poster: an A4 page with its name, its signed QR code and what to do, in
Vietnamese and English. A pure function from the venue and its payload to SVG text.
"""

from __future__ import annotations

import re
import textwrap
from xml.sax.saxutils import escape

import segno

A4_MM = (210, 297)
QR_MM = 120
"""The code's side: read from a phone at arm's length, and from a few metres off."""

INSTRUCTIONS: tuple[tuple[str, str], ...] = (
    ("Quét mã này khi vào", "Scan this code when you enter"),
    ("Quét lại khi ra về", "Scan it again when you leave"),
    ("Nếu được báo là F1/F2: làm theo hướng dẫn y tế",
     "If you are told you are F1/F2, follow the health authority's advice"),
)

_FONT = "'Noto Sans', 'DejaVu Sans', Arial, sans-serif"


def poster_svg(*, name: str, venue_id: str, payload: str, address: str | None = None) -> str:
    """The A4 poster (``210mm`` × ``297mm``, user units in millimetres) as SVG text.

    Example:
        >>> svg = poster_svg(name="Phở <24>", venue_id="pho-24", payload="tv1.pho-24.sig")
        >>> 'width="210mm" height="297mm"' in svg, "Phở &lt;24&gt;" in svg
        (True, True)
    """
    width, height = A4_MM
    code = segno.make(payload, error="m")
    modules = code.symbol_size(border=4)[0]
    name_lines = textwrap.wrap(name, 26)[:3] or [venue_id]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" '
        f'viewBox="0 0 {width} {height}" font-family="{_FONT}">',
        f"<title>{escape(name)} — mã QR / QR code</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<rect width="{width}" height="34" fill="#b71c1c"/>',
        _text(width / 2, 16, 10, "QUÉT MÃ QR KHI VÀO VÀ KHI RA", fill="#fff", weight="bold"),
        _text(width / 2, 27, 6.5, "Scan the QR code when you enter and when you leave",
              fill="#fff"),
    ]
    y = 50.0
    for line in name_lines:
        parts.append(_text(width / 2, y, 11, line, weight="bold"))
        y += 12
    if address:
        parts.append(_text(width / 2, y - 3, 5, textwrap.shorten(address, 70)))
        y += 5
    top = y
    left = (width - QR_MM) / 2
    parts.append(
        f'<svg x="{left}" y="{top}" width="{QR_MM}" height="{QR_MM}" '
        f'viewBox="0 0 {modules} {modules}" shape-rendering="crispEdges">'
        f'<rect width="{modules}" height="{modules}" fill="#fff"/>'
        f"{_qr_path(code)}</svg>"
    )
    y = top + QR_MM + 12
    for number, (vi, en) in enumerate(INSTRUCTIONS, start=1):
        # ~52 characters of 6 mm text fit the 170 mm between the margins.
        for n, line in enumerate(textwrap.wrap(vi, 52)):
            parts.append(_text(22 if n == 0 else 27, y, 6,
                               f"{number}. {line}" if n == 0 else line,
                               anchor="start", weight="bold"))
            y += 7
        for line in textwrap.wrap(en, 70):
            parts.append(_text(27, y - 1, 5, line, anchor="start", fill="#444"))
            y += 6
        y += 3
    parts.append(_text(width / 2, height - 10, 3.6,
                       f"Mã điểm / venue id: {venue_id} · mã được ký, chỉ dùng tại địa điểm này "
                       "/ a signed code, valid at this venue only", fill="#666"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _text(x: float, y: float, size: float, content: str, *, anchor: str = "middle",
          fill: str = "#111", weight: str = "normal") -> str:
    return (f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" text-anchor="{anchor}" '
            f'fill="{fill}" font-weight="{weight}">{escape(content)}</text>')


def _qr_path(code: segno.QRCode) -> str:
    """segno's path of the dark modules (with a 4-module quiet zone), as one ``<path>``."""
    inline = code.svg_inline(scale=1, border=4, dark="#000")
    found = re.search(r"<path[^>]*/>", inline)
    assert found is not None, "segno's inline SVG has one path"
    return found.group(0)
