"""Server-drawn charts: a long row label never runs off the chart's left edge (the English dashboard cut
"General public budget revenue…" to "eral public budget revenue…")."""

import re

from crm.charts import FunnelRow, ProgressRow, funnel_svg, progress_svg


def _labels(svg: str) -> list[tuple[str, str]]:
    """(tooltip, shown text) of each right-aligned row label."""
    return [(m.group(1) or "", m.group(2))
            for m in re.finditer(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">(?:<title>([^<]*)</title>)?([^<]*)</text>',
                                 svg)]


def test_a_long_english_label_is_cut_with_an_ellipsis_and_kept_whole_as_its_tooltip():
    long_name = "General public budget revenue of the zone"
    svg = str(progress_svg([ProgressRow(long_name, 80.0, 91.7, "80%"), ProgressRow("GDP", 95.0, 91.7, "95%")],
                           title="Indicators", expected_label="Expected"))
    (tooltip, shown), (short_tooltip, short) = _labels(svg)
    assert tooltip == long_name and shown.endswith("…") and long_name.startswith(shown[:-1])
    assert len(shown) < len(long_name)
    assert (short_tooltip, short) == ("", "GDP")


def test_chinese_labels_that_fit_are_shown_whole():
    svg = str(funnel_svg([FunnelRow("洽谈", 3, "3 个"), FunnelRow("签约", 1, "1 个")], title="漏斗"))
    assert _labels(svg) == [("", "洽谈"), ("", "签约")]


def test_a_label_is_escaped_when_cut():
    svg = str(progress_svg([ProgressRow("<script>alert(1)</script> and a very long indicator name", 10.0, 50.0)],
                           title="t", expected_label="e"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
