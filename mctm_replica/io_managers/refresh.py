"""The type handler that writes a :class:`~mctm_replica.plan.ReplicaBatches` into its
replica table: full load or incremental merge, in one transaction (see
:mod:`mctm_replica.io_managers.postgres` for the steps and their guarantees)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import psycopg2
import psycopg2.errors
from dagster import MetadataValue, OutputContext, TableColumn, TableColumnConstraints, TableSchema
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice

from mctm_replica.io_managers.client import PostgresClient
from mctm_replica.io_managers.copy_format import CsvBatchEncoder, CsvLineEncoder, Encoder
from mctm_replica.io_managers.copy_stream import CopyFeed, Progress
from mctm_replica.io_managers.drift import diff_layout
from mctm_replica.io_managers.state import ReplicaState, read_state, write_state
from mctm_replica.plan import Batches, ReplicaBatches, TablePlan
from mctm_replica.resources.postgres import TargetError


@dataclass(frozen=True)
class LoadDecision:
    """How this run loads the table: every row, or the changes since ``since``."""

    full: bool
    reason: str
    since: Any = None  # incremental: the first watermark value read
    previous: Any = None  # incremental: the stored watermark
    reconcile: bool = True  # remove rows deleted in the source on this run


class _WatermarkMax:
    """Keeps the largest watermark of the batches it sees (NULLs ignored)."""

    def __init__(self, index: int, start: Any = None):
        self._get, self.value = itemgetter(index), start

    def __call__(self, rows: list[tuple]) -> None:
        values = [v for v in map(self._get, rows) if v is not None]
        if values:
            top = max(values)
            self.value = top if self.value is None else max(self.value, top)


def decide(plan: TablePlan, obj: ReplicaBatches, state: ReplicaState | None, table_created: bool) -> LoadDecision:
    """Full load or incremental merge, and whether deletes are reconciled (pure logic)."""
    wm = plan.watermark
    if wm is None:
        return LoadDecision(True, "mode full")
    reason = (
        "replica table created" if table_created
        else "full_refresh requested" if obj.full_refresh
        else "no stored watermark" if state is None or state.watermark is None
        else f"watermark column changed from `{state.watermark_column}`"
        if (state.watermark_column, state.watermark_kind) != (wm.target_column, wm.kind)
        else None
    )
    if reason is not None:
        return LoadDecision(True, reason)
    deletes = plan.spec.incremental.deletes
    reconcile = obj.reconcile_deletes or deletes.mode == "every_run" or (
        deletes.mode == "every_n_runs" and state.runs_since_reconcile + 1 >= deletes.every_n_runs)
    previous = wm.from_text(state.watermark)
    return LoadDecision(False, "incremental", since=wm.low_bound(previous), previous=previous,
                        reconcile=reconcile)


class ReplicaBatchesTypeHandler(DbTypeHandler[ReplicaBatches]):
    """Writes a :class:`ReplicaBatches` stream: full refresh or incremental merge."""

    def __init__(self, lock_timeout_s: int):
        self.lock_timeout_s = lock_timeout_s

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [ReplicaBatches]

    def load_input(self, context, table_slice, connection) -> ReplicaBatches:
        raise TypeError("replica tables load as pandas DataFrames; annotate the input as pd.DataFrame")

    def handle_output(
        self, context: OutputContext, table_slice: TableSlice, obj: ReplicaBatches, connection
    ) -> Mapping[str, Any]:
        plan, name = obj.plan, f"{table_slice.schema}.{table_slice.table}"
        encoder = CsvLineEncoder(plan.target_columns) if obj.lines else CsvBatchEncoder(
            plan.target_columns, [c.value for c in plan.columns], [c.nullable for c in plan.columns])
        started = time.monotonic()
        feeds: list[CopyFeed] = []

        def copy(cur, stage, columns: list[str], open_batches: Callable[[], Batches],
                 enc: Encoder, observe=None, total=None) -> int:
            feed = CopyFeed(open_batches, enc, Progress(context.log, name, total), name, observe)
            feeds.append(feed)
            feed.start()
            cur.copy_expert(PostgresClient.copy_into(stage, columns), feed, size=1 << 16)
            feed.finish()
            return feed.rows

        try:
            with connection.cursor() as cur:
                PostgresClient.lock_refresh(cur, name)
                existing = PostgresClient.existing_columns(cur, table_slice)
                changes = [] if existing is None else diff_layout(
                    existing, plan, PostgresClient.primary_key(cur, table_slice)[1])
                if not obj.full_refresh:
                    PostgresClient.refuse_incompatible(changes, name)
                if existing is None:
                    PostgresClient.create_table(cur, table_slice, plan)
                    context.log.info(f"created replica table {name}")
                state = read_state(cur, name, for_update=True) if plan.watermark else None
                load = decide(plan, obj, state, existing is None)
                wm = plan.watermark
                # a line read carries the typed watermark after the line
                wm_index = 1 if obj.lines else plan.target_columns.index(wm.target_column) if wm else None
                high = _WatermarkMax(wm_index, load.previous) if wm else None
                if not load.full:
                    context.log.info(f"{name}: reading rows with {wm.source_column} >= {load.since} "
                                     f"(stored watermark {load.previous}, lookback {wm.lookback})")
                stage = PostgresClient.create_stage(cur, table_slice, plan)
                cap = obj.cap() if wm is not None and obj.cap is not None else None
                copied = copy(cur, stage, plan.target_columns,
                              obj.open if load.full else (lambda: obj.changes(load.since)),
                              encoder, high, obj.source_rows_hint if load.full else None)
                result: dict[str, Any] = {}
                if not load.full and load.reconcile:
                    keys = PostgresClient.create_key_stage(cur, table_slice, plan)
                    key_encoder = CsvBatchEncoder(
                        plan.primary_key, [plan.columns[plan.target_columns.index(k)].value for k in plan.primary_key],
                        [False] * len(plan.primary_key))
                    result["source_keys"] = copy(cur, keys, plan.primary_key, obj.keys, key_encoder)
                swap_started = time.monotonic()
                if load.full or changes:
                    PostgresClient.lock_live(cur, table_slice, self.lock_timeout_s)
                if load.full:
                    PostgresClient.truncate(cur, table_slice)
                PostgresClient.apply_changes(cur, table_slice, plan, changes)
                if load.full:
                    PostgresClient.insert_from(cur, table_slice, stage, plan.target_columns)
                else:
                    result["rows_inserted"], result["rows_updated"] = PostgresClient.merge(
                        cur, table_slice, stage, plan)
                    if load.reconcile:
                        result["rows_deleted"], result["keys_missing_in_replica"] = (
                            PostgresClient.delete_missing(cur, table_slice, keys, plan))
                if wm is not None:
                    stored = wm.to_store(high.value, cap)
                    unfilled = [] if load.full else sorted(
                        (set(state.unfilled_columns) | {c.column for c in changes if c.kind == "add"})
                        & set(plan.target_columns))
                    write_state(cur, target_table=name, watermark_column=wm.target_column,
                                watermark_kind=wm.kind,
                                watermark=None if stored is None else wm.to_text(stored),
                                reconciled=load.full or load.reconcile, run_id=context.run_id,
                                unfilled=unfilled)
                swap_s = time.monotonic() - swap_started
            connection.commit()
        except BaseException as e:
            self._fail(feeds, connection, e, name)
            raise  # _fail raises the clearer error; this only re-raises non-database errors
        seconds = time.monotonic() - started
        for column, n in encoder.nul_stripped.items():
            context.log.warning(
                f"{name}.{column}: stripped {n} NUL character(s); PostgreSQL text cannot hold U+0000")
        for change in changes:
            context.log.warning(f"{name}: schema change applied: {change.describe()}"
                                + (" (rows copied before this run have no value for it: run with "
                                   "`full_refresh: true` to fill them)"
                                   if change.kind == "add" and not load.full else ""))
        rate = copied / seconds if seconds else 0.0
        context.log.info(
            f"{name}: {copied} rows in {seconds:.2f}s ({rate:,.0f} rows/s); "
            f"{'full load' if load.full else 'incremental'} ({load.reason}); "
            f"server-side step held the table {swap_s:.3f}s"
            + "".join(f"; {k.replace('_', ' ')} {v}" for k, v in result.items()))
        metadata: dict[str, Any] = {
            "rows_copied": copied,
            "duration_s": round(seconds, 3),
            "rows_per_s": round(rate, 1),
            "swap_lock_s": round(swap_s, 3),
            "source_table": f"{plan.spec.source}:{plan.spec.source_name}",
            "target_table": name,
            "load": "full" if load.full else "incremental",
            "load_reason": load.reason,
            "schema_changes": MetadataValue.json([c.describe() for c in changes]),
            "nul_stripped": MetadataValue.json(encoder.nul_stripped),
            "dagster/column_schema": column_schema(plan),
            **result,
        }
        if load.full:
            metadata["dagster/row_count"] = copied
        if wm is not None:
            metadata["watermark_column"] = wm.target_column
            metadata["watermark"] = None if stored is None else wm.to_text(stored)
            metadata["watermark_largest_read"] = None if high.value is None else wm.to_text(high.value)
            metadata["watermark_previous"] = None if load.previous is None else wm.to_text(load.previous)
            metadata["deletes_reconciled"] = load.full or load.reconcile
            metadata["unfilled_columns"] = MetadataValue.json(unfilled)
        return metadata

    def _fail(self, feeds: list[CopyFeed], connection, e: BaseException, name: str) -> None:
        """Stop the readers, roll back, and raise the error that says what happened."""
        for feed in feeds:
            feed.abort()
        try:
            connection.rollback()
        except psycopg2.Error:
            pass  # the connection is gone (the server rolls back); report the first error
        source_error = next((f.error for f in feeds if f.error is not None), None)
        if source_error is not None and isinstance(e, psycopg2.Error):
            raise source_error  # the source's own error (its cause chain intact), not COPY's
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
