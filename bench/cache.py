"""BENCH_REUSE's key: everything a generated benchmark database depends on, so that a cached one built by other code
is refused (and the refusal says why) instead of being measured as if it were current.

The key is a JSON object: the day it was generated (dates in the data are relative to it, both the UTC day and the
zone's), smoke or full scale, and a SHA-256 of each source file the rows come from: the generators, every model (the
columns and their bind processors, crm/db.py's UTC datetimes included), the migrations (the schema, and the rows they
seed: industry chains, approval templates), the search index's rules, the validators and password hashing the
generator calls, and the lock file (pypinyin's dictionary decides the pinyin). crm/demo*.py is not in it: no generated
database loads the demo (bench.pdf does, and builds its database afresh every run).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import settings

ROOT = settings.ROOT
ZONE = ZoneInfo("Asia/Shanghai")  # the generators' local day (crm's default timezone)
SOURCES = (  # globs relative to the repository; bench/projects.py adds its own file for its database
    "bench/generate.py", "bench/activity.py", "bench/settings.py", "bench/cache.py",
    "crm/**/models.py", "crm/db.py",
    "crm/migrate.py", "alembic.ini", "crm/migrations/env.py", "crm/migrations/versions/*.py",
    "crm/search_text.py", "crm/search/service.py", "crm/validators.py", "crm/auth/service.py", "crm/auth/security.py",
    "requirements.lock",
)


def key(*extra_sources: str) -> dict:
    """The key of a database generated now, from SOURCES and `extra_sources`."""
    now = datetime.now(UTC)
    files = sorted({path for pattern in (*SOURCES, *extra_sources) for path in ROOT.glob(pattern) if path.is_file()})
    return {
        "day": {"UTC": now.date().isoformat(), ZONE.key: now.astimezone(ZONE).date().isoformat()},
        "scale": "smoke" if settings.SMOKE else "full",
        "sources": {str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files},
    }


def write(stamp: Path, current: dict) -> None:
    stamp.write_text(json.dumps(current, indent=2) + "\n")


def why_not(stamp: Path, current: dict) -> str | None:
    """None when the database the stamp belongs to was generated today by the same code; else the reason it was not."""
    if not stamp.exists():
        return "it has no key (built before BENCH_REUSE keyed its data on the sources)"
    try:
        stored = json.loads(stamp.read_text())
    except ValueError:
        stored = None
    if not isinstance(stored, dict) or not isinstance(stored.get("sources"), dict):
        return "it was built by an older generator, whose key did not cover the models and the lock file"
    reasons = []
    if stored.get("scale") != current["scale"]:
        reasons.append(f"it is a {stored.get('scale')}-scale database, this is a {current['scale']} run")
    if stored.get("day") != current["day"]:
        built = ", ".join(f"{day} ({zone})" for zone, day in (stored.get("day") or {}).items())
        reasons.append(f"it was generated on {built or 'another day'} and its dates are relative to that day")
    old, new = stored["sources"], current["sources"]
    changed = sorted(path for path in old.keys() & new.keys() if old[path] != new[path])
    for label, paths in (("changed", changed), ("added", sorted(new.keys() - old.keys())),
                         ("removed", sorted(old.keys() - new.keys()))):
        if paths:
            shown = ", ".join(paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
            reasons.append(f"since it was generated, {label}: {shown}")
    return "; ".join(reasons) or None
