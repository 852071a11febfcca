"""Mode ``partition``: one time partition of a table, applied by difference to its slice.

The asset read only the source rows whose partition column is in ``[start, end)``
(:class:`~mctm_replica.partitions.PartitionRun`). In the refresh transaction this mode
brings exactly that slice of the live table to the staged rows, as mode ``full`` does
for a whole table (:mod:`mctm_replica.io_managers.difference`, with a
:class:`~.difference.SlicePredicate`): live rows of the slice whose key the stage lacks
are deleted, differing rows updated, missing rows inserted; unchanged rows keep their
tuple. Rows of every other partition are not touched (not even read for update), so a
re-run of one partition leaves the others' ``xmin`` as it was.

The partition definition the replica was built with is kept as its ``COMMENT ON TABLE``
and compared before anything is written: a table sliced daily by one column and then
monthly by another would hold rows no partition owns any more. A mismatch fails the run
with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg2 import sql

from mctm_replica.config import ConfigError
from mctm_replica.io_managers import difference
from mctm_replica.io_managers.modes.base import Applied, Decision, LoadMode, Read, Refresh
from mctm_replica.partitions import PartitionRun

#: Prefix of the replica's COMMENT ON TABLE that records its partition definition.
COMMENT_PREFIX = "mctm_replica partitions: "


class PartitionDefinitionChanged(ConfigError):
    """tables.yaml's ``partitions`` differs from the one the replica was built with."""


def table_comment(cur, schema: str, table: str) -> str | None:
    cur.execute(
        "SELECT d.description FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_description d ON d.objoid = c.oid AND d.objsubid = 0 "
        "AND d.classoid = 'pg_class'::regclass WHERE n.nspname = %s AND c.relname = %s",
        (schema, table))
    row = cur.fetchone()
    return None if row is None else row[0]


def stored_definition(cur, schema: str, table: str) -> str | None:
    """The partition definition recorded on the replica table, or None."""
    comment = table_comment(cur, schema, table)
    if comment is None or not comment.startswith(COMMENT_PREFIX):
        return None
    return comment[len(COMMENT_PREFIX):]


class PartitionSlice(LoadMode):
    name = "partition"

    def _partition(self, run: Refresh) -> PartitionRun:
        if run.batches.partition is None:
            raise ValueError(f"replica table `{run.name}`: a partitioned table's run carries no partition")
        return run.batches.partition

    def decide(self, cur, run: Refresh) -> Decision:
        part = self._partition(run)
        if not run.table_created:
            stored = stored_definition(cur, run.table_slice.schema, run.table_slice.table)
            if stored is not None and stored != part.definition:
                from mctm_replica.schedules import partition_job_name  # schedules imports the assets

                raise PartitionDefinitionChanged(
                    f"replica table `{run.name}` was built with partitions {stored}, but tables.yaml "
                    f"now says {part.definition}; nothing was changed. Restore the old `partitions` "
                    f"setting, or rebuild the replica: DROP TABLE {run.name}, then backfill every "
                    f"partition (the UI's partition dialog, or `dagster job backfill -j "
                    f"{partition_job_name(run.plan.spec)} --all`)")
        if any(not c.compatible for c in run.changes):
            raise ConfigError(
                f"replica table `{run.name}`: {[c.describe() for c in run.changes if not c.compatible]} "
                f"would empty the whole table, but one run loads one partition; DROP TABLE {run.name} "
                f"and backfill every partition instead")
        return Decision(False, f"partition {part.key} [{part.start}, {part.end})", reconcile=True)

    def reads(self, run: Refresh, decision: Decision) -> list[Read]:
        return [Read("rows", run.batches.open, query=run.batches.queries.get("rows"))]

    def apply(self, cur, run: Refresh, decision: Decision, stages: Mapping[str, sql.Composable]) -> Applied:
        part, plan, live, stage = self._partition(run), run.plan, run.live, stages["rows"]
        columns, key = plan.target_columns, plan.primary_key
        column = sql.Identifier("t", part.target_column)
        where = difference.SlicePredicate(sql.SQL("{c} >= %s AND {c} < %s").format(c=column),
                                          (part.start, part.end))
        if run.table_created:
            return Applied(inserted=difference.insert_all(cur, live, stage, columns))
        if not key:
            before = difference.delete_all(cur, live, where)
            run.guard.check(max(0, before - run.staged_rows["rows"]), before, what="lose")
            return Applied(inserted=difference.insert_all(cur, live, stage, columns), deleted=before, before=before)
        difference.unique_key(cur, stage, key, f"mctm_rows_{run.table_slice.table}")
        deleted, before = difference.delete_gone(cur, live, stage, key, where)
        run.guard.check(deleted, before)
        updated = difference.update_changed(cur, live, stage, key, columns)
        inserted = difference.insert_missing(cur, live, stage, key, columns)
        return Applied(inserted=inserted, updated=updated, deleted=deleted, before=before)

    def save_state(self, cur, run: Refresh, decision: Decision, applied: Applied) -> None:
        part = self._partition(run)
        comment = None if run.table_created else table_comment(cur, run.table_slice.schema, run.table_slice.table)
        if comment is None:
            cur.execute(sql.SQL("COMMENT ON TABLE {} IS %s").format(run.live), (COMMENT_PREFIX + part.definition,))
        elif not comment.startswith(COMMENT_PREFIX):  # an operator's comment is never overwritten
            run.log.warning(f"{run.name}: has a comment of its own, so its partition definition is not "
                            f"recorded and a change of `partitions` cannot be detected")

    def metadata(self, run: Refresh, decision: Decision, applied: Applied) -> dict[str, Any]:
        part = self._partition(run)
        meta: dict[str, Any] = {
            "partition": part.key,
            "partition_start": part.start.isoformat(sep=" "),
            "partition_end": part.end.isoformat(sep=" "),
            "partitions": part.definition,
            "dagster/partition_row_count": run.staged_rows["rows"],
        }
        if part.outside_rows is not None:
            meta["rows_outside_partitions"] = part.outside_rows
            meta["rows_outside_partitions_null"] = part.outside_null
            if part.outside_rows:
                run.log.warning(
                    f"{run.name}: {part.outside_rows} source row(s) belong to no partition "
                    f"({part.outside_null} with a NULL partition column, the others before the first "
                    f"or after the current partition); they are not copied")
        return meta
