"""The loop of a render process (started by crm.pdf.renderer with multiprocessing's spawn): receive a job, render
it, send back the PDF or the error, with what WeasyPrint logged. Its address space is capped, so a runaway render
fails with MemoryError instead of taking the machine's memory."""

from __future__ import annotations

import contextlib
import logging
import resource
import traceback
from pathlib import Path

ADDRESS_SPACE_LIMIT = 3 * 1024**3  # bytes of virtual memory a render process may map


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: getrusage's ru_maxrss would include the parent's peak, which
    survives fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(conn, warm_up_html: str | None) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    from crm.pdf.fetcher import LogCollector, Resources, render_pdf

    logger = logging.getLogger("weasyprint")
    collector = LogCollector()
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if warm_up_html:  # load the fonts before the first real job, so it renders as fast as the rest
        with contextlib.suppress(Exception):  # warming up is optional
            render_pdf(warm_up_html, Resources(static_dir=Path(".")))
    collector.records.clear()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        html, resources_args = job
        collector.records.clear()
        try:
            result = render_pdf(html, Resources(**resources_args))
            conn.send(("ok", result.pdf, result.pages, result.refused, list(collector.records), _peak_rss_mb()))
        except MemoryError:
            conn.send(("error", "MemoryError: the document needs more memory than a render may use",
                       list(collector.records), _peak_rss_mb()))
        except Exception as error:  # reported to the parent, which raises RenderFailed
            detail = f"{type(error).__name__}: {error}"[:500]
            logging.getLogger("crm.pdf").debug(traceback.format_exc())
            conn.send(("error", detail, list(collector.records), _peak_rss_mb()))
