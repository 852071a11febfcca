"""The PostgreSQL IO manager for replica tables: client, type handlers and factory.

Safe full refresh, in one PostgreSQL transaction:

1. ``pg_advisory_xact_lock`` on the table name: two runs never refresh one table at once.
2. Create the schema and the replica table on first use (type map, primary key); an
   existing table must have exactly the expected columns and types, or the run fails
   naming every difference.
3. ``COPY`` every row into a ``TEMP`` staging table (no WAL, dropped at commit). Readers
   of the live table are not blocked at all during this, the long network transfer.
4. ``LOCK`` the live table, ``TRUNCATE`` it and ``INSERT ... SELECT`` from staging: the
   exclusive-lock window is this server-side copy only. The live table keeps its OID, so
   views, grants, comments and other dependants survive.
5. ``COMMIT``. A failure or a killed process anywhere before it rolls everything back and
   the previous contents stay; readers never see an empty or partial table, because
   TRUNCATE and INSERT become visible together at commit.

Reading from SQL Server and loading overlap (:mod:`~mctm_replica.io_managers.copy_stream`):
a reader thread fetches, the COPY side encodes and streams, through a small bounded queue.

A refresh that fails for a transient reason (connection to either server lost, login
timeout) is retried as a whole -- new connection, new transaction, source read again
from the first row -- with backoff (:mod:`mctm_replica.retry`); the materialization
metadata records ``attempts``.

Names come from the asset key only: ``[schema, table]``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import psycopg2
import psycopg2.errors
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    IOManager,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from psycopg2 import sql
from pydantic import Field

from mctm_replica.io_managers.copy_format import CsvBatchEncoder
from mctm_replica.io_managers.copy_stream import CopyFeed, Progress
from mctm_replica.plan import ReplicaBatches, TablePlan
from mctm_replica.resources.postgres import PostgresResource, TargetError
from mctm_replica.retry import RetryPolicy, call_with_retries

class ReplicaLayoutError(TargetError):
    """An existing replica table no longer matches the source's columns and types."""


class PostgresClient:
    """All SQL the IO manager runs. Identifiers only ever go through ``sql.Identifier``."""

    @staticmethod
    def table(slice_: TableSlice) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(slice_.schema), sql.Identifier(slice_.table))

    @staticmethod
    def ensure_schema(conn, schema: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS in its own short transaction.

        Two assets of one schema may race here; the loser's unique violation on
        pg_namespace is the one expected error and means the schema now exists.
        """
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.commit()
        except psycopg2.errors.UniqueViolation:
            conn.rollback()

    @staticmethod
    def existing_columns(cur, slice_: TableSlice) -> list[tuple[str, str, bool]] | None:
        """(name, format_type, nullable) in column order, or None if the table is absent."""
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (slice_.schema, slice_.table),
        )
        rows = cur.fetchall()
        if rows:
            return rows
        cur.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (slice_.schema, slice_.table),
        )
        return [] if cur.fetchone() else None

    @staticmethod
    def create_table(cur, slice_: TableSlice, plan: TablePlan) -> None:
        parts = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.target_name),
                sql.SQL(c.pg_type),  # from the type map's fixed vocabulary, never user text
                sql.SQL("" if c.nullable else " NOT NULL"),
            )
            for c in plan.columns
        ]
        if plan.primary_key:
            parts.append(
                sql.SQL("PRIMARY KEY ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, plan.primary_key))
                )
            )
        cur.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                PostgresClient.table(slice_), sql.SQL(", ").join(parts)
            )
        )

    @staticmethod
    def check_layout(existing: Sequence[tuple[str, str, bool]], plan: TablePlan, name: str) -> None:
        expected = [(c.target_name, c.pg_type) for c in plan.columns]
        actual = [(n, t) for n, t, _ in existing]
        if expected == actual:
            return
        exp, act = dict(expected), dict(actual)
        diffs = [f"`{n}` missing (source gives {t})" for n, t in expected if n not in act]
        diffs += [f"`{n}` {act[n]} in the replica, {t} from the source"
                  for n, t in expected if n in act and act[n] != t]
        diffs += [f"`{n}` is not in the source any more" for n, _ in actual if n not in exp]
        if not diffs:
            diffs = ["column order differs"]
        raise ReplicaLayoutError(
            f"replica table `{name}` no longer matches its source: {'; '.join(diffs)}. "
            f"Fix: drop the replica table so the next run recreates it (dependent views must "
            f"be recreated too), or restore the source columns / adjust tables.yaml"
        )

    @staticmethod
    def create_stage(cur, slice_: TableSlice) -> sql.Composed:
        """A TEMP copy of the live table's columns: no WAL, gone at commit or rollback."""
        stage = sql.Identifier(stage_name(slice_))
        cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
            stage, PostgresClient.table(slice_)))
        return stage

    @staticmethod
    def copy_into(stage: sql.Composed, columns: Sequence[str]) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            stage, sql.SQL(", ").join(map(sql.Identifier, columns)))

    @staticmethod
    def swap(cur, slice_: TableSlice, stage: sql.Composed, columns: Sequence[str],
             lock_timeout_s: int) -> None:
        """The short server-side step that makes the new rows live: readers wait at most for
        this, never for the transfer. The live table keeps its OID, so dependants survive."""
        live = PostgresClient.table(slice_)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_s}s",))
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(live))
        cur.execute(sql.SQL("TRUNCATE {}").format(live))
        cur.execute(sql.SQL("INSERT INTO {} ({cols}) SELECT {cols} FROM {}").format(
            live, stage, cols=cols))

    @staticmethod
    def select(slice_: TableSlice, columns: Sequence[str] | None = None) -> sql.Composed:
        cols = (
            sql.SQL(", ").join(map(sql.Identifier, columns)) if columns else sql.SQL("*")
        )
        return sql.SQL("SELECT {} FROM {}").format(cols, PostgresClient.table(slice_))

    @staticmethod
    def count(conn, slice_: TableSlice) -> int:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(PostgresClient.table(slice_)))
            return int(cur.fetchone()[0])


