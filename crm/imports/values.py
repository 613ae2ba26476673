"""Cell values as zones write them in their ledgers, read into what the services take.

Each parser takes the raw cell (a str from a CSV, or what the workbook reader gives: str, int, float, bool,
datetime, date, time) and returns the value, None for a blank cell, or a `Msg` saying in the user's language what is
wrong (the caller files it under the row and column). Nothing here writes; the lookups (`Users`, `Chains`) read once
per import and then answer from memory.

- Dates: 2021年12月8日, 2021.12.8, 2021/12/8, 2021-12-08, 20211208, a date cell, or an Excel day number (a date
  cell that lost its format). Date and time (visits): the same followed by 9:30, 09:30:00, 9时30分, 上午9:30 or
  下午2:30, or a date-time cell; a time on its own (a separate 时间 column): 9:30, 9时, 下午2点半, 0.5 (Excel's
  fraction of a day) or a time cell.
- Amounts: the header's unit decides (`amount_unit`): 万元, 亿元 (× 10,000), 元 (÷ 10,000), 千元, 万美元, 亿美元,
  美元, or in English 10k CNY, 100m CNY, CNY/yuan, 10k USD …; a header without a unit is ambiguous and the mapping
  step asks which unit it is in (`unit_known`), it is never guessed. A cell that carries its own unit ("2.5亿元",
  "8000万") is read in that unit. Amounts are stored in 万 of their currency with two decimals (rounded half up:
  0.01 万元 is 100 yuan).
- Stages, visit kinds, follow-up statuses: the names the product shows in either language, their codes, and the
  everyday synonyms of the ledgers (在谈 → 洽谈, 已签约 → 签约, 已开工/在建 → 开工, 竣工投产/已投产 → 投产 …).
- Officers: a username, or a display name when only one active user bears it (two 张伟: the error names both with
  their usernames, so the user writes the username instead).
- Yes/no: 是/否, Y/N, yes/no, true/false, 1/0, √/×, a boolean cell.
- Industry chains: Chinese or English name or code, with or without 产业链/产业 at the end.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import NON_BUSINESS_ROLES, User
from crm.i18n import Msg
from crm.organizations.models import IndustryChain
from crm.projects.models import Stage
from crm.projects.schemas import STAGE_LABELS
from crm.tasks.models import TaskStatus
from crm.tasks.schemas import STATUS_LABELS as TASK_STATUS_LABELS
from crm.visits.models import VisitKind
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS

FIRST_YEAR, LAST_YEAR = 2000, 2100  # as the forms' date checks (crm.tasks.schemas.check_date)
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 in the 1900 date system (its 1900-02-29 bug lies before day 61)
_EXCEL_SERIALS = (36_526, 73_051)  # 2000-01-01 … 2100-01-01 as Excel day numbers


def fold(value: Any) -> str:
    """The text two spellings must share to be the same word: NFKC (full-width → ASCII), no whitespace,
    case-folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).casefold()


def is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _shown(raw: Any) -> str:
    text = raw.isoformat(sep=" ") if isinstance(raw, datetime) else str(raw)
    return text.strip()[:30]


# ------------------------------------------------------------------------------------------------------ text

def parse_text(raw: Any, *, max_length: int) -> str | Msg | None:
    """Text as typed (a whole number in a number cell reads "12345", not "12345.0"), stripped."""
    if is_blank(raw):
        return None
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    elif isinstance(raw, datetime):
        text = raw.strftime("%Y-%m-%d %H:%M") if raw.time() != time() else raw.date().isoformat()
    elif isinstance(raw, date):
        text = raw.isoformat()
    else:
        text = str(raw).strip()
    if len(text) > max_length:
        return Msg("At most %(max)s characters (this has %(n)s).", max=max_length, n=len(text))
    return text


def split_names(raw: Any) -> list[str]:
    """The names in a cell that lists several (陪同人员 "王芳、李强"; investors "甲公司；乙公司"), in order."""
    if is_blank(raw):
        return []
    parts = re.split(r"[、，,；;/／|\n]+", unicodedata.normalize("NFKC", str(raw)))
    names = [p.strip() for p in parts if p.strip()]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------------------------ dates

