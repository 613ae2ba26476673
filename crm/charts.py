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


@dataclass(frozen=True)
class ProgressRow:
    label: str  # already translated
    done_pct: float | None  # share of the annual target reached, in percent (None: no target or no figure)
    expected_pct: float  # time-elapsed progress (序时进度), in percent
    note: str = ""  # shown at the right end (e.g. "86.0% / 序时 91.7%")


def progress_svg(rows: Sequence[ProgressRow], *, title: str, expected_label: str, width: int = 720,
                 bar_height: int = 18, gap: int = 10, label_width: int = 170, note_width: int = 190,
                 colour: str = "#b4232a") -> Markup:
    """Progress against an annual target: one bar per row for the share reached (past 100% it runs on, drawn to
    the 120% edge), a dashed tick for time-elapsed progress, the figures written beside each bar, and a row that
    is behind its tick drawn hatched — so "behind" reads without colour. `expected_label` names the tick in the
    legend (e.g. 序时进度)."""
    top = 26
    height = top + len(rows) * (bar_height + gap) + 4
    area = width - label_width - note_width
    scale = area / 120.0
    font = escape(FONT_FAMILY)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="progress-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}" font-family="{font}" '
        f'font-size="12" fill="#1f2933">',
        f"<title>{escape(title)}</title>",
        '<defs><pattern id="progress-behind" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{colour}" fill-opacity="0.25"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="3"/></pattern></defs>',
        f'<line x1="{label_width}" y1="8" x2="{label_width + 16}" y2="8" stroke="#1f2933" stroke-width="2" '
        f'stroke-dasharray="3 2"/><text x="{label_width + 22}" y="12">{escape(expected_label)}</text>',
        f'<text x="{label_width + 100 * scale:.1f}" y="12" text-anchor="middle" fill="#52606d">100%</text>',
    ]
    for i, row in enumerate(rows):
        y = top + i * (bar_height + gap)
        middle = y + bar_height / 2 + 4
        parts.append(f'<text x="{label_width - 8}" y="{middle:.1f}" text-anchor="end">{escape(row.label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{area:.1f}" height="{bar_height}" fill="#f1f3f5"/>')
        if row.done_pct is not None:
            behind = row.done_pct < row.expected_pct
            bar = max(1.5, min(120.0, max(row.done_pct, 0.0)) * scale)
            fill = "url(#progress-behind)" if behind else colour
            parts.append(f'<rect x="{label_width}" y="{y}" width="{bar:.1f}" height="{bar_height}" fill="{fill}" '
                         f'stroke="{colour}" stroke-width="0.8"/>')
        tick = label_width + min(120.0, row.expected_pct) * scale
        parts.append(f'<line x1="{tick:.1f}" y1="{y - 3}" x2="{tick:.1f}" y2="{y + bar_height + 3}" stroke="#1f2933" '
                     f'stroke-width="2" stroke-dasharray="3 2"/>')
        parts.append(f'<text x="{label_width + area + 8}" y="{middle:.1f}" fill="#52606d">{escape(row.note)}</text>')
    parts.append(f'<line x1="{label_width + 100 * scale:.1f}" y1="{top - 4}" x2="{label_width + 100 * scale:.1f}" '
                 f'y2="{height - 2}" stroke="#98a2b3" stroke-width="1"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text in it went through escape()
