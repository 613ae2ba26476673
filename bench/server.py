"""The app under test: one uvicorn worker in a subprocess, and the plain HTTP the benchmark needs (sign-in, checks)."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: bytes
    cookies: dict[str, str]


def fetch(port: int, path: str, headers: dict[str, str] | None = None, *, form: dict[str, str] | None = None) -> Reply:
    """One GET (or POST of `form`), redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if form is None:
            conn.request("GET", path, headers=headers or {})
        else:
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
            conn.request("POST", path, body=urlencode(form), headers=headers)
        response = conn.getresponse()
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.get_all("set-cookie") or []:
            jar.load(header)
        return Reply(response.status, response.read(), {name: m.value for name, m in jar.items()})
    finally:
        conn.close()


def check(port: int, path: str, headers: dict[str, str]) -> bytes:
    """A GET that must answer 200: its body, or BenchError saying what came instead."""
    try:
        reply = fetch(port, path, headers)
    except OSError as error:
        raise BenchError(f"GET {path} failed: {error!r}") from error
    if reply.status != 200:
        raise BenchError(f"GET {path} answered {reply.status}, not 200: {reply.body[:300]!r}")
    return reply.body


def sign_in(port: int, username: str, password: str) -> str:
    """Sign in as a browser does; returns the crm_session cookie's value."""
    page = fetch(port, "/login")
    match = CSRF_RE.search(page.body.decode())
    anon = page.cookies.get("crm_anon")
    if page.status != 200 or not match or not anon:
        raise BenchError(f"GET /login: status {page.status}, no CSRF token or crm_anon cookie")
    form = {"username": username, "password": password, "csrf_token": match.group(1), "next": "/"}
    response = fetch(port, "/login", {"Cookie": f"crm_anon={anon}"}, form=form)
    session = response.cookies.get("crm_session")
    if response.status != 303 or not session:
        raise BenchError(f"POST /login: status {response.status}, expected 303 with a crm_session cookie")
    return session


PRODUCT_APP = "bench.app:create_bench_app"  # the product app plus the in-app ceiling
BARE_APP = "bench.bare:create_bare_app"  # no middleware, no database: the physical limit (bench/bare.py)


class Server:
    """`with Server(...) as server:` — uvicorn serving bench.app:create_bench_app (or `app`, e.g. BARE_APP) with
    `workers` processes, stopped on exit, errors included. Its output goes to server.log in the data directory (or
    `log_name`); with --log-level warning, any output is an error."""

    def __init__(self, *, database_url: str, data_dir: Path, ceiling_file: Path, app: str = PRODUCT_APP,
                 workers: int = 1, log_name: str = "server.log", extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log_path = data_dir / log_name
        self._log_offset = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(CRM_DATABASE_URL=database_url, CRM_DATA_DIR=str(data_dir), CRM_ENV="dev",
                   BENCH_CEILING_FILE=str(ceiling_file))
        env.update(extra_env or {})
        self.command = [sys.executable, "-m", "uvicorn", app, "--factory",
                        "--app-dir", str(ROOT), "--host", "127.0.0.1", "--port", str(self.port),
                        "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        self.env = env
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def new_output(self) -> str:
        """What the server wrote since the last call."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            data = log.read()
        self._log_offset += len(data)
        return data.decode(errors="replace")

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"the server exited with status {self.process.returncode}:\n{self.new_output()}")
            try:
                if fetch(self.port, "/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"the server did not answer /healthz within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
