"""The backup file: writing it while the app runs, checking it, restoring it into an empty instance.

A backup is one gzip-compressed tar file:

- `manifest.json` (the first member): format and version, the database's migration head and kind (sqlite or
  postgresql), when it was made, the rows of every table, and the size and SHA-256 of every other member;
- `database/crm.sqlite3` (SQLite's online backup API: a page-by-page copy of one consistent state, taken while
  others keep writing) or `database/crm.pgdump` (`pg_dump` custom format, from an exported snapshot);
- `files/…`: every folder of the data directory (attachments and their thumbnails, briefing PDFs, audit archives,
  whatever a later feature keeps there), not its top-level files (the database, the generated secret key, logs).

Consistency. Files are written before the row naming them is committed and never changed afterwards (attachments
are named by their hash and written atomically; briefing PDFs are new files, opened with "x"); a file is deleted
only after the commit that removed its last row. So the files are gathered twice, as hard links in a staging folder
inside the data directory (links, not copies: fast, and a file deleted meanwhile stays readable through its link):
once before the database snapshot, so every file a snapshot row names is already held unless it was written in the
short moment between the two, and once after it, which catches those. The manifest lists exactly what the archive
holds, and any file a snapshot row names that is missing from it (`missing_files`, empty unless a file was written
and deleted again within that moment, or had already gone from the disk).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from crm.i18n import Msg

FORMAT = "zhaoshang-crm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/crm.sqlite3"
POSTGRES_MEMBER = "database/crm.pgdump"
FILES = "files/"
STAGING_PREFIX = ".backup-staging-"
CHUNK = 1024 * 1024
# Top-level entries of the data directory that a restore may find there and still call it empty.
IGNORED_IN_EMPTY_DIR = {"secret_key", "backups"}


class BackupError(Exception):
    """A backup, check or restore that cannot go on; `message` says why, for the administrator."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.translate("en"))
        self.message = message


@dataclass
class Created:
    path: Path
    size_bytes: int
    sha256: str
    manifest: dict[str, Any]

    @property
    def rows(self) -> int:
        return sum(self.manifest["tables"].values())

    @property
    def files(self) -> int:
        return sum(1 for name in self.manifest["members"] if name.startswith(FILES))

    @property
    def missing(self) -> int:
        return len(self.manifest["missing_files"])

    @property
    def summary(self) -> str:
        return f"{self.rows} rows in {len(self.manifest['tables'])} tables, {self.files} files" + (
            f", {self.missing} referenced files missing" if self.missing else "")


@dataclass
class Checked:
    manifest: dict[str, Any] | None
    problems: list[Msg] = field(default_factory=list)  # the backup is unsound: it must not be relied on
    # Files the database names that were already missing from the data directory: the backup holds what there was
    # (restoring it loses nothing more), but the instance it came from had lost them.
    warnings: list[Msg] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def database_kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(Msg("An in-memory SQLite database cannot be backed up or restored."))
    return Path(database)


# --- PostgreSQL tools -------------------------------------------------------------------------------------------

def libpq_environment(url: str) -> dict[str, str]:
    """The SQLAlchemy URL as libpq's environment (the password never on a command line, where `ps` shows it)."""
    parsed = make_url(url)
    env = {**os.environ}
    for key, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                       ("PGPASSWORD", parsed.password), ("PGDATABASE", parsed.database)):
        if value not in (None, ""):
            env[key] = str(value)
    for key, value in parsed.query.items():
        value = value[-1] if isinstance(value, tuple) else value
        if key == "host":
            env["PGHOST"] = value
        elif key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"):
            env[f"PG{key.upper()}"] = value
    return env


