"""`crm briefing VISIT_ID --variant internal -o out.pdf`: the same pack as the web's, rendered now, kept with the
visit (a briefing_file row and its stored copy) and written to the output path."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from crm.auth.models import User
from crm.briefings import generation, service
from crm.config import Settings
from crm.db import Database
from crm.pdf import renderer as pdf_renderer
from crm.visits import service as visit_service


def run(settings: Settings, *, visit_id: int, variant: str, output: str, username: str | None, locale: str,
        renderer: pdf_renderer.Renderer | None = None) -> int:
    """`renderer`: a render process to use (the shell's, started early); without one, this process renders."""
    database = Database(settings.resolved_database_url)
    try:
        with database.write_session() as session:
            visit = visit_service.get(session, visit_id)
            if visit is None:
                print(f"no visit {visit_id}", file=sys.stderr)
                return 1
            if username:
                user = session.scalar(select(User).where(User.username == username.lower()))
                if user is None:
                    print(f"no user {username}", file=sys.stderr)
                    return 1
            else:
                user = session.get(User, visit.officer_id)
            row = service.start_file(session, visit=visit, variant=variant, locale=locale, actor=user)
            file_id = row.id
        generation.generate(database=database, settings=settings, file_id=file_id,
                            renderer=renderer or pdf_renderer.InProcessRenderer(
                                timeout=settings.pdf_render_timeout_seconds))
        with database.read_sessions() as session:
            row = session.get(service.BriefingFile, file_id)
            if row.status != "done":
                print(f"the briefing could not be generated: {row.error}", file=sys.stderr)
                return 1
            data = service.read_file(row, settings.data_dir)
        Path(output).write_bytes(data)
        print(f"{output}: {row.pages} pages, {len(data) / 1024:.0f} KB, sha256 {row.sha256} "
              f"(kept with visit {visit_id} as briefing file {file_id})")
        if renderer is not None:
            from crm.pdf.worker import _peak_rss_mb

            print(f"peak memory: {_peak_rss_mb():.0f} MB in this process, {renderer.peak_rss_mb:.0f} MB in the render "
                  "process")
        return 0
    finally:
        database.dispose()


