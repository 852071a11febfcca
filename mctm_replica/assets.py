"""One Dagster asset per replicated table, built by one factory from tables.yaml.

Replication semantics, mode ``full`` (the default):

* Every materialization copies the whole source table: ``SELECT ... FROM
  [schema].[table] WITH (NOLOCK)`` (``nolock: false`` drops the hint), streamed in
  ``fetchmany`` batches over pymssql -- the Lambda's read, kept because the source's
  operators accepted its locking behaviour. SQL Server formats each row as a line of
  PostgreSQL's CSV (:mod:`mctm_replica.tsql.csv_lines`), so Python only joins lines;
  ``format_on_server: false`` on the source reads typed values instead.
* The source schema is introspected on every run and mapped through the one type map
  (:mod:`mctm_replica.typemap`) *before* any row is read, so an unmapped type or a bad
  tables.yaml entry fails the run while the replica is untouched.
* The asset returns :class:`~mctm_replica.plan.ReplicaBatches`; the PostgreSQL IO
  manager streams it into a staging table with COPY and applies it to the live table by
  difference in one short server-side step (see :mod:`mctm_replica.io_managers.postgres`). A failed
  or killed run leaves the previous replica exactly as it was.
* The asset key is ``[target schema, target table]`` -- the only source of the target's
  name. Assets are grouped by source; every step reading one source runs in its pool, so
  tables of one source are copied one at a time by default (``max_concurrent_tables``),
  in every job and across runs, because the source was never sized for parallel full
  scans (:mod:`mctm_replica.pools`).

Mode ``incremental`` (a ``watermark`` column and a ``primary_key`` in tables.yaml):

* The IO manager reads the table's stored watermark inside the transaction that will
  replace it, and reads only source rows with ``watermark >= stored - lookback`` (rows
  whose watermark is NULL every time). They are merged by primary key: new keys
  inserted, changed rows updated, unchanged ones left alone, so re-reading the overlap is
  harmless. The new watermark -- the largest value read, but never past the limit read
  before the scan (the column's maximum; ``MIN_ACTIVE_ROWVERSION()`` for rowversion) -- is
  committed with the rows it covers.
* Deletes: the source's primary keys (a narrow read, never NOLOCK: a NOLOCK scan can skip
  rows, and a skipped key would delete a live row) are streamed after the changes, and
  replica rows whose key is gone are deleted in the same transaction -- every run, every
  Nth run, or only in ``replica_deletes_job`` (``deletes`` in tables.yaml).
* The first run, a changed watermark column, or run config ``full_refresh: true`` loads
  every row as mode ``full`` does and sets the watermark.

Mode ``change_tracking`` (a ``primary_key``; SQL Server Change Tracking on the table): the
asset checks that Change Tracking can be read (:mod:`mctm_replica.resources.change_tracking`)
before anything is read, then the IO manager reads only the changes since the stored version
(:mod:`mctm_replica.io_managers.modes.change_tracking`).

Schema drift (every mode; :mod:`mctm_replica.io_managers.drift`): added columns are added,
widened types widened in place; a dropped, narrowed or retyped column fails the run with
the fix, unless the run has ``full_refresh: true``, which rebuilds those columns.

Run config ``dry_run: true`` (every mode): the run says what it would do -- load, watermark,
deletes, schema changes, estimated rows, the source SQL -- and changes nothing; it is an
``AssetObservation``, not a materialization (:mod:`mctm_replica.io_managers.preview`). The
same plan is ``mctm-replica plan`` (:mod:`mctm_replica.ops.dry_run`).
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at runtime.

import os

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Config, Output, PartitionKeyRange, asset
from pydantic import Field

from mctm_replica.config import ConfigError, ReplicaConfig, SourceSpec, TableSpec
from mctm_replica.pools import source_pool
from mctm_replica.io_managers.preview import dry_run_asset
from mctm_replica.parallel.opener import parallel_open
from mctm_replica.plan import ReplicaBatches, SourceQuery, TablePlan, build_plan
from mctm_replica.naming import TABLE_NAME_KEY, replica_table_name
from mctm_replica.resources.change_tracking import ChangeTrackingSource, key_problem
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica.indexes.desired import wanted_indexes
from mctm_replica.partition_slices import outside_rows
from mctm_replica.partition_slices import target_column as partition_target
from mctm_replica.partitions import PARTITION_COLUMN_TYPES, PartitionRun, partition_column_error
from mctm_replica.read_check import require_same_reads
from mctm_replica.tsql import reads
from mctm_replica.tsql.csv_lines import select_lines_sql

#: Op tag naming the source a step reads: the executor's in-run limit (executor.py).
SOURCE_TAG = "mctm_replica/source"
#: Op tag naming the replica table a step copies or checks: a run of one table runs in
#: process (executor.py).
TABLE_TAG = "mctm_replica/table"
IO_MANAGER_KEY = "replica_io_manager"


def step_tags(spec: TableSpec) -> dict[str, str]:
    """The op tags of every step that reads ``spec``'s source: its copy and its checks."""
    return {SOURCE_TAG: spec.source, TABLE_TAG: spec.target_name}


