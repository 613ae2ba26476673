"""The REST API against a real `crm serve` process (issue 15). Property-based checks from its own OpenAPI document (issue 15): Schemathesis generates requests
for every operation — valid and invalid ones — and sends them to a real `crm serve` process on the test's
database (SQLite and PostgreSQL) with a read token (GETs) and a write token (the rest). Not one answer may be a
5xx, and not one may contradict the document: an undeclared status code, content type or header, or a body its
schema does not describe.

Each operation is tried with generated ids and with the ids of existing records (tests/api_world.py), and the
changes also with `If-Match: *`, so that the 200/201 answers are checked too, not only the 404s and 428s. In the
suite the number of examples is small and fixed (derandomized: the same requests every run); `make api-fuzz` runs
the same test with CRM_API_FUZZ_EXAMPLES=100 and prints what it sent and what came back.

Also the worked examples of docs/api.md (docs/examples/): the mirror script run as a user would, and the webhook
receiver's check against the CRM's own signature, so that neither can rot.
"""

from __future__ import annotations

import json
import os
import runpy
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.webhooks.service import sign
from tests import api_world
from tests.server_process import ROOT, ServerProcess, module_server

EXAMPLES = int(os.environ.get("CRM_API_FUZZ_EXAMPLES", "3"))
# An officer's token is refused (403) there: parcels, events, indicator values and decisions are managers' to change.
MANAGERS_CHANGE = ("/parcels", "/groundbreaking-events", "/indicators", "/projects/{project_id}/decisions")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory) -> Iterator[ServerProcess]:
    yield from module_server(database_url, tmp_path_factory.mktemp("api"), workers=1, refused=("Traceback",))


@pytest.fixture
def served(server, session, users) -> tuple[ServerProcess, api_world.World]:
    return server, api_world.build(session, users)


def test_every_operation_answers_as_its_document_says(served):
    server, world = served
    base = f"http://127.0.0.1:{server.port}/api/v1"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    sent: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, [op.label for op in operations]

    for operation in operations:
        token = world.read if operation.method.upper() == "GET" else world.write
        if token == world.write and operation.path.startswith(MANAGERS_CHANGE):
            token = world.manager_write
        changes = operation.method.upper() in ("PATCH", "PUT", "DELETE")
        known = api_world.path_ids(world, operation.path)
        strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known,
                                                    headers={"If-Match": "*"} if changes else None))

        for strategy in strategies:
            _run(strategy, base=base, label=operation.label, token=token, sent=sent, failures=failures)

    if os.environ.get("CRM_API_FUZZ_EXAMPLES"):  # make api-fuzz: what was sent, by operation and status
        by_operation: dict[str, Counter[int]] = {}
        for (label, status), n in sorted(sent.items()):
            by_operation.setdefault(label, Counter())[status] += n
        print(f"\n{sum(sent.values())} requests to {len(operations)} operations, {len(failures)} failures")
        for label, statuses in by_operation.items():
            print(f"  {label:<55} " + ", ".join(f"{status}×{n}" for status, n in sorted(statuses.items())))
    assert not failures, "\n\n".join(failures[:10]) + f"\n\n({len(failures)} failures in all)"


def _run(strategy, *, base: str, label: str, token: str, sent: Counter, failures: list[str]) -> None:
    """Hypothesis sends the strategy's examples; a failing one is shrunk to its simplest form and noted, and the
    next operation is tried, so that one run lists every failure."""
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=strategy)
    def call(case) -> None:
        response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"})
        sent[(label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        call()
    except BaseException as failure:  # Schemathesis' FailureGroup is a BaseExceptionGroup
        if isinstance(failure, KeyboardInterrupt | SystemExit):
            raise
        failures.append(f"{label}: {failure}"[:3000])

def test_the_worked_examples_work(served, tmp_path, monkeypatch):
    server, world = served
    documented = (ROOT / "docs/api.md").read_text()
    for example in ("mirror_projects.py", "webhook_receiver.py"):  # docs/api.md shows the files as they are
        assert (ROOT / "docs/examples" / example).read_text() in documented, example
    mirror = tmp_path / "mirror.sqlite3"
    env = {**os.environ, "CRM_URL": f"http://127.0.0.1:{server.port}", "CRM_TOKEN": world.read}

    def run_mirror() -> str:
        done = subprocess.run([sys.executable, str(ROOT / "docs/examples/mirror_projects.py"), str(mirror)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "2 project(s) stored, 2 in the mirror" in run_mirror()
    write = {"Authorization": f"Bearer {world.write}"}
    url = f"http://127.0.0.1:{server.port}/api/v1/projects/{world.ids['project_id']}"
    version = _call("GET", url, write).headers["etag"]
    changed = _call("PATCH", url, {**write, "If-Match": version, "Content-Type": "application/json"},
                    json.dumps({"name": "华鑫新材料产业园二期项目"}).encode())
    assert changed.status == 200
    assert "2 in the mirror" in run_mirror()
    with sqlite3.connect(mirror) as db:
        assert db.execute("SELECT name FROM project WHERE id = ?", (world.ids["project_id"],)).fetchone() == (
            "华鑫新材料产业园二期项目",)

    monkeypatch.setenv("WEBHOOK_SECRET", "whsec_example")
    receiver = runpy.run_path(str(ROOT / "docs/examples/webhook_receiver.py"))
    body, now = b'{"event":"ping","data":{}}', int(time.time())
    assert receiver["verified"](sign("whsec_example", now, body), body)
    assert not receiver["verified"](sign("whsec_example", now, body), body + b" ")
    assert not receiver["verified"](sign("whsec_other", now, body), body)
    assert not receiver["verified"](sign("whsec_example", now - 600, body), body)


def _call(method: str, url: str, headers: dict[str, str], body: bytes | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method=method)) as response:
        response.read()
        return response


def test_what_the_full_run_found_stays_fixed(client, session, users):
    """Failures `make api-fuzz` found (reports: api_bugs.md), each once: now 4xx problem documents, not 500s."""
    world = api_world.build(session, users)
    read, write = ({"Authorization": f"Bearer {token}"} for token in (world.read, world.write))
    for query in ("updated_since=9999-12-31T23:59:59-23:59", "updated_since=0001-01-01T00:00:00%2B23:59",
                  "cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzIzOjU5IiwxXQ"):  # no UTC time: OverflowError
        answer = client.get(f"/api/v1/projects?{query}", headers=read)
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json", query
    huge = client.patch(f"/api/v1/visits/{world.ids['visit_id']}", headers={**write, "If-Match": "*"},
                        json={"host_ids": [2**40]})  # beyond the databases' integers
    assert huge.status_code == 422 and huge.json()["errors"][0]["pointer"] == "/host_ids/0"
