from __future__ import annotations

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base


class SearchTerm(Base):
    """One overlapping two-character piece (bigram) of a record's searchable text.

    A query's bigrams narrow the candidates through the primary key (term, kind, record_id); a substring match on
    the record's own search text then confirms them. Works for two-character Chinese words, pinyin initials and
    English alike, on SQLite and PostgreSQL, without a full-text extension."""

    __tablename__ = "search_term"
    __table_args__ = (Index("ix_search_term_record", "kind", "record_id"),)

    term: Mapped[str] = mapped_column(String(2), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
