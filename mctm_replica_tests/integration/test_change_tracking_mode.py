"""Mode ``change_tracking`` end to end: stand-in (pymssql, Change Tracking) -> replica_job
-> real PostgreSQL. Each test owns its source database and replica schema."""

from __future__ import annotations

import pytest
from dagster import AssetKey
from psycopg2 import sql

from mctm_replica.io_managers.state import STATE_SCHEMA, STATE_TABLE
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, run_checks_only, run_job, source_rows, tsql

ENABLE_DB = "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"
ENABLE_TABLE = "ALTER TABLE dbo.t ENABLE CHANGE_TRACKING"


def ct_table(schema: str, key: list[str] | None = None, **extra) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "mode": "change_tracking",
            "primary_key": key or ["id"], **extra}


def replica(pg_conn, schema: str, columns: str = "id, v") -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.t ORDER BY 1, 2").format(sql.SQL(columns), sql.Identifier(schema)))
        return cur.fetchall()


def stored_version(pg_conn, target: str) -> int | None:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT ct_version FROM {}.{} WHERE target_table = %s").format(
            sql.Identifier(STATE_SCHEMA), sql.Identifier(STATE_TABLE)), (target,))
        row = cur.fetchone()
        return row[0] if row else None


def version(server, db) -> int:
    return source_rows(server, db, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")[0][0]


def tracked(server, db, ddl: str, *rows: str) -> None:
    tsql(server, db, ENABLE_DB, f"CREATE TABLE dbo.t ({ddl})", *rows, ENABLE_TABLE)


# key type: (DDL, key columns, values for ids 1..4 as T-SQL literals -> replica key text)
KEYS = {
    "int": ("id int NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: str(i)),
    "bigint": ("id bigint NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: str(5_000_000_000 + i)),
    "text": ("id nvarchar(30) NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: f"N'key {i} é'"),
    "uuid": ("id uniqueidentifier NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"],
             lambda i: f"'6f9619ff-8b86-d011-b42d-00c04fc964{i:02d}'"),
    "composite": ("id int NOT NULL, k2 nvarchar(10) NOT NULL, v nvarchar(20), PRIMARY KEY (id, k2)",
                  ["id", "k2"], lambda i: f"{i}, N'x{i}'"),
}


def ins(kind: str, i: int, v: str) -> str:
    cols = "id, k2, v" if kind == "composite" else "id, v"
    return f"INSERT INTO dbo.t ({cols}) VALUES ({KEYS[kind][2](i)}, N'{v}')"


def where(kind: str, i: int) -> str:
    if kind == "composite":
        return f"id = {i} AND k2 = N'x{i}'"
    return f"id = {KEYS[kind][2](i)}"


@pytest.mark.parametrize("kind", list(KEYS))
def test_inserts_updates_and_deletes_arrive_for_each_key_type(kind, tmp_path, env, mssql_server, source_db,
                                                              pg_conn, pg_schema):
    ddl, key, _ = KEYS[kind]
    tracked(mssql_server, source_db, ddl, ins(kind, 1, "a"), ins(kind, 2, "b"), ins(kind, 3, "c"))
    defs = replica_defs(tmp_path, [ct_table(pg_schema, key)])
    first = run_job(defs)
    assert first.success, failure_text(first)
    meta = materialization_metadata(first)
    assert (meta["load"].value, meta["load_reason"].value) == ("full", "replica table created")
    assert meta["ct_version"].value == version(mssql_server, source_db) == stored_version(pg_conn, f"{pg_schema}.t")
    assert sorted(r[1] for r in replica(pg_conn, pg_schema)) == ["a", "b", "c"]

    tsql(mssql_server, source_db, ins(kind, 4, "d"), f"UPDATE dbo.t SET v = N'a2' WHERE {where(kind, 1)}",
         f"DELETE FROM dbo.t WHERE {where(kind, 2)}",
         ins(kind, 5, "e"), f"DELETE FROM dbo.t WHERE {where(kind, 5)}")  # inserted then deleted: nothing
    before = stored_version(pg_conn, f"{pg_schema}.t")
    second = run_job(defs)
    assert second.success, failure_text(second)
    meta = materialization_metadata(second)
    assert (meta["load"].value, meta["load_reason"].value) == ("change_tracking", "change_tracking")
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (1, 1, 1)
    assert meta["rows_copied"].value == 2  # only the changed rows that exist: 1 and 4
    assert (meta["ct_previous_version"].value, meta["ct_version"].value) == (before, version(mssql_server, source_db))
    assert meta["ct_consistency"].value == "version_first"
    assert sorted(r[1] for r in replica(pg_conn, pg_schema)) == ["a2", "c", "d"]
    with pg_conn.cursor() as cur:  # a delete never leaves a row of NULLs
        cur.execute(sql.SQL("SELECT count(*) FROM {}.t WHERE v IS NULL").format(sql.Identifier(pg_schema)))
        assert cur.fetchone()[0] == 0
    src = source_rows(mssql_server, source_db, "SELECT v FROM dbo.t ORDER BY v")
    assert [r[0] for r in src] == ["a2", "c", "d"]

    checks = run_checks_only(defs, AssetKey([pg_schema, "t"]), ("row_count_matches", "rows_match"))
    assert checks.success and all(e.passed for e in checks.get_asset_check_evaluations())