class ReplicaBatchesTypeHandler(DbTypeHandler[ReplicaBatches]):
    """Writes a :class:`ReplicaBatches` stream with the safe full refresh described above."""

    def __init__(self, lock_timeout_s: int):
        self.lock_timeout_s = lock_timeout_s

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [ReplicaBatches]

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: ReplicaBatches, connection
    ) -> Mapping[str, Any]:
        plan, name = obj.plan, f"{table_slice.schema}.{table_slice.table}"
        encoder = CsvBatchEncoder(
            plan.target_columns,
            [c.value for c in plan.columns],
            [c.nullable for c in plan.columns],
        )
        started = time.monotonic()
        feed = CopyFeed(obj, encoder, Progress(context.log, name, obj.source_rows_hint), name)
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mctm_replica:{name}",))
                existing = PostgresClient.existing_columns(cur, table_slice)
                if existing is None:
                    PostgresClient.create_table(cur, table_slice, plan)
                    context.log.info(f"created replica table {name}")
                else:
                    PostgresClient.check_layout(existing, plan, name)
                stage = PostgresClient.create_stage(cur, table_slice)
                feed.start()
                cur.copy_expert(PostgresClient.copy_into(stage, plan.target_columns), feed, size=1 << 16)
                feed.finish()
                copied = feed.rows
                swap_started = time.monotonic()
                PostgresClient.swap(cur, table_slice, stage, plan.target_columns, self.lock_timeout_s)
                swap_s = time.monotonic() - swap_started
            connection.commit()
        except BaseException as e:
            feed.abort()
            try:
                connection.rollback()
            except psycopg2.Error:
                pass  # the connection is gone (the server rolls back); report the first error
            if feed.error is not None and isinstance(e, psycopg2.Error):
                raise feed.error  # the source's own error (its cause chain intact), not COPY's
            if isinstance(e, psycopg2.errors.LockNotAvailable):
                raise TargetError(
                    f"replica table `{name}`: could not lock it for the swap within "
                    f"{self.lock_timeout_s}s (a long reader transaction holds it); the previous "
                    f"contents are unchanged; raise `lock_timeout_s` or end that transaction"
                ) from e
            if isinstance(e, psycopg2.Error):
                raise TargetError(
                    f"loading replica table `{name}` failed, previous contents unchanged: "
                    f"{str(e).strip()}"
                ) from e
            raise
        seconds = time.monotonic() - started
        for column, n in encoder.nul_stripped.items():
            context.log.warning(
                f"{name}.{column}: stripped {n} NUL character(s); PostgreSQL text cannot hold U+0000"
            )
        context.log.info(
            f"{name}: {copied} rows in {seconds:.2f}s ({copied / seconds if seconds else 0:,.0f} rows/s); "
            f"swap held the table {swap_s:.3f}s"
        )
        return {
            "rows_copied": copied,
            "dagster/row_count": copied,
            "duration_s": round(seconds, 3),
            "rows_per_s": round(copied / seconds, 1) if seconds else 0.0,
            "swap_lock_s": round(swap_s, 3),
            "source_table": f"{plan.spec.source}:{plan.spec.source_name}",
            "target_table": name,
            "nul_stripped": MetadataValue.json(encoder.nul_stripped),
            "dagster/column_schema": column_schema(plan),
        }

    def load_input(self, context: InputContext, table_slice: TableSlice, connection) -> ReplicaBatches:
        raise TypeError("replica tables load as pandas DataFrames; annotate the input as pd.DataFrame")


