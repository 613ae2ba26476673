"""Reading what tests need out of pages and the database."""

import re

from sqlalchemy import func, select


def field_error(html: str, name: str) -> str | None:
    """The error text shown beside form field `name`, if any."""
    match = re.search(rf'<p class="field-error" id="{re.escape(name)}-error">(.*?)</p>', html, re.S)
    return match.group(1) if match else None


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input [^>]*id="f-{re.escape(name)}" name="{re.escape(name)}"[^>]*?value="([^"]*)"', html)
    return match.group(1) if match else None


def textarea_value(html: str, name: str) -> str | None:
    match = re.search(rf'<textarea [^>]*id="f-{re.escape(name)}" name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    return match.group(1) if match else None


def count_rows(session, model) -> int:
    """Rows of `model` as committed now (the test's session starts a fresh read)."""
    session.expire_all()
    n = session.scalar(select(func.count()).select_from(model))
    session.commit()
    return n


def reload(session, model, record_id: int):
    session.expire_all()
    record = session.get(model, record_id)
    session.commit()
    return record
