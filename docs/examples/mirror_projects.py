"""Mirrors the CRM's projects into a local SQLite file, only what changed since the last run.

    CRM_URL=https://crm.example.gov.cn CRM_TOKEN=crm_pat_… python mirror_projects.py [mirror.sqlite3]

Python 3.11+, standard library only (urllib, sqlite3). Run it as often as you like (cron, every 5 minutes): each
run asks for the projects changed since the newest change it has stored (`updated_since`), follows the `next`
links page by page, and stores each project as it is now. Archived projects come from `?archived=1` and are kept,
marked archived. A read token is enough.
"""

import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlencode

BASE = os.environ.get("CRM_URL", "http://127.0.0.1:8000").rstrip("/")
TOKEN = os.environ["CRM_TOKEN"]
OVERLAP = timedelta(minutes=1)  # a change saved while the last run was reading comes again: storing it twice is harmless


def get(path: str) -> dict:
    """GET a path of the API; waits and retries when the token's budget is used up (429) or the server is busy (503)."""
    request = urllib.request.Request(BASE + path, headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"})
    for _attempt in range(5):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503):
                raise SystemExit(f"{error.code} on {path}: {error.read().decode()}") from None
            time.sleep(int(error.headers.get("Retry-After", "5")))
    raise SystemExit(f"{path}: still busy after 5 attempts")


def mirror(db: sqlite3.Connection) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS project (id INTEGER PRIMARY KEY, name TEXT, stage TEXT, archived INTEGER,"
               " updated_at TEXT, version INTEGER, record TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS sync (what TEXT PRIMARY KEY, updated_since TEXT)")
    stored = 0
    for what, archived in (("projects", {}), ("archived projects", {"archived": "1"})):
        row = db.execute("SELECT updated_since FROM sync WHERE what = ?", (what,)).fetchone()
        query = {"limit": "200", **archived, **({"updated_since": row[0]} if row else {})}
        newest = row[0] if row else None
        path = "/api/v1/projects?" + urlencode(query)
        while path:
            page = get(path)
            for p in page["items"]:
                db.execute("INSERT OR REPLACE INTO project VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (p["id"], p["name"], p["stage"], int(p["archived"]), p["updated_at"], p["version"],
                            json.dumps(p, ensure_ascii=False)))
                newest = max(newest or p["updated_at"], p["updated_at"], key=datetime.fromisoformat)
                stored += 1
            path = page["next"]  # an absolute path with the cursor; None after the last page
        if newest:
            since = (datetime.fromisoformat(newest) - OVERLAP).isoformat()
            db.execute("INSERT OR REPLACE INTO sync VALUES (?, ?)", (what, since))
        db.commit()  # one run's pages together: an interrupted run starts again from the last complete one
    return stored


if __name__ == "__main__":
    with sqlite3.connect(sys.argv[1] if len(sys.argv) > 1 else "mirror.sqlite3") as connection:
        count = mirror(connection)
        total = connection.execute("SELECT count(*) FROM project").fetchone()[0]
    print(f"{count} project(s) stored, {total} in the mirror")
