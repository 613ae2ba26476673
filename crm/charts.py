"""Charts drawn on the server as SVG, so a page and a PDF (WeasyPrint) show the same picture without a script.

Text is set in the CJK font the PDFs use (Noto Sans CJK SC, Debian's fonts-noto-cjk), named in the SVG's
font-family attribute with fallbacks, so Chinese labels render in a browser and in WeasyPrint alike."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT_FAMILY = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "HanaMinB", sans-serif'


def _text_width(text: str, font_px: float) -> float:
    """A text's width estimated from its characters: a CJK character is a full em, other text about 0.58 em."""
    return sum(font_px if ord(c) >= 0x2E80 else 0.58 * font_px for c in text)


def _row_label(text: str, *, x: float, y: float, room: float, font_px: float) -> str:
    """A right-aligned row label ending at `x` that never runs off the chart's left edge: a label longer than `room`
    is cut with "…", and the whole label is its tooltip (<title>) and stays in the chart's table or legend."""
    shown = text
    if _text_width(text, font_px) > room:
        while shown and _text_width(shown + "…", font_px) > room:
            shown = shown[:-1]
        shown = shown.rstrip() + "…"
    tooltip = f"<title>{escape(text)}</title>" if shown != text else ""
    return f'<text x="{x}" y="{y:.1f}" text-anchor="end">{tooltip}{escape(shown)}</text>'


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
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}" '
        f'font-family="{escape(FONT_FAMILY)}" font-size="13" fill="#1f2933">',  # attributes: the CSP refuses <style>
        f"<title>{escape(title)}</title>",
    ]
    for i, row in enumerate(rows):
        y = top + i * (bar_height + gap)
        bar = max(2.0, area * row.value / largest)
        x = label_width + (area - bar) / 2
        middle = y + bar_height / 2 + 4.5
        opacity = 1.0 - 0.5 * i / max(1, len(rows) - 1)
        parts.append(_row_label(row.label, x=label_width - 8, y=middle, room=label_width - 12, font_px=13))
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{bar_height}" rx="3" fill="{colour}" '
                     f'fill-opacity="{opacity:.2f}"/>')
        parts.append(f'<text class="note" x="{label_width + area + 8}" y="{middle:.1f}" fill="#667085">{escape(row.note)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text in it went through escape()


@dataclass(frozen=True)
class BarSeries:
    label: str  # already translated; shown in the legend
    values: Sequence[float | None]  # one per category; None: no figure (no bar)
    hatched: bool = False  # drawn with diagonal lines instead of solid: tells series apart without colour


def _axis_step(largest: float) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) for about four gridlines."""
    if largest <= 0:
        return 1.0
    raw = largest / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.2f}"


def grouped_bars_svg(categories: Sequence[str], series: Sequence[BarSeries], *, title: str, unit: str = "",
                     chart_id: str = "bars", width: int = 720, height: int = 280, colour: str = "#b4232a",
                     value_labels: bool = True) -> Markup:
    """Bars per category, one per series side by side (this year solid, last year hatched), a legend that names
    each series next to a swatch of its pattern, a value axis with round gridlines and the unit, and each bar's
    figure above it (when there is room). Self-contained: fill patterns and fonts are in the SVG itself, so it looks
    the same on a page, on the dashboard and in a PDF (WeasyPrint). `chart_id` keeps pattern ids unique when
    several charts share a page."""
    safe_id = "".join(c if c.isalnum() else "-" for c in chart_id)
    font = escape(FONT_FAMILY)
    left, right, top, bottom = 64, 12, 34, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    numbers = [v for s in series for v in s.values if v is not None]
    largest = max(numbers, default=0.0)
    step = _axis_step(largest)
    ceiling = step * max(1, -(-largest // step)) if largest > 0 else step * 4
    group_w = plot_w / max(1, len(categories))
    bar_w = min(28.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}" font-family="{font}" '
        f'font-size="12" fill="#1f2933">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="{safe_id}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#52606d" stroke-width="3"/></pattern></defs>',
    ]
    # Legend: a swatch with its pattern and the series' name
    x = left
    for s in series:
        fill = f"url(#{safe_id}-hatch)" if s.hatched else colour
        parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{fill}" stroke="#1f2933" stroke-width="1"/>')
        parts.append(f'<text x="{x + 20}" y="18">{escape(s.label)}</text>')
        x += 28 + 13 * len(s.label)
    if unit:
        parts.append(f'<text x="{width - right}" y="18" text-anchor="end" fill="#52606d">{escape(unit)}</text>')
    # Value axis and gridlines
    ticks = round(ceiling / step)
    for i in range(ticks + 1):
        value = step * i
        y = top + plot_h - plot_h * value / ceiling
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d9dee3" '
                     f'stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#52606d">{_tick(value)}</text>')
    # Bars
    for c, category in enumerate(categories):
        group_x = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for k, s in enumerate(series):
            value = s.values[c] if c < len(s.values) else None
            if value is None:
                continue
            bar_h = max(1.0, plot_h * max(value, 0) / ceiling)
            bx, by = group_x + k * bar_w, top + plot_h - bar_h
            fill = f"url(#{safe_id}-hatch)" if s.hatched else colour
            parts.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar_w - 2:.1f}" height="{bar_h:.1f}" '
                         f'fill="{fill}" stroke="#1f2933" stroke-width="0.6"><title>{escape(s.label)} '
                         f'{escape(category)}: {_tick(value)}</title></rect>')
            if value_labels and bar_w >= 22:
                parts.append(f'<text x="{bx + (bar_w - 2) / 2:.1f}" y="{by - 3:.1f}" text-anchor="middle" '
                             f'font-size="9" fill="#52606d">{_tick(value)}</text>')
        parts.append(f'<text x="{left + c * group_w + group_w / 2:.1f}" y="{height - 10}" '
                     f'text-anchor="middle">{escape(category)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#1f2933" '
                 f'stroke-width="1"/>')
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
                 colour: str = "#b4232a", chart_id: str = "progress") -> Markup:
    """Progress against an annual target: one bar per row for the share reached (past 100% it runs on, drawn to
    the 120% edge), a dashed tick for time-elapsed progress, the figures written beside each bar, and a row that
    is behind its tick drawn hatched — so "behind" reads without colour. `expected_label` names the tick in the
    legend (e.g. 序时进度). `chart_id` keeps the hatch pattern's id unique when several charts share a page."""
    pattern = "".join(c if c.isalnum() else "-" for c in chart_id) + "-behind"
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
        f'<defs><pattern id="{pattern}" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{colour}" fill-opacity="0.25"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="3"/></pattern></defs>',
        f'<line x1="{label_width}" y1="8" x2="{label_width + 16}" y2="8" stroke="#1f2933" stroke-width="2" '
        f'stroke-dasharray="3 2"/><text x="{label_width + 22}" y="12">{escape(expected_label)}</text>',
        f'<text x="{label_width + 100 * scale:.1f}" y="12" text-anchor="middle" fill="#52606d">100%</text>',
    ]
    for i, row in enumerate(rows):
        y = top + i * (bar_height + gap)
        middle = y + bar_height / 2 + 4
        parts.append(_row_label(row.label, x=label_width - 8, y=middle, room=label_width - 12, font_px=12))
        parts.append(f'<rect x="{label_width}" y="{y}" width="{area:.1f}" height="{bar_height}" fill="#f1f3f5"/>')
        if row.done_pct is not None:
            behind = row.done_pct < row.expected_pct
            bar = max(1.5, min(120.0, max(row.done_pct, 0.0)) * scale)
            fill = f"url(#{pattern})" if behind else colour
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
