"""`crm export -o FILE.zip`: the full export from the command line (the same file as /admin/export.zip), written
beside FILE and renamed into place when whole, audited as a download on the "cli" channel."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.config import Settings
from crm.data_export import service
from crm.db import Database


def export(settings: Settings, *, output: Path) -> int:
    output = output.resolve()
    if output.is_dir():
        print(f"{output} is a directory: give the file to write, e.g. -o export.zip", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    work = Path(tempfile.mkdtemp(prefix=".crm-export-", dir=output.parent))
    try:
        build = work / "build"
        build.mkdir()
        partial = work / "export.zip"
        with database.read_sessions() as session, partial.open("wb") as target:
            result = service.write_export(session, target, data_dir=settings.data_dir, timezone=settings.timezone,
                                          work_dir=build, exported_by="crm export")
        os.replace(partial, output)
        with database.write_session() as session:
            audit_service.record_event(session, event=AuditAction.DOWNLOAD, actor=None, channel="cli", details={
                "list": "crm export", "name": "Full export", "format": "zip", "rows": result.rows,
                "files": result.files, "missing_files": result.missing, "counts": result.counts, "filters": {}})
            session.commit()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        database.dispose()
    print(f"wrote {output}: {result.rows} rows in {len(result.counts)} sheets, {result.files} files"
          + (f", {result.missing} files missing or changed (see manifest.json)" if result.missing else ""))
    return 0
