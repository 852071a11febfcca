"""The local stand-ins for production: SQL Server stand-in + PostgreSQL, for demo and dev.

``local_services()`` starts both, creates the replica and Dagster databases, and returns
the environment variables that production sets -- the same names, so the project's code
runs unchanged against them. The Dagster instance (``DAGSTER_HOME``) gets the project's
dagster.yaml and each source pool its ``max_concurrent_tables`` before anything runs.
The stand-in runs as a subprocess so the copy's reading and the server's encoding do not
share one Python interpreter (as with a real SQL Server).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mctm_replica.config import TABLES_ENV, ReplicaConfig, load_config
from mctm_replica.local.postgres import LocalPostgres
from mctm_replica.pools import apply_pool_limits
from mctm_replica.standin import StandIn

# The demo data's databases, by tables.yaml source name.
DEMO_DATABASES = {"mctm": "McTM", "voipdb": "VoipDB"}
REPLICA_DB = "replica"
DAGSTER_DB = "dagster"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The demo's registry: production's four tables plus an incremental demo-only table.
DEMO_TABLES = Path(__file__).with_name("demo_tables.yaml")


def demo_source_env(mssql: StandIn, config: ReplicaConfig) -> dict[str, str]:
    """Every configured source pointed at its demo database in the stand-in."""
    env: dict[str, str] = {}
    for source in config.sources.values():
        p = source.env_prefix
        env |= {
            f"{p}_HOST": mssql.host,
            f"{p}_PORT": str(mssql.port),
            f"{p}_DB": DEMO_DATABASES.get(source.name, source.name),
            f"{p}_USER": mssql.user,
            f"{p}_PASSWORD": mssql.password,
        }
    return env


@contextmanager
def local_services(workdir: Path) -> Iterator[dict[str, str]]:
    """Start the stand-in (with demo data) and PostgreSQL under ``workdir``; yield the env."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    config = load_config(DEMO_TABLES)
    with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(
        mode="subprocess", demo_data=True
    ) as mssql:
        pg.create_database(REPLICA_DB)
        pg.create_database(DAGSTER_DB)
        env = {
            **pg.env(REPLICA_DB, "PG"),
            **pg.env(DAGSTER_DB, "DAGSTER_PG"),
            "PG_SSLMODE": "disable",
            "DAGSTER_HOME": str(dagster_home),
            TABLES_ENV: str(DEMO_TABLES),
        }
        env |= demo_source_env(mssql, config)
        apply_source_pool_limits(env, config)
        yield env


def apply_source_pool_limits(env: dict[str, str], config: ReplicaConfig) -> None:
    """Give each source pool tables.yaml's ``max_concurrent_tables`` in the instance of
    ``env``'s ``DAGSTER_HOME`` before any run starts (``dagster.yaml``'s default limit covers
    sources left at 1; the daemon's ``replica_pool_limits`` sensor keeps them in step later)."""
    from dagster import DagsterInstance

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with DagsterInstance.get() as instance:
            apply_pool_limits(instance, config)
    finally:
        os.environ.clear()
        os.environ.update(saved)
