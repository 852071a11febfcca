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
    ScheduleDefinition,
    define_asset_job,
    multiprocess_executor,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from mctm_replica.assets import SOURCE_TAG
from mctm_replica.config import ReplicaConfig

REPLICA_CRON = ["0 8 * * *", "30 12 * * *", "0 16 * * *"]
REPLICA_TIMEZONE = "Asia/Tokyo"


def source_concurrency_limits(config: ReplicaConfig) -> list[dict]:
    """The executor's tag limits: at most ``max_concurrent_tables`` copies per source at once."""
    return [
        {"key": SOURCE_TAG, "value": s.name, "limit": s.max_concurrent_tables}
        for s in config.sources.values()
    ]


def build_replica_job(
    config: ReplicaConfig, *, without_checks: Sequence[AssetChecksDefinition] = ()
) -> UnresolvedAssetJobDefinition:
    """All replica assets with their checks; per-source copy concurrency from tables.yaml.

    ``without_checks`` leaves checks out of the job: the freshness checks belong to their
    sensor (right after a copy they can only pass, and each check is one more process).
    """
    executor = multiprocess_executor.configured(
        {"tag_concurrency_limits": source_concurrency_limits(config)}
    )
    selection = AssetSelection.assets(*(AssetKey(t.asset_key_path) for t in config.tables))
    if without_checks:
        selection = selection - AssetSelection.checks(*without_checks)
    return define_asset_job(
        "replica_job",
        selection=selection,
        executor_def=executor,
        description="Refresh every PostgreSQL replica table and check it against its source.",
    )


def build_replica_schedule(job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="replica_schedule",
        job=job,
        cron_schedule=REPLICA_CRON,
        execution_timezone=REPLICA_TIMEZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Replica refresh at 08:00, 12:30 and 16:00 Japan time (the Lambda's times).",
    )
