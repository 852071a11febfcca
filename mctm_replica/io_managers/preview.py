"""The dry run: what the next refresh of a table would do, found without changing anything.

:func:`preview_refresh` walks the same steps as the type handler
(:mod:`mctm_replica.io_managers.refresh`) up to the first row read, on a PostgreSQL
transaction set ``READ ONLY`` (so a write by mistake fails instead of landing) and
rolled back: does the replica table exist (first load); the schema drift against the
source (:func:`~mctm_replica.io_managers.drift.diff_layout`), each change applied,
rebuilt under ``full_refresh``, or refused with the very error the run would raise
(:meth:`~mctm_replica.io_managers.client.PostgresClient.refuse_incompatible`); then the
load mode's own :meth:`~mctm_replica.io_managers.modes.LoadMode.preview` -- full or
incremental and from which watermark, whether deletes are reconciled, and the source
statements (the :class:`~mctm_replica.plan.SourceQuery` objects the run's streams are
opened from). No advisory lock, no ``FOR UPDATE``, no source query but the catalog's.

Used by ``mctm-replica plan`` (:mod:`mctm_replica.ops.dry_run`) and by run config
``dry_run: true`` (:func:`dry_run_asset`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster import AssetObservation, MetadataValue
from dagster._core.storage.db_io_manager import TableSlice

from mctm_replica.indexes.replica import index_drift
from mctm_replica.io_managers.client import PostgresClient, ReplicaLayoutError
from mctm_replica.io_managers.drift import ColumnChange, diff_layout
from mctm_replica.io_managers.modes import DeleteGuard, Refresh, mode_for
from mctm_replica.partition_status import format_status, instance_status
from mctm_replica.plan import ReplicaBatches

_log = logging.getLogger(__name__)


@dataclass
class TablePreview:
    """One table's dry run. ``load`` is None when the run would fail before reading rows
    (``refused``) or the plan could not be made (``error``)."""

    source_table: str  # source:schema.table
    target_table: str  # schema.table
    mode: str  # as configured in tables.yaml
    load: str | None = None  # "first load", "full", "incremental", ...
    reason: str | None = None  # why (the run's `load_reason`)
    replica_exists: bool | None = None
    reconcile_deletes: bool | None = None
    estimated_rows: int | None = None  # the source catalog's count (sys.partitions), no scan
    schema_changes: list[dict[str, Any]] = field(default_factory=list)
    refused: str | None = None  # the error the run would fail with
    queries: list[dict[str, Any]] = field(default_factory=list)  # purpose, sql, params
    details: dict[str, Any] = field(default_factory=dict)  # the mode's own facts
    error: str | None = None
    # A time-partitioned table's partitions by the Dagster instance's record
    # (mctm_replica.partition_status): missing count and ranges, or why unknown.
    partitions: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metadata(self) -> dict[str, Any]:
        """Dagster metadata of the dry run's observation."""
        meta: dict[str, Any] = {
            "dry_run": True,
            "load": self.load or "none (the run would fail)",
            "load_reason": self.reason or "",
            "deletes_reconciled": bool(self.reconcile_deletes),
            "schema_changes": MetadataValue.json(self.schema_changes),
            "source_sql": MetadataValue.md("\n\n".join(
                f"{q['purpose']}:\n```sql\n{q['sql']}\n```" + (f"\nparameters {q['params']}" if q["params"] else "")
                for q in self.queries) or "none"),
            **{k: v for k, v in self.details.items() if v is not None},
        }
        if self.estimated_rows is not None:
            meta["estimated_rows"] = self.estimated_rows
        if self.refused:
            meta["refused"] = self.refused
        if self.partitions is not None:
            meta["partition_status"] = format_status(self.partitions)
            if self.partitions["status"] == "known":
                meta["missing_partitions"] = self.partitions["missing"]
                meta["missing_partition_ranges"] = MetadataValue.json(self.partitions["missing_ranges"])
                meta["failed_partitions"] = self.partitions["failed"]
        return meta


def _action(change: ColumnChange, full_refresh: bool) -> str:
    if change.compatible:
        return "apply"
    return "rebuild (full_refresh)" if full_refresh else "refuse"


def preview_refresh(conn, table_slice: TableSlice, batches: ReplicaBatches, *, run_id: str = "dry-run",
                    log: Any = None) -> TablePreview:
    """What refreshing ``table_slice`` from ``batches`` would do; changes nothing."""
    plan = batches.plan
    name = f"{table_slice.schema}.{table_slice.table}"
    preview = TablePreview(f"{plan.spec.source}:{plan.spec.source_name}", name, plan.spec.mode,
                           estimated_rows=batches.source_rows_hint)
    run = Refresh(name, table_slice, PostgresClient.table(table_slice), batches,
                  DeleteGuard.for_table(plan.spec, allowed=batches.allow_mass_delete), run_id, log or _log,
                  dry_run=True)
    conn.rollback()
    conn.set_session(readonly=True)  # any write by mistake fails here, never lands
    try:
        with conn.cursor() as cur:
            existing = PostgresClient.existing_columns(cur, table_slice)
            preview.replica_exists = existing is not None
            if existing is None:
                run.table_created = True
            else:
                run.changes = diff_layout(existing, plan, PostgresClient.primary_key(cur, table_slice)[1])
                preview.schema_changes = [
                    {"column": c.column, "kind": c.kind, "old": c.old, "new": c.new,
                     "change": c.describe(), "action": _action(c, batches.full_refresh)} for c in run.changes]
                if not batches.full_refresh:
                    try:
                        PostgresClient.refuse_incompatible(run.changes, name)
                    except ReplicaLayoutError as e:
                        preview.refused = str(e)
                        return preview
            mode = mode_for(plan)
            planned = mode.preview(cur, run)
            index_changes = _index_changes(cur, table_slice, batches, exists=not run.table_created)
    finally:
        conn.rollback()
        conn.set_session(readonly=False)
    preview.load = "first load" if run.table_created else planned.load
    preview.reason = planned.reason
    preview.reconcile_deletes = planned.reconcile_deletes
    preview.queries = [q.as_dict() for q in planned.queries]
    preview.details = {**planned.details, **index_changes}
    return preview


