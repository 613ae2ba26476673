"""One read statement, run on the event loop for every request, at the driver's cost (issue 17).

The session lookup (and the bell's count with it) runs on every request. Through SQLAlchemy Core it cost ~70 µs, of
which SQLite itself needs ~6: the rest is Core's per-execution work (the execution context, the result object, the
begin/commit events). `PreparedRead` compiles its statement once per dialect — SQL text, parameter order, bind and
result processors, all from SQLAlchemy itself, so the values are exactly what Core would give (aware UTC datetimes,
booleans) — and runs it on a raw connection of the loop engine's pool. A driver error is re-raised as SQLAlchemy's
DBAPIError, as Core would raise it, so a busy database is still a 503 (crm.main).

Only for a single SELECT with no side effect: it fires no SQLAlchemy execution events, and opens no transaction of its
own (SQLite's connections run in autocommit mode, see crm.db._configure_sqlite; PostgreSQL's pool rolls back on
return).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # positional paramstyles: the parameters' order; None for named ones
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: type


class PreparedRead:
    """`PreparedRead(select(...)).first(engine, name=value, ...)`: the first row (a named tuple whose fields are the
    selected columns' keys) or None; `.all(...)` every row."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup) if compiled.positional else None
        binds = tuple((name, processor) for name, bind in compiled.binds.items()
                      if (processor := bind.type._cached_bind_processor(dialect)) is not None)
        columns = list(self.statement.selected_columns)
        results = tuple((i, processor) for i, column in enumerate(columns)
                        if (processor := column.type._cached_result_processor(dialect, None)) is not None)
        row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        return _Compiled(str(compiled), names, binds, results, row)

    def first(self, engine: Engine, **params: Any) -> Any:
        rows = self._run(engine, params, many=False)
        return rows[0] if rows else None

    def all(self, engine: Engine, **params: Any) -> list[Any]:
        """Every row, as named tuples."""
        return self._run(engine, params, many=True)

    def _run(self, engine: Engine, params: dict[str, Any], *, many: bool) -> list[Any]:
        dialect = engine.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        for name, processor in compiled.binds:
            params[name] = processor(params[name])
        bound: Any = params if compiled.names is None else tuple(params[name] for name in compiled.names)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(compiled.sql, bound)
                if many:
                    found = cursor.fetchall()
                else:
                    one = cursor.fetchone()
                    found = [] if one is None else [one]
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, connection, None)
            if invalidated:
                connection.invalidate(error)
            raise DBAPIError.instance(compiled.sql, bound, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated) from error
        finally:
            connection.close()
        if not compiled.results:
            return [compiled.row._make(values) for values in found]
        rows = []
        for values in found:
            values = list(values)
            for i, processor in compiled.results:
                values[i] = processor(values[i])
            rows.append(compiled.row._make(values))
        return rows
