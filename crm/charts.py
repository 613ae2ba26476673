"""Charts drawn on the server as SVG, so a page and a PDF (WeasyPrint) show the same picture without a script.

Text is set in the CJK font the PDFs use (Noto Sans CJK SC, Debian's fonts-noto-cjk), named in the SVG's style
with fallbacks, so Chinese labels render in a browser and in WeasyPrint alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT_FAMILY = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'


@dataclass(frozen=True)
class FunnelRow:
    label: str  # already translated
    value: float  # what the bar's width shows (a count)
    note: str = ""  # shown beside the bar (the count, the money)


def funnel_svg(rows: Sequence[FunnelRow], *, title: str, width: int = 720, bar_height: int = 26, gap: int = 6,
               label_width: int = 150, note_width: int = 230, colour: str = "#b4232a") -> Markup:
    """A funnel: one centred bar per row, its width in proportion to the largest value (a row of 0 still shows a
    sliver), the label on the left and the note on the right. `title` names the chart for screen readers."""
    top = 4
    height = top + len(rows) * (bar_height + gap)
    area = width - label_width - note_width
    largest = max((row.value for row in rows), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="funnel-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f"<style>text {{ font-family: {escape(FONT_FAMILY)}; font-size: 13px; fill: #1f2933; }} "
        f".note {{ fill: #667085; }}</style>",
    ]
    for i, row in enumerate(rows):
        y = top + i * (bar_height + gap)
        bar = max(2.0, area * row.value / largest)
        x = label_width + (area - bar) / 2
        middle = y + bar_height / 2 + 4.5
        opacity = 1.0 - 0.5 * i / max(1, len(rows) - 1)
        parts.append(f'<text x="{label_width - 8}" y="{middle:.1f}" text-anchor="end">{escape(row.label)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{bar_height}" rx="3" fill="{colour}" '
                     f'fill-opacity="{opacity:.2f}"/>')
        parts.append(f'<text class="note" x="{label_width + area + 8}" y="{middle:.1f}">{escape(row.note)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text in it went through escape()
