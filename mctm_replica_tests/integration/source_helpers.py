"""Helpers for end-to-end tests: a source database in the stand-in, a tables.yaml, a job run."""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import AssetCheckKey, AssetKey, AssetSelection, Definitions, materialize

from mctm_replica.config import load_config
from mctm_replica.definitions import build_definitions
from mctm_replica.standin import StandIn


def tsql(server: StandIn, database: str, *statements: str) -> None:
    """Run T-SQL statements on the stand-in through pymssql (autocommit)."""
    conn = server.connect_pymssql(database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def source_rows(server: StandIn, database: str, query: str) -> list[tuple]:
    conn = server.connect_pymssql(database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def replica_defs(tmp_path: Path, tables: list[dict], *, prefix: str = "SRC", **source: object) -> Definitions:
    """Definitions for one source `src` (env prefix ``prefix``, other settings ``source``)
    and the given table entries."""
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump({
        "sources": {"src": {"env_prefix": prefix, **source}},
        "tables": [{"source": "src", "mode": "full", **t} for t in tables],
    }))
    return build_definitions(load_config(path))


def source_env(server: StandIn, database: str, prefix: str = "SRC") -> dict[str, str]:
    return {
        f"{prefix}_HOST": server.host,
        f"{prefix}_PORT": str(server.port),
        f"{prefix}_DB": database,
        f"{prefix}_USER": server.user,
        f"{prefix}_PASSWORD": server.password,
    }


def run_job(defs: Definitions, instance=None, selection=None):
    job = defs.resolve_job_def("replica_job")
    return job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=selection)


def run_checks_only(defs: Definitions, key: AssetKey, names: tuple[str, ...] = ("row_count_matches",), **kw):
    """Run only the named asset checks of ``key`` (as "Execute checks" in the UI does)."""
    asset_def = next(a for a in defs.assets if key in a.keys)
    check_defs = [c for c in defs.asset_checks if any(k.asset_key == key and k.name in names for k in c.check_keys)]
    selection = AssetSelection.checks(*[AssetCheckKey(key, n) for n in names])
    return materialize([asset_def, *check_defs], selection=selection, resources=defs.resources, **kw)
