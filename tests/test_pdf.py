"""The renderer itself: the restricted URL fetcher, the CJK font subset without the fontTools fallback, the page
footer, and glyph coverage. No database."""

from __future__ import annotations

import logging

from crm.pdf import documents
from crm.pdf.fetcher import Resources, render_pdf, resolve
from crm.pdf.renderer import Renderer
from crm.web import STATIC_DIR
from tests.pdf_helpers import missing_glyphs, pdf_fonts, pdf_text


def test_the_fetcher_reads_only_static_files_and_the_records_own_attachments(tmp_path):
    sha = "a" * 64
    thumb = tmp_path / "attachments" / "thumbnails" / "aa" / f"{'a' * 62}.jpg"
    thumb.parent.mkdir(parents=True)
    thumb.write_bytes(b"\xff\xd8\xff")
    allowed = Resources(static_dir=STATIC_DIR, data_dir=tmp_path, attachments=frozenset({sha}))
    assert resolve("crm:/static/css/app.css", allowed) == (STATIC_DIR / "css" / "app.css").resolve()
    assert resolve(f"crm:/attachment/{sha}", allowed) == thumb
    for refused in ("crm:/static/../crm/config.py", "crm:/static/%2e%2e/pyproject.toml", f"crm:/attachment/{'b' * 64}",
                    "crm:/attachment/../../etc/passwd", "file:///etc/passwd", "http://127.0.0.1/x.png",
                    "https://example.com/x.png", "data:image/png;base64,AAAA", "crm:/etc/passwd"):
        assert resolve(refused, allowed) is None, refused
    assert resolve(f"crm:/attachment/{sha}", Resources(static_dir=STATIC_DIR, data_dir=tmp_path)) is None


def test_markup_that_reaches_the_renderer_fetches_nothing(counting_server, caplog):
    """Even raw markup (user text is escaped before it gets here) fetches nothing: no http, no file://, no
    redirect, no path out of static/."""
    port, hits = counting_server
    html = (f'<html><body><img src="http://127.0.0.1:{port}/a.png"><img src="https://127.0.0.1:{port}/b.png">'
            '<img src="file:///etc/passwd"><img src="crm:/static/../../etc/passwd">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/c.css">'
            f'<div style="background: url(http://127.0.0.1:{port}/d.png)">开发区</div></body></html>')
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        result = render_pdf(html, Resources(static_dir=STATIC_DIR))
    assert hits == []
    assert any("127.0.0.1" in url for url in result.refused) and any("etc/passwd" in url for url in result.refused)
    assert result.pages == 1


def _page(text: str) -> str:
    return documents.render_html("pdf/_document.html", {}, locale="zh_CN", timezone="Asia/Shanghai",
                                 zone_name="菏泽经济开发区", title="测试文档").replace(
        '<main class="sheet">', f'<main class="sheet"><p>{text}</p>' + '<p style="break-before: page">第二页</p>')


def test_cjk_font_embedded_as_subset_without_the_fonttools_fallback(caplog):
    text = "复星集团 祝文魁 精进电动 现代医药港 玉皇新能源 大唐智创 Fosun 12,345.67 万元"
    with caplog.at_level(logging.DEBUG, logger="weasyprint"):
        result = render_pdf(_page(text), Resources(static_dir=STATIC_DIR))
    assert not [r for r in caplog.records if "fontTools" in r.getMessage()], "WeasyPrint fell back to fontTools"
    fonts = pdf_fonts(result.pdf)
    assert fonts and all(f["name"].split("+")[1].startswith("Noto-Sans-CJK-SC") and f["sub"] == "yes"
                         and f["emb"] == "yes" for f in fonts)
    out = pdf_text(result.pdf)
    assert "复星集团" in out and "祝文魁" in out and "精进电动" in out
    assert "第 1 页" in out and "共 2 页" in out  # the footer, in the same font (no other font embedded)
    assert not missing_glyphs(out)


def test_the_render_process_relays_weasyprints_warnings(caplog):
    renderer = Renderer(workers=1, timeout=60)
    try:
        with caplog.at_level(logging.INFO, logger="weasyprint"):
            result = renderer.render(_page("开发区") + '<img src="file:///etc/passwd">', static_dir=STATIC_DIR)
    finally:
        renderer.close()
    assert result.pages == 2 and result.max_rss_mb > 0
    assert any("etc/passwd" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "fontTools" in r.getMessage()]


def test_page_counter_css():
    assert documents.page_counter("第 %(page)s 页 共 %(pages)s 页") == '"第 " counter(page) " 页 共 " counter(pages) " 页"'
    assert documents.page_counter("Page %(page)s of %(pages)s") == '"Page " counter(page) " of " counter(pages)'
    assert documents.css_string('a"b\\c\n') == '"a\\000022b\\00005cc"'
    # user text in a page header cannot leave the CSS string nor the <style> element
    assert documents.css_string("复星</style><script>") == '"复星\\00003c/style\\00003e\\00003cscript\\00003e"'


RARE_NAME = "𠀀𠀁 𪚥 𪜀𫝀"  # CJK Extensions B, C and D: outside the Basic Multilingual Plane, not in Noto Sans CJK


def test_rare_characters_print_from_the_fallback_font_not_as_boxes(caplog):
    """Names with characters Noto Sans CJK lacks (Extension B and later) are set in HanaMinB (fonts-hanazono), the
    face the print CSS names after it, and embedded as a subset: not blank boxes."""
    assert missing_glyphs(RARE_NAME) == set(RARE_NAME.replace(" ", ""))  # the main font has no glyph for them
    html = _page(f"复星集团 {RARE_NAME}")
    assert 'font-family: "Noto Sans CJK SC", "HanaMinB";' in html  # named, not left to the system's fallback
    with caplog.at_level(logging.DEBUG, logger="weasyprint"):
        result = render_pdf(html, Resources(static_dir=STATIC_DIR))
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "fontTools" in m or "unsupported" in m.lower()], messages
    fonts = {f["name"].split("+")[1]: f for f in pdf_fonts(result.pdf)}
    fallback = [f for name, f in fonts.items() if name.startswith("HanaMinB")]
    assert fallback and all(f["emb"] == "yes" and f["sub"] == "yes" and f["uni"] == "yes" for f in fallback)
    assert any(name.startswith("Noto-Sans-CJK-SC") for name in fonts)  # the rest stays in the main font
    out = pdf_text(result.pdf)
    assert "复星集团" in out and all(name in out for name in RARE_NAME.split())
