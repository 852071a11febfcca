"""Differential refresh end to end: stand-in (pymssql) -> replica_job -> real PostgreSQL.

What a reader of the replica may rely on during and after a refresh: a transaction
whose snapshot predates the refresh keeps the whole previous table (no TRUNCATE), no
ACCESS EXCLUSIVE lock is taken, unchanged rows keep their tuple, and a source that
suddenly lost most of its rows cannot empty the replica (the delete guard).
"""

from __future__ import annotations

import threading
import time

import psycopg2
import psycopg2.errors
import pytest
from dagster import AssetKey
from psycopg2 import sql

from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_rows, tsql

KEYED = "id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL"
KEYLESS = "id int NOT NULL, v nvarchar(20), wm bigint NOT NULL"
INCREMENTAL = {"mode": "incremental", "primary_key": ["id"], "watermark": "wm"}
# Generous: how long a test waits for something to happen (never a timing assertion).
WAIT_S = 120


def fill(server, db: str, ddl: str, n: int) -> None:
    """``dbo.t`` with rows 1..n: v = 'a<id>', wm = id."""
    tsql(server, db, f"CREATE TABLE dbo.t ({ddl})")
    for start in range(1, n + 1, 1000):
        values = ", ".join(f"({i}, N'a{i}', {i})" for i in range(start, min(n, start + 999) + 1))
        tsql(server, db, f"INSERT INTO dbo.t (id, v, wm) VALUES {values}")


def replica(conn, schema: str, columns: str = "id, v") -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.t ORDER BY id").format(sql.SQL(columns), sql.Identifier(schema)))
        return cur.fetchall()


def run_with(defs, schema: str, **config):
    """``replica_job`` with run config for the table's op (as the launchpad sets it)."""
    job = defs.resolve_job_def("replica_job")
    op = job.asset_layer.get_op_output_handle(AssetKey([schema, "t"])).node_handle.name
    return job.execute_in_process(run_config={"ops": {op: {"config": config}}}, raise_on_error=False)


@pytest.mark.parametrize(("ddl", "extra"), [(KEYED, {}), (KEYLESS, {}), (KEYED, INCREMENTAL)],
                         ids=["full-keyed", "full-keyless", "incremental-keyed"])
def test_repeatable_read_reader_keeps_the_previous_table_and_a_new_reader_sees_the_new(
        ddl, extra, tmp_path, env, mssql_server, source_db, pg_server, pg_conn, pg_schema):
    """(Incremental tables always have a key: tables.yaml requires one.)"""
    fill(mssql_server, source_db, ddl, 1200)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t", **extra}])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'changed', wm = 5000 + id WHERE id % 100 = 0",
         "DELETE FROM dbo.t WHERE id <= 10",
         "INSERT INTO dbo.t (id, v, wm) VALUES (2001, N'new', 6001), (2002, N'new', 6002)")

    reader = psycopg2.connect(pg_server.dsn(REPLICA_DB))
    try:
        reader.set_session(isolation_level="REPEATABLE READ")
        before = replica(reader, pg_schema)  # the snapshot is taken here and kept
        assert len(before) == 1200
        result = run_job(defs)  # commits while the reader's transaction stays open
        assert result.success, failure_text(result)
        assert replica(reader, pg_schema) == before
        reader.commit()
        after = replica(reader, pg_schema)
    finally:
        reader.close()
    assert after == source_rows(mssql_server, source_db, "SELECT id, v FROM dbo.t ORDER BY id")
    assert len(after) == 1192 and after != before
    assert replica(pg_conn, pg_schema) == after


def test_full_refresh_takes_no_access_exclusive_lock(
        tmp_path, env, mssql_server, source_db, pg_server, pg_conn, pg_schema):
    """Observed from other connections: mid-copy (the source's answer held back by the
    stand-in's delay fault), and at the final step, made to wait behind a writer's lock so
    that its lock request shows in pg_locks."""
    fill(mssql_server, source_db, KEYED, 2000)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'changed' WHERE id % 100 = 0")
    live = f'"{pg_schema}"."t"'

    blocker = psycopg2.connect(pg_server.dsn(REPLICA_DB))
    blocker.cursor().execute(sql.SQL("LOCK TABLE {}.t IN ROW EXCLUSIVE MODE").format(sql.Identifier(pg_schema)))
    seen: dict[str, object] = {"mid_copy": None, "requested": set(), "reader_rows": None}

    def observe() -> None:
        conn = psycopg2.connect(pg_server.dsn(REPLICA_DB))
        conn.autocommit = True
        deadline = time.monotonic() + WAIT_S
        try:
            with conn.cursor() as cur:
                # A reader blocked behind the refresh fails the test (generously), not hangs it.
                cur.execute("SET lock_timeout = '10s'")
                while time.monotonic() < deadline:
                    cur.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY \"mctm_rows_t\"%%' "
                                "AND state = 'active'")
                    copying = [r[0] for r in cur.fetchall()]
                    if copying and seen["mid_copy"] is None:
                        seen["pid"] = copying[0]  # the refresh's backend (not autovacuum's)
                    cur.execute("SELECT mode, granted FROM pg_locks WHERE relation = %s::regclass AND pid = %s",
                                (live, seen.get("pid", 0)))
                    locks = cur.fetchall()
                    if copying and seen["mid_copy"] is None:
                        seen["mid_copy"] = {m for m, _ in locks}
                    seen["requested"] |= {m for m, _ in locks}
                    if any(not granted for _, granted in locks):  # the final step waits for the blocker
                        try:
                            cur.execute(sql.SQL("SELECT count(*) FROM {}.t").format(sql.Identifier(pg_schema)))
                            seen["reader_rows"] = cur.fetchone()[0]
                        except psycopg2.errors.LockNotAvailable:
                            seen["reader_rows"] = "blocked behind the refresh"
                        return
                    time.sleep(0.02)
        finally:
            blocker.commit()  # always let the refresh go on
            conn.close()

    mssql_server.inject_fault("delay", seconds=2, match="FROM [dbo].[t]", times=1)
    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        result = run_job(defs)
    finally:
        watcher.join()
        mssql_server.clear_faults()
        blocker.close()
    assert result.success, failure_text(result)
    assert seen["mid_copy"] is not None, "never observed the refresh paused mid-copy"
    assert "AccessExclusiveLock" not in seen["mid_copy"]
    assert seen["requested"] == {"ShareRowExclusiveLock"}, seen["requested"]
    assert seen["reader_rows"] == 2000  # a reader went on while the final step was queued
    assert [v for _, v in replica(pg_conn, pg_schema)].count("changed") == 20


