"""The API reference at /api/docs (issue 15) in a real browser: every operation of the OpenAPI document is listed,
the strict policy refuses nothing on it, and on a 375-px phone nothing is wider than the screen."""

from __future__ import annotations

import pytest

from tests import factories
from tests.e2e.test_csp_browser import LISTEN
from tests.e2e.test_organizations_browser import sign_in

pytestmark = pytest.mark.e2e


def test_the_api_reference_lists_every_operation_and_fits_a_phone(new_page, db):
    with db.write_sessions() as s:
        factories.make_user(s, username="officer", display_name="张晓明")
    page = new_page(width=375, height=800)
    page.context.add_init_script(LISTEN)
    sign_in(page, "officer")
    document = page.request.get("/api/v1/openapi.json").json()
    page.goto("/api/docs")
    page.wait_for_load_state("networkidle")
    listed = set(page.locator(".api-index code").all_inner_texts())
    wanted = {f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations}
    assert wanted <= listed, wanted - listed
    assert {"PUT /export-members/{organization_id}/figures/{year}/{month}",
            "POST /projects/{project_id}/decisions"} <= listed
    assert page.evaluate("window.__violations") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