class ReplicaRunConfig(Config):
    """Per-run options of a replica asset (the launchpad's ``ops: <asset>: config:``)."""

    full_refresh: bool = Field(
        default=False,
        description="Reload every row (incremental tables too, resetting the watermark) and "
        "rebuild columns the source dropped, narrowed or retyped",
    )
    reconcile_deletes: bool = Field(
        default=False,
        description="Incremental tables: remove rows deleted in the source on this run, "
        "whatever `deletes` says",
    )
    dry_run: bool = Field(
        default=False,
        description="Log what this run would do (load, watermark, schema changes, source SQL) and "
        "change nothing: no rows read, no materialization (an observation carries the plan)",
    )
    allow_mass_delete: bool = Field(
        default=False,
        description="Accept, on this run only, deleting more than the table's "
        "`max_delete_fraction` of the replica's rows (the source really lost them)",
    )


def build_replica_asset(*, spec: TableSpec, source: SourceSpec) -> AssetsDefinition:
    """The asset that copies ``spec``'s source table into its PostgreSQL replica."""
    table_name = replica_table_name(os.environ.get("PG_DB"), spec.target_schema, spec.target_table)

    @asset(
        key=AssetKey(spec.asset_key_path),
        group_name=spec.source,
        kinds={"sqlserver", "postgres"},  # the UI has an icon for `sqlserver`, none for `mssql`
        description=spec.description
        or f"{'Incremental' if spec.incremental else 'Change Tracking' if spec.mode == 'change_tracking' else 'Full'} copy of SQL Server "
        f"`{spec.source_name}` (source `{spec.source}`) into PostgreSQL `{spec.target_name}`.",
        # The IO manager too: a dry run asks it what it would do (io_managers/preview.py).
        required_resource_keys={source.resource_key, IO_MANAGER_KEY},
        output_required=False,  # a dry run yields no output, so no materialization
        io_manager_key=IO_MANAGER_KEY,
        op_tags=step_tags(spec),
        pool=source_pool(spec.source),  # one source read at a time, across runs (pools.py)
        partitions_def=spec.partitions.definition() if spec.partitions else None,
        backfill_policy=spec.partitions.backfill_policy() if spec.partitions else None,
        metadata={
            # The IO manager's TableSlice names the partition column (Dagster requires it).
            **({"partition_expr": partition_target(spec)} if spec.partitions else {}),
            "source_table": f"{spec.source}:{spec.source_name}",
            "target_table": spec.target_name,
            "mode": spec.mode,
            TABLE_NAME_KEY: table_name,
        },
    )
    def _replica(context: AssetExecutionContext, config: ReplicaRunConfig):
        # A generator: a dry run yields nothing (no output, so no materialization), which
        # Dagster allows only when results are yielded, not returned.
        mssql: MssqlResource = getattr(context.resources, source.resource_key)
        if mssql.format_on_server and not config.dry_run:
            # The fast path proves itself on this server before anything of the table is read.
            require_same_reads(mssql, table=f"{spec.source}:{spec.source_name}", source=spec.source,
                               run_id=context.run_id)
        batches = replica_batches(mssql, spec, full_refresh=config.full_refresh,
                                  reconcile_deletes=config.reconcile_deletes,
                                  allow_mass_delete=config.allow_mass_delete, log=context.log,
                                  partition_keys=context.partition_key_range if spec.partitions else None)
        if config.dry_run:
            dry_run_asset(context, getattr(context.resources, IO_MANAGER_KEY), batches)
            return  # no output: not a materialization (see dry_run_asset)
        context.log.info(
            f"copying {spec.source}:{spec.source_name} -> {spec.target_name} "
            f"({len(batches.plan.columns)} columns, key {batches.plan.primary_key or 'none'}, mode {spec.mode})"
        )
        yield Output(batches)

    return _replica


