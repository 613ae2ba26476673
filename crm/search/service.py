"""The bigram index behind every search box: keep it in step with records, and find candidates for a query."""

from __future__ import annotations

from sqlalchemy import CompoundSelect, Select, delete, func, insert, intersect, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from crm import search_text
from crm.search.models import SearchTerm

MAX_QUERY_TERMS = 6  # enough to narrow to a handful of candidates; the substring check does the rest
COMMON_POSTINGS = 2000  # a bigram in more records than this narrows too little to be worth a candidate list
PROBE_ROWS = 2000  # records sampled to see whether a query of common bigrams is itself common


def terms(text: str) -> set[str]:
    """The distinct bigrams of a text, taken within each part and never across white space."""
    grams: set[str] = set()
    for part in text.split(search_text.SEPARATOR):
        for word in part.split():
            grams.update(word[i : i + 2] for i in range(len(word) - 1))
    return grams


def reindex(session: Session, *, kind: str, record_id: int, text: str) -> None:
    session.execute(delete(SearchTerm).where(SearchTerm.kind == kind, SearchTerm.record_id == record_id))
    rows = [{"term": t, "kind": kind, "record_id": record_id} for t in terms(text)]
    if rows:
        session.execute(insert(SearchTerm), rows)


_INSERT_QMARK = "INSERT INTO search_term (term, kind, record_id) VALUES (?, ?, ?)"  # SQLite's paramstyle
_INSERT_FORMAT = "INSERT INTO search_term (term, kind, record_id) VALUES (%s, %s, %s)"  # psycopg's


def reindex_many(session: Session, *, kind: str, texts: dict[int, str]) -> None:
    """reindex() for many records at once (an import): one delete and one insert per 500 records."""
    ids = list(texts)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(delete(SearchTerm).where(SearchTerm.kind == kind, SearchTerm.record_id.in_(chunk)))
        rows = sorted((t, kind, i) for i in chunk for t in terms(texts[i]))  # in the index's order: fewer pages
        if rows:  # the driver's executemany with plain tuples: 50,000 records are ~4 million rows
            connection = session.connection()
            connection.exec_driver_sql(_INSERT_QMARK if connection.dialect.paramstyle == "qmark" else _INSERT_FORMAT,
                                       rows)


def candidate_ids(kind: str, query: str) -> Select | CompoundSelect | None:
    """Ids of records that contain every bigram of the query, or None for a one-character query (no bigram:
    the caller then relies on the substring match alone)."""
    grams = sorted(terms(search_text.query_text(query)))
    if not grams:
        return None
    if len(grams) > MAX_QUERY_TERMS:
        step = len(grams) / MAX_QUERY_TERMS
        grams = [grams[int(i * step)] for i in range(MAX_QUERY_TERMS)]
    # One posting list per bigram, intersected: each part is a range of the primary key (term, kind, ...).
    # (A GROUP BY over `term IN (...)` tempts SQLite into walking the whole kind through the other index.)
    parts = [select(SearchTerm.record_id).where(SearchTerm.term == g, SearchTerm.kind == kind) for g in grams]
    return parts[0] if len(parts) == 1 else intersect(*parts)


def is_common(session: Session, kind: str, query: str, text_column) -> bool:
    """Whether the query is common among the records of `kind` (新能源 in a tenth of the visits): then the list is
    better read in its display order, each row checked by substring and stopped after a page, than built from
    tens of thousands of candidates and sorted. Common means: even its rarest bigram is in more than
    COMMON_POSTINGS records, and the query itself occurs in a sample of PROBE_ROWS records (common pieces can make
    a rare whole — 生物流 — which a scan in display order would look for through the whole table)."""
    grams = terms(search_text.query_text(query))
    if not grams:
        return False
    for gram in grams:
        postings = select(SearchTerm.record_id).where(SearchTerm.term == gram, SearchTerm.kind == kind)
        counted = session.scalar(select(func.count()).select_from(postings.limit(COMMON_POSTINGS + 1).subquery()))
        if (counted or 0) <= COMMON_POSTINGS:
            return False
    sample = select(text_column.label("text")).limit(PROBE_ROWS).subquery()
    found = session.scalar(select(func.count()).select_from(
        select(sample.c.text).where(sample.c.text.contains(search_text.query_text(query), autoescape=True))
        .limit(1).subquery()))
    return bool(found)


def matching(stmt: Select, id_column, text_column, kind: str, query: str, *, common: bool = False) -> Select:
    """`stmt` restricted to records whose search text contains the query: the bigram candidates narrow (unless
    the query is `common`), the substring confirms. The one way every list's search box filters."""
    stmt = narrow(stmt, id_column, kind, query, common=common)
    return stmt.where(text_column.contains(search_text.query_text(query), autoescape=True))


def narrow(stmt: Select, id_column, kind: str, query: str, *, common: bool = False) -> Select:
    """Joins `stmt` to the query's candidates, so the database starts from the (short) candidate list and looks
    records up by primary key, instead of walking the whole table and probing the list for each row. For a
    `common` query (is_common) it leaves `stmt` as it is: the caller's substring match does the filtering."""
    candidates = None if common else candidate_ids(kind, query)
    if candidates is None:
        return stmt
    sub = candidates.subquery()
    return stmt.join(sub, id_column == sub.c.record_id)


def narrows(query: str, *, common: bool = False) -> bool:
    """Whether matching() starts from a candidate list for this query (it has a bigram and is not `common`)."""
    return bool(query) and not common and bool(terms(search_text.query_text(query)))


class unindexed(FunctionElement):
    """`column`, which SQLite must not choose an index for: `+column` there, the column itself elsewhere.
    A list narrowed to a query's candidates filters its live records by `archived_at IS NULL`; SQLite's statistics
    (sqlite_stat1) give the list indexes' archived_at some 50 rows a value, so the planner takes that condition for
    a few dozen rows, walks the list's index through every live record and probes the candidates for each (80 ms
    for 复星 among 20,000 organizations, against 0.1 ms from the candidates; issue 17). PostgreSQL's statistics
    know the NULLs and need no hint."""

    inherit_cache = True

    def __init__(self, column) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)
