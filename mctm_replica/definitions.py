"""The single assembly point: every asset, check, job, schedule and resource.

Connections come from the environment through ``EnvVar``, with the names the Lambda's
``.env`` already used, so no secret is part of the definitions the UI displays: it shows
the variable names, never their values. Ports and ``PG_SSLMODE`` are not secret and
default to 1433 / 5432 / ``prefer`` when unset; so do the retry settings
(``REPLICA_RETRY_ATTEMPTS``, ``REPLICA_RETRY_BASE_DELAY_S``).

Besides assets, checks (row count, content, freshness), the job and the schedule, it
holds the alerting sensors (failed checks, failed runs), the freshness sensor, the
sensor that ends each run's log with its per-table summary and the one that applies
tables.yaml's ``max_concurrent_tables`` to the source pools, all running by default.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME

from mctm_replica.assets import IO_MANAGER_KEY, build_replica_assets
from mctm_replica.checks import POSTGRES_KEY, build_replica_checks
from mctm_replica.config import ReplicaConfig, SourceSpec, load_config
from mctm_replica.executor import replica_executor
from mctm_replica.freshness import build_freshness_checks, build_freshness_sensor
from mctm_replica.io_managers.postgres import PostgresReplicaIOManager
from mctm_replica.pools import build_pool_limits_sensor
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica.resources.postgres import PostgresResource
from mctm_replica.retry import RetryPolicy
from mctm_replica.run_report import build_run_summary_sensor
from mctm_replica.schedules import (
    build_deletes_job,
    build_deletes_schedule,
    build_partition_jobs,
    build_partition_schedule,
    build_replica_job,
    build_replica_schedule,
)
from mctm_replica.sensors import build_check_alert_sensor, build_run_failure_sensor


def mssql_resource(source: SourceSpec, retry: RetryPolicy | None = None) -> MssqlResource:
    p = source.env_prefix
    retry = retry or RetryPolicy()
    return MssqlResource(
        host=EnvVar(f"{p}_HOST"),
        port=int(os.environ.get(f"{p}_PORT") or 1433),
        database=EnvVar(f"{p}_DB"),
        user=EnvVar(f"{p}_USER"),
        password=EnvVar(f"{p}_PASSWORD"),
        retry_attempts=retry.max_attempts,
        retry_base_delay_s=retry.base_delay_s,
        format_on_server=source.format_on_server,
        source=source.name,
        encryption=source.connection.encryption,
        ca_file=source.connection.ca_file,
        trust_server_certificate=source.connection.trust_server_certificate,
        read_only_intent=source.connection.read_only_intent,
    )


def postgres_resource() -> PostgresResource:
    return PostgresResource(
        host=EnvVar("PG_HOST"),
        port=int(os.environ.get("PG_PORT") or 5432),
        database=EnvVar("PG_DB"),
        user=EnvVar("PG_USER"),
        password=EnvVar("PG_PASSWORD"),
        sslmode=os.environ.get("PG_SSLMODE") or "prefer",
    )


def build_definitions(config: ReplicaConfig | None = None) -> Definitions:
    config = config or load_config()
    postgres = postgres_resource()
    retry = RetryPolicy.from_env()  # not secret: read when the definitions load, like ports
    freshness_checks = build_freshness_checks(config)
    job = build_replica_job(config, without_checks=freshness_checks)
    deletes_job = build_deletes_job(config, without_checks=freshness_checks)
    jobs = [job] if deletes_job is None else [job, deletes_job]
    schedules = [build_replica_schedule(job)]
    partition_jobs = build_partition_jobs(config, without_checks=freshness_checks)
    jobs += partition_jobs.values()
    schedules += [build_partition_schedule(t, partition_jobs[t.target_name]) for t in config.tables if t.partitions]
    if deletes_job is not None:
        schedules.append(build_deletes_schedule(deletes_job))
    return Definitions(
        assets=build_replica_assets(config),
        asset_checks=[*build_replica_checks(config), *freshness_checks],
        jobs=jobs,
        schedules=schedules,
        # The implicit asset job (UI "Materialize all", "Execute checks", `dagster asset
        # materialize`) starts its steps the way replica_job does.
        executor=replica_executor(config),
        sensors=[
            build_check_alert_sensor(),
            # The UI's "Materialize" and the freshness sensor's runs use Dagster's implicit
            # asset job; their failures concern the replica as much as the schedule's.
            build_run_failure_sensor({j.name for j in jobs} | {IMPLICIT_ASSET_JOB_NAME}),
            build_freshness_sensor(freshness_checks),
            build_run_summary_sensor(config, job.name, {j.name for j in jobs} | {IMPLICIT_ASSET_JOB_NAME}),
            build_pool_limits_sensor(config),
        ],
        resources={
            **{s.resource_key: mssql_resource(s, retry) for s in config.sources.values()},
            POSTGRES_KEY: postgres,
            IO_MANAGER_KEY: PostgresReplicaIOManager(
                postgres=postgres,
                retry_attempts=retry.max_attempts,
                retry_base_delay_s=retry.base_delay_s,
            ),
        },
    )


defs = build_definitions()
