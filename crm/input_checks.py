"""The one place user input enters as text: the form parser and the query-string check.

Every posted form goes through `parse_form` (`crm.web.form_data`, which the CSRF check and every route's `FormDep`
call), every request through `checked_scope` (run by the app's one ASGI layer, crm/front.py), so no route can
forget either:
- bytes are decoded strictly as UTF-8: invalid bytes are refused with a 400 and a message, never turned into
  Latin-1 mojibake or U+FFFD (Starlette's own parsers do both);
- NUL, the other C0 controls (tab, newline and carriage return are allowed in form values), DEL, the C1 controls and
  lone surrogates (`crm.validators.CONTROL_RE`) are refused with one message. A form value holding one is refused
  when it is read (`CheckedForm`), except by `crm.forms.parse`, which shows the message beside the field; a query
  parameter holding one is refused with the error page, except the search boxes' text, which is cleaned of them;
- header values lose their control bytes (a server in front refuses them anyway; the test client does not).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus, unquote_to_bytes

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.types import Scope

from crm.errors import BadRequest
from crm.i18n import Msg
from crm.validators import CONTROL_RE, LINE_CONTROL_RE, control_characters

# Query parameters that are search-box text: cleaned of control characters rather than refused.
SEARCH_PARAMETERS = frozenset({"q", "org_q", "organization_q"})
_HEADER_CONTROLS = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class InvalidInput(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


def not_utf8_form() -> Msg:
    return Msg("The form was not sent as UTF-8 text, so it cannot be read. Reload the page and send it again.")


def not_utf8_address() -> Msg:
    return Msg("The address holds bytes that are not UTF-8 text. Check the link, or go back and try again.")


def _utf8(data: bytes | bytearray, message: Msg) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(message) from None


def _unquote_plus(data: bytes | bytearray, message: Msg) -> str:
    return _utf8(unquote_to_bytes(bytes(data).replace(b"+", b" ")), message)


# Forms

class CheckedForm(FormData):
    """The posted form. Reading a value that holds control characters (by `form[name]`, `.get`, `.getlist`,
    iterating values) raises BadRequest (400, the control-character message): a route that reads a value without a
    Field cannot store it. `unchecked(name)` gives the value as sent, for `crm.forms.parse`, which refuses it beside
    its field (422)."""

    def __init__(self, items: list[tuple[str, str | UploadFile]]) -> None:
        super().__init__(items)
        self._refused = {name for name, value in items if isinstance(value, str) and CONTROL_RE.search(value)}

    def _check(self, name: Any) -> None:
        if name in self._refused:
            raise BadRequest(control_characters())

    def __getitem__(self, key: str) -> str | UploadFile:
        self._check(key)
        return super().__getitem__(key)

    def getlist(self, key: Any) -> list[str | UploadFile]:
        self._check(key)
        return super().getlist(key)

    def values(self):  # type: ignore[override]
        for name in self._refused:
            self._check(name)
        return super().values()

    def items(self):  # type: ignore[override]
        for name in self._refused:
            self._check(name)
        return super().items()

    def multi_items(self) -> list[tuple[str, str | UploadFile]]:
        for name in self._refused:
            self._check(name)
        return super().multi_items()

    def unchecked(self, name: str) -> str | UploadFile:
        return self._dict.get(name, "")

    async def close(self) -> None:
        for _name, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()


class _UrlEncodedParser(FormParser):
    def on_field_end(self) -> None:
        self._current_fields += 1
        if self._current_fields > self.max_fields:
            raise MultiPartException(f"Too many fields. Maximum number of fields is {self.max_fields}.")
        self._items.append((_unquote_plus(self._field_name, not_utf8_form()),
                            _unquote_plus(self._field_value, not_utf8_form())))


class _MultiPartParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._current_part.content_disposition)
        for key in (b"name", b"filename"):
            if key in options:
                _utf8(options[key], not_utf8_form())
        super().on_headers_finished()  # decodes them again, now known to be UTF-8

    def on_part_end(self) -> None:
        if self._current_part.file is None:
            _utf8(self._current_part.data, not_utf8_form())
        super().on_part_end()


def _charset_is_utf8(content_type: str) -> bool:
    _type, params = parse_options_header(content_type)
    charset = params.get(b"charset")
    if not charset:
        return True
    try:
        return codecs.lookup(charset.decode("latin-1")).name == "utf-8"
    except LookupError:
        return False


async def parse_form(request: Request, *, max_files: int, max_fields: int) -> CheckedForm:
    """The request's form, parsed once (kept where Starlette keeps it, so `request.form()` and closing its files at
    the end of the request see the same), decoded strictly as UTF-8, with control-character values marked."""
    cached = request._form
    if isinstance(cached, CheckedForm):
        return cached
    content_type = request.headers.get("content-type", "")
    kind, _params = parse_options_header(content_type)
    parser_class = {b"multipart/form-data": _MultiPartParser,
                    b"application/x-www-form-urlencoded": _UrlEncodedParser}.get(kind)
    if parser_class is None:
        form = CheckedForm([])
    else:
        if not _charset_is_utf8(content_type):
            raise BadRequest(not_utf8_form())
        options: dict[str, Any] = {"max_fields": max_fields}
        if parser_class is _MultiPartParser:
            options["max_files"] = max_files
        try:
            parsed = await parser_class(request.headers, request.stream(), **options).parse()
        except InvalidInput as bad:
            raise BadRequest(bad.message) from None
        except MultiPartException as exc:
            raise HTTPException(status_code=400, detail=exc.message) from None
        form = CheckedForm(parsed.multi_items())
        bad_names = [name for name, value in form._list
                     if LINE_CONTROL_RE.search(name)
                     or (isinstance(value, UploadFile) and value.filename and CONTROL_RE.search(value.filename))]
        if bad_names:
            await form.close()
            raise BadRequest(control_characters())
    request._form = form
    return form


# Query strings, paths and headers

def _pairs(query: bytes) -> Iterator[tuple[bytes, str, str]]:
    for part in query.split(b"&"):
        if part:
            name, _eq, value = part.partition(b"=")
            yield part, _unquote_plus(name, not_utf8_address()), _unquote_plus(value, not_utf8_address())


def clean_query(query: bytes) -> bytes:
    """The query string with search text cleaned of control characters; InvalidInput for bytes that are not UTF-8
    or a control character in any other parameter."""
    parts: list[bytes] = []
    changed = False
    for raw, name, value in _pairs(query):
        if LINE_CONTROL_RE.search(name):
            raise InvalidInput(control_characters())
        if name in SEARCH_PARAMETERS:
            cleaned = LINE_CONTROL_RE.sub("", value.replace("\t", " ").replace("\n", " ").replace("\r", " "))
            if cleaned != value:
                changed = True
                raw = f"{quote_plus(name)}={quote_plus(cleaned)}".encode("ascii")
        elif LINE_CONTROL_RE.search(value):
            raise InvalidInput(control_characters())
        parts.append(raw)
    return b"&".join(parts) if changed else query


def checked_scope(scope: Scope) -> Scope:
    """The request's scope with its search text cleaned and control bytes stripped from its header values (the same
    scope when nothing needed it); InvalidInput for a path or query string holding bytes that are not UTF-8 or
    control characters. crm.front runs it for every request, inside the session lookup, so the error page (400) is
    in the reader's language."""
    if LINE_CONTROL_RE.search(scope["path"]):
        raise InvalidInput(control_characters())
    query = scope.get("query_string", b"")
    cleaned = clean_query(query) if query else query
    headers = scope.get("headers") or []
    if any(_HEADER_CONTROLS.search(value) for _name, value in headers):
        headers = [(name, _HEADER_CONTROLS.sub(b"", value)) for name, value in headers]
    if cleaned is not query or headers is not scope.get("headers"):
        scope = {**scope, "query_string": cleaned, "headers": headers}
    return scope


def error_page(scope: Scope, message: Msg):
    """The 400 page (or the API's problem document) for a refused path or query string."""
    from crm.web import render  # crm.web imports this module for its form parser

    if scope["path"].startswith("/api/v1/"):  # the API answers in problem details, not pages (crm/api/problems.py)
        from crm.api.problems import problem_response

        return problem_response(400, locale=scope.get("state", {}).get("locale", "zh_CN"), instance=scope["path"],
                                detail=message)
    request = Request({**scope, "query_string": b""})  # the page's own links must not carry the refused query
    return render(request, "errors/error.html", {"status": 400, "message": message}, status_code=400)
