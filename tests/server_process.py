"""`crm serve` as a real server process (the production shape: uvicorn, worker processes), and HTTP clients that
sign in to it. For tests of many people saving at once; tests/live_server.py serves an app object in a thread."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_RE = re.compile(r'name="submission_key" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`crm serve --workers N [--with-scheduler]` on the test's database, stopped with SIGINT (as Ctrl-C)."""

    def __init__(self, *, database_url: str, data_dir: Path, workers: int = 2, with_scheduler: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = data_dir / f"server-{self.port}.log"
        command = [sys.executable, "-m", "crm.cli", "serve", "--port", str(self.port), "--workers", str(workers)]
        if with_scheduler:
            command.append("--with-scheduler")
        environment = {**os.environ, "CRM_ENV": "test", "CRM_DATABASE_URL": database_url, "CRM_DATA_DIR": str(data_dir),
                       "CRM_SECRET_KEY": "s" * 40, "CRM_PORT": str(self.port), **(env or {})}
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"crm serve exited: {self.output()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                # Every worker's start-up done, not just the first's: a worker still starting writes (its lifespan),
                # and a test's own read-then-write transaction would meet that write.
                if connection.getresponse().status == 200 and self._workers_started() >= self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"crm serve did not answer within {timeout} s: {self.output()}")

    def _workers_started(self) -> int:
        self.log.flush()
        return self.log_path.read_text(errors="replace").count("Application startup complete")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        return self.process.returncode


def module_server(database_url: str, data_dir: Path, *, workers: int = 2,
           refused: tuple[str, ...] = ("Exception in ASGI application",)) -> Iterator[ServerProcess]:
    """A test module's server, for a module-scoped fixture (`yield from module_server(...)`): started, then stopped
    cleanly, with none of `refused` in what it logged."""
    process = ServerProcess(database_url=database_url, data_dir=data_dir, workers=workers)
    try:
        yield process.wait_ready()
    finally:
        assert process.stop() == 0, process.output()
    for text in refused:
        assert text not in process.output(), process.output()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float


@dataclass
class Browser:
    """One signed-in user: a keep-alive connection, the session cookie and the CSRF token."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def _connection(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return self.connection

    def request(self, method: str, path: str, data: dict | list | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data, doseq=True).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        except (ConnectionError, http.client.HTTPException):
            connection.close()
            self.connection = None
            raise
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, text,
                      time.monotonic() - started)
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            self.connection = None
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.split(";", 1)[0].partition("=")
            if not rest.strip('"') or "max-age=0" in value.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = rest
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, data: dict | list | None = None) -> Reply:
        if isinstance(data, list):
            return self.request("POST", path, [("csrf_token", self.csrf), *data])
        return self.request("POST", path, {"csrf_token": self.csrf, **(data or {})})

    def sign_in(self, username: str, password: str = PASSWORD) -> Browser:
        page = self.get("/login")
        token = CSRF_RE.search(page.body).group(1)
        reply = self.request("POST", "/login", {"username": username, "password": password, "csrf_token": token,
                                                "next": "/"})
        assert reply.status == 303, reply.body[:500]
        self.csrf = CSRF_RE.search(self.get("/tasks").body).group(1)
        return self

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
