"""Attachment bytes on disk, named by their SHA-256: `<data_dir>/attachments/ab/cdef…` (the hash's first two
characters name the folder, the other 62 the file), thumbnails under `<data_dir>/attachments/thumbnails/` the same
way. A name is its content, so writing is idempotent and the same file uploaded twice is stored once."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

ROOT = "attachments"
THUMBNAILS = "thumbnails"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):  # a hash from the database; never a path from a user
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def blob_path(data_dir: Path, sha256: str) -> Path:
    sha256 = _checked(sha256)
    return Path(data_dir) / ROOT / sha256[:2] / sha256[2:]


def thumbnail_path(data_dir: Path, sha256: str) -> Path:
    sha256 = _checked(sha256)
    return Path(data_dir) / ROOT / THUMBNAILS / sha256[:2] / f"{sha256[2:]}.jpg"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place: a reader sees the whole file or none,
    and two writers of the same content both succeed."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_blob(data_dir: Path, sha256: str, data: bytes) -> Path:
    path = blob_path(data_dir, sha256)
    _write_atomically(path, data)
    return path


def write_thumbnail(data_dir: Path, sha256: str, data: bytes) -> Path:
    path = thumbnail_path(data_dir, sha256)
    _write_atomically(path, data)
    return path


def delete(data_dir: Path, sha256: str) -> None:
    """Remove a blob and its thumbnail (either may already be gone)."""
    blob_path(data_dir, sha256).unlink(missing_ok=True)
    thumbnail_path(data_dir, sha256).unlink(missing_ok=True)
