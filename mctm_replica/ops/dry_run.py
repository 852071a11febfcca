"""``mctm-replica plan``: what the next run would do to each table, changing nothing.

For each configured table (or those named with ``--table``): the source schema is read
and mapped exactly as a run does (:func:`mctm_replica.assets.replica_batches`, which also
builds the statements the run would send), the source catalog's row estimate is read
(``sys.partitions``, no scan), and the replica side is previewed on a READ ONLY
PostgreSQL transaction (:func:`mctm_replica.io_managers.preview.preview_refresh`). No row
is read from the source, nothing is created or locked on either server; the replica's
tables, its stored watermarks and its statistics stay as they were. For a time-partitioned
table the Dagster instance of ``DAGSTER_HOME`` says which partitions are missing
(:mod:`mctm_replica.partition_status`); without it the plan says so.

Exit status: 0 when every table would load; 1 when a table's next run would fail (a
schema change it refuses) or the table cannot be planned (source unreachable, unmapped
type, bad tables.yaml entry); 2 for an unknown ``--table`` or a bad configuration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import psycopg2
import pymssql
from dagster import AssetKey, DagsterError, DagsterInstance
from dagster._core.storage.db_io_manager import TableSlice
from sqlalchemy.exc import SQLAlchemyError

from mctm_replica.assets import replica_batches
from mctm_replica.config import ConfigError, ReplicaConfig, TableSpec
from mctm_replica.io_managers.preview import TablePreview, format_preview, preview_refresh
from mctm_replica.ops.verify import resource_from_env
from mctm_replica.partition_status import NEEDS_INSTANCE, instance_status
from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.resources.postgres import TargetError, pg_connect
from mctm_replica.typemap import UnmappedTypeError

#: What opening or reading the Dagster instance raises when its storage is missing,
#: unreachable or misconfigured (dagster.yaml, SQLite or PostgreSQL storage).
_INSTANCE_ERRORS = (DagsterError, OSError, SQLAlchemyError, psycopg2.Error)

#: Seconds to wait for the target's connection before reporting it unreachable.
CONNECT_TIMEOUT_S = 10


def select_tables(config: ReplicaConfig, names: Sequence[str] | None) -> list[TableSpec]:
    """The tables named (target ``schema.table``, source ``schema.table`` or
    ``source:schema.table``), in tables.yaml order; every table when ``names`` is empty."""
    if not names:
        return list(config.tables)

    def matches(spec: TableSpec, name: str) -> bool:
        return name.lower() in (spec.target_name.lower(), spec.source_name.lower(),
                                f"{spec.source}:{spec.source_name}".lower())

    unknown = [n for n in names if not any(matches(t, n) for t in config.tables)]
    if unknown:
        raise ConfigError(f"no table {', '.join(f'`{n}`' for n in unknown)} in tables.yaml; it has "
                          f"{', '.join(t.target_name for t in config.tables)} (give a target or source name)")
    return [t for t in config.tables if any(matches(t, n) for n in names)]


def _target(env: dict[str, str]):
    missing = [f"PG_{k}" for k in ("HOST", "DB", "USER", "PASSWORD") if not env.get(f"PG_{k}")]
    if missing:
        raise TargetError(f"the PostgreSQL target is not configured: set {', '.join(missing)}")
    try:
        return pg_connect(host=env["PG_HOST"], port=int(env.get("PG_PORT") or 5432), dbname=env["PG_DB"],
                          user=env["PG_USER"], password=env["PG_PASSWORD"],
                          sslmode=env.get("PG_SSLMODE") or "prefer", connect_timeout=CONNECT_TIMEOUT_S,
                          application_name="mctm_replica plan")
    except psycopg2.OperationalError as e:
        raise TargetError(f"cannot connect to PostgreSQL {env['PG_USER']}@{env['PG_HOST']}/{env['PG_DB']}: "
                          f"{str(e).strip().splitlines()[0]}; check the PG_* environment variables") from e


def plan_tables(config: ReplicaConfig, specs: Sequence[TableSpec],
                env: dict[str, str] | None = None) -> list[TablePreview]:
    """One :class:`TablePreview` per table; a table that cannot be planned carries its error."""
    env = dict(os.environ if env is None else env)
    conn = _target(env)
    sources: dict[str, MssqlResource | Exception] = {}
    instance = None
    try:
        out = []
        for spec in specs:
            if spec.source not in sources:
                try:
                    sources[spec.source] = resource_from_env(config.sources[spec.source], env)
                except SourceError as e:
                    sources[spec.source] = e
            preview = _plan_one(conn, sources[spec.source], spec)
            if spec.partitions is not None:
                if instance is None:
                    instance = _instance(env)
                preview.partitions = _partition_status(instance, spec)
            out.append(preview)
        return out
    finally:
        conn.close()
        if isinstance(instance, DagsterInstance):
            instance.dispose()


def _instance(env: dict[str, str]) -> DagsterInstance | str:
    """The Dagster instance of ``DAGSTER_HOME``, or why there is none to ask."""
    home = env.get("DAGSTER_HOME")
    if not home:
        return NEEDS_INSTANCE
    if not os.path.isabs(home) or not os.path.isdir(home):
        return f"DAGSTER_HOME={home} is not an existing absolute directory; {NEEDS_INSTANCE}"
    try:
        return DagsterInstance.from_config(home)
    except _INSTANCE_ERRORS as e:  # reported per table, never fatal to the rest of the plan
        return f"cannot open the Dagster instance at DAGSTER_HOME={home}: {_first_line(e)}"


def _partition_status(instance: DagsterInstance | str, spec: TableSpec) -> dict:
    if isinstance(instance, str):
        return {"status": "unknown", "reason": instance}
    try:
        return instance_status(instance, spec.partitions, AssetKey(spec.asset_key_path))
    except _INSTANCE_ERRORS as e:  # its storage is unreachable or not migrated
        return {"status": "unknown",
                "reason": f"cannot read partition status from the Dagster instance: {_first_line(e)}"}


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _plan_one(conn, mssql: MssqlResource | Exception, spec: TableSpec) -> TablePreview:
    failed = TablePreview(f"{spec.source}:{spec.source_name}", spec.target_name, spec.mode)
    if isinstance(mssql, Exception):
        failed.error = str(mssql)
        return failed
    try:
        batches = replica_batches(mssql, spec)
        return preview_refresh(conn, TableSlice(table=spec.target_table, schema=spec.target_schema,
                                                database=None, columns=None), batches)
    except (SourceError, ConfigError, UnmappedTypeError, pymssql.Error) as e:
        failed.error = str(e)
    except psycopg2.Error as e:
        conn.rollback()
        failed.error = f"replica table `{spec.target_name}`: {str(e).strip()}"
    return failed


def exit_status(previews: Sequence[TablePreview]) -> int:
    return 1 if any(p.error is not None or p.refused is not None for p in previews) else 0


def format_plan(previews: Sequence[TablePreview]) -> str:
    return "\n\n".join(format_preview(p) for p in previews)
