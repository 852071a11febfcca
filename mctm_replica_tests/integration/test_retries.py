"""Transient failures are retried as a whole refresh; persistent ones fail the run safely.

The SQL Server side is cut by the stand-in's fault injection (the TCP connection is
closed after N rows); the PostgreSQL side by terminating the loading backend with
pg_terminate_backend while its COPY runs.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize
from psycopg2 import sql

from mctm_replica.io_managers.postgres import PostgresReplicaIOManager
from mctm_replica.plan import ReplicaBatches
from mctm_replica.typemap import SourceType
from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.replica_helpers import (
    batches_of,
    failure_text,
    materialization_metadata,
    plan_for,
    postgres_resource,
    run_log_text,
)
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, tsql

# Backoff in these tests: long enough to be a real sleep, short enough to keep them fast.
FAST_RETRY = "0.05"


@pytest.fixture
def env(base_env, monkeypatch):
    return {**base_env, **set_env(monkeypatch, {"REPLICA_RETRY_BASE_DELAY_S": FAST_RETRY})}


def pg_rows(pg_conn, schema: str, table: str) -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(sql.Identifier(schema), sql.Identifier(table)))
        return cur.fetchall()


def make_source(mssql_server, source_db, v: int) -> None:
    tsql(mssql_server, source_db, "CREATE TABLE dbo.drop_me (id int PRIMARY KEY, v int)",
         *(f"INSERT INTO dbo.drop_me VALUES {', '.join(f'({i}, {v})' for i in range(k, k + 1000))}"
           for k in (1, 1001)))


def test_connection_dropped_mid_transfer_is_retried_to_an_exact_copy(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema
):
    make_source(mssql_server, source_db, 7)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.drop_me", "target_table": f"{pg_schema}.d"}])
    instance = DagsterInstance.ephemeral()
    mssql_server.inject_fault("drop_after_rows", rows=700, match="drop_me", times=1)
    try:
        result = run_job(defs, instance=instance)
    finally:
        mssql_server.clear_faults()
    assert result.success, failure_text(result)
    assert pg_rows(pg_conn, pg_schema, "d") == [(i, 7) for i in range(1, 2001)]
    assert materialization_metadata(result)["attempts"].value == 2
    assert materialization_metadata(result)["rows_copied"].value == 2000
    logs = run_log_text(instance, result.run_id)
    assert "transient failure on attempt 1/3" in logs
    assert "Unexpected EOF from the server" in logs


def test_persistent_drop_fails_the_run_and_keeps_the_previous_replica(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema
):
    make_source(mssql_server, source_db, 1)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.drop_me", "target_table": f"{pg_schema}.d"}])
    assert run_job(defs).success
    before = pg_rows(pg_conn, pg_schema, "d")
    tsql(mssql_server, source_db, "UPDATE dbo.drop_me SET v = 2")
    instance = DagsterInstance.ephemeral()
    mssql_server.inject_fault("drop_after_rows", rows=700, match="drop_me", times=0)  # until cleared
    try:
        result = run_job(defs, instance=instance)
    finally:
        mssql_server.clear_faults()
    assert not result.success
    text = failure_text(result)
    assert "dbo.drop_me" in text and "failed mid-stream" in text
    assert pg_rows(pg_conn, pg_schema, "d") == before
    assert "giving up after 3 attempts" in run_log_text(instance, result.run_id)


def test_postgres_connection_lost_mid_copy_is_retried(pg_server, pg_conn, pg_schema):
    table = f"lost_{uuid.uuid4().hex[:8]}"
    plan = plan_for(pg_schema, table, [("id", SourceType("int"), False), ("v", SourceType("int"), True)], pk=["id"])
    rows = [(i, i * 2) for i in range(1, 5001)]
    killed = []

    def kill_loader_once(batch: int) -> None:
        if batch != 2 or killed:
            return
        admin = psycopg2.connect(pg_server.dsn(REPLICA_DB))
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # the COPY starts right after the reader thread
                    # a first load COPYs into the new table itself (no stage)
                    cur.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                                (f'COPY "{pg_schema}"."{table}"%',))
                    pids = [r[0] for r in cur.fetchall()]
                    if pids:
                        break
                    time.sleep(0.02)
                assert len(pids) == 1, "the loading backend was not found"
                cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
                killed.append(pids[0])
        finally:
            admin.close()

    @asset(key=AssetKey([pg_schema, table]), io_manager_key="replica_io_manager")
    def _replica() -> ReplicaBatches:
        return ReplicaBatches(plan, batches_of(rows, 1000, kill_loader_once))

    io_manager = PostgresReplicaIOManager(postgres=postgres_resource(pg_server, REPLICA_DB),
                                          retry_base_delay_s=float(FAST_RETRY))
    result = materialize([_replica], resources={"replica_io_manager": io_manager})
    assert result.success
    assert len(killed) == 1
    assert materialization_metadata(result)["attempts"].value == 2
    assert pg_rows(pg_conn, pg_schema, table) == rows


def test_layout_errors_are_not_retried(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY, v int)", "INSERT INTO dbo.t VALUES (1, 1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    assert run_job(defs).success
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER TABLE {}.t ALTER COLUMN v TYPE bigint").format(sql.Identifier(pg_schema)))
    instance = DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert not result.success
    assert "no longer matches its source" in failure_text(result)
    logs = run_log_text(instance, result.run_id)
    assert "transient failure" not in logs and "giving up" not in logs


def test_reader_thread_is_not_left_behind():
    # Retries re-open the source; every attempt's reader thread must end with it.
    assert not [t for t in threading.enumerate() if t.name.startswith("read ")]