def _index_changes(cur, table_slice: TableSlice, batches: ReplicaBatches, *, exists: bool) -> dict[str, Any]:
    """The indexes the run would create, drop or rebuild, and the source's it leaves out."""
    wanted = batches.indexes
    if wanted is None or not wanted.enabled:
        return {}
    if exists:
        drift = index_drift(cur, table_slice, wanted)
        changes = {"indexes_to_create": drift.create, "indexes_to_drop": drift.drop,
                   "indexes_to_rebuild": drift.rebuild}
    else:
        changes = {"indexes_to_create": [i.name for i in wanted.wanted]}
    changes["indexes_not_created"] = wanted.not_created
    return {k: ", ".join(v) for k, v in changes.items() if v}


#: Details the text shows in its own lines (the watermark and deletes lines).
_SHOWN = frozenset({"watermark_column", "stored_watermark", "read_from", "lookback", "runs_since_reconcile",
                    "deletes"})


def format_preview(p: TablePreview) -> str:
    """The human text of one table's dry run."""
    head = f"{p.source_table} -> {p.target_table} (mode {p.mode})"
    partitions = [] if p.partitions is None else [f"  partitions: {format_status(p.partitions)}"]
    if p.error is not None:
        return "\n".join([head, f"  cannot plan: {p.error}", *partitions])
    lines = [head, *partitions]
    if p.load is not None:
        what = {"full": "full load by difference (every source row; only differing rows written)",
                "first load": "first load (creates the replica table, inserts every source row)"}.get(
                    p.load, p.load)
        lines.append(f"  load:      {what}" + (f"; reason: {p.reason}" if p.reason != p.load else ""))
    if p.details.get("stored_watermark") is not None and p.load not in ("full", "first load"):
        lines.append(f"  watermark: {p.details['watermark_column']} stored {p.details['stored_watermark']}; "
                     f"reads from {p.details['read_from']} (lookback {p.details['lookback']})")
    for key, value in p.details.items():  # a mode's other facts (change-tracking version, ...)
        if key not in _SHOWN and value is not None:
            lines.append(f"  {key.replace('_', ' ')}: {value}")
    if p.reconcile_deletes is not None:
        lines.append("  deletes:   " + ("reconciled on this run" if p.reconcile_deletes else
                                        f"not on this run (deletes: {p.details.get('deletes')}, "
                                        f"{p.details.get('runs_since_reconcile')} run(s) since the last)"))
    rows = "unknown" if p.estimated_rows is None else f"{p.estimated_rows:,}"
    lines.append(f"  rows:      about {rows} in the source (catalog estimate)")
    for c in p.schema_changes:
        lines.append(f"  schema:    {c['action']}: {c['change']}")
    if not p.schema_changes and p.replica_exists:
        lines.append("  schema:    no changes")
    if p.refused:
        lines.append(f"  REFUSED:   {p.refused}")
    for q in p.queries:
        params = f"  -- parameters {q['params']}" if q["params"] else ""
        lines.append(f"  sql ({q['purpose']}): {q['sql']}{params}")
    return "\n".join(lines)


def dry_run_asset(context, io_manager: Any, batches: ReplicaBatches) -> TablePreview:
    """Run config ``dry_run: true``: log the plan and record it as an observation.

    A dry run is not a materialization: the asset yields no output (``output_required=False``),
    so its last materialization, freshness and the checks of the run stay those of the last
    real load, and the plan shows as an ``AssetObservation`` with ``dry_run: true``."""
    preview = getattr(io_manager, "preview", None)
    if preview is None:
        raise TypeError(f"asset `{context.asset_key.to_user_string()}`: run config `dry_run` needs the replica "
                        f"IO manager (PostgresReplicaIOManager) as `replica_io_manager`")
    path = context.asset_key.path
    result = preview(TableSlice(table=path[-1], schema=path[-2], database=None, columns=None), batches,
                     run_id=context.run_id, log=context.log)
    if batches.plan.spec.partitions is not None:  # the run's own instance has the record
        result.partitions = instance_status(context.instance, batches.plan.spec.partitions, context.asset_key)
    # A refused change is what the real run would fail on: a warning, not a failed dry run.
    (context.log.warning if result.refused else context.log.info)("dry run, nothing changed:\n"
                                                                  + format_preview(result))
    context.log_event(AssetObservation(asset_key=context.asset_key, metadata=result.metadata()))
    return result
