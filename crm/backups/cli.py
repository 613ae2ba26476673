"""`crm backup -o FILE`, `crm backup --verify FILE` and `crm restore FILE`: for the operator's shell, cron, or a
restore after a disk died. They print what they did and exit non-zero when they could not."""

from __future__ import annotations

import sys
from pathlib import Path

from crm.backups import archive, service
from crm.config import Settings


def backup(settings: Settings, *, output: Path) -> int:
    if output.exists():
        print(f"{output} exists: give a new file name", file=sys.stderr)
        return 1
    try:
        created = archive.create(database_url=settings.resolved_database_url, data_dir=settings.data_dir,
                                 output=output, exclude=(settings.resolved_backup_dir,))
    except archive.BackupError as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    print(f"backup written to {created.path} ({created.size_bytes} bytes, sha256 {created.sha256}): {created.summary}")
    for missing in created.manifest["missing_files"]:
        print(f"warning: a file the database names was missing from the data directory: {missing}", file=sys.stderr)
    return 0


def verify(path: Path) -> int:
    checked = archive.verify(path)
    if not checked.ok:
        print(f"{path}: NOT a sound backup", file=sys.stderr)
        for problem in checked.problems:
            print(f"  {problem.translate('en')}", file=sys.stderr)
        return 1
    manifest = checked.manifest or {}
    for warning in checked.warnings:
        print(f"warning: {warning.translate('en')}", file=sys.stderr)
    print(f"{path}: sound. {manifest['database']} database at revision {manifest['migration_head']}, made "
          f"{manifest['created_at']}; {sum(manifest['tables'].values())} rows, "
          f"{sum(1 for n in manifest['members'] if n.startswith(archive.FILES))} files; every checksum matches")
    return 0


def restore(settings: Settings, path: Path) -> int:
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 1
    url = settings.resolved_database_url
    try:
        manifest = archive.restore(path, database_url=url, data_dir=settings.data_dir,
                                   known_revisions=service.known_revisions(url))
    except archive.BackupError as error:
        print(f"not restored: {error}", file=sys.stderr)
        return 1
    print(f"restored the backup made {manifest['created_at']} ({sum(manifest['tables'].values())} rows, "
          f"{sum(1 for n in manifest['members'] if n.startswith(archive.FILES))} files) into {settings.data_dir}. "
          "Next: crm db upgrade, then crm serve.")
    return 0
