"""Incremental mode end to end: stand-in (pymssql) -> replica_job -> real PostgreSQL.

Each watermark type gets inserts, updates and deletes between two runs; the second run
must read only the changes (plus the lookback overlap), merge them, remove the deleted
row and store the new watermark in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica.io_managers.state import STATE_SCHEMA, STATE_TABLE
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import (
    replica_defs,
    run_checks_only,
    run_job,
    source_rows,
    tsql,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def stored_watermark(pg_conn, target: str) -> str | None:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT watermark FROM {}.{} WHERE target_table = %s").format(
            sql.Identifier(STATE_SCHEMA), sql.Identifier(STATE_TABLE)), (target,))
        row = cur.fetchone()
        return row[0] if row else None


def replica(pg_conn, schema: str, table: str = "t", columns: str = "id, v") -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.{} ORDER BY id").format(
            sql.SQL(columns), sql.Identifier(schema), sql.Identifier(table)))
        return cur.fetchall()


def incremental_table(schema: str, **extra) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "mode": "incremental",
            "primary_key": ["id"], "watermark": "wm", **extra}


def ts(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


# (watermark DDL, literal for "step n" or None when the server sets it, lookback, stored text at step 30)
WATERMARKS = {
    "datetime": ("datetime NOT NULL", lambda n: f"'{ts(n)}'", "10 minutes", "2024-05-01 12:30:00"),
    "datetime2": ("datetime2(7) NOT NULL", lambda n: f"'{ts(n)}.1234567'", "10 minutes",
                  "2024-05-01 12:30:00.123456"),
    "datetimeoffset": ("datetimeoffset(7) NOT NULL", lambda n: f"'{ts(n)} +09:00'", "10 minutes",
                       "2024-05-01 12:30:00+09:00"),
    "bigint": ("bigint NOT NULL", lambda n: str(1000 + n), 5, "1030"),
    "rowversion": ("rowversion", None, 0, None),
}


def insert(server, db, kind: str, rows: list[tuple[int, str, int]]) -> None:
    ddl, literal, _, _ = WATERMARKS[kind]
    for id_, v, step in rows:
        if literal is None:
            tsql(server, db, f"INSERT INTO dbo.t (id, v) VALUES ({id_}, N'{v}')")
        else:
            tsql(server, db, f"INSERT INTO dbo.t (id, v, wm) VALUES ({id_}, N'{v}', {literal(step)})")


def update(server, db, kind: str, id_: int, v: str, step: int) -> None:
    literal = WATERMARKS[kind][1]
    wm = "" if literal is None else f", wm = {literal(step)}"
    tsql(server, db, f"UPDATE dbo.t SET v = N'{v}'{wm} WHERE id = {id_}")


# Every watermark type on the default read path (lines SQL Server formats, the typed
# watermark after them); two on the typed path (format_on_server: false).
@pytest.mark.parametrize(("kind", "format_on_server"),
                         [*((k, True) for k in WATERMARKS), ("datetime2", False), ("rowversion", False)])
def test_inserts_updates_and_deletes_arrive_for_each_watermark_type(
        kind, format_on_server, tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    ddl, _, lookback, stored_after_first = WATERMARKS[kind]
    tsql(mssql_server, source_db, f"CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm {ddl})")
    insert(mssql_server, source_db, kind, [(1, "a", 10), (2, "b", 20), (3, "c", 30)])
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, watermark_lookback=lookback)],
                        format_on_server=format_on_server)

    first = run_job(defs)
    assert first.success, failure_text(first)
    meta = materialization_metadata(first)
    assert (meta["load"].value, meta["load_reason"].value) == ("full", "replica table created")
    assert replica(pg_conn, pg_schema) == [(1, "a"), (2, "b"), (3, "c")]
    stored = stored_watermark(pg_conn, f"{pg_schema}.t")
    assert stored == meta["watermark"].value
    if stored_after_first is not None:
        assert stored == stored_after_first

    insert(mssql_server, source_db, kind, [(4, "d", 40)])
    update(mssql_server, source_db, kind, 1, "a2", 41)
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 2")

    second = run_job(defs)
    assert second.success, failure_text(second)
    meta = materialization_metadata(second)
    assert meta["load"].value == "incremental"
    # Read: the two changed rows, plus row 3 again (it is at the stored watermark, or inside
    # the lookback); the merge leaves it alone.
    assert meta["rows_copied"].value == 3
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (1, 1, 1)
    assert replica(pg_conn, pg_schema) == [(1, "a2"), (3, "c"), (4, "d")]
    assert source_rows(mssql_server, source_db, "SELECT id, v FROM dbo.t ORDER BY id") == \
        replica(pg_conn, pg_schema)
    assert meta["watermark_previous"].value == stored
    assert stored_watermark(pg_conn, f"{pg_schema}.t") == meta["watermark"].value != stored
    evaluations = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert evaluations == {"row_count_matches": True, "rows_match": True, "schema_matches": True}

    # A third run with no change reads only the overlap and changes nothing.
    third = run_job(defs)
    meta = materialization_metadata(third)
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (0, 0, 0)
    assert replica(pg_conn, pg_schema) == [(1, "a2"), (3, "c"), (4, "d")]


def test_late_row_inside_the_lookback_arrives_and_one_outside_is_reported(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm datetime2(3) NOT NULL)")
    tsql(mssql_server, source_db, f"INSERT INTO dbo.t VALUES (1, N'a', '{ts(0)}'), (2, N'b', '{ts(60)}')")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, watermark_lookback="10 minutes")])
    assert run_job(defs).success
    # Committed after the run, stamped before the stored watermark (13:00): 12:55 is inside
    # the 10-minute lookback, 12:30 is not.
    tsql(mssql_server, source_db, f"INSERT INTO dbo.t VALUES (3, N'late', '{ts(55)}'), (4, N'too late', '{ts(30)}')")
    result = run_job(defs)
    meta = materialization_metadata(result)
    assert meta["rows_inserted"].value == 1
    assert replica(pg_conn, pg_schema) == [(1, "a"), (2, "b"), (3, "late")]
    # The key reconciliation sees the row the lookback missed, and the content check fails.
    assert meta["keys_missing_in_replica"].value == 1
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()}["rows_match"] is False


def test_full_refresh_run_config_reloads_everything(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (1, N'a', 10), (2, N'b', 20)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'old stamp', 5)")  # never past the watermark
    assert materialization_metadata(run_job(defs))["rows_copied"].value == 1  # only id 2 (= watermark)
    assert replica(pg_conn, pg_schema) == [(1, "a"), (2, "b")]

    job = defs.resolve_job_def("replica_job")
    op = job.asset_layer.get_op_output_handle(AssetKey([pg_schema, "t"])).node_handle.name
    result = job.execute_in_process(run_config={"ops": {op: {"config": {"full_refresh": True}}}})
    meta = materialization_metadata(result)
    assert (meta["load"].value, meta["load_reason"].value, meta["rows_copied"].value) == (
        "full", "full_refresh requested", 3)
    assert replica(pg_conn, pg_schema) == [(1, "a"), (2, "b"), (3, "old stamp")]
    assert stored_watermark(pg_conn, f"{pg_schema}.t") == "20"


def test_deletes_every_nth_run_and_by_run_config(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (1, N'a', 1), (2, N'b', 2), (3, N'c', 3), (4, N'd', 4)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, deletes={"every_n_runs": 2})])
    assert run_job(defs).success  # full load: counts as reconciled
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 1")
    meta = materialization_metadata(run_job(defs))  # 1st incremental run: not yet
    assert meta["deletes_reconciled"].value is False and "rows_deleted" not in meta
    assert len(replica(pg_conn, pg_schema)) == 4
    meta = materialization_metadata(run_job(defs))  # 2nd: reconciles
    assert meta["deletes_reconciled"].value is True and meta["rows_deleted"].value == 1
    assert [r[0] for r in replica(pg_conn, pg_schema)] == [2, 3, 4]

    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 2")
    job = defs.resolve_job_def("replica_job")
    op = job.asset_layer.get_op_output_handle(AssetKey([pg_schema, "t"])).node_handle.name
    result = job.execute_in_process(run_config={"ops": {op: {"config": {"reconcile_deletes": True}}}})
    assert materialization_metadata(result)["rows_deleted"].value == 1
    assert [r[0] for r in replica(pg_conn, pg_schema)] == [3, 4]


def test_incremental_config_errors_name_table_column_and_fix(tmp_path, env, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm int)")
    result = run_job(replica_defs(tmp_path, [incremental_table(pg_schema)]))
    err = failure_text(result)
    assert "watermark column `wm`: type `int` cannot be a watermark" in err
    assert "datetime, datetime2, datetimeoffset, bigint or rowversion" in err
    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ADD wm2 datetime2")
    err = failure_text(run_job(replica_defs(tmp_path, [incremental_table(pg_schema, watermark="wm2",
                                                                          watermark_lookback=3)])))
    assert "`watermark_lookback` must be a duration like `10 minutes`, not the number 3" in err


KILL_SCRIPT = """
import sys
from mctm_replica.definitions import build_definitions
result = build_definitions().resolve_job_def("replica_job").execute_in_process(raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


def test_run_killed_between_reading_and_commit_leaves_rows_and_watermark_then_converges(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (1, N'a', 1), (2, N'b', 2)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema)])
    assert run_job(defs).success
    before_rows, before_wm = replica(pg_conn, pg_schema), stored_watermark(pg_conn, f"{pg_schema}.t")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'c', 3)",
         "UPDATE dbo.t SET v = N'b2', wm = 4 WHERE id = 2", "DELETE FROM dbo.t WHERE id = 1")

    # The key read comes after the changes are staged in PostgreSQL: hold it, then kill.
    # The held session ends when the hold does (it then finds its client gone); until then
    # it keeps the database in use, as SQL Server would.
    hold_s = 8
    mssql_server.inject_fault("delay", seconds=hold_s, match="SELECT [id] FROM", times=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT], start_new_session=True,
        env={**os.environ, "MCTM_REPLICA_TABLES": str(tmp_path / "tables.yaml")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        with pg_conn.cursor() as cur:
            while time.monotonic() < deadline:
                # Staging is uncommitted, so look for the key COPY waiting on the held read.
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"mctm_keys_t\"%%'")
                if cur.fetchone()[0]:
                    held_until = time.monotonic() + hold_s
                    break
                assert proc.poll() is None, "the run ended before it reached the key read"
                time.sleep(0.1)
            else:
                pytest.fail("the run never staged its changes")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        mssql_server.clear_faults()
    assert replica(pg_conn, pg_schema) == before_rows
    assert stored_watermark(pg_conn, f"{pg_schema}.t") == before_wm

    result = run_job(defs, instance=DagsterInstance.ephemeral())
    assert result.success, failure_text(result)
    assert replica(pg_conn, pg_schema) == [(2, "b2"), (3, "c")]
    assert stored_watermark(pg_conn, f"{pg_schema}.t") == "4"
    assert run_checks_only(defs, AssetKey([pg_schema, "t"]), ("row_count_matches", "rows_match")).success
    time.sleep(max(0.0, held_until + 1 - time.monotonic()))  # lets the fixture drop the database