def replica_batches(mssql: MssqlResource, spec: TableSpec, *, full_refresh: bool = False,
                    reconcile_deletes: bool = False, allow_mass_delete: bool = False,
                    log=None, partition_keys: PartitionKeyRange | None = None) -> ReplicaBatches:
    """The plan of ``spec``'s table from the live source schema, and the source statements a
    run reads it with (opened lazily). The asset and ``mctm-replica plan`` both build it here.
    A time-partitioned table reads the slice of ``partition_keys`` (default: the latest partition)."""
    table = mssql.describe_table(spec.source_schema, spec.source_table)
    plan = build_plan(spec, table)
    what = f"`{spec.source_name}`"
    rows = SourceQuery(read_sql(plan, lines=mssql.format_on_server), what)
    partition = None
    if spec.partitions is not None:
        partition = _partition_run(partition_keys, mssql, spec, plan)
        rows = SourceQuery(reads.where(rows.sql, reads.in_slice(spec.partitions.column)),
                           f"{what} partition {partition.key}", (partition.start, partition.end))
    batches = ReplicaBatches(
        plan,
        open=(parallel_open(mssql, plan, rows.sql, log=log) if spec.parallel_readers > 1
              else lambda: mssql.stream(rows.sql, rows.params, what=rows.what)),
        partition=partition,
        source_rows_hint=mssql.estimate_rows(spec.source_schema, spec.source_table),
        full_refresh=full_refresh,
        reconcile_deletes=reconcile_deletes,
        allow_mass_delete=allow_mass_delete,
        lines=mssql.format_on_server,
        queries={"rows": rows},
    )
    if plan.watermark is not None:
        _add_incremental_reads(batches, mssql, spec, rows.sql, what)
    if spec.mode == "change_tracking":  # checked before anything is read: fails with the DBA's fix
        source_of = {c.target_name: c.source_name for c in plan.columns}
        problem = key_problem([source_of[k] for k in plan.primary_key], table.primary_key)
        if problem is not None:
            raise ConfigError(f"table `{spec.source}:{spec.source_name}` (mode change_tracking): {problem}")
        batches.ct = ChangeTrackingSource(mssql, spec.source_schema, spec.source_table, plan.source_columns,
                                          [source_of[k] for k in plan.primary_key])
        batches.ct.check()
    batches.indexes = wanted_indexes(mssql, spec, plan)
    return batches


def _partition_run(keys: PartitionKeyRange | None, mssql: MssqlResource, spec: TableSpec,
                   plan: TablePlan) -> PartitionRun:
    """This run's partition: its bounds, and how many source rows belong to no partition."""
    pspec, where = spec.partitions, f"table `{spec.source}:{spec.source_name}`"
    column = next((c for c in plan.columns if c.source_name.lower() == pspec.column.lower()), None)
    if column is None or column.source_type.name not in PARTITION_COLUMN_TYPES:
        raise ConfigError(partition_column_error(where, pspec.column,
                                                 None if column is None else column.source_type.declared()))
    # A backfill run may carry a range of partitions (backfill policy): one slice from the
    # first one's start to the last one's end.
    if keys is None:  # the dry run outside a run: the latest partition
        latest = pspec.latest_keys(count=1)[0]
        keys = PartitionKeyRange(latest, latest)
    start, end = pspec.bounds(keys.start)[0], pspec.bounds(keys.end)[1]
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    outside, null = outside_rows(mssql, spec)
    return PartitionRun(label, column.target_name, start, end, pspec.describe(), int(outside), int(null))


def read_sql(plan: TablePlan, *, lines: bool) -> str:
    """Every row of the table: one CSV line each that SQL Server formats (with the typed
    watermark after it, for incremental tables), or typed values in ``plan.columns`` order."""
    spec = plan.spec
    if not lines:
        return reads.select_sql(spec.source_schema, spec.source_table, plan.source_columns, nolock=spec.nolock)
    also = () if plan.watermark is None else (plan.watermark.source_column,)
    return select_lines_sql(spec.source_schema, spec.source_table,
                            [(c.source_name, c.source_type) for c in plan.columns], nolock=spec.nolock, also=also)


def _add_incremental_reads(batches: ReplicaBatches, mssql: MssqlResource, spec: TableSpec,
                           query: str, what: str) -> None:
    """The changed rows, the keys and the watermark limit of an incremental table."""
    plan, wm = batches.plan, batches.plan.watermark
    changed = SourceQuery(reads.where(query, wm.predicate()), what)
    cap = SourceQuery(wm.cap_sql(spec.source_schema, spec.source_table, nolock=spec.nolock),
                      f"the watermark limit of {what}")
    source_of = {c.target_name: c.source_name for c in plan.columns}
    keys = SourceQuery(reads.select_sql(spec.source_schema, spec.source_table,
                                        [source_of[k] for k in plan.primary_key], nolock=False), f"the keys of {what}")
    batches.queries.update(changes=changed, keys=keys, cap=cap)
    batches.changes = lambda bound: mssql.stream(changed.sql, (wm.parameter(bound),), what=changed.what)
    batches.keys = lambda: mssql.stream(keys.sql, what=keys.what)
    batches.cap = lambda: mssql.scalar(cap.sql, what=cap.what)


def build_replica_assets(config: ReplicaConfig) -> list[AssetsDefinition]:
    return [build_replica_asset(spec=t, source=config.sources[t.source]) for t in config.tables]
