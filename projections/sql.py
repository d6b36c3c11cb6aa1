"""SQL written once for both read-model databases: the dialect, and a cursor taking `?`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

# Up to this many rows, `add_rows` upserts them in one statement on PostgreSQL.
FEW_ROWS = 100


class Dialect(StrEnum):
    """Which SQL the database speaks."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


@lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    # Our SQL is written once with `?` and never holds a literal `?` or `%`.
    return sql.replace("%", "%%").replace("?", "%s")


class Tables(Protocol):
    """What a cursor needs of its database: the dialect, and a table's qualified name."""

    dialect: Dialect

    def table(self, name: str) -> str:
        """The table's name as the SQL writes it (in its schema on PostgreSQL)."""
        ...


class Cursor:
    """One transaction's cursor: SQL is written with `?` placeholders on both dialects."""

    def __init__(self, db: Tables, raw: Any) -> None:
        self._db = db
        self._raw = raw
        self._postgres = db.dialect is Dialect.POSTGRES

    def _sql(self, sql: str) -> str:
        return _to_pyformat(sql) if self._postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        self._raw.execute(self._sql(sql), params)
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters (pipelined on PostgreSQL)."""
        rows = list(rows)
        if rows:
            self._raw.executemany(self._sql(sql), rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Return the remaining rows of the last query."""
        rows: list[tuple[Any, ...]] = self._raw.fetchall()
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        """Return the next row of the last query, or None."""
        row: tuple[Any, ...] | None = self._raw.fetchone()
        return row

    @property
    def rowcount(self) -> int:
        """How many rows the last statement changed."""
        count: int = self._raw.rowcount
        return count

    def copy_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        types: Sequence[str] | None = None,
    ) -> None:
        """Insert many rows fast into a table (unqualified name): COPY on PostgreSQL.

        With the columns' PostgreSQL `types` (e.g. "int8", "text", "date": a DATE takes a
        `datetime.date`), the rows are copied in binary, cheaper on both sides.
        """
        rows = list(rows)
        if not rows:
            return
        qualified = self._db.table(table)
        names = ", ".join(columns)
        if self._postgres:
            binary = types is not None
            options = " (FORMAT BINARY)" if binary else ""
            with self._raw.copy(f"COPY {qualified} ({names}) FROM STDIN{options}") as copy:
                if types is not None:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self._raw.executemany(f"INSERT INTO {qualified} ({names}) VALUES ({marks})", rows)  # noqa: S608

    def add_rows(
        self,
        table: str,
        keys: Sequence[str],
        measures: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """Add measures to the rows of a table (unqualified name) by key; create missing rows.

        Each row is keys then measures; a key appears at most once. PostgreSQL upserts a few
        rows in one statement, and copies many into a scratch table first; SQLite upserts
        each row.
        """
        rows = list(rows)
        if not rows:
            return
        qualified = self._db.table(table)
        columns = [*keys, *measures]
        names = ", ".join(columns)
        updates = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in measures)
        conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        if self._postgres and len(rows) <= FEW_ROWS:
            # A live page's handful: one statement.
            values = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * len(rows))
            self._raw.execute(
                f"INSERT INTO {qualified} AS t ({names}) VALUES {values} {conflict}",  # noqa: S608
                [value for row in rows for value in row],
            )
            return
        if self._postgres:
            # COPY into a session-private scratch table, then one upsert from it.
            scratch = f"pg_temp.{table}_add"
            self._raw.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {table}_add "
                f"(LIKE {qualified}) ON COMMIT DELETE ROWS"
            )
            with self._raw.copy(f"COPY {scratch} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            self._raw.execute(
                f"INSERT INTO {qualified} AS t ({names}) "  # noqa: S608
                f"SELECT {names} FROM {scratch} {conflict}"
            )
            self._raw.execute(f"DELETE FROM {scratch}")  # noqa: S608
            return
        marks = ", ".join("?" * len(columns))
        self._raw.executemany(
            f"INSERT INTO {qualified} AS t ({names}) VALUES ({marks}) {conflict}",  # noqa: S608
            rows,
        )

    def select_in(
        self, sql: str, values: Iterable[Any], params: Sequence[Any] = (), chunk: int = 500
    ) -> list[tuple[Any, ...]]:
        """Run `sql`, whose last condition ends with `IN ({})`, over many values in chunks.

        PostgreSQL runs it once, with `= ANY(array)` for the `IN` list.
        """
        values = list(values)
        rows: list[tuple[Any, ...]] = []
        if self._postgres and "IN ({})" in sql:
            if values:
                self.execute(sql.replace("IN ({})", "= ANY(?)"), (*params, values))
                rows = self.fetchall()
            return rows
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            self.execute(sql.format(", ".join("?" * len(part))), (*params, *part))
            rows.extend(self.fetchall())
        return rows
