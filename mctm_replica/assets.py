"""One Dagster asset per replicated table, built by one factory from tables.yaml.

Replication semantics (mode ``full``, the only mode today):

* Every materialization copies the whole source table: ``SELECT <columns> FROM
  [schema].[table] WITH (NOLOCK)`` (``nolock: false`` drops the hint), streamed in
  ``fetchmany`` batches over pymssql -- the Lambda's read, kept because the source's
  operators accepted its locking behaviour.
* The source schema is introspected on every run and mapped through the one type map
  (:mod:`mctm_replica.typemap`) *before* any row is read, so an unmapped type or a bad
  tables.yaml entry fails the run while the replica is untouched.
* The asset returns :class:`~mctm_replica.plan.ReplicaBatches`; the PostgreSQL IO
  manager streams it into a staging table with COPY and swaps it into the live table in
  one short server-side step (see :mod:`mctm_replica.io_managers.postgres`). A failed
  or killed run leaves the previous replica exactly as it was.
* The asset key is ``[target schema, target table]`` -- the only source of the target's
  name. Assets are grouped by source; tables of one source are copied one at a time by
  default (``max_concurrent_tables``), because the source was never sized for parallel
  full scans.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at runtime.

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, asset

from mctm_replica.config import ReplicaConfig, SourceSpec, TableSpec
from mctm_replica.plan import ReplicaBatches, build_plan
from mctm_replica.resources.mssql import MssqlResource, select_sql

#: Op tag the job's executor limits per source (tag_concurrency_limits).
SOURCE_TAG = "mctm_replica/source"
IO_MANAGER_KEY = "replica_io_manager"


def build_replica_asset(*, spec: TableSpec, source: SourceSpec) -> AssetsDefinition:
    """The asset that copies ``spec``'s source table into its PostgreSQL replica."""

    @asset(
        key=AssetKey(spec.asset_key_path),
        group_name=spec.source,
        kinds={"mssql", "postgres"},
        description=spec.description
        or f"Full copy of SQL Server `{spec.source_name}` (source `{spec.source}`) "
        f"into PostgreSQL `{spec.target_name}`.",
        required_resource_keys={source.resource_key},
        io_manager_key=IO_MANAGER_KEY,
        op_tags={SOURCE_TAG: spec.source},
        metadata={
            "source_table": f"{spec.source}:{spec.source_name}",
            "target_table": spec.target_name,
            "mode": spec.mode,
        },
    )
    def _replica(context: AssetExecutionContext) -> ReplicaBatches:
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        table = mssql.describe_table(spec.source_schema, spec.source_table)
        plan = build_plan(spec, table)
        query = select_sql(spec.source_schema, spec.source_table, plan.source_columns, nolock=spec.nolock)
        context.log.info(
            f"copying {spec.source}:{spec.source_name} -> {spec.target_name} "
            f"({len(plan.columns)} columns, key {plan.primary_key or 'none'})"
        )
        return ReplicaBatches(
            plan,
            open=lambda: mssql.stream(query, what=f"`{spec.source_name}`"),
            source_rows_hint=mssql.estimate_rows(spec.source_schema, spec.source_table),
        )

    return _replica


def build_replica_assets(config: ReplicaConfig) -> list[AssetsDefinition]:
    return [build_replica_asset(spec=t, source=config.sources[t.source]) for t in config.tables]