def test_scheduled_deletes_wait_for_the_deletes_job_and_the_checks_allow_only_extra_rows(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (1, N'a', 1), (2, N'b', 2)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, deletes="scheduled")])
    assert {s.name for s in defs.schedules} == {"replica_schedule", "replica_deletes_schedule"}
    assert run_job(defs).success
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 1")

    result = run_job(defs)
    assert result.success  # the replica still has row 1: expected until the deletes job runs
    assert materialization_metadata(result)["deletes_reconciled"].value is False
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    counts = evaluations["row_count_matches"]
    assert counts.passed and counts.metadata["awaiting_delete_reconciliation"].value == 1
    assert evaluations["rows_match"].passed
    assert evaluations["rows_match"].description == "1 extra row(s) in the replica (awaiting delete reconciliation)"
    assert [r[0] for r in replica(pg_conn, pg_schema)] == [1, 2]
    # A missing row is still a failure: the replica must never have fewer rows.
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {}.t WHERE id = 2").format(sql.Identifier(pg_schema)))
    result = run_checks_only(defs, AssetKey([pg_schema, "t"]), ("rows_match",), raise_on_error=False)
    (content,) = result.get_asset_check_evaluations()
    assert not content.passed and content.description.startswith("1 row(s) missing in the replica")
    tsql(mssql_server, source_db, "UPDATE dbo.t SET wm = 3 WHERE id = 2")  # re-read: restores row 2

    result = defs.resolve_job_def("replica_deletes_job").execute_in_process()
    assert materialization_metadata(result)["rows_deleted"].value == 1
    assert [r[0] for r in replica(pg_conn, pg_schema)] == [2]
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_rowversion_change_committed_after_the_scan_is_not_skipped(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm rowversion)")
    insert(mssql_server, source_db, "rowversion", [(1, "a", 0), (2, "b", 0)])
    defs = replica_defs(tmp_path, [incremental_table(pg_schema)])
    assert run_job(defs).success
    # A writer changes row 1 and is still in its transaction when the run reads; row 2's
    # change, with a *higher* rowversion, is committed and read.
    writer = mssql_server.connect_pymssql(database=source_db, autocommit=False)
    try:
        with writer.cursor() as cur:
            cur.execute("UPDATE dbo.t SET v = N'a2' WHERE id = 1")
        update(mssql_server, source_db, "rowversion", 2, "b2", 0)
        result = run_job(defs)
        assert replica(pg_conn, pg_schema) == [(1, "a"), (2, "b2")]
        meta = materialization_metadata(result)
        # Stored: not the largest value read, but MIN_ACTIVE_ROWVERSION() from before the scan.
        assert meta["watermark"].value < meta["watermark_largest_read"].value
        writer.commit()
    finally:
        writer.close()
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert replica(pg_conn, pg_schema) == [(1, "a2"), (2, "b2")]


