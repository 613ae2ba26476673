"""The database layer: migrations match the models; SQLite is set up for concurrent use."""

import threading

from sqlalchemy import func, select, text

from crm import migrate
from crm.db import DEFAULT_BUSY_TIMEOUT_MS
from crm.organizations.models import IndustryChain, Organization
from tests.factories import make_org


def test_models_and_migrations_agree(db):
    """Autogenerate finds nothing: every model change comes with its migration."""
    assert migrate.pending_differences(db.engine) == []


def test_migrations_seed_the_industry_chains(session):
    names = set(session.scalars(select(IndustryChain.name_zh)))
    assert {"新能源", "生物医药", "高端装备制造", "新一代信息技术", "新材料", "现代服务业"} <= names


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    if not db.is_sqlite:
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # Long enough to queue behind other one-step writes, short enough to answer "busy" (503) instead of hanging.
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == DEFAULT_BUSY_TIMEOUT_MS


def test_foreign_keys_are_enforced(db):
    import pytest
    from sqlalchemy.exc import IntegrityError

    with db.write_session() as s, pytest.raises(IntegrityError):
        s.execute(text("INSERT INTO contact (organization_id, name, title, mobile, phone, email, wechat, notes, "
                       "search_text, created_at, updated_at, version) VALUES (424242, 'x', '', '', '', '', '', '', '', "
                       "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"))
        s.flush()


def test_concurrent_writers_wait_instead_of_failing(db, session, users):
    """Read-then-write transactions from several threads: with IMMEDIATE write transactions none fails
    with 'database is locked'; each waits its turn. (A deferred transaction would fail here on SQLite.)"""
    org = make_org(session, actor=users["officer"], name="并发测试")
    errors: list[BaseException] = []
    writers, rounds = 6, 15

    def work():
        try:
            for _ in range(rounds):
                with db.write_sessions() as s:
                    current = s.scalar(select(Organization.city).where(Organization.id == org.id))  # read first
                    s.execute(text("UPDATE organization SET city = :c WHERE id = :i"),
                              {"c": (current or "") [:10] + "x", "i": org.id})
                    s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]
    session.expire_all()
    assert session.scalar(select(func.count(Organization.id))) == 1


def test_a_sqlite_database_with_rows_upgrades_through_table_rebuilds(tmp_path):
    """Batch migrations rebuild a SQLite table (copy, drop, rename); the DROP must not trip over the rows that point
    at it. From the revision before users got a manager, with a user, a session and an organization on file."""
    from crm.db import Database

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(url, "b40f5bb2913a")
    database = Database(url)
    try:
        with database.engine.begin() as conn:
            conn.execute(text("INSERT INTO user_account (id, username, display_name, title, email, role, locale, "
                              "password_hash, is_active, created_at, updated_at, version) VALUES (1, 'li', '李明', '', "
                              "'', 'officer', 'zh_CN', 'x', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"))
            conn.execute(text("INSERT INTO web_session (id, user_id, created_at, last_seen_at, user_agent) "
                              "VALUES ('s', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '')"))
        migrate.upgrade(url)
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT username, department, manager_id FROM user_account")).one() == (
                "li", "", None)
            assert conn.execute(text("SELECT user_id FROM web_session")).scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert migrate.pending_differences(database.engine) == []
    finally:
        database.dispose()
