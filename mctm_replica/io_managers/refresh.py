"""The type handler that writes a :class:`~mctm_replica.plan.ReplicaBatches` into its
replica table, in one transaction (see :mod:`mctm_replica.io_managers.postgres` for the
steps and their guarantees).

The handler owns what every load mode shares: the advisory lock, schema drift, the
staging COPYs, the lock against other writers, COMMIT or rollback, and the metadata. What
differs between modes -- what to read, how to apply it, what state to keep -- is asked of
a :class:`~mctm_replica.io_managers.modes.LoadMode` (:func:`~.modes.mode_for`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2
import psycopg2.errors
from dagster import MetadataValue, OutputContext, TableColumn, TableColumnConstraints, TableSchema
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from psycopg2 import sql

from mctm_replica.io_managers import difference
from mctm_replica.io_managers.client import PostgresClient
from mctm_replica.io_managers.copy_format import CsvBatchEncoder, CsvLineEncoder, Encoder
from mctm_replica.io_managers.copy_stream import CopyFeed, Progress
from mctm_replica.io_managers.drift import diff_layout
from mctm_replica.io_managers.modes import Applied, Decision, DeleteGuard, LoadMode, Read, Refresh, mode_for
from mctm_replica.indexes.replica import sync_indexes
from mctm_replica.plan import ReplicaBatches, TablePlan
from mctm_replica.resources.postgres import TargetError


class ReplicaBatchesTypeHandler(DbTypeHandler[ReplicaBatches]):
    """Writes a :class:`ReplicaBatches` stream through the table's load mode."""

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
        name = f"{table_slice.schema}.{table_slice.table}"
        run = Refresh(name, table_slice, PostgresClient.table(table_slice), obj,
                      DeleteGuard.for_table(obj.plan.spec, allowed=obj.allow_mass_delete),
                      context.run_id, context.log)
        mode, encoder, feeds = mode_for(obj.plan), row_encoder(obj), []
        started = time.monotonic()
        try:
            with connection.cursor() as cur:
                self._prepare_table(cur, run)
                decision = mode.decide(cur, run)
                reads = mode.reads(run, decision)
                # a table this transaction created takes the rows straight, frozen (no stage)
                run.filled_by_copy = mode.fills_new_table and run.table_created and [
                    r.stage for r in reads] == ["rows"]
                stages = {r.stage: self._stage(cur, run, r, encoder, feeds) for r in reads}
                applying = time.monotonic()
                exclusive = self._lock_and_alter(cur, run)
                applied = mode.apply(cur, run, decision, stages)
                mode.save_state(cur, run, decision, applied)
                indexed = sync_indexes(cur, table_slice, obj.indexes, context.log) if obj.indexes else {}
                apply_s = time.monotonic() - applying
            connection.commit()
        except BaseException as e:
            self._fail(feeds, connection, e, name)
            raise  # _fail raises the clearer error; this only re-raises the others
        return {**self._report(run, mode, decision, applied, encoder, time.monotonic() - started,
                               apply_s, exclusive), **indexed}

    def _prepare_table(self, cur, run: Refresh) -> None:
        """Serialise refreshes of the table; refuse incompatible drift; create it if absent."""
        PostgresClient.lock_refresh(cur, run.name)
        existing = PostgresClient.existing_columns(cur, run.table_slice)
        if existing is None:
            PostgresClient.create_table(cur, run.table_slice, run.plan)
            run.table_created = True
            run.log.info(f"created replica table {run.name}")
            return
        run.changes = diff_layout(existing, run.plan, PostgresClient.primary_key(cur, run.table_slice)[1])
        if not run.batches.full_refresh:
            PostgresClient.refuse_incompatible(run.changes, run.name)

    def _stage(self, cur, run: Refresh, read: Read, encoder: Encoder, feeds: list[CopyFeed]) -> sql.Composed:
        """COPY one source stream into a new TEMP table while the live table stays untouched
        (or, when ``run.filled_by_copy``, into the table this transaction created)."""
        keys = read.stage == "keys"
        if run.filled_by_copy:
            stage = run.live
        else:
            stage = (PostgresClient.create_key_stage if keys else PostgresClient.create_stage)(
                cur, run.table_slice, run.plan)
        feed = CopyFeed(read.open, read.encoder or encoder, Progress(run.log, run.name, read.total),
                        run.name, read.observe)
        feeds.append(feed)
        feed.start()
        columns = run.plan.primary_key if keys else run.plan.target_columns
        cur.copy_expert(PostgresClient.copy_into(stage, columns, freeze=run.filled_by_copy), feed, size=1 << 16)
        feed.finish()
        run.staged_rows[read.stage] = feed.rows
        return stage

    def _lock_and_alter(self, cur, run: Refresh) -> bool:
        """Lock out other writers (readers go on); apply schema changes. Returns whether an
        ``ALTER TABLE`` took ACCESS EXCLUSIVE, which holds readers until COMMIT."""
        PostgresClient.lock_live(cur, run.table_slice, self.lock_timeout_s)
        if not run.changes:
            return False
        if any(not c.compatible for c in run.changes):  # full_refresh rebuilds these columns
            run.emptied_rows = difference.delete_all(cur, run.live)
            run.emptied = True
            run.guard.check(max(0, run.emptied_rows - run.staged_rows["rows"]), run.emptied_rows, what="lose")
        PostgresClient.apply_changes(cur, run.table_slice, run.plan, run.changes)
        run.log.warning(f"{run.name}: schema changes take ACCESS EXCLUSIVE on the live table: readers "
                        f"wait for this run's COMMIT"
                        + ("; a change that rewrites the table (a retyped or integer-widened column) is "
                           "not MVCC-safe: transactions whose snapshot predates the COMMIT see it empty"
                           if any(c.kind in ("widen", "narrow", "retype") for c in run.changes) else ""))
        return True

    def _report(self, run: Refresh, mode: LoadMode, decision: Decision, applied: Applied, encoder: Encoder,
                seconds: float, apply_s: float, exclusive: bool) -> dict[str, Any]:
        """Log the outcome and return the materialization metadata."""
        plan, copied, log = run.plan, run.staged_rows["rows"], run.log
        for column, n in encoder.nul_stripped.items():
            log.warning(f"{run.name}.{column}: stripped {n} NUL character(s); PostgreSQL text cannot hold U+0000")
        for change in run.changes:
            log.warning(f"{run.name}: schema change applied: {change.describe()}"
                        + (" (rows copied before this run have no value for it: run with "
                           "`full_refresh: true` to fill them)"
                           if change.kind == "add" and not decision.full else ""))
        counts: dict[str, Any] = {"rows_inserted": applied.inserted, "rows_updated": applied.updated}
        if decision.full or decision.reconcile:
            counts["rows_deleted"] = applied.deleted
        counts.update(applied.extra)
        rate = copied / seconds if seconds else 0.0
        log.info(f"{run.name}: {copied} rows in {seconds:.2f}s ({rate:,.0f} rows/s); "
                 f"{'full load' if decision.full else mode.name} ({decision.reason}); server-side step "
                 f"{apply_s:.3f}s, " + ("readers held by the schema change" if exclusive else "readers not blocked")
                 + "".join(f"; {k.replace('_', ' ')} {v}" for k, v in counts.items()))
        metadata: dict[str, Any] = {
            "rows_copied": copied,
            "duration_s": round(seconds, 3),
            "rows_per_s": round(rate, 1),
            "apply_s": round(apply_s, 3),
            # How long readers were held: only a schema change locks them out.
            "swap_lock_s": round(apply_s if exclusive else 0.0, 3),
            "source_table": f"{plan.spec.source}:{plan.spec.source_name}",
            "target_table": run.name,
            "load": "full" if decision.full else mode.name,
            "load_reason": decision.reason,
            "schema_changes": MetadataValue.json([c.describe() for c in run.changes]),
            "nul_stripped": MetadataValue.json(encoder.nul_stripped),
            "dagster/column_schema": column_schema(plan),
            **counts,
            **mode.metadata(run, decision, applied),
        }
        if decision.full:
            metadata["dagster/row_count"] = copied
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
                f"replica table `{name}`: could not lock it within {self.lock_timeout_s}s (another "
                f"transaction writes to it, changes its schema, or holds a row lock; a schema change "
                f"also waits for readers); the previous contents are unchanged; raise "
                f"`lock_timeout_s` or end that transaction"
            ) from e
        if isinstance(e, psycopg2.Error):
            raise TargetError(
                f"loading replica table `{name}` failed, previous contents unchanged: "
                f"{str(e).strip()}"
            ) from e


def row_encoder(obj: ReplicaBatches) -> Encoder:
    """CSV lines SQL Server formatted, or typed values encoded here."""
    plan = obj.plan
    if obj.lines:
        return CsvLineEncoder(plan.target_columns)
    return CsvBatchEncoder(plan.target_columns, [c.value for c in plan.columns], [c.nullable for c in plan.columns])


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
