"""The PostgreSQL IO manager for replica tables: client, type handlers and factory.

Every refresh is one PostgreSQL transaction, driven by the type handler
(:mod:`.refresh`) through the table's load mode (:mod:`.modes`):

1. ``pg_advisory_xact_lock`` on the table name: two runs never refresh one table at once.
2. Create the schema and the replica table on first use (type map, primary key). For an
   existing table, compare its columns with the source's (:mod:`.drift`): a dropped,
   narrowed or retyped column fails the run here, before a row is read, unless the run
   has ``full_refresh: true``.
3. The mode decides how to load (incremental: from the watermark read ``FOR UPDATE``) and
   the rows are ``COPY``-ed into a ``TEMP`` staging table (no WAL, dropped at commit);
   incremental runs that reconcile deletes stage the source's keys too. Readers of the
   live table are not blocked at all during this, the long network transfer.
4. Apply, in a short server-side step. ``LOCK ... IN SHARE ROW EXCLUSIVE MODE`` keeps other
   writers out but never readers; ``lock_timeout_s`` bounds every lock wait. Schema changes
   are applied (``ALTER TABLE`` takes ACCESS EXCLUSIVE until COMMIT: only then are
   readers held, and the run log says so). Then the mode brings the live table to the
   staged rows by difference (:mod:`.difference`):

   * full load (:mod:`.modes.full`): delete rows whose key the source no longer has,
     update rows whose values differ (``IS DISTINCT FROM``), insert new keys; unchanged
     rows are not written (same tuple, no WAL). A table without a key: ``DELETE`` +
     ``INSERT``. Never ``TRUNCATE``, which is not MVCC-safe.
   * incremental (:mod:`.modes.incremental`): the same update and insert for the changed
     rows, delete rows whose key is gone (when this run reconciles deletes), and store the
     new watermark (:mod:`.state`).
   * change_tracking (:mod:`.modes.change_tracking`): the same update and insert for the
     changed keys whose row exists, delete the changed keys whose row is gone, and store
     the Change Tracking version the rows are consistent with (:mod:`.state`).

   The delete guard (:mod:`.modes.guard`) fails the run here, before COMMIT, if it would
   delete more than ``max_delete_fraction`` of the rows (run config
   ``allow_mass_delete: true`` accepts it once). The live table keeps its OID, so views,
   grants, comments and other dependants survive.
5. ``COMMIT``. A failure or a killed process anywhere before it rolls everything back --
   rows, schema changes and watermark together -- and the previous contents stay. Every
   statement is MVCC-safe: a reader at any isolation level sees the old table or the
   new one, never an empty or partial one (a schema change that rewrites the table is the
   one exception PostgreSQL documents; the run log says when that happens).

Reading from SQL Server and loading overlap (:mod:`~mctm_replica.io_managers.copy_stream`):
a reader thread fetches, the COPY side encodes and streams, through a small bounded queue.

A refresh that fails for a transient reason (connection to either server lost, login
timeout) is retried as a whole -- new connection, new transaction, source read again
from the first row -- with backoff (:mod:`mctm_replica.retry`); the materialization
metadata records ``attempts``.

Names come from the asset key only: ``[schema, table]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManagerFactory, InputContext, IOManager, OutputContext
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from pydantic import Field

from mctm_replica.io_managers.client import PostgresClient, ReplicaLayoutError
from mctm_replica.io_managers.preview import TablePreview, preview_refresh
from mctm_replica.io_managers.refresh import ReplicaBatchesTypeHandler
from mctm_replica.io_managers.state import ensure_state_table
from mctm_replica.plan import ReplicaBatches
from mctm_replica.resources.postgres import PostgresResource, TargetError
from mctm_replica.retry import RetryPolicy, call_with_retries

__all__ = ["PostgresClient", "PostgresReplicaIOManager", "ReplicaIOManager", "ReplicaLayoutError"]

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
                if isinstance(obj, ReplicaBatches) and (obj.plan.watermark is not None
                                                        or obj.plan.spec.mode == "change_tracking"):
                    ensure_state_table(conn)
                return handler.handle_output(context, table_slice, obj, conn)

        metadata, attempts = call_with_retries(
            attempt,
            what=f"refreshing `{table_slice.schema}.{table_slice.table}`",
            policy=self.retry,
            log=context.log,
        )
        context.add_output_metadata({**dict(metadata or {}), "attempts": attempts})

    def preview(self, table_slice: TableSlice, batches: ReplicaBatches, *, run_id: str = "dry-run",
                log: Any = None) -> TablePreview:
        """The dry run of one refresh (:mod:`.preview`): what it would do; changes nothing."""
        with self.postgres.get_connection() as conn:
            return preview_refresh(conn, table_slice, batches, run_id=run_id, log=log)

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
        description="Seconds the final step may wait for a lock: other writers of the live table, "
        "row locks, and (for a schema change only) readers",
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