_DATE_RE = re.compile(r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)日?|年(\d{1,2})月(\d{1,2})(?!\d)[日号]?"
                      r"|(\d{2})(\d{2})(?!\d))")
_TIME_RE = re.compile(
    r"^(上午|早上|早晨|中午|下午|晚上|晚|am|pm)?(\d{1,2})(?:(?::|时|点)(?:(\d{1,2})|(半))?(?:分|:(\d{1,2})(?:\.\d+)?)?)?"
    r"(am|pm)?$")


def _loose(raw: Any) -> str:
    """NFKC, case-folded, spaces kept single (a date and its time stay apart: "2021-12-8 9:30")."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(raw))).strip().casefold()


def _bad_date(raw: Any) -> Msg:
    return Msg("“%(value)s” is not a date: write it as 2021-12-08, 2021/12/8, 2021.12.8 or 2021年12月8日.",
               value=_shown(raw))


def _in_range(day: date) -> Msg | None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return Msg("Choose a date between 2000 and 2100.")
    return None


def _serial(raw: Any) -> float | None:
    """An Excel day number: a number cell, or digits in a CSV ("44538", "44538.5")."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float, Decimal)):
        return float(raw)
    if isinstance(raw, str) and re.fullmatch(r"\d{5}(\.\d+)?", raw.strip()):
        return float(raw.strip())
    return None


def _split_date(text: str) -> tuple[date | None, str]:
    """The date at the start of `text` and what follows it (a time, or nothing), or (None, text)."""
    match = _DATE_RE.match(text)
    if not match:
        return None, text
    year = int(match[1])
    month, day = next((int(match[i]), int(match[i + 1])) for i in (2, 4, 6) if match[i] is not None)
    try:
        return date(year, month, day), text[match.end():]
    except ValueError:
        return None, text


def parse_date(raw: Any) -> date | Msg | None:
    if is_blank(raw):
        return None
    if isinstance(raw, datetime):
        day = raw.date()
    elif isinstance(raw, date):
        day = raw
    elif (serial := _serial(raw)) is not None:
        if not _EXCEL_SERIALS[0] <= serial < _EXCEL_SERIALS[1]:
            return _bad_date(raw)
        day = _EXCEL_EPOCH + timedelta(days=int(serial))
    else:
        day, rest = _split_date(_loose(raw))
        if day is None or (rest and _parse_clock(rest) is None):
            return _bad_date(raw)
    return _in_range(day) or day


