"""Full loads through `parallel_readers` processes: the same copy as one reader, rows added
beyond the key span during the read, a reader that fails or is killed, the connection cap.

Real parts only: the stand-in over TCP (each reader is its own pymssql client process),
real PostgreSQL, Dagster's job execution. The stand-in's `delay` fault holds the readers'
range queries (only they have `WHERE [id]`) so a test can act while every reader is
connected and waiting.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from dagster import DagsterInstance
from psycopg2 import sql

from mctm_replica.config import ConfigError
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata, run_log_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_rows, tsql
from mctm_replica_tests.integration.test_incremental import stored_watermark

ROWS = 3000  # small: several batches per reader at batch_size 10,000 is not needed to prove the split
# Generous: the readers are new interpreters on a shared 2-core machine.
WAIT_S = 60
READER_MODULE = "mctm_replica.parallel.reader"
RANGE_QUERY = "WHERE [id]"  # only the readers' queries contain it (MIN/MAX and checks do not)


def make_source(server, db, table: str = "wide", rows: int = ROWS, v: str = "a") -> None:
    tsql(server, db, f"CREATE TABLE dbo.{table} (id int PRIMARY KEY, v nvarchar(20), n bigint NULL)",
         *(f"INSERT INTO dbo.{table} VALUES "
           + ", ".join(f"({i}, N'{v}{i}', {'NULL' if i % 7 == 0 else i * 3})" for i in range(k, min(k + 1000, rows + 1)))
           for k in range(1, rows + 1, 1000)))


def pg_rows(pg_conn, schema: str, table: str) -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(sql.Identifier(schema), sql.Identifier(table)))
        return cur.fetchall()


def reader_pids() -> list[int]:
    """This process's reader children (by command line), from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if READER_MODULE.encode() in cmd and ppid == os.getpid():
            pids.append(int(entry))
    return pids


def replica_sessions(server, db) -> int:
    """Sessions the replica's copies hold on the stand-in (program_name mctm_replica)."""
    return source_rows(server, db, "SELECT COUNT(*) FROM sys.dm_exec_sessions "
                                   "WHERE program_name = 'mctm_replica'")[0][0]


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def entry(schema: str, target: str, readers: int, table: str = "wide") -> dict:
    return {"source_table": f"dbo.{table}", "target_table": f"{schema}.{target}", "parallel_readers": readers}


def test_two_and_four_readers_copy_exactly_what_one_reader_copies(tmp_path, env, mssql_server, source_db,
                                                                   pg_conn, pg_schema):
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [entry(pg_schema, f"r{n}", n) for n in (1, 2, 4)], max_connections=4)
    result = run_job(defs)
    assert result.success, failure_text(result)
    single = pg_rows(pg_conn, pg_schema, "r1")
    assert len(single) == ROWS
    assert pg_rows(pg_conn, pg_schema, "r2") == single
    assert pg_rows(pg_conn, pg_schema, "r4") == single
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("r2", "rows_match")] and checks[("r4", "rows_match")], checks
    assert {materialization_metadata(result, i)["rows_copied"].value for i in range(3)} == {ROWS}
    assert reader_pids() == []


