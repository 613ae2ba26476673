"""What a name looks like to the search box: lower-cased text, full pinyin and pinyin initials.

复星集团 → "复星集团 fuxingjituan fxjt": so 复星, fuxing and fx all find it with one substring match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

_CJK = re.compile(r"[\u3400-\u9fff]")
_NOT_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
SEPARATOR = " | "


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


def normalize_name(name: str) -> str:
    """For duplicate detection: 复星集团（上海）and 复星集团(上海) are the same name."""
    return _NOT_WORD.sub("", normalize(name))[:120]


@cache
def _pinyin():
    """pypinyin's lazy_pinyin, imported when first needed: loading its dictionaries takes a quarter of a second,
    which every command and worker that never computes a search text (a PDF render, the scheduler) would otherwise
    pay. Each word of a text (pypinyin's own segmentation: runs of Chinese characters cut into dictionary phrases)
    is converted once per process: pypinyin converts word by word itself, so the result is lazy_pinyin's, and names
    share their words (有限公司, 科技, 苏州, surnames) — a 50,000-row import converts some thousand words, not
    200,000 names (5× faster)."""
    from pypinyin import lazy_pinyin
    from pypinyin.seg.simpleseg import seg

    @lru_cache(maxsize=100_000)
    def word(text: str, errors: str) -> tuple[str, ...]:
        return tuple(lazy_pinyin([text], errors=errors))

    def convert(text: str, errors: str = "default") -> list[str]:
        out: list[str] = []
        for part in seg(text):
            out.extend(word(part, errors))
        return out

    return convert


def pinyin_forms(text: str) -> list[str]:
    if not _CJK.search(text):
        return []
    syllables = [s for s in _pinyin()(text, errors="ignore") if s.strip()]
    if not syllables:
        return []
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables).lower()
    return [full, initials]


def sort_key(name: str) -> str:
    """Chinese names sort by their pinyin, as a Chinese reader expects."""
    return (" ".join(_pinyin()(normalize(name), errors="default")))[:240]


def build(*names: str, extra: tuple[str, ...] = ()) -> str:
    """The searchable text of a record: each name with its pinyin forms, then any extra text."""
    parts: list[str] = []
    for name in names:
        if name:
            parts.append(normalize(name))
            parts.extend(pinyin_forms(name))
    parts.extend(normalize(e) for e in extra if e)
    return SEPARATOR.join(parts)


def query_text(q: str) -> str:
    return normalize(q)[:100]
