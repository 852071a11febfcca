"""``mctm-replica info``: one row per configured table, live counts and the last run's facts.

Source and target row counts are read live (``COUNT_BIG(*)`` / ``count(*)``); the last
materialization and the last check results come from the Dagster instance
(``$DAGSTER_HOME``), i.e. exactly what the UI shows. A database that cannot be reached
shows its error in place of the count; the command still lists every table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import psycopg2
import pymssql
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica.config import ReplicaConfig, TableSpec
from mctm_replica.io_managers.state import ReplicaState, read_all_states
from mctm_replica.ops.connections import Endpoint, mssql_connect, mssql_error_number, endpoints
from mctm_replica.tsql.reads import count_sql
from mctm_replica.resources.postgres import pg_connect


@dataclass
class TableInfo:
    source_table: str
    target_table: str
    mode: str
    source_rows: int | str | None = None  # a count, or the error text
    target_rows: int | str | None = None
    last_materialization: str | None = None  # ISO time (UTC)
    last_run_status: str | None = None
    last_rows: int | None = None
    last_seconds: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check name -> status
    watermark: str | None = None  # incremental tables: the stored watermark
    deletes_reconciled_at: str | None = None  # incremental tables: last key reconciliation (UTC)


def _count_source(ep: Endpoint, spec: TableSpec) -> int | str:
    try:
        conn = mssql_connect(ep, ep.database)
    except pymssql.Error as e:
        return f"unreachable (error {mssql_error_number(e)})"
    try:
        with conn.cursor() as cur:
            cur.execute(count_sql(spec.source_schema, spec.source_table, nolock=spec.nolock))
            return int(cur.fetchone()[0])
    except pymssql.Error as e:
        return f"error {mssql_error_number(e)}"
    finally:
        conn.close()


def _pg_connect(ep: Endpoint):
    return pg_connect(host=ep.host, port=ep.port, dbname=ep.database, user=ep.user,
                      password=ep.password, connect_timeout=10, sslmode=ep.sslmode)


def _states(ep: Endpoint) -> dict[str, ReplicaState]:
    try:
        conn = _pg_connect(ep)
    except psycopg2.OperationalError:
        return {}
    try:
        return read_all_states(conn)
    finally:
        conn.close()


def _count_target(ep: Endpoint, spec: TableSpec) -> int | str:
    try:
        conn = _pg_connect(ep)
    except psycopg2.OperationalError:
        return "unreachable"
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(spec.target_schema), sql.Identifier(spec.target_table)))
            return int(cur.fetchone()[0])
    except psycopg2.errors.UndefinedTable:
        return "not created yet"
    finally:
        conn.close()


def _from_instance(
    instance: DagsterInstance, spec: TableSpec, row: TableInfo, check_keys: list[AssetCheckKey]
) -> None:
    key = AssetKey(spec.asset_key_path)
    [record] = instance.get_asset_records([key]) or [None]
    entry = record.asset_entry if record else None
    if entry and entry.last_materialization:
        mat = entry.last_materialization
        meta = mat.asset_materialization.metadata if mat.asset_materialization else {}
        row.last_materialization = dt.datetime.fromtimestamp(mat.timestamp, dt.timezone.utc).isoformat(
            timespec="seconds")
        row.last_rows = meta["rows_copied"].value if "rows_copied" in meta else None
        row.last_seconds = meta["duration_s"].value if "duration_s" in meta else None
    run_id = entry.last_run_id if entry else None
    run = instance.get_run_by_id(run_id) if run_id else None
    row.last_run_status = run.status.value if run else None
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    row.checks = {k.name: r.status.value for k, r in sorted(latest.items(), key=lambda kv: kv[0].name)}


def _checks_by_asset(config: ReplicaConfig) -> dict[AssetKey, list[AssetCheckKey]]:
    """Every check the definitions declare, per asset (so new checks show up by themselves)."""
    from mctm_replica.definitions import build_definitions

    by_asset: dict[AssetKey, list[AssetCheckKey]] = {}
    for ck in build_definitions(config).resolve_asset_graph().asset_check_keys:
        by_asset.setdefault(ck.asset_key, []).append(ck)
    return by_asset


def table_info(config: ReplicaConfig, instance: DagsterInstance | None,
               env: dict[str, str] | None = None) -> list[TableInfo]:
    eps = {e.name: e for e in endpoints(config, env)}
    checks = _checks_by_asset(config) if instance is not None else {}
    states = _states(eps["target"]) if any(t.incremental for t in config.tables) else {}
    rows = []
    for spec in config.tables:
        row = TableInfo(f"{spec.source}:{spec.source_name}", spec.target_name, spec.mode)
        row.source_rows = _count_source(eps[spec.source], spec)
        row.target_rows = _count_target(eps["target"], spec)
        if (state := states.get(spec.target_name)) is not None and spec.incremental is not None:
            row.watermark = state.watermark
            if state.last_reconciled_at is not None:
                row.deletes_reconciled_at = state.last_reconciled_at.astimezone(dt.timezone.utc).isoformat(
                    timespec="seconds")
        if instance is not None:
            _from_instance(instance, spec, row, checks.get(AssetKey(spec.asset_key_path), []))
        rows.append(row)
    return rows


def as_dicts(rows: list[TableInfo]) -> list[dict]:
    return [asdict(r) for r in rows]


def format_table(rows: list[TableInfo]) -> str:
    header = (f"{'source table':<28} {'target table':<26} {'mode':<11} {'source':>9} {'target':>9}  "
              f"{'last materialization':<25} {'status':<8} {'rows':>9} {'secs':>6}  checks")
    out = [header, "-" * len(header)]
    for r in rows:
        checks = ", ".join(f"{k} {v.lower()}" for k, v in r.checks.items()) or "-"
        out.append(
            f"{r.source_table:<28} {r.target_table:<26} {r.mode:<11} {_cell(r.source_rows):>9} "
            f"{_cell(r.target_rows):>9}  {r.last_materialization or 'never':<25} "
            f"{(r.last_run_status or '-').lower():<8} {_cell(r.last_rows):>9} "
            f"{_cell(r.last_seconds):>6}  {checks}"
            + (f"; watermark {r.watermark}" if r.watermark is not None else "")
        )
    return "\n".join(out)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)
