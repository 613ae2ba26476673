"""Issue 13: every form field and query parameter of the app, sent hostile values, as a manager and as an officer,
on both databases: no answer is a 5xx, and markup is never echoed unescaped.

What is sent where: the app's routes (`app.routes` and every included router) are matched against the pages a
crawl of the demo zone reaches from the dashboard, which gives each route real ids and each form its field names
(inputs, selects, textareas, hidden fields, from the rendered page). Routes no crawled URL or form reaches are
sent with their path parameters filled from the crawl (or 1) and a few common field names. Values: NUL, C0 and C1
controls, 100,000 characters, `<script>` markup, odd Unicode (RTL override, zero-width joiner, emoji, a lone
surrogate percent-encoded, U+FFFF, a CJK Extension B character) and bytes that are not UTF-8. Each form and
parameter list gets every value once on all its fields together, and each field one more value of its own,
chosen by a seeded random generator (the seed is printed on failure with what was sent), so a run stays well
under a minute per database."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote_plus, urljoin, urlsplit

from fastapi.routing import APIRoute
from starlette.routing import Match

from crm import demo
from tests.conftest import login

SEED = 20261206
MARKUP = "<script>alert(1)</script>"
VALUES: dict[str, str | bytes] = {
    "nul": "a\x00b",
    "c0": "a\x01\x08\x0b\x1b\x7fb",
    "c1": "a\x85\x9bb",
    "long": "长" * 100_000,
    "markup": MARKUP,
    "attribute": '"><img src=x onerror=alert(1)>',
    "rtl": "abc\u202etxt.exe",
    "zwj": "👨\u200d👩\u200d👧",
    "emoji": "🏭💰",
    "lone_surrogate": b"%ED%A0%80",  # already percent-encoded: a surrogate cannot be UTF-8
    "uffff": "a\uffffb",
    "ext_b": "𠀀𪚥",
    "not_utf8": b"%FF%FE%C3%28",
}
# A URL holds at most 64 KB in the test client (servers refuse long request lines sooner: uvicorn's h11 at 16 KB),
# so query strings carry 600 characters instead (5.4 KB encoded, as many as ten parameters in one URL).
URL_LONG = "长" * 600
# Sent on all of a form's fields at once (each field also gets one value of its own, the long one included).
ALL_FIELDS_VALUES = ("nul", "c1", "markup", "attribute", "lone_surrogate", "not_utf8")
SKIPPED_PATHS = ("/logout",)  # signing out ends the run's session; it takes no fields
SKIPPED_WORDS = ("sign-out", "signout", "logout", "sessions/end", "end-all", "everywhere")
DOWNLOAD = re.compile(r"\.(xlsx|csv|pdf|ics|png|jpg)$|/download$|/thumbnail$")
MAX_PAGES = 160


@dataclass
class Form:
    action: str
    method: str
    multipart: bool
    fields: list[tuple[str, str]] = field(default_factory=list)  # in page order, with the page's values


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag != "form" and a.get("hx-get"):
            self.links.append(a["hx-get"])
        if tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = a.get("value", "")
            return
        if tag == "form":
            self._form = Form(action=a.get("action") or a.get("hx-post") or a.get("hx-get") or "",
                              method=(a.get("method") or ("post" if a.get("hx-post") else "get")).lower(),
                              multipart="multipart" in (a.get("enctype") or ""))
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                if a.get("value"):
                    self._form.fields.append((a["name"], a["value"]))
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form.fields.append((a["name"], ""))
                return
            self._form.fields.append((a["name"], a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "button" and a.get("value"):
            self._form.fields.append((a["name"], a["value"]))
        elif tag == "select":
            self._select, self._select_value = a["name"], None
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form.fields.append((a["name"], ""))

    def handle_data(self, data):
        if self._textarea and self._form and self._form.fields and self._form.fields[-1][0] == self._textarea:
            name, value = self._form.fields[-1]
            self._form.fields[-1] = (name, value + data)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select and self._form is not None:
            self._form.fields.append((self._select, self._select_value or ""))
            self._select = None


def _all_routes(app) -> list[APIRoute]:
    from crm.main import PUBLIC_ROUTERS, SIGNED_IN_ROUTERS

    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    for router in (*PUBLIC_ROUTERS, *SIGNED_IN_ROUTERS):
        routes.extend(r for r in router.routes if isinstance(r, APIRoute))
    return routes


def _route_of(routes: list[APIRoute], method: str, path: str) -> APIRoute | None:
    scope = {"type": "http", "method": method.upper(), "path": path, "root_path": ""}
    for route in routes:
        match, _child = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


def _encode(value: str | bytes, *, in_url: bool = False) -> str:
    if in_url and value == VALUES["long"]:
        value = URL_LONG
    if isinstance(value, bytes):  # sent as it is: percent-encoded bytes
        return value.decode("ascii")
    return quote_plus(value.encode("utf-8", "surrogatepass"))


def _body(pairs: list[tuple[str, str | bytes]], *, in_url: bool = False) -> str:
    return "&".join(f"{quote_plus(name)}={_encode(value, in_url=in_url)}" for name, value in pairs)


def _crawl(client, routes) -> tuple[dict[str, tuple[str, set[str]]], list[tuple[APIRoute, Form, str]]]:
    """Breadth first from the main pages, one page per route: {route path: (a URL of it, every query parameter
    name seen on links to it)}, and the forms found, with the URL of the page they were on."""
    pages: dict[str, tuple[str, set[str]]] = {}
    forms: dict[tuple, tuple[APIRoute, Form, str]] = {}
    queue = ["/", "/organizations", "/projects", "/visits", "/contacts", "/tasks", "/admin/users"]
    while queue and len(pages) < MAX_PAGES:
        url = queue.pop(0)
        parts = urlsplit(url)
        route = _route_of(routes, "GET", parts.path)
        if route is None or DOWNLOAD.search(parts.path):
            continue
        names = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
        if route.path in pages:
            pages[route.path][1].update(names)
            continue
        pages[route.path] = (url, names)
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        parser = _PageParser()
        parser.feed(response.text)
        for href in parser.links:
            target_parts = urlsplit(urljoin(url, href))
            if target_parts.netloc not in ("", "testserver") or not target_parts.path.startswith("/"):
                continue
            target = target_parts.path + (f"?{target_parts.query}" if target_parts.query else "")
            if not any(word in target for word in SKIPPED_WORDS):
                queue.append(target)
        for form in parser.forms:
            action_parts = urlsplit(urljoin(url, form.action) if form.action else url)
            form.action = action_parts.path + (f"?{action_parts.query}" if action_parts.query else "")
            form_route = _route_of(routes, form.method, action_parts.path)
            if form_route is None or action_parts.path in SKIPPED_PATHS or any(w in form.action for w in SKIPPED_WORDS):
                continue
            form_key = (form.method, form_route.path, tuple(sorted({n for n, _ in form.fields})))
            forms.setdefault(form_key, (form_route, form, url))
            if form.method == "get":
                queue.append(f"{action_parts.path}?" + "&".join(f"{quote_plus(n)}=" for n, _ in form.fields))
    return pages, list(forms.values())


class _Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, response, what: str) -> None:
        if response.status_code >= 500:
            self.items.append(f"{response.status_code} for {what}")
        elif "text/html" in response.headers.get("content-type", "") and (
                MARKUP in response.text or VALUES["attribute"] in response.text):
            self.items.append(f"markup echoed unescaped for {what}")


def _fill(path_template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", lambda m: ids.get(m.group(1), "1"), path_template)


def _fuzz_as(client, app, username: str, rng: random.Random, failures: _Failures, deadline: float) -> int:
    """Requests sent; stops sending where `deadline` (time.monotonic()) passes, which the forms' order decides."""
    login(client, username, demo.DEMO_PASSWORD)
    routes = _all_routes(app)
    crawl_started = time.monotonic()
    pages, forms = _crawl(client, routes)
    print(f"crawl as {username}: {len(pages)} pages, {len(forms)} forms in {time.monotonic() - crawl_started:.1f} s")
    names = list(VALUES)
    sent = 0

    # Path parameter values seen in crawled URLs, by name, to reach routes the crawl did not.
    ids: dict[str, str] = {}
    for url, _names in pages.values():
        path = urlsplit(url).path
        route = _route_of(routes, "GET", path)
        if route is not None:
            _match, child = route.matches({"type": "http", "method": "GET", "path": path, "root_path": ""})
            for name, value in child.get("path_params", {}).items():
                ids.setdefault(name, str(value))

    def get(url: str, what: str) -> None:
        nonlocal sent
        htmx = rng.random() < 0.5  # half as htmx asks: the fragment alone
        response = client.get(url, headers={"HX-Request": "true"} if htmx else None)
        what += ", htmx" if htmx else ""
        sent += 1
        failures.check(response, f"{username}: GET {url[:300]} ({what})")
        if response.headers.get("location", "").startswith("/login"):
            login(client, username, demo.DEMO_PASSWORD)

    def post(url: str, pairs: list[tuple[str, str | bytes]], what: str, multipart: bool = False) -> None:
        nonlocal sent
        pairs = [(n, v) for n, v in pairs if n != "csrf_token"] + [("csrf_token", client.csrf)]
        if multipart:
            data = {n: v for n, v in pairs if isinstance(v, str) and "\ud800" not in v}
            filename = next((v for n, v in pairs if isinstance(v, str) and n != "csrf_token"), "x.png")
            response = client.post(url, data=data, files={"file": (filename[:300] or "x.png", b"\x89PNG\r\n")})
        else:
            response = client.post(url, content=_body(pairs).encode("ascii"),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        sent += 1
        failures.check(response, f"{username}: POST {url} ({what}): "
                                 f"{[(n, v if len(v) < 80 else f'{v[:20]!r}… {len(v)} long') for n, v in pairs]}")
        if response.headers.get("location", "").startswith("/login"):
            login(client, username, demo.DEMO_PASSWORD)

    # Query parameters: every value on all of a page's parameters, then each parameter a value of its own; plus
    # the parameters the page's own GET forms name.
    page_list = list(pages.items())
    rng.shuffle(page_list)
    query_deadline = time.monotonic() + (deadline - time.monotonic()) * 0.4
    for _route_path, (url, query_names) in page_list:
        path = urlsplit(url).path
        params = sorted(query_names | {"q", "page", "sort"})
        for value_name in rng.sample(names, 4):
            value = VALUES[value_name]
            get(f"{path}?" + "&".join(f"{quote_plus(p)}={_encode(value, in_url=True)}" for p in params), value_name)
        for p in params:
            value_name = rng.choice(names)
            get(f"{path}?{quote_plus(p)}={_encode(VALUES[value_name], in_url=True)}", f"{p}={value_name}")
        if time.monotonic() > query_deadline:
            break

    # Forms: every value on all fields together (the long one on one field at a time: a form of 30 fields of
    # 100,000 characters each says nothing more), then each field one value of its own, the others as the page
    # filled them.
    covered = set()
    rng.shuffle(forms)
    for route, form, _page in forms:
        covered.add((form.method.upper(), route.path))
        fields = [(n, v) for n, v in form.fields if n != "csrf_token"]
        if not fields:
            continue
        send = post if form.method == "post" else None
        for value_name in ALL_FIELDS_VALUES:
            value = VALUES[value_name]
            pairs = [(n, value) for n, _ in fields]
            if send:
                send(form.action, pairs, f"all fields = {value_name}", form.multipart and value_name in ("nul", "c1", "markup"))
            else:
                get(f"{urlsplit(form.action).path}?{_body(pairs, in_url=True)}", f"all fields = {value_name}")
        for index, (name, _value) in enumerate(fields):
            value_name = rng.choice(names)
            pairs = list(fields)
            pairs[index] = (name, VALUES[value_name])
            if send:
                send(form.action, pairs, f"{name} = {value_name}")
            else:
                get(f"{urlsplit(form.action).path}?{_body(pairs, in_url=True)}", f"{name} = {value_name}")
        if time.monotonic() > deadline:
            break

    # Routes neither the crawl nor a form reached: their path filled in, a few common names.
    for route in routes:
        for method in route.methods - {"HEAD"}:
            if (method, route.path) in covered or route.path in SKIPPED_PATHS or route.path.startswith("/login"):
                continue
            if any(word in route.path for word in SKIPPED_WORDS):
                continue
            url = _fill(route.path, ids)
            value_name = rng.choice(names)
            value = VALUES[value_name]
            if method == "GET":
                if route.path not in pages:
                    get(f"{url}?q={_encode(value, in_url=True)}&name={_encode(value, in_url=True)}", value_name)
            else:
                post(url, [("name", value), ("note", value), ("version", value), ("q", value)], value_name)
    return sent


def test_no_field_or_parameter_answers_5xx_or_echoes_markup(client, other_client, app, session):
    """As the manager, then as an officer (who sees less, and is refused more)."""
    demo.load(session, anchor=date(2026, 12, 6))
    session.commit()
    failures = _Failures()
    total = 0
    for username, browser, seconds in (("manager", client, 28.0), ("officer", other_client, 14.0)):
        rng = random.Random(f"{SEED}-{username}")
        started = time.monotonic()
        sent = _fuzz_as(browser, app, username, rng, failures, started + seconds)
        print(f"fuzz as {username}: {sent} requests in {time.monotonic() - started:.1f} s (seed {SEED})")
        assert sent > 200, username
        total += sent
    assert not failures.items, f"seed {SEED}, {len(failures.items)} failures:\n" + "\n".join(failures.items[:40])
