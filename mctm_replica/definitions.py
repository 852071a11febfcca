"""The single assembly point: every asset, check, job, schedule and resource.

Connections come from the environment through ``EnvVar``, with the names the Lambda's
``.env`` already used, so no secret is part of the definitions the UI displays: it shows
the variable names, never their values. Ports and ``PG_SSLMODE`` are not secret and
default to 1433 / 5432 / ``prefer`` when unset.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from mctm_replica.assets import IO_MANAGER_KEY, build_replica_assets
from mctm_replica.checks import POSTGRES_KEY, build_replica_checks
from mctm_replica.config import ReplicaConfig, SourceSpec, load_config
from mctm_replica.io_managers.postgres import PostgresReplicaIOManager
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica.resources.postgres import PostgresResource
from mctm_replica.schedules import build_replica_job, build_replica_schedule


def mssql_resource(source: SourceSpec) -> MssqlResource:
    p = source.env_prefix
    return MssqlResource(
        host=EnvVar(f"{p}_HOST"),
        port=int(os.environ.get(f"{p}_PORT") or 1433),
        database=EnvVar(f"{p}_DB"),
        user=EnvVar(f"{p}_USER"),
        password=EnvVar(f"{p}_PASSWORD"),
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
    job = build_replica_job(config)
    return Definitions(
        assets=build_replica_assets(config),
        asset_checks=build_replica_checks(config),
        jobs=[job],
        schedules=[build_replica_schedule(job)],
        resources={
            **{s.resource_key: mssql_resource(s) for s in config.sources.values()},
            POSTGRES_KEY: postgres,
            IO_MANAGER_KEY: PostgresReplicaIOManager(postgres=postgres),
        },
    )


defs = build_definitions()
