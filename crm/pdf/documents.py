"""Print templates (templates/pdf/) to HTML in the reader's language: the same Jinja environment, filters and
catalog as the pages, the print CSS inline, and the page header and footer ("第 x 页 共 y 页" / "Page x of y")
written as CSS generated content in the same CJK font as the body."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from markupsafe import Markup

from crm.i18n import bound_gettext
from crm.web import STATIC_DIR, templates

# Debian's fonts-noto-cjk, then fonts-hanazono's HanaMinB for what Noto lacks: CJK Extension B and later (𠀀, names
# with rare characters) would otherwise print as boxes. Charts (crm/charts.py) name the same fonts.
FONT_FAMILY = '"Noto Sans CJK SC", "HanaMinB"'
_PLACEHOLDER = re.compile(r"%\((page|pages)\)s")


_CSS_ESCAPED = {ord(ch): f"\\{ord(ch):06x}" for ch in '\\"\'<>&'}


def css_string(text: str) -> str:
    """`text` as a CSS string literal, safe inside a <style> element: quotes and backslashes cannot end the string,
    and `<`, `>` and `&` are CSS escapes, so user text (an organization's name in a title) cannot close the <style>
    element and open HTML of its own in the preview or the PDF. Six-digit escapes need no terminating space."""
    cleaned = "".join(ch for ch in str(text) if ch >= " ")
    return '"' + cleaned.translate(_CSS_ESCAPED) + '"'


def page_counter(template: str) -> str:
    """A translated "Page %(page)s of %(pages)s" as the value of a CSS `content` property."""
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > last:
            parts.append(css_string(template[last:match.start()]))
        parts.append(f"counter({match.group(1)})")
        last = match.end()
    if last < len(template):
        parts.append(css_string(template[last:]))
    return " ".join(parts) or "counter(page)"


def render_html(template_name: str, context: dict[str, Any], *, locale: str, timezone: str, zone_name: str,
                title: str, marking: str = "", preview: bool = False, generated_at: datetime | None = None) -> str:
    gettext, ngettext = bound_gettext(locale)
    full = {
        "_": gettext, "ngettext": ngettext, "locale": locale, "timezone": timezone, "zone_name": zone_name,
        "doc_title": title, "marking": marking, "preview": preview, "generated_at": generated_at,
        "font_family": Markup(FONT_FAMILY),  # noqa: S704 - a constant
        "css_string": lambda text: Markup(css_string(text)),  # noqa: S704 - quoted and escaped for CSS
        "page_counter": Markup(page_counter(gettext("Page %(page)s of %(pages)s"))),  # noqa: S704 - built above
        "current_user": None, "csrf_token": "", "has_cover": False,  # a cover page (the briefing) has no page header
        **context,
    }
    return templates.get_template(template_name).render(full)


__all__ = ["STATIC_DIR", "css_string", "page_counter", "render_html"]
