"""Pydantic's refusals of a request's JSON types (a text where a number belongs, an unknown field, a list too long…)
as our own messages, in the token user's language, each at its JSON pointer. The checks of a field's content are
the pages' own (crm.api.common.parsed); these are only the types and ranges the OpenAPI document promises."""

from __future__ import annotations

import re
from typing import Any

from crm.i18n import Msg

# A union's member ("str", "int", "float", "list[int]", "function-after[...]"…) that pydantic adds to an error's
# location when it tried each member of `str | int | float`: not part of the JSON pointer.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|decimal|date|datetime|none|list\[.*\]|dict\[.*\]|"
                           r"function-\w+\[.*\]|constrained-\w+|lax-\w+\[.*\]|json-or-python\[.*\])$")

WRONG_TYPE = Msg("This value has the wrong type: see the field's type in the API reference.")
INVALID = Msg("This value is not valid.")

_MESSAGES: dict[str, Msg] = {
    "missing": Msg("This field is required."),
    "extra_forbidden": Msg("This field is not part of this request: leave it out."),
    "int_type": Msg("Enter a whole number."),
    "int_parsing": Msg("Enter a whole number."),
    "int_from_float": Msg("Enter a whole number."),
    "float_type": Msg("Enter a number."),
    "float_parsing": Msg("Enter a number."),
    "finite_number": Msg("Enter a number."),
    "decimal_type": Msg("Enter a number."),
    "decimal_parsing": Msg("Enter a number."),
    "string_type": Msg("Enter text (a JSON string)."),
    "string_unicode": Msg("Enter text (a JSON string)."),
    "bool_type": Msg("Send true or false."),
    "bool_parsing": Msg("Send true or false."),
    "list_type": Msg("Send a list (a JSON array)."),
    "model_type": Msg("Send a JSON object."),
    "model_attributes_type": Msg("Send a JSON object."),
    "dict_type": Msg("Send a JSON object."),
    "json_invalid": Msg("The request body is not valid JSON."),
    "json_type": Msg("The request body is not valid JSON."),
    "literal_error": Msg("Choose one of the listed options."),
    "enum": Msg("Choose one of the listed options."),
    "date_type": Msg("Enter a date as YYYY-MM-DD."),
    "date_parsing": Msg("Enter a date as YYYY-MM-DD."),
    "date_from_datetime_parsing": Msg("Enter a date as YYYY-MM-DD."),
    "string_pattern_mismatch": Msg("This value is not in the expected form."),
}


def _with_context(kind: str, ctx: dict[str, Any]) -> Msg | None:
    """The errors whose message names a limit (from pydantic's ctx)."""
    if kind == "less_than_equal":
        return Msg("Enter a number no larger than %(limit)s.", limit=str(ctx.get("le", "")))
    if kind == "less_than":
        return Msg("Enter a number smaller than %(limit)s.", limit=str(ctx.get("lt", "")))
    if kind == "greater_than_equal":
        return Msg("Enter a number no smaller than %(limit)s.", limit=str(ctx.get("ge", "")))
    if kind == "greater_than":
        return Msg("Enter a number larger than %(limit)s.", limit=str(ctx.get("gt", "")))
    if kind == "string_too_long":
        return Msg("At most %(max)s characters.", max=str(ctx.get("max_length", "")))
    if kind == "string_too_short":
        return Msg("At least %(min)s characters.", min=str(ctx.get("min_length", "")))
    if kind == "too_long":
        return Msg("At most %(max)s items (you sent %(n)s).", max=str(ctx.get("max_length", "")),
                   n=str(ctx.get("actual_length", "")))
    if kind == "too_short":
        return Msg("At least %(min)s items (you sent %(n)s).", min=str(ctx.get("min_length", "")),
                   n=str(ctx.get("actual_length", "")))
    return None


def message_for(error: dict[str, Any]) -> Msg:
    kind = str(error.get("type", ""))
    return _with_context(kind, error.get("ctx") or {}) or _MESSAGES.get(kind, INVALID)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def field_errors(errors: list[dict[str, Any]]) -> tuple[bool, list[dict[str, Any]]]:
    """(whether a path parameter was refused, [{pointer, detail: Msg}]): one error per pointer; a value refused by
    every member of a union (`"1" | 1 | 1.0`) is one wrong-type error at the field, not one per member."""
    in_path = False
    found: dict[str, list[Msg]] = {}
    for err in errors:
        loc = [part for part in err.get("loc", ())]
        where = str(loc[0]) if loc else ""
        in_path = in_path or where == "path"
        rest = [str(part) for part in loc[1:] if isinstance(part, int) or not _UNION_MEMBER.match(str(part))]
        union = len(rest) != len(loc) - 1
        if str(err.get("type", "")).startswith("json_"):  # its location is a position in the text, not a field
            rest = []
        if where == "body":
            pointer = "/" + "/".join(_escape(part) for part in rest) if rest else ""
        else:
            pointer = f"#/{where}/" + "/".join(_escape(part) for part in rest)
        message = message_for(err)
        if where == "body" and not rest and not str(err.get("type", "")).startswith("json_"):
            message = Msg("Send a JSON object as the request body.")
        found.setdefault(pointer, []).append(WRONG_TYPE if union else message)
    return in_path, [{"pointer": pointer, "detail": messages[0]} for pointer, messages in found.items()]
