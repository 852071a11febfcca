"""Mode ``full``: every source row, every run, applied to the live table by difference.

The handler has staged every source row; :func:`apply_full` then, in the refresh
transaction (:mod:`mctm_replica.io_managers.difference`):

* deletes live rows whose key the stage lacks -- and asks the delete guard, before any
  other change, whether that many may go;
* updates live rows whose staged values differ (``IS DISTINCT FROM``);
* inserts staged rows whose key the live table lacks.

Unchanged rows are not written at all. A table without a primary key cannot be matched
row by row, so it is replaced with ``DELETE`` + ``INSERT`` (MVCC-safe, unlike ``TRUNCATE``);
the guard then counts the net loss of rows. A table created by this run, or emptied for a
schema rebuild, is filled with one ``INSERT`` (a new table directly by the handler's ``COPY``,
with ``FREEZE``: see :attr:`LoadMode.fills_new_table`).

Incremental tables use the same function for their full loads (first run,
``full_refresh``, changed watermark column).
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2 import sql

from mctm_replica.io_managers import difference
from mctm_replica.io_managers.modes.base import Applied, Decision, LoadMode, Read, Refresh


class FullByDifference(LoadMode):
    name = "full"
    fills_new_table = True

    def decide(self, cur, run: Refresh) -> Decision:
        return Decision(True, "mode full")

    def reads(self, run: Refresh, decision: Decision) -> list[Read]:
        return [Read("rows", run.batches.open, total=run.batches.source_rows_hint,
                     query=run.batches.queries.get("rows"))]

    def apply(self, cur, run: Refresh, decision: Decision, stages: Mapping[str, sql.Composable]) -> Applied:
        return apply_full(cur, run, stages["rows"])


def apply_full(cur, run: Refresh, stage: sql.Composable) -> Applied:
    """Bring the live table to exactly the rows in ``stage`` (see the module docstring)."""
    plan, live = run.plan, run.live
    columns, key = plan.target_columns, plan.primary_key
    if run.filled_by_copy:  # the handler's COPY filled the new table itself
        return Applied(inserted=run.staged_rows["rows"])
    if run.table_created or run.emptied:
        inserted = difference.insert_all(cur, live, stage, columns)
        return Applied(inserted=inserted, deleted=run.emptied_rows, before=run.emptied_rows)
    if not key:
        before = difference.delete_all(cur, live)
        run.guard.check(max(0, before - run.staged_rows["rows"]), before, what="lose")
        return Applied(inserted=difference.insert_all(cur, live, stage, columns), deleted=before, before=before)
    difference.unique_key(cur, stage, key, f"mctm_rows_{run.table_slice.table}")
    deleted, before = difference.delete_gone(cur, live, stage, key)
    run.guard.check(deleted, before)
    updated = difference.update_changed(cur, live, stage, key, columns)
    inserted = difference.insert_missing(cur, live, stage, key, columns)
    return Applied(inserted=inserted, updated=updated, deleted=deleted, before=before)
