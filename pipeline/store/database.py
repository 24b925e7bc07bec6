"""One small SQL interface over two engines: an embedded DuckDB file and a PostgreSQL server.

Everything above this module writes portable SQL with ``?`` placeholders; the PostgreSQL
connection rewrites them to ``%s``. Values are always bound as parameters, never formatted
into SQL; identifiers (table and column names) go through :func:`quote_ident`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from pipeline.errors import ChurnlensError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StoreError(ChurnlensError):
    """The results store cannot be opened or used as asked."""


def quote_ident(name: str) -> str:
    """A validated, double-quoted SQL identifier (both engines accept the same quoting)."""
    if not IDENTIFIER.match(name):
        raise StoreError(f"{name!r} cannot be used as a column or table name: use letters, digits and '_'")
    return f'"{name}"'


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class Database:
    """A connection with portable ``execute``/``query``/``upsert``; subclasses bind one engine."""

    dialect = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self._depth = 0

    # -- engine-specific ----------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence = ()) -> None: ...
    def query(self, sql: str, params: Sequence = ()) -> list[tuple]: ...
    def query_arrow(self, sql: str, params: Sequence = ()) -> pa.Table: ...
    def _insert_arrow(self, table: str, rows: pa.Table, conflict: str) -> None: ...

    # -- shared by both engines (``self.con`` is a DuckDB or psycopg connection) ---------------
    def _begin(self) -> None:
        self.con.execute("BEGIN")

    def _commit(self) -> None:
        self.con.execute("COMMIT")

    def _rollback(self) -> None:
        self.con.execute("ROLLBACK")

    def close(self) -> None:
        self.con.close()

    # -- portable -----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Nested use joins the outer transaction; an exception rolls everything back."""
        outer = self._depth == 0
        if outer:
            self._begin()
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if outer:
                self._rollback()
            raise
        self._depth -= 1
        if outer:
            self._commit()

    def upsert(self, table: str, rows: pa.Table, key: Sequence[str], keep: Sequence[str] = ()) -> None:
        """Insert ``rows`` (columns named like the table's), updating rows whose ``key`` already exists
        (except their ``keep`` columns)."""
        if rows.num_rows == 0:
            return
        updates = [c for c in rows.column_names if c not in key and c not in keep]
        target = ", ".join(quote_ident(c) for c in key)
        action = ("DO UPDATE SET " + ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}" for c in updates)
                  if updates else "DO NOTHING")
        self._insert_arrow(table, rows, f"ON CONFLICT ({target}) {action}")

    def insert(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self._insert_arrow(table, rows, "")

    def table_exists(self, name: str) -> bool:
        rows = self.query("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
        return bool(rows[0][0])

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DuckDatabase(Database):
    """An embedded DuckDB file: one writing process at a time (DuckDB's own file lock)."""

    dialect = "duckdb"

    def __init__(self, url: str, path: Path) -> None:
        import duckdb

        super().__init__(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            raise StoreError(f"cannot open {path}: {exc}. Another churnlens process probably has it open; "
                             "DuckDB allows one writer at a time (use PostgreSQL for concurrent runs).") from None

    def execute(self, sql: str, params: Sequence = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def query_arrow(self, sql: str, params: Sequence = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params)).to_arrow_table()

    def _insert_arrow(self, table: str, rows: pa.Table, conflict: str) -> None:
        columns = ", ".join(quote_ident(c) for c in rows.column_names)
        self.con.register("_churnlens_incoming", rows)
        try:
            self.con.execute(f"INSERT INTO {quote_ident(table)} ({columns}) "
                             f"SELECT {columns} FROM _churnlens_incoming {conflict}")
        finally:
            self.con.unregister("_churnlens_incoming")


class PostgresDatabase(Database):
    """A PostgreSQL server. Credentials come from the URL or, better, libpq's environment
    (``PGPASSWORD``, ``~/.pgpass``, ``PGSERVICE``): nothing is stored by churnlens."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__(url)
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to {redact_url(url)}: {str(exc).strip()}. Check the server is "
                             "running and the user, database and password (PGPASSWORD or ~/.pgpass).") from None

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence = ()) -> None:
        self.con.execute(self._sql(sql), list(params) or None)

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.con.execute(self._sql(sql), list(params) or None).fetchall()

    def query_arrow(self, sql: str, params: Sequence = ()) -> pa.Table:
        cursor = self.con.execute(self._sql(sql), list(params) or None)
        names = [d.name for d in cursor.description]
        rows = cursor.fetchall()
        return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})

    def _insert_arrow(self, table: str, rows: pa.Table, conflict: str) -> None:
        columns = ", ".join(quote_ident(c) for c in rows.column_names)
        staging = quote_ident(f"_incoming_{table}")
        with self.transaction():
            self.con.execute(f"DROP TABLE IF EXISTS {staging}")
            self.con.execute(f"CREATE TEMP TABLE {staging} (LIKE {quote_ident(table)} INCLUDING DEFAULTS)")
            with self.con.cursor().copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
                for row in zip(*(rows.column(c).to_pylist() for c in rows.column_names)):
                    copy.write_row(row)
            self.con.execute(f"INSERT INTO {quote_ident(table)} ({columns}) SELECT {columns} FROM {staging} {conflict}")
            self.con.execute(f"DROP TABLE {staging}")


def connect(url: str | Path) -> Database:
    """Open ``url``: ``postgresql://user@host:port/db``, ``duckdb:///path/file.duckdb`` or a ``.duckdb`` path."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    if text.startswith("duckdb://"):
        path = Path(text.removeprefix("duckdb://"))
    elif "://" not in text:
        path = Path(text)
    else:
        raise StoreError(f"unknown store {redact_url(text)!r}: use a .duckdb file path, duckdb:///path "
                         "or postgresql://user@host:5432/database")
    return DuckDatabase(text, path.expanduser().resolve())
