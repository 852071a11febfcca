"""Asset checks that prove a replica matches its source.

``rows_match`` compares every value (:mod:`mctm_replica.content_check`): keys missing
in the replica, extra in it, and rows whose values differ, with example keys and the
differing columns as metadata. ERROR severity; blocking unless the table sets
``rows_match_blocking: false`` (then a mismatch only alerts, through the check sensor).

``row_count_matches`` compares the source's ``COUNT_BIG(*)`` with the replica's
``count(*)``. It is *blocking* with ERROR severity: when the difference exceeds the
table's ``row_count_tolerance`` (default 0) the check's step fails, and with it the run,
so the schedule's run shows red and run-failure alerting sees it. It runs after every
materialization in the same run and can be run on its own from the UI.

``schema_matches`` (WARN, never blocking) compares the replica's columns and types with
what the type map gives for the source's current schema and lists every difference --
the drift the next materialization will apply, or refuse (:mod:`.io_managers.drift`).

All three read the source, so each is its own step in the source's pool
(:mod:`mctm_replica.pools`): a check never scans a source while a copy or another check
of the same source runs, in the same run or another.

Incremental tables whose deletes are reconciled later (``deletes`` other than
``every_run``) may legitimately hold rows the source already deleted: for them, extra
replica rows pass both checks (reported as awaiting delete reconciliation); a missing or
different row still fails.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at runtime.

from collections.abc import Callable
from dataclasses import replace

import psycopg2.errors
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    MetadataValue,
    asset_check,
)
from dagster._core.storage.db_io_manager import TableSlice

from mctm_replica.assets import step_tags
from mctm_replica.config import ReplicaConfig, SourceSpec, TableSpec
from mctm_replica.content_check import compare_table
from mctm_replica.ct_checks import build_retention_check
from mctm_replica.indexes.desired import wanted_indexes
from mctm_replica.indexes.replica import drift_metadata, index_drift
from mctm_replica.io_managers.drift import diff_layout
from mctm_replica.io_managers.state import read_state, state_table_exists
from mctm_replica.io_managers.postgres import PostgresClient
from mctm_replica.plan import build_plan
from mctm_replica import partition_slices
from mctm_replica.pools import source_pool
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica.resources.postgres import PostgresResource
from mctm_replica.retry import call_with_retries

POSTGRES_KEY = "postgres"


def _deferred_deletes(spec: TableSpec) -> bool:
    return spec.incremental is not None and spec.incremental.deletes.deferred


def _source_check(spec: TableSpec, source: SourceSpec, name: str, *, blocking: bool,
                  description: str) -> Callable[[Callable[..., AssetCheckResult]], AssetChecksDefinition]:
    """``@asset_check`` for a check that reads the source and the replica: it runs in the
    source's pool (as the copy does) with the table's step tags."""
    return asset_check(
        asset=AssetKey(spec.asset_key_path),
        name=name,
        blocking=blocking,
        required_resource_keys={source.resource_key, POSTGRES_KEY},
        pool=source_pool(spec.source),
        op_tags=step_tags(spec),
        description=description,
    )


def build_row_count_check(*, spec: TableSpec, source: SourceSpec) -> AssetChecksDefinition:
    @_source_check(
        spec, source, "row_count_matches", blocking=True,
        description=(
            f"Source `{spec.source_name}` COUNT_BIG(*) equals the replica's count(*) "
            f"within {spec.row_count_tolerance} row(s)."
        ),
    )
    def _row_count(context: AssetCheckExecutionContext) -> AssetCheckResult:
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_KEY)
        window, covers = (partition_slices.check_window(context, spec) if spec.partitions
                          else (None, None))
        if window is None:
            source_rows = mssql.count_rows(spec.source_schema, spec.source_table, nolock=spec.nolock)
        else:  # a partitioned table: the run's partition(s), both sides cut alike
            source_rows = partition_slices.source_count(mssql, spec, window)
        with postgres.get_connection() as conn:
            slice_ = TableSlice(table=spec.target_table, schema=spec.target_schema)
            try:
                target_rows = (PostgresClient.count(conn, slice_) if window is None
                               else partition_slices.target_count(conn, spec, window))
            except psycopg2.errors.UndefinedTable:  # the one expected case: no replica yet
                return AssetCheckResult(
                    passed=False,
                    severity=AssetCheckSeverity.ERROR,
                    description=f"replica table `{spec.target_name}` does not exist yet; "
                    f"materialize the asset first",
                    metadata={"source_rows": source_rows, "target_rows": None},
                )
        difference = target_rows - source_rows
        deferred = _deferred_deletes(spec)
        return AssetCheckResult(
            # Extra replica rows may be deletes not reconciled yet; fewer rows never are.
            passed=(-difference if deferred else abs(difference)) <= spec.row_count_tolerance,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "source_rows": source_rows,
                "target_rows": target_rows,
                "difference": difference,
                "tolerance": spec.row_count_tolerance,
                **({"partitions_checked": covers} if covers else {}),
                **({"awaiting_delete_reconciliation": max(0, difference)} if deferred else {}),
            },
        )

    return _row_count


def build_rows_match_check(*, spec: TableSpec, source: SourceSpec) -> AssetChecksDefinition:
    @_source_check(
        spec, source, "rows_match", blocking=spec.rows_match_blocking,
        description=(
            f"Every row of source `{spec.source_name}` is in the replica with equal values "
            f"(compared as the type map copies them), and no other row is."
        ),
    )
    def _rows_match(context: AssetCheckExecutionContext) -> AssetCheckResult:
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_KEY)
        full_plan = build_plan(spec, mssql.describe_table(spec.source_schema, spec.source_table))
        unfilled: list[str] = []

        def attempt():
            nonlocal unfilled
            with postgres.get_connection() as conn:
                if spec.incremental is not None or spec.mode == "change_tracking":
                    with conn.cursor() as cur:
                        state = read_state(cur, spec.target_name) if state_table_exists(cur) else None
                    unfilled = state.unfilled_columns if state else []
                plan = replace(full_plan, columns=[c for c in full_plan.columns if c.target_name not in unfilled])
                return compare_table(mssql, conn, plan, batch_size=mssql.batch_size, where=where)

        where, covers = None, None
        if spec.partitions:  # a partitioned table: the run's partition(s) only
            window, covers = partition_slices.check_window(context, spec)
            where = (partition_slices.source_where(spec), partition_slices.target_where(spec), window)

        try:
            diff, attempts = call_with_retries(
                attempt, what=f"comparing `{spec.target_name}`", policy=mssql.retry_policy(),
                log=context.log,
            )
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn):  # no replica yet
            return AssetCheckResult(
                passed=False,
                severity=AssetCheckSeverity.ERROR,
                description=f"replica table `{spec.target_name}` does not exist yet or lacks "
                f"columns; materialize the asset first",
            )
        meta = diff.metadata()
        deferred_only = _deferred_deletes(spec) and not diff.passed and not (diff.missing or diff.different)
        summary = diff.summary() + (" (awaiting delete reconciliation)" if deferred_only else "") + (
            f"; not compared: {unfilled} (added to the source after the last full load; run with "
            f"`full_refresh: true` to fill older rows)" if unfilled else "")
        context.log.info(f"rows_match {spec.target_name}: {summary} in {diff.seconds:.2f}s")
        return AssetCheckResult(
            passed=diff.passed or deferred_only,
            severity=AssetCheckSeverity.ERROR,
            description=summary,
            metadata={
                **({"not_compared": MetadataValue.json(unfilled)}
                   if spec.incremental or spec.mode == "change_tracking" else {}),
                **{k: v for k, v in meta.items() if k not in ("differing_columns", "example_keys")},
                "differing_columns": MetadataValue.json(meta["differing_columns"]),
                "example_keys": MetadataValue.json(meta["example_keys"]),
                "attempts": attempts,
                **({"partitions_checked": covers} if covers else {}),
            },
        )

    return _rows_match


def build_schema_check(*, spec: TableSpec, source: SourceSpec) -> AssetChecksDefinition:
    @_source_check(
        spec, source, "schema_matches", blocking=False,
        description=(
            f"The replica's columns and types are what the type map gives for the current "
            f"schema of source `{spec.source_name}`."
        ),
    )
    def _schema(context: AssetCheckExecutionContext) -> AssetCheckResult:
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_KEY)
        plan = build_plan(spec, mssql.describe_table(spec.source_schema, spec.source_table))
        slice_ = TableSlice(table=spec.target_table, schema=spec.target_schema)
        index_plan = wanted_indexes(mssql, spec, plan)
        with postgres.get_connection() as conn, conn.cursor() as cur:
            existing = PostgresClient.existing_columns(cur, slice_)
            key = PostgresClient.primary_key(cur, slice_)[1]
            indexes = index_drift(cur, slice_, index_plan) if existing is not None else None
        if existing is None:
            return AssetCheckResult(
                passed=False, severity=AssetCheckSeverity.WARN,
                description=f"replica table `{spec.target_name}` does not exist yet; materialize the asset")
        changes = diff_layout(existing, plan, key)
        problems = [c.describe() for c in changes] + indexes.differences()
        outside: dict = {}
        if spec.partitions:  # rows no partition copies are reported, never dropped silently
            rows, null = partition_slices.outside_rows(mssql, spec)
            outside = {"rows_outside_partitions": rows, "rows_outside_partitions_null": null}
            if rows:
                problems.append(f"{rows} source row(s) belong to no partition and are not copied ({null} with "
                                f"NULL `{spec.partitions.column}`, the others before "
                                f"{spec.partitions.start.isoformat()} or after the current partition)")
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            description="; ".join(problems) or "columns, types and indexes match",
            metadata={
                **drift_metadata(indexes, index_plan),
                **outside,
                "differences": MetadataValue.json([c.describe() for c in changes]),
                "applied_by_next_run": MetadataValue.json([c.describe() for c in changes if c.compatible]),
                "need_full_refresh": MetadataValue.json([c.describe() for c in changes if not c.compatible]),
            },
        )

    return _schema


def build_replica_checks(config: ReplicaConfig) -> list[AssetChecksDefinition]:
    builders = (build_row_count_check, build_rows_match_check, build_schema_check)
    return [build(spec=t, source=config.sources[t.source]) for t in config.tables for build in builders] + [
        build_retention_check(spec=t) for t in config.tables if t.mode == "change_tracking"]
