"""The `crm` console command: every shell task (migrations, users, demo data, serving)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date

from crm.config import get_settings
from crm.db import Database


def _database() -> Database:
    return Database(get_settings().resolved_database_url)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from crm import migrate

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    print("database is up to date")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from crm import migrate

    database = _database()
    diffs = migrate.pending_differences(database.engine)
    database.dispose()
    if diffs:
        print("models and migrations differ:")
        for diff in diffs:
            print("  ", diff)
        return 1
    print("models and migrations agree")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from crm.auth import service

    password = args.password or os.environ.get("CRM_NEW_PASSWORD") or ""
    if not password:
        if not sys.stdin.isatty():
            print("give --password, CRM_NEW_PASSWORD, or run in a terminal", file=sys.stderr)
            return 2
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("the passwords differ", file=sys.stderr)
            return 2
    database = _database()
    try:
        with database.write_session() as session:
            user = service.create_user(
                session, username=args.username.lower(), display_name=args.display_name or args.username,
                password=password, role=args.role, actor=None, title=args.title or "", email=args.email or "",
                locale=args.locale,
            )
            print(f"created user {user.username} ({user.role})")
    except service.UserError as err:
        print(f"{err.field}: {err.message.translate('en')}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


def cmd_demo_load(args: argparse.Namespace) -> int:
    from crm import demo

    anchor = date.fromisoformat(args.anchor) if args.anchor else date.today()
    database = _database()
    try:
        with database.write_session() as session:
            if args.if_empty and not demo.is_empty(session):
                print("database has data: demo not loaded")
                return 0
            demo.load(session, anchor=anchor)
    finally:
        database.dispose()
    print(f"demo data loaded (anchor {anchor.isoformat()})")
    print("demo logins (password demo1234): officer (investment officer), manager (练建军, manager), admin")
    return 0


def cmd_sessions_purge(args: argparse.Namespace) -> int:
    from crm.auth import service

    database = _database()
    with database.write_session() as session:
        n = service.purge_expired_sessions(session, settings=get_settings())
    database.dispose()
    print(f"removed {n} expired sessions")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "crm.main:create_app",
        factory=True,
        host=args.host,
        port=args.port or settings.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level="info",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="招商引资 CRM: shell tasks")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply all migrations").set_defaults(func=cmd_db_upgrade)
    db.add_parser("check", help="exit 1 if the models and the migrations differ").set_defaults(func=cmd_db_check)

    user = commands.add_parser("user", help="user accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("--username", required=True)
    create.add_argument("--role", choices=["officer", "manager", "admin"], default="officer")
    create.add_argument("--display-name")
    create.add_argument("--title")
    create.add_argument("--email")
    create.add_argument("--locale", choices=["zh_CN", "en"], default="zh_CN")
    create.add_argument("--password", help="or set CRM_NEW_PASSWORD, or type it when asked")
    create.set_defaults(func=cmd_user_create)

    demo = commands.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    load = demo.add_parser("load", help="load the demo zone (users officer/manager/admin, password demo1234)")
    load.add_argument("--anchor", help="the date the demo's 'today' falls on (YYYY-MM-DD); default today")
    load.add_argument("--if-empty", action="store_true", help="do nothing when the database already has users")
    load.set_defaults(func=cmd_demo_load)

    sessions = commands.add_parser("sessions", help="sign-in sessions").add_subparsers(dest="sessions_command", required=True)
    sessions.add_parser("purge", help="delete expired sessions").set_defaults(func=cmd_sessions_purge)

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
