"""A small pool of render processes, so a PDF never hangs or bloats a web worker.

Each process (multiprocessing "spawn": no locks or threads inherited from the web process) imports WeasyPrint and
loads the CJK font once, then renders jobs one at a time. `Renderer.render()` takes an idle process (waiting at most
the time limit for one), sends the HTML, and waits at most `timeout` seconds for the PDF; a process that overruns is
killed and replaced, and the caller gets `RenderTimeout`. A process that dies (out of memory, a crash in a C
library) is replaced too (`RenderFailed`). What WeasyPrint logged in the process is logged again here, on the
`weasyprint` logger, so a warning (a refused URL, the fontTools fallback) is seen where the render was asked for.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from crm.pdf.result import RenderResult

log = logging.getLogger("crm.pdf")
weasyprint_log = logging.getLogger("weasyprint")

WARM_UP_HTML = ('<html lang="zh-CN"><style>body { font-family: "Noto Sans CJK SC"; }</style>'
                "<body>开发区 Zone 1</body></html>")


class RenderError(Exception):
    """A render that did not produce a PDF; `str()` says why, for the user or the shell."""


class RenderTimeout(RenderError):
    pass


class RenderFailed(RenderError):
    pass


@dataclass
class _Process:
    process: multiprocessing.process.BaseProcess
    conn: object
    used: bool = False  # has rendered a job (the first one also waits for the process's start-up)

    def stop(self, *, kill: bool = False) -> None:
        try:
            if kill:
                self.process.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)
        with contextlib.suppress(OSError):
            self.conn.close()


class Renderer:
    def __init__(self, *, workers: int = 1, timeout: float = 60.0) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Process | None] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self.peak_rss_mb = 0.0  # the largest peak memory a render process of this pool has reported

    def _spawn(self) -> _Process:
        from crm.pdf import worker

        parent, child = self._context.Pipe()
        process = self._context.Process(target=worker.main, args=(child, WARM_UP_HTML), daemon=True,
                                        name="crm-pdf-render")
        process.start()
        child.close()
        return _Process(process=process, conn=parent)

    def _take(self, timeout: float) -> _Process:
        with self._lock:
            if self._closed:
                raise RenderFailed("the PDF renderer has been shut down")
            if self._idle.empty() and self._started < self.workers:
                self._started += 1
                return self._spawn()
        try:
            taken = self._idle.get(timeout=timeout)
        except queue.Empty:
            raise RenderTimeout(f"every PDF render process stayed busy for {timeout:.0f} s") from None
        if taken is None:
            raise RenderFailed("the PDF renderer has been shut down")
        if not taken.process.is_alive():
            taken.stop(kill=True)
            return self._spawn()
        return taken

    def prestart(self) -> None:
        """Starts every render process now, so they import WeasyPrint and load the font while the caller gathers
        its data (`crm briefing` does: the two overlap on a second core)."""
        with self._lock:
            while self._started < self.workers and not self._closed:
                self._started += 1
                self._idle.put(self._spawn())

    def render(self, html: str, *, static_dir: Path, data_dir: Path | None = None,
               attachments: frozenset[str] = frozenset(), timeout: float | None = None) -> RenderResult:
        limit = self.timeout if timeout is None else timeout
        proc = self._take(limit)
        try:
            proc.conn.send((html, {"static_dir": static_dir, "data_dir": data_dir, "attachments": attachments}))
            # The first job of a new process also waits for its start-up (imports, fonts): allow 15 s more.
            if not proc.conn.poll(limit if proc.used else limit + 15):
                proc.stop(kill=True)
                proc = self._spawn()
                raise RenderTimeout(f"the PDF took longer than {limit:.0f} s to render and was stopped")
            reply = proc.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            proc.stop(kill=True)
            proc = self._spawn()
            raise RenderFailed("the PDF render process stopped unexpectedly (out of memory?)") from None
        finally:
            proc.used = True
            self._idle.put(proc)
        kind, *rest = reply
        if kind == "ok":
            pdf, pages, refused, records, rss = rest
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self._relog(records)
            return RenderResult(pdf=pdf, pages=pages, refused=refused, warnings=[m for _, m in records], max_rss_mb=rss)
        message, records, _rss = rest
        self._relog(records)
        raise RenderFailed(message)

    @staticmethod
    def _relog(records: list[tuple[int, str]]) -> None:
        for level, message in records:
            weasyprint_log.log(level, "%s", message)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                proc = self._idle.get_nowait()
            except queue.Empty:
                break
            if proc is not None:
                proc.stop()
        self._idle.put(None)  # wakes anyone waiting


_shared: Renderer | None = None
_shared_lock = threading.Lock()


def shared(*, workers: int = 1, timeout: float = 60.0) -> Renderer:
    """The process's one renderer (started on first use), shared by the web app, background jobs and the CLI."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = Renderer(workers=workers, timeout=timeout)
            atexit.register(_shared.close)
        else:
            _shared.timeout = timeout
        return _shared


class InProcessRenderer:
    """Renders in this process, for the shell (`crm briefing`) and the benchmark: no process to start, and the time
    limit is SIGALRM's (so only on the main thread; elsewhere use `Renderer`)."""

    def __init__(self, *, timeout: float = 60.0) -> None:
        self.timeout = timeout

    def render(self, html: str, *, static_dir: Path, data_dir: Path | None = None,
               attachments: frozenset[str] = frozenset(), timeout: float | None = None) -> RenderResult:
        import signal

        from crm.pdf.fetcher import Resources, render_pdf

        limit = self.timeout if timeout is None else timeout

        def _expired(_signum, _frame):
            raise RenderTimeout(f"the PDF took longer than {limit:.0f} s to render and was stopped")

        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            previous = signal.signal(signal.SIGALRM, _expired)
            signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            return render_pdf(html, Resources(static_dir=static_dir, data_dir=data_dir, attachments=attachments))
        except RenderError:
            raise
        except MemoryError:
            raise RenderFailed("MemoryError: the document needs more memory than a render may use") from None
        except Exception as error:
            raise RenderFailed(f"{type(error).__name__}: {error}"[:500]) from error
        finally:
            if on_main:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def close(self) -> None:
        pass