def _run_tool(command: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(Msg("%(tool)s is not installed (Debian: apt-get install postgresql-client).",
                              tool=command[0])) from None
    if done.returncode != 0:
        raise BackupError(Msg("%(tool)s failed: %(error)s", tool=command[0],
                              error=(done.stderr or done.stdout).strip()[-1500:]))
    return done


# --- Gathering -----------------------------------------------------------------------------------------------------

def _file_roots(data_dir: Path, excluded: set[Path]) -> Iterator[Path]:
    if not data_dir.is_dir():
        return
    for entry in sorted(data_dir.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
            continue
        if entry.resolve() in excluded:
            continue
        yield entry


def _stage_files(data_dir: Path, staging: Path, excluded: set[Path]) -> None:
    """Hard-links every file under the data directory's folders into `staging` (a copy when a link is refused);
    files already staged are left as they are."""
    for root in _file_roots(data_dir, excluded):
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith(".tmp-"):  # an attachment being written (crm/attachments/storage.py)
                    continue
                source = Path(folder) / name
                if source.is_symlink() or not source.is_file():
                    continue
                target = staging / source.relative_to(data_dir)
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, target)
                except FileNotFoundError:
                    continue  # deleted since the listing
                except OSError:
                    try:
                        shutil.copy2(source, target)
                    except FileNotFoundError:
                        continue


def _referenced_files(rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]], kind: str) -> set[str]:
    """Paths (relative to the data directory) the snapshot's rows name: attachment blobs and thumbnails, briefing
    PDFs."""
    found: set[str] = set()
    for row in rows:
        if kind == "attachment":
            sha, has_thumbnail = row
            if isinstance(sha, str) and len(sha) == 64:
                found.add(f"attachments/{sha[:2]}/{sha[2:]}")
                if has_thumbnail:
                    found.add(f"attachments/thumbnails/{sha[:2]}/{sha[2:]}.jpg")
        elif row[0]:
            found.add(str(row[0]))
    return found


ATTACHMENTS_SQL = "SELECT sha256, has_thumbnail FROM attachment"
BRIEFINGS_SQL = "SELECT path FROM briefing_file WHERE status = 'done' AND path IS NOT NULL AND path <> ''"


def _snapshot_sqlite(url: str, target: Path) -> tuple[dict[str, int], str, set[str]]:
    source = sqlite3.connect(sqlite_path(url), timeout=30)
    try:
        destination = sqlite3.connect(target)
        try:
            # One step (pages=-1): the whole database copied under one read transaction, so a concurrent write
            # does not restart it; in WAL mode writers go on meanwhile.
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    snapshot = sqlite3.connect(target)
    try:
        snapshot.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        tables = [name for (name,) in snapshot.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {name: snapshot.execute(_count_sql(name)).fetchone()[0] for name in tables}
        head = _head(lambda sql: snapshot.execute(sql).fetchall(), tables)
        references = set()
        if "attachment" in tables:
            references |= _referenced_files(snapshot.execute(ATTACHMENTS_SQL).fetchall(), "attachment")
        if "briefing_file" in tables:
            references |= _referenced_files(snapshot.execute(BRIEFINGS_SQL).fetchall(), "briefing")
    finally:
        snapshot.close()
    return counts, head, references


def _count_sql(table: str) -> str:
    """Counting a table the database itself listed (its name quoted as an identifier)."""
    return 'SELECT count(*) FROM "' + table.replace('"', '""') + '"'  # noqa: S608 (an identifier, quoted)


def _head(query, tables: list[str]) -> str:
    if "alembic_version" not in tables:
        return ""
    rows = query("SELECT version_num FROM alembic_version")
    return ",".join(sorted(str(r[0]) for r in rows))


def _pg_tables(connection: Connection) -> list[str]:
    return list(connection.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name")).scalars())


def _snapshot_postgres(url: str, target: Path) -> tuple[dict[str, int], str, set[str]]:
    """pg_dump of the snapshot this read-only transaction exports, so the counts and file references read here
    are of exactly the state dumped."""
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot_id = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _pg_tables(connection)
            counts = {name: connection.execute(text(_count_sql(name))).scalar_one() for name in tables}
            head = _head(lambda sql: connection.execute(text(sql)).all(), tables)
            references = set()
            if "attachment" in tables:
                references |= _referenced_files(connection.execute(text(ATTACHMENTS_SQL)).all(), "attachment")
            if "briefing_file" in tables:
                references |= _referenced_files(connection.execute(text(BRIEFINGS_SQL)).all(), "briefing")
            _run_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                       f"--file={target}"], env=libpq_environment(url))
            connection.rollback()
    finally:
        engine.dispose()
    return counts, head, references


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tar_info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info