@pytest.mark.parametrize("readers", [2, 4])
def test_rows_inserted_beyond_the_key_span_during_the_read_are_copied(tmp_path, env, mssql_server, source_db,
                                                                      pg_conn, pg_schema, readers):
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [entry(pg_schema, "grown", readers)], max_connections=4)
    mssql_server.inject_fault("delay", seconds=5, match=RANGE_QUERY, times=0)
    peak = []

    def writer():  # once every reader is connected (the span is read), add rows outside it
        wait_for(lambda: len(reader_pids()) == readers, "the readers to start")
        peak.append(wait_for(lambda: replica_sessions(mssql_server, source_db) >= readers and
                             replica_sessions(mssql_server, source_db), "the readers' sessions"))
        tsql(mssql_server, source_db, "INSERT INTO dbo.wide VALUES (-5, N'below', 1), (0, N'zero', 2), "
                                      f"({ROWS + 1}, N'above', 3), ({ROWS * 10}, N'far above', NULL)")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = run_job(defs)
    finally:
        thread.join()
        mssql_server.clear_faults()
    assert result.success, failure_text(result)
    copied = pg_rows(pg_conn, pg_schema, "grown")
    assert copied == sorted(source_rows(mssql_server, source_db, "SELECT id, v, n FROM dbo.wide"))
    assert len(copied) == ROWS + 4 and copied[0] == (-5, "below", 1) and copied[-1] == (ROWS * 10, "far above", None)
    assert peak == [readers]  # every reader held its own connection at once, and no more than that


def test_connection_cap_holds_and_is_checked_against_tables_yaml(tmp_path, env, mssql_server, source_db,
                                                                 pg_conn, pg_schema):
    with pytest.raises(ConfigError, match=r"`dbo.wide` \(4\).*max_connections: 3.*raise `max_connections`"):
        replica_defs(tmp_path, [entry(pg_schema, "c", 4)], max_connections=3)
    with pytest.raises(ConfigError, match=r"`dbo.wide` \(2\).*can open 4 connections"):
        replica_defs(tmp_path, [entry(pg_schema, "c", 2), entry(pg_schema, "d", 2)],
                     max_concurrent_tables=2, max_connections=3)
    with pytest.raises(ConfigError, match=r"`dbo.wide`.*`parallel_readers` must be a whole number from 1"):
        replica_defs(tmp_path, [entry(pg_schema, "c", 0)])
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [entry(pg_schema, "c", 3)], max_connections=3)
    seen, done = [], threading.Event()

    def watch():  # every session the copy opens, sampled while it runs
        while not done.is_set():
            seen.append(replica_sessions(mssql_server, source_db))
            time.sleep(0.05)

    mssql_server.inject_fault("delay", seconds=2, match=RANGE_QUERY, times=0)
    thread = threading.Thread(target=watch)
    thread.start()
    try:
        result = run_job(defs)
    finally:
        done.set()
        thread.join()
        mssql_server.clear_faults()
    assert result.success, failure_text(result)
    assert max(seen) == 3, seen  # the readers were sampled together, never more than the cap
    wait_for(lambda: replica_sessions(mssql_server, source_db) == 0, "the readers' sessions to close")


def test_a_key_that_is_not_one_integer_column_fails_naming_the_table(tmp_path, env, mssql_server, source_db,
                                                                     pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.named (code nvarchar(10) PRIMARY KEY, v int)",
         "INSERT INTO dbo.named VALUES (N'a', 1)")
    defs = replica_defs(tmp_path, [entry(pg_schema, "n", 2, table="named")], max_connections=2)
    result = run_job(defs)
    assert not result.success
    text = failure_text(result)
    assert "table `src:dbo.named`: `parallel_readers: 2` needs an integer key" in text, text
    assert "`code` is nvarchar(10)" in text


def test_a_reader_error_names_the_table_and_leaves_the_replica_unchanged(tmp_path, env, mssql_server, source_db,
                                                                         pg_conn, pg_schema):
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [entry(pg_schema, "e", 2)], max_connections=2)
    assert run_job(defs).success
    before = pg_rows(pg_conn, pg_schema, "e")
    tsql(mssql_server, source_db, "UPDATE dbo.wide SET v = N'changed'")
    mssql_server.inject_fault("error", match="[id] >=", number=50000, message="no range reads today", times=0)
    try:
        result = run_job(defs)
    finally:
        mssql_server.clear_faults()
    assert not result.success
    text = failure_text(result)
    assert "table `src:dbo.wide`: reader 2 of 2 (1501 <= key) failed" in text, text
    assert "no range reads today" in text
    assert pg_rows(pg_conn, pg_schema, "e") == before
    assert reader_pids() == []


