"""`python -m scheduler [--once]`: the scheduler as its own process (SIGTERM or Ctrl-C stops it after the running
jobs finish)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from crm.config import get_settings
from crm.db import Database
from scheduler.runner import announce, build, run_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description="招商引资 CRM: the scheduler")
    parser.add_argument("--once", action="store_true", help="run every job once, then exit (1 if any failed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    database = Database(settings.resolved_database_url)
    try:
        if args.once:
            return 0 if run_once(settings, database) else 1
        scheduler = build(settings, database, background=False)

        def stop(signum, _frame):
            logging.getLogger("crm.scheduler").info("signal %s: stopping after the running jobs", signum)
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        announce(settings, database)
        scheduler.start()  # blocks until shutdown
        return 0
    finally:
        database.dispose()


if __name__ == "__main__":
    sys.exit(main())
