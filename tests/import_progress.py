"""Following an import's commit or undo to its result: the POST answers at once with the batch's page, which
shows the progress while a thread of the server writes (crm/imports/running.py) and the result when done."""

from __future__ import annotations

import re

from crm.imports import running

PROGRESS = 'id="import-progress"'


def follow(client, response, *, timeout: float = 300.0):
    """`response`: the commit's or undo's answer (303 to the batch's page). Opens that page (progress or, already,
    the result), waits for this process's thread to finish the batch, and returns the result page."""
    assert response.status_code == 303, response.text[-2000:]
    url = response.headers["location"]
    first = client.get(url)
    assert first.status_code == 200, first.text[-2000:]
    if PROGRESS in first.text:  # polls itself; without JavaScript a plain link
        assert f'hx-get="{url}"' in first.text and f'<a href="{url}">' in first.text
    running.shared().wait(int(re.search(r"/imports/(\d+)", url)[1]), timeout=timeout)
    page = client.get(url)
    assert page.status_code == 200 and PROGRESS not in page.text, page.text[-2000:]
    return page