def create(*, database_url: str, data_dir: Path, output: Path, exclude: tuple[Path, ...] = ()) -> Created:
    """Writes a backup of the database at `database_url` and the folders of `data_dir` (but the `exclude`d ones) to
    `output` (written beside it under a temporary name and renamed into place when complete). Holds no write lock:
    SQLite's copy is one read transaction, pg_dump reads a snapshot."""
    data_dir, output = Path(data_dir), Path(output)
    kind = database_kind(database_url)
    excluded = {p.resolve() for p in exclude}  # the backup folder: backups are not backed up again
    if kind == "sqlite" and sqlite_path(database_url).resolve().parent != data_dir.resolve():
        excluded.add(sqlite_path(database_url).resolve().parent)  # a folder holding the live database is not copied
    data_dir.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        files = staging / "files"
        files.mkdir()
        _stage_files(data_dir, files, excluded | {staging.resolve()})  # before the snapshot: see the module's note
        database_file = staging / ("database.sqlite3" if kind == "sqlite" else "database.pgdump")
        created_at = datetime.now(UTC)
        snapshot = _snapshot_sqlite if kind == "sqlite" else _snapshot_postgres
        counts, head, references = snapshot(database_url, database_file)
        _stage_files(data_dir, files, excluded | {staging.resolve()})  # files written just before the snapshot
        members: dict[str, dict[str, Any]] = {}
        database_member = SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER
        members[database_member] = {"size": database_file.stat().st_size, "sha256": _sha256_of(database_file)}
        staged = sorted(p for p in files.rglob("*") if p.is_file())
        for path in staged:
            members[FILES + path.relative_to(files).as_posix()] = {"size": path.stat().st_size,
                                                                    "sha256": _sha256_of(path)}
        present = {name[len(FILES):] for name in members if name.startswith(FILES)}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "database": kind, "migration_head": head,
            "created_at": created_at.isoformat(), "tables": counts, "members": members,
            "missing_files": sorted(references - present),
        }
        manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds everything: owner only
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
            now = created_at.timestamp()
            tar.addfile(_tar_info(MANIFEST, len(manifest_bytes), now), io.BytesIO(manifest_bytes))
            with open(database_file, "rb") as handle:
                tar.addfile(_tar_info(database_member, members[database_member]["size"], now), handle)
            for path in staged:
                with open(path, "rb") as handle:
                    tar.addfile(_tar_info(FILES + path.relative_to(files).as_posix(), path.stat().st_size,
                                          path.stat().st_mtime), handle)
            tar.fileobj.flush()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, output)
        return Created(path=output, size_bytes=output.stat().st_size, sha256=_sha256_of(output), manifest=manifest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- Checking ------------------------------------------------------------------------------------------------------

def _safe_member_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name and "\x00" not in name


@contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 (closed below, after the caller's block)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BackupError(Msg("Not a readable backup file: %(error)s", error=str(error))) from None
    try:
        yield tar
    finally:
        tar.close()


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > 256 * 1024 * 1024:
        raise BackupError(Msg("The backup has no manifest: not a backup made by this application."))
    try:
        manifest = json.loads(tar.extractfile(first).read())  # type: ignore[union-attr]
    except (ValueError, UnicodeDecodeError):
        raise BackupError(Msg("The backup's manifest is damaged.")) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("members"), dict):
        raise BackupError(Msg("The backup has no manifest: not a backup made by this application."))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(Msg("The backup's format version %(version)s is not one this version reads.",
                              version=str(manifest.get("format_version"))))
    if manifest.get("database") not in ("sqlite", "postgresql"):
        raise BackupError(Msg("The backup's manifest is damaged."))
    return manifest


def _stream(tar: tarfile.TarFile, manifest: dict[str, Any], problems: list[Msg], sink) -> None:
    """Reads every member after the manifest, checking its name, size and SHA-256 against the manifest; `sink(name,
    chunks)` sees each member's bytes (to write them somewhere) and returns nothing."""
    expected: dict[str, dict[str, Any]] = manifest["members"]
    seen: set[str] = set()
    try:
        while (member := tar.next()) is not None:  # after the manifest (iterating would start again)
            name = member.name
            if not member.isfile() or not _safe_member_name(name) or name not in expected or name in seen:
                problems.append(Msg("Unexpected entry in the backup: %(name)s", name=name[:200]))
                continue
            seen.add(name)
            digest = hashlib.sha256()
            handle = tar.extractfile(member)
            assert handle is not None

            def chunks(handle=handle, digest=digest):
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    yield chunk

            sink(name, chunks())
            if member.size != expected[name].get("size") or digest.hexdigest() != expected[name].get("sha256"):
                problems.append(Msg("Checksum mismatch: %(name)s has changed since the backup was made.", name=name))
    except (tarfile.TarError, OSError, EOFError) as error:
        problems.append(Msg("The backup file is damaged or cut short: %(error)s", error=str(error)))
    for name in sorted(set(expected) - seen):
        problems.append(Msg("Missing from the backup: %(name)s", name=name))


def _check_sqlite_copy(path: Path, manifest: dict[str, Any], problems: list[Msg]) -> None:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchall()
            if result != [("ok",)]:
                problems.append(Msg("The database copy fails SQLite's integrity check: %(error)s",
                                    error="; ".join(str(r[0]) for r in result[:5])))
                return
            present = {n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, rows in (manifest.get("tables") or {}).items():
                if table not in present:
                    problems.append(Msg("Table %(table)s is missing from the database copy.", table=str(table)[:100]))
                    continue
                found = connection.execute(_count_sql(table)).fetchone()[0]
                if found != rows:
                    problems.append(Msg("Table %(table)s has %(found)s rows; the manifest says %(rows)s.",
                                        table=table, found=found, rows=rows))
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        problems.append(Msg("The database copy cannot be read: %(error)s", error=str(error)))


def _check_pg_dump(path: Path, problems: list[Msg]) -> None:
    try:
        listing = _run_tool(["pg_restore", "--list", str(path)]).stdout
    except BackupError as error:
        problems.append(error.message)
        return
    if "TABLE DATA" not in listing:
        problems.append(Msg("The database dump holds no table data."))


def verify(path: Path) -> Checked:
    """Checks a backup without restoring it: the manifest, every member's size and SHA-256, nothing more and
    nothing less than the manifest lists, and the database part readable (SQLite: its integrity check and the
    manifest's row counts on an extracted copy; PostgreSQL: `pg_restore --list`)."""
    problems: list[Msg] = []
    try:
        with _open(Path(path)) as tar, tempfile.TemporaryDirectory(prefix="crm-verify-") as work:
            manifest = _read_manifest(tar)
            database_member = SQLITE_MEMBER if manifest["database"] == "sqlite" else POSTGRES_MEMBER
            copy = Path(work) / "database"

            def sink(name, chunks):
                if name == database_member:
                    with open(copy, "wb") as out:
                        for chunk in chunks:
                            out.write(chunk)
                else:
                    for _ in chunks:
                        pass

            _stream(tar, manifest, problems, sink)
            if database_member not in manifest["members"]:
                problems.append(Msg("Missing from the backup: %(name)s", name=database_member))
            elif not problems and copy.exists():
                if manifest["database"] == "sqlite":
                    _check_sqlite_copy(copy, manifest, problems)
                else:
                    _check_pg_dump(copy, problems)
            warnings = [Msg("A file the database names was not in the data directory when the backup was "
                            "made: %(name)s", name=str(missing)[:200])
                        for missing in (manifest.get("missing_files") or [])[:100]]
            return Checked(manifest=manifest, problems=problems, warnings=warnings)
    except BackupError as error:
        return Checked(manifest=None, problems=[*problems, error.message])


# --- Restoring -----------------------------------------------------------------------------------------------------

def _data_dir_leftovers(data_dir: Path, database_url: str) -> list[str]:
    if not data_dir.exists():
        return []
    allowed = set(IGNORED_IN_EMPTY_DIR)
    if database_kind(database_url) == "sqlite":
        db = sqlite_path(database_url).resolve()
        if db.parent == data_dir.resolve():
            allowed |= {db.name, f"{db.name}-wal", f"{db.name}-shm", f"{db.name}-journal"}
    return sorted(entry.name for entry in data_dir.iterdir()
                  if entry.name not in allowed and not entry.name.endswith(".log"))


def _sqlite_tables(path: Path) -> list[str]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    connection = sqlite3.connect(path)
    try:
        return [n for (n,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    finally:
        connection.close()


def _database_tables(database_url: str) -> list[str]:
    if database_kind(database_url) == "sqlite":
        return _sqlite_tables(sqlite_path(database_url))
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return _pg_tables(connection)
    finally:
        engine.dispose()


def check_empty(*, database_url: str, data_dir: Path) -> None:
    """Raises BackupError unless both the database and the data directory are empty."""
    tables = _database_tables(database_url)
    if tables:
        raise BackupError(Msg("The database is not empty (it has %(n)s tables, e.g. %(names)s): restore only into an "
                              "empty database, never over a running instance's.", n=len(tables),
                              names=", ".join(sorted(tables)[:3])))
    leftovers = _data_dir_leftovers(Path(data_dir), database_url)
    if leftovers:
        raise BackupError(Msg("The data directory %(dir)s is not empty (%(names)s): restore only into an empty one.",
                              dir=str(data_dir), names=", ".join(leftovers[:5])))


def restore(path: Path, *, database_url: str, data_dir: Path, known_revisions: set[str] | None = None) -> dict[str, Any]:
    """Restores the backup at `path` into the empty database at `database_url` and the empty `data_dir`. Checks the
    whole file first (verify), refuses a non-empty target and a backup of the other database engine. On failure,
    what was written is removed again. Returns the manifest."""
    path, data_dir = Path(path), Path(data_dir)
    checked = verify(path)
    if not checked.ok or checked.manifest is None:
        raise BackupError(Msg("The backup failed its check and was not restored: %(problems)s",
                              problems="; ".join(p.translate("en") for p in checked.problems[:5])))
    manifest = checked.manifest
    kind = database_kind(database_url)
    if manifest["database"] != kind:
        raise BackupError(Msg("This is a backup of a %(backup)s database; the target is %(target)s. Restore it into "
                              "the same kind of database.", backup=manifest["database"], target=kind))
    head = manifest.get("migration_head") or ""
    if known_revisions is not None and any(r not in known_revisions for r in head.split(",") if r):
        raise BackupError(Msg("The backup was made by a newer version of the application (database revision "
                              "%(head)s): install that version, or a later one, to restore it.", head=head))
    check_empty(database_url=database_url, data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="crm-restore-", dir=data_dir))
    database_member = SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER
    database_copy = work / "database"
    problems: list[Msg] = []
    try:
        def sink(name, chunks):
            if name == database_member:
                target = database_copy
            elif name.startswith(FILES):
                target = data_dir / name[len(FILES):]
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(target)
            else:
                for _ in chunks:
                    pass
                return
            with open(target, "xb") as out:
                for chunk in chunks:
                    out.write(chunk)

        with _open(path) as tar:
            _read_manifest(tar)
            _stream(tar, manifest, problems, sink)
        if problems:
            raise BackupError(Msg("The backup changed while it was being restored: %(problems)s",
                                  problems="; ".join(p.translate("en") for p in problems[:5])))
        if kind == "sqlite":
            target = sqlite_path(database_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm", "-journal"):  # an empty database file (checked above), if any
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            placed = target.with_name(f".{target.name}.restoring")
            shutil.move(database_copy, placed)
            os.replace(placed, target)
            written.append(target)
        else:
            _run_tool(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                       f"--dbname={make_url(database_url).database}", str(database_copy)],
                      env=libpq_environment(database_url))
        return manifest
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
