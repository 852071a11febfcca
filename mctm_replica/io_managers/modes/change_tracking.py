"""Mode ``change_tracking``: the changes SQL Server's Change Tracking recorded since the
stored version, applied by key (:mod:`mctm_replica.resources.change_tracking` reads them).

:meth:`ChangeTrackingMerge.decide` chooses a full load -- replica table created,
``full_refresh``, no stored version, or the stored version older than the table's
minimum valid version (retention passed: the changes in between were cleaned up) -- or
a merge of the changes. A full load goes through :func:`~.full.apply_full` (rows that did
not change are not written). A merge updates changed keys whose row differs, inserts new
keys, then deletes the keys whose row is gone, under the delete guard. The version the
rows are consistent with is stored in the same PostgreSQL transaction as the rows
(:mod:`mctm_replica.io_managers.state`): a run that dies before COMMIT leaves both as they
were, and the next run reads the same changes again.

A table that never changes never forces a resync: every run stores the database's
*current* version (not the version of the table's last change), so a quiet table's
stored version advances with every run, and only a gap between runs longer than the
retention lets cleanup pass it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import MetadataValue
from psycopg2 import sql

from mctm_replica.io_managers import difference
from mctm_replica.io_managers.copy_format import CsvBatchEncoder
from mctm_replica.io_managers.modes.base import Applied, Decision, LoadMode, PlannedQuery, Read, Refresh
from mctm_replica.io_managers.modes.full import apply_full
from mctm_replica.io_managers.state import ReplicaState, read_state, state_table_exists, write_state
from mctm_replica.resources.change_tracking import ChangeTrackingSource, CtStatus
from mctm_replica.tsql.change_tracking import all_rows_sql, changes_sql, versions_sql
from mctm_replica.tsql.quoting import qualified

#: ``watermark_kind`` of a Change Tracking table's row in the state table.
STATE_KIND = "change_tracking"


def decide(state: ReplicaState | None, status: CtStatus, *, table_created: bool, full_refresh: bool,
           table: str) -> Decision:
    """Full load or merge of the changes since the stored version (pure logic)."""
    stored = None if state is None or state.watermark_kind != STATE_KIND else state.ct_version
    if table_created:
        return Decision(True, "replica table created", previous=stored)
    if full_refresh:
        return Decision(True, "full_refresh requested", previous=stored)
    if stored is None:
        return Decision(True, "no stored Change Tracking version", previous=stored)
    if stored < status.min_valid_version:
        return Decision(True, retention_reason(table, stored, status), previous=stored)
    return Decision(False, "change_tracking", since=stored, previous=stored)


def retention_reason(table: str, stored: int, status: CtStatus) -> str:
    return (f"retention passed: stored Change Tracking version {stored} of `{table}` is older than its "
            f"minimum valid version {status.min_valid_version} (changes were cleaned up after "
            f"{status.retention} of retention before this run read them); every row was reloaded. Raise the "
            f"retention above the longest outage plus the schedule gap: ALTER DATABASE "
            f"[{status.database}] SET CHANGE_TRACKING (CHANGE_RETENTION = 7 DAYS)")


def delete_keys(cur, live: sql.Composable, keys: sql.Composable, key: list[str]) -> tuple[int, int]:
    """Delete live rows whose key is in ``keys``; returns (deleted, live rows before)."""
    match = sql.SQL(" AND ").join(sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in key)
    cur.execute(sql.SQL(
        "WITH gone AS (DELETE FROM {live} AS t USING (SELECT DISTINCT * FROM {keys}) AS s WHERE {match} "
        "RETURNING 1) SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM {live})"
    ).format(live=live, keys=keys, match=match))
    deleted, before = cur.fetchone()
    return int(deleted), int(before)


class ChangeTrackingMerge(LoadMode):
    name = "change_tracking"
    fills_new_table = True  # a new table's run is a full load (decide)

    def __init__(self) -> None:
        self.state: ReplicaState | None = None
        self.unfilled: list[str] = []

    def _source(self, run: Refresh) -> ChangeTrackingSource:
        ct = run.batches.ct
        if ct is None or ct.status is None:
            raise RuntimeError(f"{run.name}: a change_tracking table's batches carry no checked source")
        return ct

    def decide(self, cur, run: Refresh) -> Decision:
        ct = self._source(run)
        if run.dry_run:  # READ ONLY: no row lock, and the state table may not exist yet
            self.state = read_state(cur, run.name) if state_table_exists(cur) else None
        else:
            self.state = read_state(cur, run.name, for_update=True)
        decision = decide(self.state, ct.status, table_created=run.table_created,
                          full_refresh=run.batches.full_refresh, table=f"{ct.mssql.source}:{ct.name}")
        if decision.reason.startswith("retention passed"):
            run.log.warning(f"{run.name}: {decision.reason}")
        elif not decision.full:
            run.log.info(f"{run.name}: reading changes since Change Tracking version {decision.since} "
                         f"({ct.status.consistency})")
        return decision

    def reads(self, run: Refresh, decision: Decision) -> list[Read]:
        ct, plan = self._source(run), run.plan
        rows = CsvBatchEncoder(plan.target_columns, [c.value for c in plan.columns], [c.nullable for c in plan.columns])
        if decision.full:
            return [Read("rows", ct.read_all, total=run.batches.source_rows_hint, encoder=rows)]
        values = [plan.columns[plan.target_columns.index(k)].value for k in plan.primary_key]
        return [Read("rows", lambda: ct.read_changes(decision.since), encoder=rows),
                Read("keys", ct.read_deleted_keys,
                     encoder=CsvBatchEncoder(plan.primary_key, values, [False] * len(plan.primary_key)))]

    def planned_queries(self, run: Refresh, decision: Decision, reads: list[Read]) -> list[PlannedQuery]:
        ct = self._source(run)
        versions = PlannedQuery("Change Tracking versions", versions_sql(), (qualified(ct.schema, ct.table),))
        if decision.full:
            return [versions, PlannedQuery("rows", all_rows_sql(ct.schema, ct.table, ct.columns))]
        return [versions, PlannedQuery("changes", changes_sql(ct.schema, ct.table, ct.columns, ct.key),
                                       (decision.since,))]

    def preview_details(self, run: Refresh, decision: Decision) -> dict[str, Any]:
        status = self._source(run).status
        return {"change_tracking_version": decision.previous,
                "reads_changes_since": None if decision.full else decision.since,
                "current_version": status.current_version, "min_valid_version": status.min_valid_version,
                "ct_consistency": status.consistency, "retention": status.retention}

    def apply(self, cur, run: Refresh, decision: Decision, stages: Mapping[str, sql.Composable]) -> Applied:
        if decision.full:
            return apply_full(cur, run, stages["rows"])
        live, key, columns = run.live, run.plan.primary_key, run.plan.target_columns
        difference.unique_key(cur, stages["rows"], key, f"mctm_rows_{run.table_slice.table}")
        applied = Applied(updated=difference.update_changed(cur, live, stages["rows"], key, columns),
                          inserted=difference.insert_missing(cur, live, stages["rows"], key, columns))
        # After the merge: a key read as a row and then as deleted (version-first re-read
        # while a writer deleted it) ends deleted, its latest state.
        applied.deleted, applied.before = delete_keys(cur, live, stages["keys"], key)
        run.guard.check(applied.deleted, applied.before)
        return applied

    def save_state(self, cur, run: Refresh, decision: Decision, applied: Applied) -> None:
        ct = self._source(run)
        # Columns added since the last full load: rows not changed since hold NULL there, so
        # rows_match leaves them out until a full load (as for incremental tables).
        added = {c.column for c in run.changes if c.kind == "add"}
        before = set(self.state.unfilled_columns) if self.state is not None else set()
        self.unfilled = [] if decision.full else sorted((before | added) & set(run.plan.target_columns))
        write_state(cur, target_table=run.name, watermark_column="", watermark_kind=STATE_KIND, watermark=None,
                    reconciled=True, run_id=run.run_id, unfilled=self.unfilled, ct_version=ct.version)

    def metadata(self, run: Refresh, decision: Decision, applied: Applied) -> dict[str, Any]:
        ct = self._source(run)
        return {
            "rows_deleted": applied.deleted,
            "ct_version": ct.version,
            "ct_previous_version": decision.previous,
            "ct_consistency": ct.status.consistency,
            "ct_min_valid_version": ct.status.min_valid_version,
            "ct_retention": ct.status.retention,
            "unfilled_columns": MetadataValue.json(self.unfilled),
            # changed keys read (rows merged plus keys deleted); a full load reads every row instead
            "ct_changes_read": 0 if decision.full else run.staged_rows.get("rows", 0) + len(ct.deleted_keys),
        }
