"""Mode ``incremental``: rows changed since the stored watermark, merged by primary key.

:func:`decide` (pure) chooses between a full load -- first run, ``full_refresh``, no or a
different stored watermark, which go through :func:`~.full.apply_full` -- and a merge of
the rows whose watermark is at or past ``stored - lookback``. The merge updates rows whose
values differ and inserts new keys; unchanged rows in the re-read overlap are not written.
When the run reconciles deletes, the source's keys are staged too and live rows whose key
is gone are deleted, under the delete guard. The new watermark (the largest value read,
never past the limit read before the scan) is stored with the rows it covers
(:mod:`mctm_replica.io_managers.state`, :mod:`mctm_replica.watermark`).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from dagster import MetadataValue
from psycopg2 import sql

from mctm_replica.io_managers import difference
from mctm_replica.io_managers.copy_format import CsvBatchEncoder
from mctm_replica.io_managers.modes.base import Applied, Decision, LoadMode, PlannedQuery, Read, Refresh
from mctm_replica.io_managers.modes.full import apply_full
from mctm_replica.io_managers.state import ReplicaState, read_state, state_table_exists, write_state
from mctm_replica.plan import ReplicaBatches, TablePlan


class _WatermarkMax:
    """Keeps the largest watermark of the batches it sees (NULLs ignored)."""

    def __init__(self, index: int, start: Any = None):
        self._get, self.value = itemgetter(index), start

    def __call__(self, rows: list[tuple]) -> None:
        values = [v for v in map(self._get, rows) if v is not None]
        if values:
            top = max(values)
            self.value = top if self.value is None else max(self.value, top)


def decide(plan: TablePlan, obj: ReplicaBatches, state: ReplicaState | None, table_created: bool) -> Decision:
    """Full load or incremental merge, and whether deletes are reconciled (pure logic)."""
    wm = plan.watermark
    reason = (
        "replica table created" if table_created
        else "full_refresh requested" if obj.full_refresh
        else "no stored watermark" if state is None or state.watermark is None
        else f"watermark column changed from `{state.watermark_column}`"
        if (state.watermark_column, state.watermark_kind) != (wm.target_column, wm.kind)
        else None
    )
    if reason is not None:
        return Decision(True, reason)
    deletes = plan.spec.incremental.deletes
    reconcile = obj.reconcile_deletes or deletes.mode == "every_run" or (
        deletes.mode == "every_n_runs" and state.runs_since_reconcile + 1 >= deletes.every_n_runs)
    previous = wm.from_text(state.watermark)
    return Decision(False, "incremental", since=wm.low_bound(previous), previous=previous, reconcile=reconcile)


class IncrementalMerge(LoadMode):
    name = "incremental"
    fills_new_table = True  # a new table's run is a full load (decide)

    def __init__(self) -> None:
        self.state: ReplicaState | None = None
        self.high: _WatermarkMax | None = None
        self.cap: Any = None
        self.stored: Any = None
        self.unfilled: list[str] = []

    def decide(self, cur, run: Refresh) -> Decision:
        plan, wm = run.plan, run.plan.watermark
        if run.dry_run:  # READ ONLY: no row lock, and the state table may not exist yet
            self.state = read_state(cur, run.name) if state_table_exists(cur) else None
        else:
            self.state = read_state(cur, run.name, for_update=True)
        decision = decide(plan, run.batches, self.state, run.table_created)
        # a line read carries the typed watermark after the line
        index = 1 if run.batches.lines else plan.target_columns.index(wm.target_column)
        self.high = _WatermarkMax(index, decision.previous)
        if not decision.full and not run.dry_run:
            run.log.info(f"{run.name}: reading rows with {wm.source_column} >= {decision.since} "
                         f"(stored watermark {decision.previous}, lookback {wm.lookback})")
        return decision

    def reads(self, run: Refresh, decision: Decision) -> list[Read]:
        obj, plan = run.batches, run.plan
        if obj.cap is not None and not run.dry_run:
            self.cap = obj.cap()  # before the scan starts
        if decision.full:
            return [Read("rows", obj.open, observe=self.high, total=obj.source_rows_hint,
                         query=obj.queries.get("rows"))]
        reads = [Read("rows", lambda: obj.changes(decision.since), observe=self.high,
                      query=obj.queries.get("changes"), params=(plan.watermark.parameter(decision.since),))]
        if decision.reconcile:
            values = [plan.columns[plan.target_columns.index(k)].value for k in plan.primary_key]
            reads.append(Read("keys", obj.keys, encoder=CsvBatchEncoder(
                plan.primary_key, values, [False] * len(plan.primary_key)), query=obj.queries.get("keys")))
        return reads

    def planned_queries(self, run: Refresh, decision: Decision, reads: list[Read]) -> list[PlannedQuery]:
        cap = run.batches.queries.get("cap")  # read before the scan starts, as reads() does
        return ([PlannedQuery("watermark limit", cap.sql)] if cap is not None else []) + super().planned_queries(
            run, decision, reads)

    def preview_details(self, run: Refresh, decision: Decision) -> dict[str, Any]:
        wm, state = run.plan.watermark, self.state
        return {
            "watermark_column": wm.target_column,
            "stored_watermark": None if state is None else state.watermark,
            "read_from": None if decision.full else wm.to_text(decision.since),
            "lookback": str(wm.lookback),
            "runs_since_reconcile": None if state is None else state.runs_since_reconcile,
            "deletes": run.plan.spec.incremental.deletes.mode,
        }

    def apply(self, cur, run: Refresh, decision: Decision, stages: Mapping[str, sql.Composable]) -> Applied:
        if decision.full:
            return apply_full(cur, run, stages["rows"])
        live, key, columns = run.live, run.plan.primary_key, run.plan.target_columns
        # DISTINCT: a NOLOCK read can return a row twice; the overlap is small.
        applied = Applied(updated=difference.update_changed(cur, live, stages["rows"], key, columns, distinct=True),
                          inserted=difference.insert_missing(cur, live, stages["rows"], key, columns, distinct=True))
        if decision.reconcile:
            applied.deleted, applied.before = difference.delete_gone(cur, live, stages["keys"], key)
            run.guard.check(applied.deleted, applied.before)
            applied.extra = {"source_keys": run.staged_rows["keys"],
                             "keys_missing_in_replica": difference.count_missing(cur, live, stages["keys"], key)}
        return applied

    def save_state(self, cur, run: Refresh, decision: Decision, applied: Applied) -> None:
        wm = run.plan.watermark
        self.stored = wm.to_store(self.high.value, self.cap)
        added = {c.column for c in run.changes if c.kind == "add"}
        self.unfilled = [] if decision.full else sorted(
            (set(self.state.unfilled_columns) | added) & set(run.plan.target_columns))
        write_state(cur, target_table=run.name, watermark_column=wm.target_column, watermark_kind=wm.kind,
                    watermark=None if self.stored is None else wm.to_text(self.stored),
                    reconciled=decision.full or decision.reconcile, run_id=run.run_id, unfilled=self.unfilled)

    def metadata(self, run: Refresh, decision: Decision, applied: Applied) -> dict[str, Any]:
        wm = run.plan.watermark

        def text(value: Any) -> str | None:
            return None if value is None else wm.to_text(value)

        return {
            "watermark_column": wm.target_column,
            "watermark": text(self.stored),
            "watermark_largest_read": text(self.high.value),
            "watermark_previous": text(decision.previous),
            "deletes_reconciled": decision.full or decision.reconcile,
            "unfilled_columns": MetadataValue.json(self.unfilled),
        }
