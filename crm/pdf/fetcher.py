"""The render itself: WeasyPrint with a URL fetcher that fetches nothing from the network and no file outside
static/ and the record's own attachments.

Print templates refer to files as `crm:/static/<path>` (under static/) or `crm:/attachment/<sha256>` (the 320-px
thumbnail of one of the record's attachments, listed in `Resources.attachments`). Every other URL — http(s),
file://, data:, ftp, a path that leaves static/, an attachment of another record — is refused: WeasyPrint logs a
warning and leaves the image out. There are no redirects (nothing is fetched over a network at all)."""

from __future__ import annotations

import logging
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from crm.pdf.result import RenderResult

BASE_URL = "crm:/"
MAX_RESOURCE_BYTES = 8 * 1024 * 1024  # a static file or thumbnail larger than this is refused
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STATIC_PATH = re.compile(r"[A-Za-z0-9_\-./]+")


@dataclass(frozen=True)
class Resources:
    """What one render may read: static/ and the thumbnails of these attachments (by sha256) under data_dir."""

    static_dir: Path
    data_dir: Path | None = None
    attachments: frozenset[str] = field(default_factory=frozenset)


def resolve(url: str, resources: Resources) -> Path | None:
    """The file a `crm:/` URL names, if this render may read it; None otherwise."""
    if not url.startswith("crm:/"):
        return None
    rest = url[len("crm:/"):].split("?", 1)[0].split("#", 1)[0]
    if rest.startswith("static/"):
        relative = rest[len("static/"):]
        if not _STATIC_PATH.fullmatch(relative) or ".." in relative.split("/"):
            return None
        root = resources.static_dir.resolve()
        path = (root / relative).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None
    if rest.startswith("attachment/"):
        sha = rest[len("attachment/"):]
        if not _SHA256.fullmatch(sha) or sha not in resources.attachments or resources.data_dir is None:
            return None
        path = resources.data_dir / "attachments" / "thumbnails" / sha[:2] / f"{sha[2:]}.jpg"
        return path if path.is_file() else None
    return None


class RestrictedFetcher(URLFetcher):
    """WeasyPrint's fetcher with every handler replaced by `resolve`: no network, no redirects, no other files."""

    def __init__(self, resources: Resources) -> None:
        super().__init__(timeout=1, allowed_protocols={"crm"}, allow_redirects=False)
        self.resources = resources
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        path = resolve(url, self.resources)
        if path is None or path.stat().st_size > MAX_RESOURCE_BYTES:
            self.refused.append(url[:200])
            raise ValueError(f"not fetched (only static files and the record's own attachments): {url[:200]}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})


def render_pdf(html: str, resources: Resources) -> RenderResult:
    """The PDF of `html` (a whole document with its print CSS inline), rendered in this process."""
    fetcher = RestrictedFetcher(resources)
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render()
    pdf = document.write_pdf()
    return RenderResult(pdf=pdf, pages=len(document.pages), refused=fetcher.refused)


class LogCollector(logging.Handler):
    """WeasyPrint's warnings during a render, to send back to the parent process."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()[:1000]))
