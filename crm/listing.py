"""Query-string parsing shared by list pages: page, sort and filters, with clear errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm.i18n import Msg
from crm.validators import as_id


class BadListQuery(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


LOOKAHEAD_PAGES = 10


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    more: bool = False  # `total` is a lower bound: counting stopped LOOKAHEAD_PAGES past this page

    @property
    def total_text(self) -> str:
        return f"{self.total}+" if self.more else str(self.total)

    @property
    def pages_text(self) -> str:
        return f"{self.pages}+" if self.more else str(self.pages)

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.total, self.page * self.per_page)


def parse_page(params: Mapping[str, str]) -> int:
    raw = params.get("page", "") or "1"
    if not raw.isdigit() or not (1 <= int(raw) <= 100_000):
        raise BadListQuery(Msg("“%(value)s” is not a page number: use a whole number from 1.", value=raw[:20]))
    return int(raw)


def parse_sort(params: Mapping[str, str], allowed: Sequence[str], default: str) -> str:
    raw = params.get("sort", "") or default
    if raw not in allowed:
        raise BadListQuery(
            Msg("“%(value)s” is not a way to sort this list. Use one of: %(allowed)s.", value=raw[:40], allowed=", ".join(allowed))
        )
    return raw


def parse_choice(params: Mapping[str, str], name: str, allowed: Sequence[str]) -> str:
    raw = params.get(name, "")
    if raw and raw not in allowed:
        raise BadListQuery(Msg("“%(value)s” is not a valid filter value.", value=raw[:40]))
    return raw


def parse_id(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name, "")
    if not raw:
        return None
    value = as_id(raw)
    if value is None:
        raise BadListQuery(Msg("“%(value)s” is not a valid filter value.", value=raw[:40]))
    return value


def clamp_page(page: int, total: int, per_page: int) -> int:
    return min(page, max(1, ceil(total / per_page)))


def count_up_to(session: Session, ids: Select, *, page: int, per_page: int,
                lookahead_pages: int = LOOKAHEAD_PAGES) -> tuple[int, bool]:
    """How many rows `ids` selects, counting no further than LOOKAHEAD_PAGES pages past `page`: an exact count of
    20,000 rows costs more than the page itself, and nobody needs more than "the next ten pages exist".
    Returns (count, True) when it stopped at the limit."""
    cap = (page + lookahead_pages) * per_page
    counted = session.scalar(select(func.count()).select_from(ids.limit(cap + 1).subquery())) or 0
    return (cap, True) if counted > cap else (counted, False)
