"""Query-string parsing shared by list pages: page, sort and filters, with clear errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from math import ceil
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from crm.i18n import Msg
from crm.plain_query import PlainQuery
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
    counted = session.scalar(count_statement(ids, cap)) or 0
    return (cap, True) if counted > cap else (counted, False)


def kept_page(session: Session, statements: Statements, flt: Any, *, ids: Callable[[], Select],
              rows: Callable[[int], Select], page: int, per_page: int,
              lookahead_pages: int = LOOKAHEAD_PAGES) -> Page:
    """One page of a list filtered without search text, its count as count_up_to's: the count and page statements
    kept in `statements` under the whole filter (`flt`, a dataclass: every field is in the key, so a new filter field
    cannot be served another filter's statement), built by `ids()` and `rows(page)` on first use, reused after."""
    shape = astuple(flt)
    cap = (page + lookahead_pages) * per_page
    counted = session.scalar(statements.get((shape, cap), lambda: count_statement(ids(), cap))) or 0
    total, more = (cap, True) if counted > cap else (counted, False)
    page = clamp_page(page, total, per_page)
    stmt = statements.get((shape, page, per_page), lambda: rows(page))
    return Page(items=session.execute(stmt).all(), total=total, page=page, per_page=per_page, more=more)


def count_statement(ids: Select, cap: int) -> Select:
    """count_up_to's statement: how many of `ids` there are, reading at most `cap` + 1 of them."""
    return select(func.count()).select_from(ids.limit(cap + 1).subquery())


class Statements:
    """Built list statements kept for reuse, by the key of what built them (a filter without search text, the page):
    building a Select and its cache key anew cost a list page about as much as running it (issue 17). A statement
    holds no result and nothing of who reads it; the kept set is emptied when full, so odd keys cannot grow it."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._kept: dict[Any, Any] = {}

    def get(self, key: Any, build):
        statement = self._kept.get(key)
        if statement is None:
            if len(self._kept) >= self.size:
                self._kept.clear()
            statement = self._kept[key] = build()
        return statement


_OPTION = Markup('<option value="%s">%s</option>')
_SELECTED_OPTION = Markup('<option value="%s" selected>%s</option>')


def options(choices: Iterable[tuple[Any, Any]], selected: Any) -> Markup:
    """The <option>s of a list's filter: (value, label) pairs, escaped, the one equal to `selected` marked. Built
    in Python: a template loop over the officer filter's ~440 people cost a list page more than its rows (issue 17)."""
    chosen = "" if selected is None else str(selected)
    return Markup("").join((_SELECTED_OPTION if chosen and str(value) == chosen else _OPTION) % (value, label)
                           for value, label in choices)


# The officer filter's <option>s (auth.service.user_choices(): the same people in the same order), built once per
# change of the user table and shared by every reader: they are the same for everyone. Any change to a user sets its
# updated_at; adding or deleting one changes the count. One statement whether or not they changed (so a page's query
# count stays the same): the table's fingerprint, joined to the people only when it differs from the one cached.
# Kept per kind of list: business users only (business_only), or every active user (the project lists' filter).
_user_options: dict[bool, tuple[Any, str]] = {}
_USER_OPTIONS: dict[bool, PlainQuery] = {}  # built on first use: crm.auth imports this module


def _user_options_query(business_only: bool) -> Select:
    from crm.auth.models import NON_BUSINESS_ROLES, User  # crm.auth imports this module

    now = select(func.count().label("n"), func.max(User.updated_at).label("at"), func.max(User.id).label("top")
                 ).select_from(User).subquery()
    changed = ((now.c.n != bindparam("n")) | now.c.at.is_distinct_from(bindparam("at"))
               | now.c.top.is_distinct_from(bindparam("top")))
    wanted = changed & User.is_active.is_(True)
    if business_only:
        wanted = wanted & User.role.not_in(sorted(NON_BUSINESS_ROLES))
    return (select(now.c.n, now.c.at, now.c.top, User.id, User.display_name)
            .select_from(now).outerjoin(User, wanted).order_by(User.role, User.username))


def user_options(session: Session, selected: int | None, *, business_only: bool = True) -> Markup:
    """The <option>s of a list's officer filter (active business users; with business_only=False every active user,
    as the project lists offer), `selected` marked. Run at the driver's cost (crm.plain_query)."""
    known, built = _user_options.get(business_only, ((-1, None, None), ""))
    query = _USER_OPTIONS.get(business_only)
    if query is None:
        query = _USER_OPTIONS[business_only] = PlainQuery(_user_options_query(business_only))
    rows = query.rows(session, **dict(zip(("n", "at", "top"), known, strict=True)))
    fingerprint = tuple(rows[0][:3])
    if fingerprint != known:
        built = str(options(((row[3], row[4]) for row in rows if row[3] is not None), None))
        _user_options[business_only] = (fingerprint, built)
    if selected is not None:  # ids are integers: the marked option is found as it was built
        built = built.replace(f'<option value="{selected}">', f'<option value="{selected}" selected>', 1)
    return Markup(built)  # noqa: S704 (options() escaped every value and label)