def _parse_clock(text: str) -> time | None:
    """9:30, 09:30:00, 9时30分, 9点半, 上午9:30, 下午2:30, 2:30pm → a time of day, or None (`text` may start
    with the T or space that parted it from its date)."""
    match = _TIME_RE.match(re.sub(r"\s+", "", text.removeprefix("t")))
    if not match:
        return None
    hour = int(match[2])
    minute = 30 if match[4] else int(match[3] or 0)
    second = int(match[5] or 0)
    period = match[1] or match[6] or ""
    if (period in ("下午", "晚上", "晚", "pm") and hour < 12) or (period == "中午" and hour < 6):
        hour += 12
    elif period in ("am", "上午", "早上", "早晨") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def parse_time(raw: Any) -> time | Msg | None:
    """A time of day on its own (a 时间 column beside the date)."""
    if is_blank(raw):
        return None
    if isinstance(raw, datetime):
        return raw.time().replace(microsecond=0)
    if isinstance(raw, time):
        return raw.replace(microsecond=0)
    if isinstance(raw, timedelta) and timedelta(0) <= raw < timedelta(days=1):  # a duration cell read as a time
        seconds = int(raw.total_seconds())
        return time(seconds // 3600, seconds // 60 % 60)
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool) and 0 <= float(raw) < 1:
        seconds = round(float(raw) * 86_400)  # Excel's fraction of a day
        return time(seconds // 3600 % 24, seconds // 60 % 60)
    clock = _parse_clock(fold(raw))
    if clock is None:
        return Msg("“%(value)s” is not a time of day: write it as 9:30 or 14:30.", value=_shown(raw))
    return clock


def parse_datetime(raw: Any) -> datetime | Msg | None:
    """A local (naive) date and time as written; a date alone reads as midnight, and the caller may combine it
    with a time column (`combine`)."""
    if is_blank(raw):
        return None
    if isinstance(raw, datetime):
        moment = raw.replace(tzinfo=None, microsecond=0)
    elif isinstance(raw, date):
        moment = datetime.combine(raw, time())
    elif (serial := _serial(raw)) is not None:
        if not _EXCEL_SERIALS[0] <= serial < _EXCEL_SERIALS[1]:
            return _bad_datetime(raw)
        moment = datetime.combine(_EXCEL_EPOCH, time()) + timedelta(seconds=round(serial * 86_400))
    else:
        day, rest = _split_date(_loose(raw))
        if day is None:
            return _bad_datetime(raw)
        clock = _parse_clock(rest) if rest else time()
        if clock is None:
            return _bad_datetime(raw)
        moment = datetime.combine(day, clock)
    return _in_range(moment.date()) or moment


def _bad_datetime(raw: Any) -> Msg:
    return Msg("“%(value)s” is not a date and time: write it as 2021-12-08 09:30 or 2021年12月8日 9:30.",
               value=_shown(raw))


def combine(day: datetime | date, clock: time | None) -> datetime:
    """A date (or a date-time read as midnight) with the time of a separate column, when there is one."""
    moment = day if isinstance(day, datetime) else datetime.combine(day, time())
    if clock is not None:
        moment = datetime.combine(moment.date(), clock)
    return moment


# ------------------------------------------------------------------------------------------------------ amounts

@dataclass(frozen=True)
class Unit:
    """A column's money unit: its currency and how many 万 of that currency one written unit is."""

    code: str  # "wan_cny", "yi_cny", …: what the mapping step saves when the user chooses it
    currency: str  # "CNY" | "USD"
    factor: Decimal  # written value × factor = value in 万 of the currency
    label: Msg


UNITS: dict[str, Unit] = {u.code: u for u in (
    Unit("wan_cny", "CNY", Decimal(1), Msg("10k CNY (万元)")),
    Unit("yi_cny", "CNY", Decimal(10_000), Msg("100m CNY (亿元)")),
    Unit("yuan", "CNY", Decimal("0.0001"), Msg("CNY (元)")),
    Unit("qian_cny", "CNY", Decimal("0.1"), Msg("1,000 CNY (千元)")),
    Unit("wan_usd", "USD", Decimal(1), Msg("10k USD (万美元)")),
    Unit("yi_usd", "USD", Decimal(10_000), Msg("100m USD (亿美元)")),
    Unit("usd", "USD", Decimal("0.0001"), Msg("USD (美元)")),
)}
# Spellings of each unit in a header or a cell, longest first so 亿美元 is not read as 美元 or 亿.
_UNIT_WORDS: tuple[tuple[str, str], ...] = (
    ("亿美元", "yi_usd"), ("万美元", "wan_usd"), ("美元", "usd"), ("亿元", "yi_cny"), ("万元", "wan_cny"),
    ("千元", "qian_cny"), ("人民币", "yuan"), ("元", "yuan"), ("亿", "yi_cny"), ("万", "wan_cny"),
    ("100millionusd", "yi_usd"), ("100musd", "yi_usd"), ("10kusd", "wan_usd"), ("10,000usd", "wan_usd"),
    ("10000usd", "wan_usd"), ("usd", "usd"),
    ("100millioncny", "yi_cny"), ("100mcny", "yi_cny"), ("100millionyuan", "yi_cny"), ("100myuan", "yi_cny"),
    ("10kcny", "wan_cny"), ("10kyuan", "wan_cny"), ("10,000cny", "wan_cny"), ("10,000yuan", "wan_cny"),
    ("10000cny", "wan_cny"), ("10000yuan", "wan_cny"), ("10krmb", "wan_cny"),
    ("cny", "yuan"), ("rmb", "yuan"), ("yuan", "yuan"),
)
_BRACKETS = re.compile(r"[(\[【〔](.*?)[)\]】〕]")


def amount_unit(header: Any) -> Unit | None:
    """The unit a header names — in brackets (总投资（亿元）, Total investment (10k CNY), 投资额(单位:万元)) or at its
    end (投资额万元) — or None when it names none: then the column is ambiguous and the user says which unit it is
    in (the mapping step), never guessed."""
    text = fold(header)
    for inside in reversed(_BRACKETS.findall(text)):  # the last bracket is where a unit goes
        for word, code in _UNIT_WORDS:
            if word in inside:
                return UNITS[code]
    bare = _BRACKETS.sub("", text)
    for word, code in _UNIT_WORDS:
        if bare.endswith(word) and len(bare) > len(word) and (not word.isascii() or len(word) > 3):
            return UNITS[code]
    return None


def unit_known(header: Any) -> bool:
    """Whether the header says its unit (else the mapping step must ask, never guess)."""
    return amount_unit(header) is not None


_CELL_AMOUNT = re.compile(r"^([+-]?[\d.]+)(.*)$")


def parse_amount(raw: Any, unit: Unit | None, *, currency: str = "CNY",
                 maximum: Decimal | None = None) -> Decimal | Msg | None:
    """An amount in 万 of `currency`, two decimals. `unit` is the column's (from its header or the user's choice);
    a cell that writes its own unit ("2.5亿元") is read in that one. No unit at all: an error, never a guess."""
    if is_blank(raw):
        return None
    cell_unit = None
    if isinstance(raw, bool):
        return _not_number(raw)
    if isinstance(raw, (int, Decimal)):
        number = Decimal(raw)
    elif isinstance(raw, float):
        number = Decimal(repr(raw))
    else:
        text = re.sub(r"[\s,，¥￥]", "", unicodedata.normalize("NFKC", str(raw))).casefold()
        match = _CELL_AMOUNT.match(text)
        if not match:
            return _not_number(raw)
        if match[2]:
            cell_unit = next((UNITS[code] for word, code in _UNIT_WORDS if match[2] == word), None)
            if cell_unit is None:
                return _not_number(raw)
        try:
            number = Decimal(match[1])
        except InvalidOperation:
            return _not_number(raw)
    unit = cell_unit or unit
    if unit is None:
        return Msg("The column's unit is not known: choose 万元 or 亿元 for it in the column mapping.")
    if not number.is_finite():
        return _not_number(raw)
    if unit.currency != currency:
        return Msg("This amount is in %(unit)s, but the field is in %(currency)s.", unit=unit.label,
                   currency=Msg("10k USD (万美元)") if currency == "USD" else Msg("10k CNY (万元)"))
    if number < 0:
        return Msg("Enter an amount of 0 or more.")
    amount = (number * unit.factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if maximum is not None and amount > maximum:
        return Msg("%(value)s is more than the largest amount accepted (%(max)s in 10k): check the unit.",
                   value=_shown(raw), max=f"{maximum:,.0f}")
    return amount


def _not_number(raw: Any) -> Msg:
    return Msg("“%(value)s” is not an amount: write digits, e.g. 5000 or 1.25.", value=_shown(raw))


def parse_decimal(raw: Any, *, maximum: Decimal, places: int = 2) -> Decimal | Msg | None:
    """A plain non-negative number (land in 亩), rounded to `places` decimals."""
    if is_blank(raw) or isinstance(raw, bool):
        return None if is_blank(raw) else _not_number(raw)
    try:
        number = (Decimal(repr(raw)) if isinstance(raw, float) else
                  Decimal(re.sub(r"[\s,，]", "", unicodedata.normalize("NFKC", str(raw)))))
    except InvalidOperation:
        return _not_number(raw)
    if not number.is_finite():
        return _not_number(raw)
    if number < 0 or number > maximum:
        return Msg("Enter an amount between 0 and %(max)s.", max=f"{maximum:,.0f}")
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def parse_int(raw: Any, *, maximum: int) -> int | Msg | None:
    number = parse_decimal(raw, maximum=Decimal(maximum), places=6)
    if number is None or isinstance(number, Msg):
        return number
    if number != number.to_integral_value():
        return Msg("Enter a whole number between 0 and %(max)s.", max=f"{maximum:,}")
    return int(number)


# ------------------------------------------------------------------------------------------------------ yes / no

_YES = {"是", "y", "yes", "true", "1", "√", "✓", "✔", "对", "有", "t"}
_NO = {"否", "n", "no", "false", "0", "×", "✗", "✘", "x", "不", "无", "f", "不是"}


def parse_bool(raw: Any) -> bool | Msg | None:
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = fold(raw)
    if text in _YES:
        return True
    if text in _NO:
        return False
    return Msg("“%(value)s” is not yes or no: write 是 or 否 (or Y/N).", value=_shown(raw))


# ------------------------------------------------------------------------------------------------------ choices

def _vocabulary(labels: dict[Any, str], synonyms: dict[str, Iterable[str]]) -> dict[str, str]:
    """Every spelling → code: the code itself, the label in English and Chinese, and the synonyms."""
    words: dict[str, str] = {}
    for code, label in labels.items():
        for spelling in (code.value, label, Msg(label).translate("zh_CN")):
            words[fold(spelling)] = code.value
    for code, spellings in synonyms.items():
        for spelling in spellings:
            words[fold(spelling)] = str(code)
    return words


STAGE_SYNONYMS: dict[str, tuple[str, ...]] = {
    Stage.LEAD: ("线索", "项目线索", "信息", "lead"),
    Stage.CONTACT: ("接洽", "初步接洽", "已接洽", "接触", "初次接触", "对接", "contact", "contacted"),
    Stage.NEGOTIATING: ("在谈", "洽谈", "洽谈中", "在洽谈", "正在洽谈", "在谈项目", "谈判", "negotiation",
                        "in negotiation"),
    Stage.SIGNED: ("签约", "已签约", "已签", "签约项目", "签订协议", "已签协议", "signed", "signing"),
    Stage.REGISTERED: ("注册", "已注册", "注册成立", "已注册成立", "公司注册", "registered"),
    Stage.LAND_SUPPLIED: ("供地", "已供地", "土地已供", "已摘牌", "land supplied"),
    Stage.PERMITS: ("手续办理", "手续办理中", "办理手续", "前期手续", "审批中", "permits"),
    Stage.GROUNDBREAKING: ("开工", "已开工", "在建", "建设中", "开工建设", "在建项目", "under construction",
                           "construction", "broke ground"),
    Stage.OPERATING: ("投产", "已投产", "竣工投产", "竣工", "已竣工", "投产运营", "建成投产", "运营", "in operation",
                      "operating", "completed"),
    Stage.ON_HOLD: ("暂缓", "暂停", "搁置", "已暂缓", "on hold", "paused"),
    Stage.DROPPED: ("终止", "已终止", "放弃", "取消", "已取消", "dropped", "terminated", "cancelled"),
}
VISIT_KIND_SYNONYMS: dict[str, tuple[str, ...]] = {
    VisitKind.INBOUND: ("来访", "来访考察", "考察", "考察洽谈", "来访洽谈", "来区考察", "inbound", "visit"),
    VisitKind.OUTBOUND: ("外出招商", "外出", "出访", "外出拜访", "拜访", "outbound"),
    VisitKind.MEETING: ("洽谈会", "会议", "座谈", "座谈会", "推介会", "meeting"),
    VisitKind.REMOTE: ("电话/视频", "电话", "视频", "电话会议", "视频会议", "线上", "call", "phone", "video"),
    VisitKind.SIGNING: ("签约仪式", "签约", "signing"),
    VisitKind.AFTERCARE: ("企业走访", "走访", "回访", "走访企业", "aftercare"),
}
TASK_STATUS_SYNONYMS: dict[str, tuple[str, ...]] = {
    TaskStatus.OPEN: ("未完成", "进行中", "待办", "待处理", "跟进中", "未办结", "open", "to do", "pending"),
    TaskStatus.DONE: ("已完成", "完成", "已办结", "办结", "done", "completed", "closed"),
    TaskStatus.CANCELLED: ("已取消", "取消", "cancelled", "canceled"),
}
_STAGES = _vocabulary(STAGE_LABELS, STAGE_SYNONYMS)
_VISIT_KINDS = _vocabulary(VISIT_KIND_LABELS, VISIT_KIND_SYNONYMS)
_TASK_STATUSES = _vocabulary(TASK_STATUS_LABELS, TASK_STATUS_SYNONYMS)


def _choice(raw: Any, words: dict[str, str], labels: dict[Any, str], what: Msg) -> str | Msg | None:
    if is_blank(raw):
        return None
    code = words.get(fold(raw))
    if code is None:
        return Msg("“%(value)s” is not a %(what)s; use one of: %(choices)s.", value=_shown(raw), what=what,
                   choices=_ChoiceList(labels))
    return code


class _ChoiceList(Msg):
    """The names of a list's choices in the reader's language, joined: "线索、接洽、洽谈…" / "Lead, First contact, …"."""

    def __init__(self, labels: dict[Any, str]) -> None:
        super().__init__("")
        object.__setattr__(self, "labels", tuple(labels.values()))

    def translate(self, locale: str) -> str:
        names = [Msg(label).translate(locale) for label in self.labels]  # type: ignore[attr-defined]
        return ("、" if locale.startswith("zh") else ", ").join(names)


def parse_stage(raw: Any) -> str | Msg | None:
    return _choice(raw, _STAGES, STAGE_LABELS, Msg("project stage"))


def parse_visit_kind(raw: Any) -> str | Msg | None:
    return _choice(raw, _VISIT_KINDS, VISIT_KIND_LABELS, Msg("kind of visit"))


def parse_task_status(raw: Any) -> str | Msg | None:
    return _choice(raw, _TASK_STATUSES, TASK_STATUS_LABELS, Msg("follow-up status"))


# ------------------------------------------------------------------------------------------------------ lookups

class Users:
    """The users a cell may name: active business users (the forms' choices), by username or display name."""

    def __init__(self, session: Session) -> None:
        users = session.scalars(select(User).where(User.role.not_in([r.value for r in NON_BUSINESS_ROLES]))
                                .order_by(User.id)).all()
        self.by_username = {fold(u.username): u for u in users}
        self.by_name: dict[str, list[User]] = {}
        for user in users:
            self.by_name.setdefault(fold(user.display_name), []).append(user)

    def find(self, raw: Any) -> User | Msg | None:
        """One user: by username first (unique), else by display name when only one user bears it."""
        if is_blank(raw):
            return None
        key = fold(raw)
        user = self.by_username.get(key)
        if user is None:
            named = self.by_name.get(key, [])
            active = [u for u in named if u.is_active]
            if len(active) > 1:
                return Msg("“%(value)s” is the name of several users: %(candidates)s. Write the username instead.",
                           value=_shown(raw), candidates="、".join(f"{u.display_name} ({u.username})" for u in active))
            user = active[0] if active else (named[0] if named else None)
        if user is None:
            return Msg("There is no user “%(value)s”: write a user's name or username.", value=_shown(raw))
        if not user.is_active:
            return Msg("“%(value)s” is no longer an active user.", value=_shown(raw))
        return user

    def find_all(self, raw: Any) -> list[User] | Msg:
        """Several users in one cell (王芳、李强); a name with spaces that is nobody's is tried word by word."""
        found: list[User] = []
        for name in split_names(raw):
            user = self.find(name)
            if isinstance(user, Msg) and " " in name.strip():
                parts = [self.find(part) for part in name.split()]
                if not any(isinstance(p, Msg) for p in parts):
                    found.extend(p for p in parts if isinstance(p, User))
                    continue
            if isinstance(user, Msg):
                return user
            if user is not None and user not in found:
                found.append(user)
        return found


_CHAIN_SUFFIXES = ("产业链", "产业", "industrychain", "industry", "chain")


def _chain_key(value: Any) -> str:
    text = fold(value)
    for suffix in _CHAIN_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


class Chains:
    """The industry chains, by Chinese or English name or code (新能源, 新能源产业链, New energy, new_energy)."""

    def __init__(self, session: Session) -> None:
        self.chains = session.scalars(select(IndustryChain).order_by(IndustryChain.sort_order, IndustryChain.id)).all()
        self.by_key: dict[str, IndustryChain] = {}
        for chain in self.chains:
            for spelling in (chain.code, chain.name_zh, chain.name_en):
                self.by_key.setdefault(_chain_key(spelling), chain)

    def find(self, raw: Any) -> IndustryChain | Msg | None:
        if is_blank(raw):
            return None
        chain = self.by_key.get(_chain_key(raw))
        if chain is None:
            return Msg("“%(value)s” is not one of the zone's industry chains: %(choices)s.", value=_shown(raw),
                       choices="、".join(c.name_zh for c in self.chains if c.is_active))
        return chain


# ------------------------------------------------------------------------------------------------------ as field parsers
# The same parsers in the shape an import kind's Field takes (crm/imports/kinds/base.py): `parser(cell, ctx)`,
# never called with a blank cell, returning the value or raising ValueProblem. Lookups are cached in ctx.cache for
# one pass over the file.

_FRAMEWORK_UNITS = {"yuan": ("yuan", "usd"), "wan": ("wan_cny", "wan_usd"), "yi": ("yi_cny", "yi_usd")}


def _raise(result: Any) -> Any:
    if isinstance(result, Msg):
        from crm.imports.kinds.base import ValueProblem

        raise ValueProblem(result)
    return result


def column_unit(ctx: Any, currency: str = "CNY") -> Unit | None:
    """The unit the mapping step settled for the column being read (ctx.unit: "yuan" | "wan" | "yi")."""
    codes = _FRAMEWORK_UNITS.get(ctx.unit or "")
    return UNITS[codes[0 if currency == "CNY" else 1]] if codes else None


def amount(value: Any, ctx: Any) -> Decimal:
    """万元, from a column in 元, 万元 or 亿元."""
    from crm.projects.schemas import MAX_INVESTMENT_WAN_CNY

    return _raise(parse_amount(value, column_unit(ctx), maximum=MAX_INVESTMENT_WAN_CNY))


def amount_usd(value: Any, ctx: Any) -> Decimal:
    """万美元, from a column in 美元, 万美元 or 亿美元."""
    from crm.projects.schemas import MAX_FOREIGN_WAN_USD

    return _raise(parse_amount(value, column_unit(ctx, "USD"), currency="USD", maximum=MAX_FOREIGN_WAN_USD))


def day(value: Any, ctx: Any) -> date:
    return _raise(parse_date(value))


def moment(value: Any, ctx: Any) -> datetime:
    return _raise(parse_datetime(value))


def clock(value: Any, ctx: Any) -> time:
    return _raise(parse_time(value))


def yes_no(value: Any, ctx: Any) -> bool:
    return _raise(parse_bool(value))


def stage(value: Any, ctx: Any) -> str:
    return _raise(parse_stage(value))


def visit_kind(value: Any, ctx: Any) -> str:
    return _raise(parse_visit_kind(value))


def task_status(value: Any, ctx: Any) -> str:
    return _raise(parse_task_status(value))


def _users(ctx: Any) -> Users:
    if "values.users" not in ctx.cache:
        ctx.cache["values.users"] = Users(ctx.session)
    return ctx.cache["values.users"]


def officer(value: Any, ctx: Any) -> int:
    """A user's id, from their username or display name."""
    return _raise(_users(ctx).find(value)).id


def officers(value: Any, ctx: Any) -> list[int]:
    """Several users' ids from one cell (王芳、李强)."""
    return [u.id for u in _raise(_users(ctx).find_all(value))]


def chain(value: Any, ctx: Any) -> int:
    if "values.chains" not in ctx.cache:
        ctx.cache["values.chains"] = Chains(ctx.session)
    return _raise(ctx.cache["values.chains"].find(value)).id


def names(value: Any, ctx: Any) -> list[str]:
    """Several names in one cell, split on 、，,；;/ and line breaks."""
    return split_names(value)


def choice(labels: dict[Any, str], what: Msg, synonyms: dict[str, Iterable[str]] | None = None):
    """A field parser for one of a list's codes: by code, by label in either language, or by a synonym."""
    words = _vocabulary(labels, synonyms or {})

    def parse(value: Any, ctx: Any) -> str:
        return _raise(_choice(value, words, labels, what))

    return parse


def chains(value: Any, ctx: Any) -> list[int]:
    """Several industry chains in one cell (新能源、新材料)."""
    return [chain(name, ctx) for name in split_names(value)]
