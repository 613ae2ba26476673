"""The database layer: migrations match the models; SQLite is set up for concurrent use."""

import threading

from sqlalchemy import func, select, text

from crm import migrate
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
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


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
