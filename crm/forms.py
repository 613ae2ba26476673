"""Form parsing: every field's raw value kept for re-rendering, cleaned values, and an error per field."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm.i18n import Msg
from crm.validators import CONTROL_RE, LINE_CONTROL_RE, as_id, control_characters

Check = Callable[[str], Msg | None]


@dataclass
class Field:
    name: str
    label: str  # message id, translated when rendered
    required: bool = False
    max_length: int = 200
    checks: Sequence[Check] = ()
    normalize: Callable[[str], str] | None = None
    choices: Sequence[str] | None = None  # allowed values, when the field is a choice
    integer: bool = False
    multiline: bool = False

    def clean(self, raw: str) -> tuple[Any, Msg | None]:
        value = raw.strip() if not self.multiline else raw.replace("\r\n", "\n").strip()
        if (CONTROL_RE if self.multiline else LINE_CONTROL_RE).search(value):
            return value, control_characters()
        if self.normalize and value:
            value = self.normalize(value)
        if not value:
            if self.required:
                return value, Msg("This field is required.")
            return (None if self.integer else ""), None
        if len(value) > self.max_length:
            return value, Msg(
                "At most %(max)s characters (you entered %(n)s).", max=self.max_length, n=len(value)
            )
        if self.choices is not None and value not in self.choices:
            return value, Msg("Choose one of the listed options.")
        if self.integer:
            number = as_id(value)
            if number is None:
                return value, Msg("Choose one of the listed options.")
            return number, None
        for check in self.checks:
            error = check(value)
            if error:
                return value, error
        return value, None


@dataclass
class FormResult:
    values: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Msg] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, name: str, message: Msg) -> None:
        self.errors.setdefault(name, message)


def parse(fields: Sequence[Field], form: Mapping[str, Any]) -> FormResult:
    result = FormResult()
    for f in fields:
        raw = unchecked(form, f.name)  # a value with control characters is shown beside its field, not refused
        raw = raw if isinstance(raw, str) else ""
        result.values[f.name] = raw
        value, error = f.clean(raw)
        if error:
            result.errors[f.name] = error
        else:
            result.data[f.name] = value
    return result


def unchecked(form: Mapping[str, Any], name: str) -> Any:
    """The posted value as sent, even when it holds characters the form parser refuses (crm.web.CheckedForm raises
    400 on reading such a value any other way): for code that shows the problem beside the field itself."""
    reader = getattr(form, "unchecked", None)
    return reader(name) if reader is not None else form.get(name, "")


def parse_version(form: Mapping[str, Any]) -> int | None:
    raw = form.get("version", "")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) <= 9 else None