def test_killing_a_reader_fails_the_run_cleanly(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [entry(pg_schema, "k", 4)], max_connections=4)
    assert run_job(defs).success
    before = pg_rows(pg_conn, pg_schema, "k")
    tsql(mssql_server, source_db, "UPDATE dbo.wide SET v = N'changed'")
    mssql_server.inject_fault("delay", seconds=30, match=RANGE_QUERY, times=0)
    killed = []

    def killer():
        pids = wait_for(lambda: len(reader_pids()) == 4 and reader_pids(), "four readers")
        wait_for(lambda: replica_sessions(mssql_server, source_db) == 4, "the readers' sessions")
        os.kill(pids[1], signal.SIGKILL)
        killed.append(pids[1])

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        instance = DagsterInstance.ephemeral()
        result = run_job(defs, instance=instance)
    finally:
        thread.join()
        mssql_server.clear_faults()
    assert killed and not result.success
    text = failure_text(result)
    assert "table `src:dbo.wide`: reader" in text and "was killed by SIGKILL before reading its whole range" in text
    assert pg_rows(pg_conn, pg_schema, "k") == before
    assert reader_pids() == []  # every other reader stopped and reaped
    wait_for(lambda: replica_sessions(mssql_server, source_db) == 0, "the readers' sessions to close")


def all_reader_pids() -> list[int]:
    """Reader processes anywhere on the machine (only this branch's code starts them)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if READER_MODULE.encode() in f.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.slow
def test_readers_start_inside_the_multiprocess_forkserver_executor(tmp_path, env, mssql_server, source_db,
                                                                    pg_conn, pg_schema):
    """`dagster asset materialize` with the project's definitions: each step in a process the
    executor's forkserver made, readers started from there. (Two tables: a run of one table
    runs its steps in process, executor.py.)"""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    make_source(mssql_server, source_db)
    tables = tmp_path / "tables.yaml"
    tables.write_text(yaml.safe_dump({
        "sources": {"src": {"env_prefix": "SRC", "max_connections": 2, "encryption": "request"}},
        "tables": [{"source": "src", **entry(pg_schema, "forked", 2)},
                   {"source": "src", **entry(pg_schema, "single", 1)}]}))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run([str(dagster), "asset", "materialize", "-m", "mctm_replica", "--select", "*"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "MCTM_REPLICA_TABLES": str(tables), "DAGSTER_HOME": str(home)})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "2 readers over keys 1..3000" in output and "RUN_SUCCESS" in output
    assert "Executing steps using multiprocess executor" in output
    assert pg_rows(pg_conn, pg_schema, "forked") == sorted(
        source_rows(mssql_server, source_db, "SELECT id, v, n FROM dbo.wide"))
    assert all_reader_pids() == []
    wait_for(lambda: replica_sessions(mssql_server, source_db) == 0, "the readers' sessions to close")


def test_an_incremental_tables_full_load_uses_the_readers_and_stores_the_watermark(tmp_path, env, mssql_server,
                                                                                   source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.inc (id bigint PRIMARY KEY, v int, wm bigint NOT NULL)",
         "INSERT INTO dbo.inc VALUES " + ", ".join(f"({i}, {i % 13}, {i * 2})" for i in range(1, 801)))
    defs = replica_defs(tmp_path, [{"source_table": "dbo.inc", "target_table": f"{pg_schema}.inc",
                                    "mode": "incremental", "primary_key": ["id"], "watermark": "wm",
                                    "parallel_readers": 2}], max_connections=2)
    instance = DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert result.success, failure_text(result)
    assert pg_rows(pg_conn, pg_schema, "inc") == [(i, i % 13, i * 2) for i in range(1, 801)]
    assert stored_watermark(pg_conn, f"{pg_schema}.inc") == "1600"
    assert "2 readers over keys 1..800" in run_log_text(instance, result.run_id)
