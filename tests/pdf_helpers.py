"""Reading PDFs back in tests: poppler's pdftotext, pdffonts and pdftoppm, and the CJK font's cmap."""

from __future__ import annotations

import subprocess
import tempfile
from functools import cache
from pathlib import Path

CJK_FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def pdf_text(pdf: bytes, *, first: int | None = None, last: int | None = None) -> str:
    args = ["pdftotext", "-enc", "UTF-8"]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    return subprocess.run([*args, "-", "-"], input=pdf, capture_output=True, check=True, timeout=60).stdout.decode()


def pdf_pages_text(pdf: bytes) -> list[str]:
    return pdf_text(pdf).split("\f")[:-1]


def pdf_fonts(pdf: bytes) -> list[dict[str, str]]:
    """pdffonts' table: name, type, emb, sub, uni per font."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        out = subprocess.run(["pdffonts", handle.name], capture_output=True, check=True, timeout=60).stdout.decode()
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name, type words…, encoding, emb, sub, uni, object, generation
        rows.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4], "uni": parts[-3]})
    return rows


def first_page_png(pdf: bytes, tmp_path: Path, dpi: int = 40) -> Path:
    source = tmp_path / "page.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-png", "-singlefile", str(source),
                    str(tmp_path / "page1")], check=True, timeout=60)
    return tmp_path / "page1.png"


@cache
def cjk_cmap() -> frozenset[int]:
    """The code points Noto Sans CJK SC (the face the print CSS names) has glyphs for."""
    from fontTools.ttLib import TTCollection

    for font in TTCollection(str(CJK_FONT_FILE)).fonts:
        names = {record.toUnicode() for record in font["name"].names if record.nameID in (1, 4)}
        if "Noto Sans CJK SC" in names:
            return frozenset(font.getBestCmap())
    raise AssertionError("Noto Sans CJK SC is not in the collection")


def missing_glyphs(text: str) -> set[str]:
    cmap = cjk_cmap()
    return {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}
