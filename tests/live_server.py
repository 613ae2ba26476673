"""uvicorn in a background thread: the real HTTP stack, for browser and concurrency tests."""

from __future__ import annotations

import socket
import threading
import time


class LiveServer(threading.Thread):
    """uvicorn serving `app` in a background thread, on a socket bound here so no other process can take the port."""

    def __init__(self, app) -> None:
        import uvicorn

        super().__init__(name="e2e-uvicorn", daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported by start_and_wait
            self.error = exc

    def start_and_wait(self, timeout: float = 10.0) -> None:
        self.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self.error is not None or not self.is_alive():
                raise RuntimeError(f"the e2e server did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the e2e server did not start within 10 s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=10)
        self.sock.close()