def test_unchanged_rows_keep_their_tuple_and_metadata_counts_the_difference(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    fill(mssql_server, source_db, KEYED, 2000)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    first = run_job(defs)
    meta = materialization_metadata(first)
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (2000, 0, 0)
    xmin = dict(replica(pg_conn, pg_schema, "id, xmin::text"))
    # 1% of the rows change; two are deleted and three added
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'changed' WHERE id % 100 = 7",
         "DELETE FROM dbo.t WHERE id IN (1, 2)",
         "INSERT INTO dbo.t (id, v, wm) VALUES (3001, N'n', 1), (3002, N'n', 2), (3003, N'n', 3)")

    second = run_job(defs)
    assert second.success, failure_text(second)
    meta = materialization_metadata(second)
    assert (meta["load"].value, meta["rows_copied"].value) == ("full", 2001)
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (3, 20, 2)
    after = dict(replica(pg_conn, pg_schema, "id, xmin::text"))
    changed = {i for i in range(1, 2001) if i % 100 == 7}
    kept = [i for i in range(3, 2001) if i not in changed]
    assert len(kept) == 1978 and all(after[i] == xmin[i] for i in kept)
    assert all(after[i] != xmin[i] for i in changed)
    assert replica(pg_conn, pg_schema) == source_rows(mssql_server, source_db, "SELECT id, v FROM dbo.t ORDER BY id")
    evaluations = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert evaluations["rows_match"] and evaluations["row_count_matches"]


@pytest.mark.parametrize("extra", [{}, INCREMENTAL], ids=["full", "incremental"])
def test_delete_guard_stops_a_source_that_lost_most_rows_until_allowed_once(
        extra, tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    fill(mssql_server, source_db, KEYED, 3000)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t", **extra}])
    assert run_job(defs).success
    before = replica(pg_conn, pg_schema)
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id > 1200")  # a partial table

    result = run_job(defs)
    assert not result.success
    err = failure_text(result)
    assert f"replica table `{pg_schema}.t`: this run would delete 1,800 of its 3,000 rows (60%)" in err
    assert "`max_delete_fraction` 0.5 (the default); nothing was changed" in err
    assert "run config `allow_mass_delete: true`" in err
    assert replica(pg_conn, pg_schema) == before

    allowed = run_with(defs, pg_schema, allow_mass_delete=True)
    assert allowed.success, failure_text(allowed)
    assert materialization_metadata(allowed)["rows_deleted"].value == 1800
    assert replica(pg_conn, pg_schema) == before[:1200]
    # Once: the setting is run config, the next run is guarded again.
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id > 500")
    result = run_job(defs)
    assert "this run would delete 700 of its 1,200 rows" in failure_text(result)
    assert len(replica(pg_conn, pg_schema)) == 1200


def test_small_tables_are_exempt_unless_the_fraction_is_set(tmp_path, env, mssql_server, source_db, pg_conn,
                                                            pg_schema):
    fill(mssql_server, source_db, KEYLESS, 10)
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t2 (id int NOT NULL PRIMARY KEY, v nvarchar(20))",
         "INSERT INTO dbo.t2 SELECT id, v FROM dbo.t")
    defs = replica_defs(tmp_path, [
        {"source_table": "dbo.t", "target_table": f"{pg_schema}.t", "max_delete_fraction": 0.5},
        {"source_table": "dbo.t2", "target_table": f"{pg_schema}.t2"}])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id > 1", "DELETE FROM dbo.t2 WHERE id > 1")
    result = run_job(defs)
    err = failure_text(result)
    # The keyless table is replaced by DELETE + INSERT; the guard counts the rows it loses.
    assert f"replica table `{pg_schema}.t`: this run would lose 9 of its 10 rows (90%)" in err
    assert "`max_delete_fraction` 0.5; nothing was changed" in err
    assert len(replica(pg_conn, pg_schema)) == 10
    with pg_conn.cursor() as cur:  # 9 of 10 rows, but under 1,000 rows and no explicit setting
        cur.execute(sql.SQL("SELECT id FROM {}.t2").format(sql.Identifier(pg_schema)))
        assert cur.fetchall() == [(1,)]
