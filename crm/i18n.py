"""Locales, the message catalogs and lazy messages.

Message ids are English; `crm/translations/<locale>/LC_MESSAGES/messages.po` holds the catalogs.
The .po files are read at start-up (no compiled .mo files to forget to rebuild).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def normalize_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    value = value.replace("-", "_")
    if value in LOCALES:
        return value
    if value.lower().startswith("zh"):
        return "zh_CN"
    if value.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def locale_from_accept_language(header: str | None) -> str | None:
    for part in (header or "").split(","):
        tag = part.split(";")[0].strip()
        if tag.lower().startswith(("zh", "en")):
            return normalize_locale(tag)
    return None


@cache  # read once per process: both translations() and _messages() need it (parsing a .po file takes ~0.1 s)
def _read_catalog(locale: str):
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return None
    with po_path.open("rb") as fh:
        return read_po(fh, locale=locale)


@cache
def translations(locale: str) -> Translations:
    """gettext's object, for plural forms."""
    catalog = _read_catalog(locale)
    if catalog is None:
        return Translations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


@cache
def _messages(locale: str) -> dict[str, str]:
    """msgid → translation, for the singular messages that make up nearly every call: a page of 50 rows
    translates some 400 strings, and a plain dict is fifty times faster than gettext's lookup here."""
    catalog = _read_catalog(locale)
    if catalog is None:
        return {}
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string}


def N_(message: str) -> str:
    """Marks a constant for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Msg:
    """A message to translate later, in the reader's language, with named %(params)s."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def __init__(self, msgid: str, **params: Any) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "params", params)

    def translate(self, locale: str) -> str:
        return gettext(locale, self.msgid, **self.params)


def gettext(locale: str, message: str | Msg, **params: Any) -> str:
    if isinstance(message, Msg):
        return message.translate(locale)
    text = _messages(locale).get(message, message)
    if params:
        params = {k: (v.translate(locale) if isinstance(v, Msg) else v) for k, v in params.items()}
        return text % params
    return text


def ngettext(locale: str, singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(locale).ngettext(singular, plural, n)
    return text % {"num": n, **params}


_CLAUSE_ENDS = "。．.；;，,、 \t\n"


def join_clauses(parts, locale: str) -> str:
    """Reasons (gate messages, refusals), each perhaps a sentence with its own full stop, as one sentence: each
    part's closing punctuation dropped, joined once with the language's separator, one full stop at the end —
    "尚未申报；缺少用地。", never "尚未申报。；缺少用地。". Msg parts are translated; empty parts are left out."""
    zh = locale.startswith("zh")
    texts = [(part.translate(locale) if isinstance(part, Msg) else str(part)).strip().rstrip(_CLAUSE_ENDS)
             for part in parts]
    texts = [text for text in texts if text]
    if not texts:
        return ""
    return ("；" if zh else "; ").join(texts) + ("。" if zh else ".")


def bound_gettext(locale: str):
    """The `_` given to templates for one request."""

    def _(message: str | Msg, **params: Any) -> str:
        return gettext(locale, message, **params)

    def _n(singular: str, plural: str, n: int, **params: Any) -> str:
        return ngettext(locale, singular, plural, n, **params)

    return _, _n
