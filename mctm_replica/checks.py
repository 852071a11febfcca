"""Asset checks that prove a replica matches its source.

``row_count_matches`` compares the source's ``COUNT_BIG(*)`` with the replica's
``count(*)``. It is *blocking* with ERROR severity: when the difference exceeds the
table's ``row_count_tolerance`` (default 0) the check's step fails, and with it the run,
so the schedule's run shows red and run-failure alerting sees it. It runs after every
materialization in the same run and can be run on its own from the UI.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at runtime.

import psycopg2.errors
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    asset_check,
)
from dagster._core.storage.db_io_manager import TableSlice

from mctm_replica.config import ReplicaConfig, SourceSpec, TableSpec
from mctm_replica.io_managers.postgres import PostgresClient
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica.resources.postgres import PostgresResource

POSTGRES_KEY = "postgres"


def build_row_count_check(*, spec: TableSpec, source: SourceSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(spec.asset_key_path),
        name="row_count_matches",
        blocking=True,
        required_resource_keys={source.resource_key, POSTGRES_KEY},
        description=(
            f"Source `{spec.source_name}` COUNT_BIG(*) equals the replica's count(*) "
            f"within {spec.row_count_tolerance} row(s)."
        ),
    )
    def _row_count(context: AssetCheckExecutionContext) -> AssetCheckResult:
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_KEY)
        source_rows = mssql.count_rows(spec.source_schema, spec.source_table, nolock=spec.nolock)
        with postgres.get_connection() as conn:
            slice_ = TableSlice(table=spec.target_table, schema=spec.target_schema)
            try:
                target_rows = PostgresClient.count(conn, slice_)
            except psycopg2.errors.UndefinedTable:  # the one expected case: no replica yet
                return AssetCheckResult(
                    passed=False,
                    severity=AssetCheckSeverity.ERROR,
                    description=f"replica table `{spec.target_name}` does not exist yet; "
                    f"materialize the asset first",
                    metadata={"source_rows": source_rows, "target_rows": None},
                )
        difference = target_rows - source_rows
        return AssetCheckResult(
            passed=abs(difference) <= spec.row_count_tolerance,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "source_rows": source_rows,
                "target_rows": target_rows,
                "difference": difference,
                "tolerance": spec.row_count_tolerance,
            },
        )

    return _row_count


def build_replica_checks(config: ReplicaConfig) -> list[AssetChecksDefinition]:
    return [build_row_count_check(spec=t, source=config.sources[t.source]) for t in config.tables]
