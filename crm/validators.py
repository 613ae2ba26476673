"""Checks of single values. Each returns None when the value is fine, else a Msg saying why."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from crm.i18n import Msg

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
MOBILE_RE = re.compile(r"^(\+?86[ -]?)?1[3-9]\d{9}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,24}(?:(?:ext\.?|转|x)\s?\d{1,6})?$")
WECHAT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{5,19}$")
MAX_ID = 2_147_483_647  # the largest id an INTEGER primary key holds on PostgreSQL


def as_id(raw: object) -> int | None:
    """A record id from user input, or None when it is not one (so it can never overflow a query)."""
    if isinstance(raw, str) and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_ID:
        return int(raw)
    return None


# Characters no text in the CRM may hold: NUL and the other C0 controls (tab, newline and carriage return are
# allowed where text has lines), DEL, the C1 controls U+0080–U+009F, and lone surrogates (never valid Unicode text;
# PostgreSQL refuses NUL outright). The form parser and the query check (crm.input_checks) and every Field use them.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
LINE_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # a one-line value: no tab or line break either


def control_characters() -> Msg:
    """The one message for text holding any of them, wherever it is refused."""
    return Msg("This text contains control characters; please remove them.")


def credit_code_check_char(first17: str) -> str:
    total = sum(CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def check_credit_code(value: str) -> Msg | None:
    """GB 32100-2015: 18 characters from a 31-letter alphabet, the last one a mod-31 check character."""
    if len(value) != 18:
        return Msg("A unified social credit code has exactly 18 characters (this one has %(n)s).", n=len(value))
    bad = [c for c in value if c not in CREDIT_CODE_CHARSET]
    if bad:
        return Msg("“%(char)s” cannot appear in a unified social credit code (I, O, Z, S and V are never used).", char=bad[0])
    if credit_code_check_char(value[:17]) != value[17]:
        return Msg("The check character does not match: please check the code for a typing error.")
    return None


def normalize_credit_code(value: str) -> str:
    return value.strip().upper().replace(" ", "")


def check_email(value: str) -> Msg | None:
    if len(value) > 254 or not EMAIL_RE.match(value):
        return Msg("Enter an e-mail address such as name@example.com.")
    return None


def check_mobile(value: str) -> Msg | None:
    if not MOBILE_RE.match(value.replace(" ", "")):
        return Msg("Enter a mainland mobile number of 11 digits starting with 1, e.g. 13800138000.")
    return None


def check_phone(value: str) -> Msg | None:
    if not PHONE_RE.match(value):
        return Msg("Enter a phone number with digits, spaces, dashes or brackets, e.g. 0530-5310000.")
    return None


def check_wechat(value: str) -> Msg | None:
    if not WECHAT_RE.match(value):
        return Msg("A WeChat ID has 6 to 20 letters, digits, _ or -, and starts with a letter.")
    return None


def check_url(value: str) -> Msg | None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in value:
        return Msg("Enter a web address starting with http:// or https://.")
    return None
