"""The SQL Server side: one ``MssqlResource`` per source database, over pymssql.

It connects (always closing), introspects a table's declared columns and primary key
from INFORMATION_SCHEMA, counts rows with ``COUNT_BIG(*)`` and streams a SELECT in
``fetchmany`` batches so memory does not grow with table size.

Catalog queries and counts are retried on transient network failures (see
:mod:`mctm_replica.retry`); a streamed copy is retried as a whole by the IO manager,
because a copy cut mid-stream must restart in a fresh PostgreSQL transaction.

TDS 7.4 is requested explicitly: below 7.3, FreeTDS hands date, time, datetime2 and
datetimeoffset to pymssql as strings.

Encryption, certificate validation and read-only intent come from the source's entry in
tables.yaml (:mod:`mctm_replica.connection_settings`, :mod:`.freetds`); every session
names itself ``mctm_replica`` (``program_name`` in ``sys.dm_exec_sessions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

import pymssql
from pymssql import _mssql
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from mctm_replica.connection_settings import Encryption, SourceConnection
from mctm_replica.tsql.catalog import COLUMNS_SQL, ESTIMATE_SQL, PRIMARY_KEY_SQL, VERSION_SQL
from mctm_replica.tsql.quoting import qualified
from mctm_replica.tsql.reads import count_sql
from mctm_replica.resources.freetds import connect_kwargs
from mctm_replica.resources.prelogin import encryption_hint
from mctm_replica.retry import RetryPolicy, call_with_retries
from mctm_replica.typemap import SourceType

T = TypeVar("T")
#: What a DBA sees as program_name in sys.dm_exec_sessions.
APP_NAME = "mctm_replica"


class SourceError(RuntimeError):
    """A SQL Server source could not be reached or read; the message names source and table."""


class SourceTableNotFound(SourceError):
    pass


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: SourceType
    nullable: bool
    ordinal: int


@dataclass(frozen=True)
class SourceTable:
    schema: str
    table: str
    columns: list[SourceColumn]
    primary_key: list[str]  # in key order; empty when the table has none

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


class MssqlResource(ConfigurableResource):
    """One SQL Server database, read with pymssql. Secrets come from ``EnvVar``."""

    host: str = Field(description="SQL Server host name or address")
    port: int = Field(default=1433, description="SQL Server TCP port")
    database: str = Field(description="Database to log in to")
    user: str = Field(description="SQL login")
    password: str = Field(description="SQL login password (set through EnvVar)")
    login_timeout: int = Field(default=30, description="Seconds to wait for a login")
    query_timeout: int = Field(
        default=600,
        description="Seconds to wait for any one server response (0 = no limit)",
    )
    batch_size: int = Field(
        default=10_000,
        description="Rows per fetchmany batch (the Lambda used 10,000); bounds memory per batch",
    )
    retry_attempts: int = Field(
        default=RetryPolicy.max_attempts,
        description="Attempts for catalog queries and counts on transient network failures",
    )
    retry_base_delay_s: float = Field(
        default=RetryPolicy.base_delay_s,
        description="First backoff delay in seconds; doubles per attempt, with jitter",
    )
    format_on_server: bool = Field(
        default=True,
        description="Copies ask SQL Server for each row as a line of PostgreSQL CSV (SQL Server "
        "2016+); false reads typed values and formats them in Python",
    )
    source: str = Field(default="", description="The source's name in tables.yaml, for messages")
    encryption: Encryption = Field(
        default="request", description="off, request (FreeTDS's default), require or strict (TDS 8.0)")
    ca_file: str | None = Field(
        default=None, description="PEM file (or `system`) to validate the server's certificate against")
    trust_server_certificate: bool | None = Field(
        default=None, description="true: never validate the certificate (explicit FreeTDS default)")
    read_only_intent: bool = Field(
        default=False, description="ApplicationIntent=ReadOnly, for Availability Group secondaries")

    def connection_settings(self) -> SourceConnection:
        return SourceConnection(self.encryption, self.trust_server_certificate, self.ca_file,
                                self.read_only_intent)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.retry_attempts, base_delay_s=self.retry_base_delay_s)

    def _retrying(self, fn: Callable[[], T], what: str) -> T:
        result, _attempts = call_with_retries(
            fn, what=what, policy=self.retry_policy(), log=get_dagster_logger()
        )
        return result

    def _where(self) -> str:
        # Never the password: this text goes into error messages and logs.
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    @contextmanager
    def get_connection(self) -> Iterator[pymssql.Connection]:
        """An open pymssql connection (autocommit, read-only use) that is always closed."""
        settings = self.connection_settings()
        if settings.ca_file not in (None, "system") and not Path(settings.ca_file).is_file():
            raise SourceError(f"source `{self.source}`: `ca_file` {settings.ca_file} does not exist; "
                              f"fix the path in tables.yaml")
        try:
            conn = pymssql.connect(
                **connect_kwargs(settings, host=self.host, port=self.port),
                user=self.user,
                password=self.password,
                database=self.database,
                login_timeout=self.login_timeout,
                timeout=self.query_timeout,
                appname=APP_NAME,
                autocommit=True,
                # pymssql's default session batch (conn_properties) includes SET TEXTSIZE
                # 2147483647. Never replace it: without it SQL Server cuts every (max), text
                # and image value at 4,096 bytes, silently.
            )
        except pymssql.Error as e:
            raise SourceError(
                f"cannot connect to SQL Server {self._where()}: {_first_line(e)}; "
                + self._connect_hint()
            ) from e
        try:
            yield conn
        finally:
            conn.close()

    def _connect_hint(self) -> str:
        """The likely cause of a failed login, from what the server says about encryption."""
        return encryption_hint(self.connection_settings(), source=self.source, host=self.host,
                               port=self.port, timeout_s=min(self.login_timeout, 10)) or (
            "check the host, port, database, user and password environment variables of this source")

    def server_version(self) -> str:
        with self.get_connection() as conn, conn.cursor() as cur:
            cur.execute(VERSION_SQL)
            return str(cur.fetchone()[0])

    def describe_table(self, schema: str, table: str) -> SourceTable:
        return self._retrying(
            lambda: self._describe_table(schema, table), f"describing `{schema}.{table}`"
        )

    def _describe_table(self, schema: str, table: str) -> SourceTable:
        with self.get_connection() as conn, conn.cursor() as cur:
            cur.execute(COLUMNS_SQL, (schema, table))
            rows = cur.fetchall()
            if not rows:
                raise SourceTableNotFound(
                    f"source table `{schema}.{table}` not found in {self._where()}; check "
                    f"`source_table` in tables.yaml and the login's permissions"
                )
            cur.execute(PRIMARY_KEY_SQL, (schema, table))
            pk = [r[0] for r in cur.fetchall()]
        columns = [
            SourceColumn(
                name=r[0],
                type=SourceType(str(r[1]).lower(), r[2], r[3], r[4], r[5]),
                nullable=r[6] == "YES",
                ordinal=int(r[7]),
            )
            for r in rows
        ]
        return SourceTable(schema, table, columns, pk)

    def count_rows(self, schema: str, table: str, *, nolock: bool = True) -> int:
        return self._retrying(
            lambda: self._count_rows(schema, table, nolock=nolock), f"counting `{schema}.{table}`"
        )

    def _count_rows(self, schema: str, table: str, *, nolock: bool) -> int:
        with self.get_connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(count_sql(schema, table, nolock=nolock))
            except pymssql.Error as e:
                raise SourceError(
                    f"cannot count `{schema}.{table}` in {self._where()}: {_first_line(e)}"
                ) from e
            return int(cur.fetchone()[0])

    def scalar(self, sql: str, *, what: str):
        """The single value ``sql`` returns (retried on transient failures)."""
        def once():
            with self.get_connection() as conn, conn.cursor() as cur:
                try:
                    cur.execute(sql)
                except pymssql.Error as e:
                    raise SourceError(f"cannot read {what} from {self._where()}: {_first_line(e)}") from e
                return cur.fetchone()[0]

        return self._retrying(once, f"reading {what}")

    def estimate_rows(self, schema: str, table: str) -> int | None:
        """The row count SQL Server keeps in its catalog (``sys.partitions``): no scan, so
        progress can show percent and ETA for free. None if it cannot be read."""
        try:
            with self.get_connection() as conn, conn.cursor() as cur:
                cur.execute(ESTIMATE_SQL, (qualified(schema, table),))
                row = cur.fetchone()
        except (SourceError, pymssql.Error):
            return None
        return int(row[0]) if row and row[0] is not None else None

    @contextmanager
    def stream(self, sql: str, params: tuple = (), *, what: str) -> Iterator[Iterator[list[tuple]]]:
        """Run ``sql`` (``%s`` placeholders take ``params``) on its own connection and
        yield an iterator of row batches.

        The connection closes when the ``with`` block ends, even if the batches were not
        all read (a failed load), so a cancelled copy never leaves a query running.
        """
        with self.get_connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, params or None)
            except pymssql.Error as e:
                raise SourceError(f"cannot read {what} from {self._where()}: {_first_line(e)}") from e

            # One row iterator for the whole result, where the cursor's fetchmany makes one
            # per row: ~20% less CPU per row in the copy's reader (issue 15). The same rows
            # and values -- fetchmany is this loop -- and its errors mapped as it maps them.
            rows_of = (conn._conn.get_iterator(_mssql.ROW_FORMAT_TUPLE)
                       if cur.description is not None else None)

            def batches() -> Iterator[list[tuple]]:
                while True:
                    try:
                        # (no result set: the cursor raises its own error)
                        rows = (cur.fetchmany(self.batch_size) if rows_of is None
                                else _next_rows(rows_of, self.batch_size))
                    except pymssql.Error as e:
                        raise SourceError(
                            f"reading {what} from {self._where()} failed mid-stream: {_first_line(e)}"
                        ) from e
                    if not rows:
                        return
                    yield rows

            yield batches()


def _next_rows(rows_of: Iterator[tuple], n: int) -> list[tuple]:
    """Up to ``n`` rows; a driver error raised as pymssql's cursor raises it."""
    try:
        return list(islice(rows_of, n))
    except _mssql.MSSQLDatabaseException as e:
        raise pymssql.OperationalError(e.args[0]) from e
    except _mssql.MSSQLDriverException as e:
        raise pymssql.InterfaceError(e.args[0]) from e


def _first_line(e: BaseException) -> str:
    text = " ".join(str(a.decode(errors="replace") if isinstance(a, bytes) else a) for a in e.args)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__