class DataFrameTypeHandler(DbTypeHandler[pd.DataFrame]):
    """Reads a replica table into pandas for downstream assets."""

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pd.DataFrame]

    def handle_output(self, context, table_slice, obj, connection):
        raise TypeError(
            "the replica IO manager only writes replica tables; store derived DataFrames with "
            "another IO manager"
        )

    def load_input(self, context: InputContext, table_slice: TableSlice, connection) -> pd.DataFrame:
        with connection.cursor() as cur:
            cur.execute(PostgresClient.select(table_slice, table_slice.columns))
            names = [d.name for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def column_schema(plan: TablePlan) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.target_name,
                type=c.pg_type,
                description=f"from [{c.source_name}] {c.source_type.declared()}",
                constraints=TableColumnConstraints(nullable=c.nullable),
            )
            for c in plan.columns
        ]
    )


def stage_name(slice_: TableSlice) -> str:
    # Temp tables live in the session's own schema, so the name only has to be unique per session.
    return f"mctm_stage_{slice_.table}"[:63]


class ReplicaIOManager(IOManager):
    def __init__(
        self, postgres: PostgresResource, lock_timeout_s: int, retry: RetryPolicy | None = None
    ):
        self.postgres = postgres
        self.retry = retry or RetryPolicy()
        self.handlers: list[DbTypeHandler] = [
            ReplicaBatchesTypeHandler(lock_timeout_s),
            DataFrameTypeHandler(),
        ]

    @staticmethod
    def _slice(context: OutputContext | InputContext, columns=None) -> TableSlice:
        path = context.asset_key.path
        if len(path) < 2:
            raise TargetError(
                f"asset `{context.asset_key.to_user_string()}` needs a `[schema, table]` key to be "
                f"stored by the replica IO manager"
            )
        return TableSlice(table=path[-1], schema=path[-2], database=None, columns=columns)

    def _handler(self, obj_type: type) -> DbTypeHandler:
        for handler in self.handlers:
            if any(issubclass(obj_type, t) for t in handler.supported_types):
                return handler
        raise TypeError(f"the replica IO manager cannot handle `{obj_type.__name__}`")

    def handle_output(self, context: OutputContext, obj: object) -> None:
        table_slice = self._slice(context)
        handler = self._handler(type(obj))

        def attempt() -> Mapping[str, Any]:
            # Each attempt is a whole refresh: a fresh PostgreSQL connection and transaction,
            # and (for ReplicaBatches) the source stream opened again from the first row.
            with self.postgres.get_connection() as conn:
                PostgresClient.ensure_schema(conn, table_slice.schema)
                return handler.handle_output(context, table_slice, obj, conn)

        metadata, attempts = call_with_retries(
            attempt,
            what=f"refreshing `{table_slice.schema}.{table_slice.table}`",
            policy=self.retry,
            log=context.log,
        )
        context.add_output_metadata({**dict(metadata or {}), "attempts": attempts})

    def load_input(self, context: InputContext) -> object:
        load_type = context.dagster_type.typing_type
        if load_type is Any or load_type is object:
            load_type = pd.DataFrame
        columns = (context.definition_metadata or {}).get("columns")
        table_slice = self._slice(context.upstream_output or context, columns)
        with self.postgres.get_connection() as conn:
            return self._handler(load_type).load_input(context, table_slice, conn)


class PostgresReplicaIOManager(ConfigurableIOManagerFactory):
    """Stores replica assets in PostgreSQL at ``[schema, table]`` of their asset key."""

    postgres: PostgresResource
    lock_timeout_s: int = Field(
        default=60,
        description="Seconds the final swap may wait for readers to release the live table",
    )
    retry_attempts: int = Field(
        default=RetryPolicy.max_attempts,
        description="Attempts per table refresh on transient failures (connection lost, timeout)",
    )
    retry_base_delay_s: float = Field(
        default=RetryPolicy.base_delay_s,
        description="First backoff delay in seconds; doubles per attempt, with jitter",
    )

    def create_io_manager(self, context) -> ReplicaIOManager:
        policy = RetryPolicy(max_attempts=self.retry_attempts, base_delay_s=self.retry_base_delay_s)
        return ReplicaIOManager(self.postgres, self.lock_timeout_s, policy)
