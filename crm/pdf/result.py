"""What a render returns. Kept apart from crm.pdf.fetcher so that a process which only asks for PDFs (the web app,
`crm briefing`) need not import WeasyPrint itself: its render processes do."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RenderResult:
    pdf: bytes
    pages: int
    refused: list[str]
    warnings: list[str] = field(default_factory=list)
    max_rss_mb: float = 0.0  # the render process's peak resident memory so far
