"""The replica job and its schedule: everything, three times a day, Japan time.

The times are the Lambda's (08:00, 12:30, 16:00 Asia/Tokyo), so the application sees
fresh data when it always has. The schedule is RUNNING by default: a deployment that
forgot to switch it on would silently stop refreshing the replica.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import (
    AssetChecksDefinition,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from mctm_replica.config import ReplicaConfig, TableSpec
from mctm_replica.executor import replica_executor

REPLICA_CRON = ["0 8 * * *", "30 12 * * *", "0 16 * * *"]
REPLICA_TIMEZONE = "Asia/Tokyo"
# Tables with `deletes: scheduled` reconcile at night: the key scan is the one read of
# the whole table an incremental table still needs, and nobody works at 03:00.
DELETES_CRON = "0 3 * * *"


def build_replica_job(
    config: ReplicaConfig, *, without_checks: Sequence[AssetChecksDefinition] = ()
) -> UnresolvedAssetJobDefinition:
    """All replica assets with their checks; each step in its source's pool.

    ``without_checks`` leaves checks out of the job: the freshness checks belong to their
    sensor (right after a copy they can only pass, and each check is one more process).
    """
    # A job's assets share one partitioning: time-partitioned tables have their own jobs.
    selection = AssetSelection.assets(*(AssetKey(t.asset_key_path) for t in config.tables if not t.partitions))
    if without_checks:
        selection = selection - AssetSelection.checks(*without_checks)
    return define_asset_job(
        "replica_job",
        selection=selection,
        executor_def=replica_executor(config),
        description="Refresh every PostgreSQL replica table and check it against its source.",
    )


def build_deletes_job(
    config: ReplicaConfig, *, without_checks: Sequence[AssetChecksDefinition] = ()
) -> UnresolvedAssetJobDefinition | None:
    """The tables with ``deletes: scheduled``: an incremental refresh that also removes rows
    deleted in the source (run config ``reconcile_deletes: true``), then their checks.
    None when no table uses it."""
    tables = [t for t in config.tables if t.incremental and t.incremental.deletes.mode == "scheduled"]
    if not tables:
        return None
    keys = [AssetKey(t.asset_key_path) for t in tables]
    return define_asset_job(
        "replica_deletes_job",
        selection=AssetSelection.assets(*keys) - AssetSelection.checks(*without_checks),
        executor_def=replica_executor(config),
        config={"ops": {k.to_python_identifier(): {"config": {"reconcile_deletes": True}}} for k in keys},
        description="Remove rows deleted in the source from incremental tables with "
        "`deletes: scheduled`.",
    )


def _japan_schedule(name: str, job: UnresolvedAssetJobDefinition, cron: str | list[str],
                    description: str) -> ScheduleDefinition:
    """RUNNING by default: a deployment that forgot to switch it on would silently stop."""
    return ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=REPLICA_TIMEZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )


def build_deletes_schedule(job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return _japan_schedule("replica_deletes_schedule", job, DELETES_CRON,
                           "Delete reconciliation of `deletes: scheduled` tables, 03:00 Japan time.")


def build_replica_schedule(job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return _japan_schedule("replica_schedule", job, REPLICA_CRON,
                           "Replica refresh at 08:00, 12:30 and 16:00 Japan time (the Lambda's times).")


def partition_job_name(spec: TableSpec) -> str:
    return f"{spec.target_schema}__{spec.target_table}_partitions_job"


def build_partition_jobs(
    config: ReplicaConfig, *, without_checks: Sequence[AssetChecksDefinition] = ()
) -> dict[str, UnresolvedAssetJobDefinition]:
    """One job per time-partitioned table (its asset and checks), by target name. A run
    of it materializes one partition; its step claims the source's pool like every copy."""
    return {
        t.target_name: define_asset_job(
            partition_job_name(t),
            selection=AssetSelection.assets(AssetKey(t.asset_key_path)) - AssetSelection.checks(*without_checks),
            executor_def=replica_executor(config),
            partitions_def=t.partitions.definition(),
            description=f"Refresh one partition of `{t.target_name}` ({t.partitions.describe()}) and check it.",
        )
        for t in config.tables if t.partitions
    }


def build_partition_schedule(spec: TableSpec, job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    """At the replica's times, the current partition and the one before: rows that arrive
    late (a day's usage booked after midnight) land in yesterday's partition. Older
    partitions are backfills (the UI's partition dialog or ``dagster job backfill``)."""
    pspec = spec.partitions

    @schedule(
        name=f"{spec.target_schema}__{spec.target_table}_partitions_schedule",
        job=job,
        cron_schedule=REPLICA_CRON,
        execution_timezone=REPLICA_TIMEZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"The current and previous partition of `{spec.target_name}` at 08:00, 12:30 and "
        f"16:00 Japan time.",
    )
    def _latest(context: ScheduleEvaluationContext) -> list[RunRequest]:
        tick = context.scheduled_execution_time
        return [RunRequest(run_key=f"{key}@{tick.isoformat()}", partition_key=key)
                for key in pspec.latest_keys(tick)]

    return _latest