def test_a_percent_in_source_column_names_reaches_sql_server_as_it_is(tmp_path, env, mssql_server, source_db,
                                                                       pg_conn, pg_schema):
    """The incremental read and rows_match's source side are statements with parameters;
    pymssql has no escape for `%` (`%%` would reach SQL Server as `%%`, another name), so
    names go in as they are. (The replica's names are snake_case: `rate_100`, `changed`.)"""
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, [rate 100%] int, "
                                  "[changed%] bigint NOT NULL)")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (1, 10, 1001), (2, 20, 1002)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, watermark="changed%")])
    first = run_job(defs)
    assert first.success, failure_text(first)
    tsql(mssql_server, source_db, "UPDATE dbo.t SET [rate 100%] = 11, [changed%] = 1003 WHERE id = 1")
    second = run_job(defs)
    assert second.success, failure_text(second)
    meta = materialization_metadata(second)
    # read: row 1 changed, row 2 at the stored watermark (an integer watermark reads >=)
    assert (meta["load"].value, meta["rows_copied"].value, meta["rows_updated"].value) == ("incremental", 2, 1)
    assert replica(pg_conn, pg_schema, columns="id, rate_100, changed") == [(1, 11, 1003), (2, 20, 1002)]
    evaluations = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert evaluations == {"row_count_matches": True, "rows_match": True, "schema_matches": True}
