"""Completes FastAPI's OpenAPI document: the Bearer scheme, the problem-details responses every operation can
give, the ETag / If-Match / Idempotency-Key headers, the 3.1 dialect."""

from __future__ import annotations

import copy
from typing import Any

DESCRIPTION = """The zone CRM's records for other systems: the same rules, the same visibility and the same audit
trail as the pages. Authenticate with a personal access token (created at /settings/tokens):
`Authorization: Bearer crm_pat_…`. Lists page with an opaque cursor (`next`), newest changes last, so
`updated_since` plus the `next` links synchronise a copy. Every record carries a `version` and an `ETag`; a change
needs `If-Match` with it (428 without, 412 when someone changed it since); a month's export figure or a period's
indicator value is entered with PUT (If-Match once it is on file). A creating POST with an `Idempotency-Key`
header answers a retry with the first result. Errors are RFC 9457 problem details (`application/problem+json`), field
errors listed by JSON pointer. Requests are limited per token and minute (429 with `Retry-After`)."""

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "examples": ["about:blank"]},
        "title": {"type": "string", "examples": ["Unprocessable content"]},
        "status": {"type": "integer", "examples": [422]},
        "detail": {"type": "string", "examples": ["Some fields need attention."]},
        "instance": {"type": "string", "examples": ["/api/v1/organizations"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string", "description": "A JSON pointer into the request body (\"/name\"), or \"#/query/<name>\" for a query parameter.", "examples": ["/name"]},
                    "detail": {"type": "string", "examples": ["This field is required."]},
                },
            },
        },
        "current_version": {"type": "integer"},
        "current_etag": {"type": "string", "description": "412: the entry's ETag now (entries without a version)"},
    },
}

STATUS_TEXT = {
    "400": "The request is malformed (a filter value, the cursor, a header).",
    "401": "No token, or an unknown, revoked or expired one, or its user is deactivated.",
    "403": "The token's scope or its user's role does not allow this.",
    "404": "No such record, or one the token's user may not see.",
    "409": "Another request with the same Idempotency-Key is being handled.",
    "412": "If-Match names an older version: someone changed the record since.",
    "422": "The body or a parameter is not valid; each field's error by JSON pointer.",
    "428": "If-Match is required to change a record.",
    "429": "The token's per-minute budget is used up; see Retry-After.",
    "503": "The database is busy; nothing was saved. See Retry-After.",
}

RETRY_AFTER = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
ETAG = {"description": "The record's version, quoted: send it back in If-Match to change the record.",
        "schema": {"type": "string", "examples": ['"3"']}}


def _problem(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT[status],
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in ("429", "503"):
        response["headers"] = {"Retry-After": RETRY_AFTER}
    if status == "401":
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def complete(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["openapi"] = "3.1.0"
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "crm_pat_…",
                                                    "description": "A personal access token from /settings/tokens."}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            public = "public" in operation.get("tags", [])
            responses = operation.setdefault("responses", {})
            statuses = ["400", "422", "503"] if public else ["400", "401", "403", "404", "422", "429", "503"]
            if method in ("post", "patch", "put", "delete") and not public:
                statuses += ["409", "412"] if method == "post" else ["412", "428"]
            for status in statuses:
                responses[status] = _problem(status)
            for status, response in responses.items():
                if status.startswith("2") and "{" in path and method in ("get", "patch", "put"):
                    response.setdefault("headers", {})["ETag"] = ETAG
            if public:
                operation["security"] = []
            else:
                operation["security"] = [{"bearerAuth": []}]
            parameters = operation.setdefault("parameters", [])
            if method == "post" and not public and "201" in responses:  # creating: a retry must not create twice
                parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                                   "description": "Any unique string (e.g. a UUID): a retry with the same key and body answers with the first result.",
                                   "schema": {"type": "string", "maxLength": 200}})
            if method in ("patch", "put", "delete") and not public:
                parameters.append({"name": "If-Match", "in": "header", "required": False,
                                   "description": "The record's ETag as last read. Needed to change a record: "
                                                  "without it the answer is 428, with an older one 412.",
                                   "schema": {"type": "string", "examples": ['"3"']}})
            if not parameters:
                operation.pop("parameters")
    return document
