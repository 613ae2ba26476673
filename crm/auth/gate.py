"""Steps a signed-in user must take before any other page: a password to change, a second factor an
administrator must set up. Each module that imposes a step registers a check; current_user() asks them in order
and the first step named wins, so every signed-in route enforces it and none can forget."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from crm.auth.models import User

# A check returns the path of the page where the step is taken, or None when the user owes nothing.
Check = Callable[[Request, User], str | None]

_checks: list[Check] = []

# Always reachable, whatever step is owed: signing out and switching the language.
ALWAYS_ALLOWED = frozenset({"/logout", "/language"})


class AccountStepRequired(Exception):
    """Answered with a redirect to the step's page (HX-Redirect for htmx requests)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def register(check: Check) -> Check:
    if check not in _checks:
        _checks.append(check)
    return check


def required_step(request: Request, user: User) -> str | None:
    """The page the user must go to first, or None. A request to the step's own page (or under it) passes."""
    path = request.url.path
    if path in ALWAYS_ALLOWED:
        return None
    for check in _checks:
        url = check(request, user)
        if url is not None:
            return None if path == url or path.startswith(url.rstrip("/") + "/") else url
    return None
