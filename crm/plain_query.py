"""A list page's SELECT at the driver's cost, on the request's own session (issue 17).

Through the ORM session a list query cost 150–250 µs before SQLite did any work (building the statement, its cache
key, the ORM's compile state, the execution context, the result object), and a list page runs five to ten of them.
`PlainQuery` holds a statement built once (its varying values are `bindparam`s), compiles it once per dialect — SQL
text, parameter order, bind and result processors, all from SQLAlchemy itself, so the values are exactly what Core
would give (aware UTC datetimes, dates, Decimals, booleans) — and runs it on the session's own connection, inside the
session's transaction, as plain tuples. An expanding parameter (`bindparam("ids", expanding=True)`) is written out
for the length of the list given, and that compilation kept too.

Fires the engine's `before_cursor_execute` event as Core does (the write tracking sees it; the tests' query counts
include it). A driver error is re-raised as SQLAlchemy's DBAPIError, as Core would raise it (a busy database is a
503, crm.main). Only for SELECTs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # positional paramstyles: the parameters' order (expanded); None for named ones
    defaults: dict[str, Any]  # the values written into the statement itself (limit(1), a constant)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    expanding: tuple[str, ...]
    # by the column types the driver reports (PostgreSQL's numeric processors depend on them): set on the first run
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None


class PlainQuery:
    """`PlainQuery(select(...))`: `.rows(session, name=value, ...)` the rows as tuples, `.scalar(...)` the first
    column of the first row. A list or tuple value goes to an expanding parameter."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[tuple, _Compiled] = {}

    def _compile(self, dialect: Dialect, lengths: tuple[tuple[str, int], ...]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        sql = str(compiled)
        names = list(compiled.positiontup) if compiled.positional else None
        sizes = dict(lengths)
        expanding = []
        defaults, binds, seen = {}, [], set()
        for bind, name in compiled.bind_names.items():
            if name in seen:  # a parameter used more than once (several bindparam("x") objects, or clones)
                continue
            seen.add(name)
            if bind.expanding:  # a list given when run, or one written into the statement (`stage.in_([...])`)
                expanding.append(name)
                if name not in sizes and not bind.required:
                    defaults[name] = list(bind.value or ())
                count = sizes.get(name, len(defaults.get(name, ())))
                if names is not None:
                    sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(["?"] * count) if count else "NULL")
                    at = names.index(name)
                    names[at:at + 1] = [f"{name}_{i}" for i in range(count)]
                else:
                    sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(
                        f"%({name}_{i})s" for i in range(count)) if count else "NULL")
                continue
            if not bind.required and bind.callable is None:
                defaults[name] = bind.value
            if (processor := bind.type._cached_bind_processor(dialect)) is not None:
                binds.append((name, processor))
        return _Compiled(sql, tuple(names) if names is not None else None, defaults, tuple(binds), tuple(expanding))

    def _results(self, dialect: Dialect, description: Sequence[Any]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        columns = list(self.statement.selected_columns)
        return tuple((i, processor) for i, column in enumerate(columns)
                     if (processor := column.type._cached_result_processor(dialect, description[i][1])) is not None)

    def _run(self, session: Session, params: dict[str, Any], one: bool) -> Any:
        connection: Connection = session.connection()
        dialect = connection.dialect
        lengths = tuple((name, len(value)) for name, value in params.items() if isinstance(value, (list, tuple)))
        key = (dialect.name, lengths)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(dialect, lengths)
        values = {**compiled.defaults, **params}
        for name, processor in compiled.binds:
            values[name] = processor(values[name])
        for name in compiled.expanding:
            values.update((f"{name}_{i}", item) for i, item in enumerate(values.pop(name)))
        bound: Any = values if compiled.names is None else tuple(values[name] for name in compiled.names)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            if connection.dispatch.before_cursor_execute:
                connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, bound, None, False)
            cursor.execute(compiled.sql, bound)
            found = cursor.fetchone() if one else cursor.fetchall()
            if compiled.results is None:
                compiled.results = self._results(dialect, cursor.description)
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(compiled.sql, bound, error, dialect.loaded_dbapi.Error) from error
        finally:
            cursor.close()
        if not compiled.results:
            return found
        if one:
            return None if found is None else _processed(found, compiled.results)
        return [_processed(row, compiled.results) for row in found]

    def rows(self, session: Session, **params: Any) -> list[Sequence[Any]]:
        return self._run(session, params, one=False)

    def scalar(self, session: Session, **params: Any) -> Any:
        row = self._run(session, params, one=True)
        return None if row is None else row[0]


def _processed(row: Sequence[Any], results: tuple[tuple[int, Callable[[Any], Any]], ...]) -> list[Any]:
    values = list(row)
    for i, processor in results:
        values[i] = processor(values[i])
    return values
