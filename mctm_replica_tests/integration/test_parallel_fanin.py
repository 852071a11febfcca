"""The fan-in of reader processes against the stand-in over TCP: a stopped reader does not
hang the read; a dropped connection is transient, so the refresh is retried to an exact copy."""

from __future__ import annotations

import os
import signal
import threading

from dagster import DagsterInstance

from mctm_replica.parallel.fanin import ReaderFailed, ReadJob, read_in_parallel
from mctm_replica.parallel.ranges import split
from mctm_replica.resources.mssql import APP_NAME
from mctm_replica.retry import is_transient
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata, run_log_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job
from mctm_replica_tests.integration.test_parallel_readers import (
    RANGE_QUERY, make_source, pg_rows, reader_pids, replica_sessions, wait_for)


def job_for(server, db, *, stall_s=None) -> ReadJob:
    return ReadJob(
        connect={"host": server.host, "port": server.port, "database": db, "user": server.user,
                 "password": server.password, "login_timeout": 30, "query_timeout": 600, "appname": APP_NAME,
                 "settings": {"encryption": "request", "trust_server_certificate": None, "ca_file": None,
                              "read_only_intent": False}},
        select="SELECT [id], [v] FROM [dbo].[wide]", key="id", batch_size=500, what="`dbo.wide`",
        stall_s=stall_s)


def test_readers_stream_every_row_once(mssql_server, source_db):
    make_source(mssql_server, source_db)
    with read_in_parallel(job_for(mssql_server, source_db), split(1, 3000, 3), table="src:dbo.wide") as batches:
        keys = sorted(r[0] for batch in batches for r in batch)
    assert keys == list(range(1, 3001))
    assert reader_pids() == []


def test_a_stopped_reader_fails_the_read_after_the_stall_limit_and_is_killed(mssql_server, source_db):
    make_source(mssql_server, source_db)
    mssql_server.inject_fault("delay", seconds=20, match=RANGE_QUERY, times=0)
    stopped = []

    def stopper():
        pids = wait_for(lambda: len(reader_pids()) == 2 and reader_pids(), "two readers")
        os.kill(pids[0], signal.SIGSTOP)
        stopped.append(pids[0])

    thread = threading.Thread(target=stopper)
    thread.start()
    try:
        try:
            with read_in_parallel(job_for(mssql_server, source_db, stall_s=3), split(1, 3000, 2),
                                  table="src:dbo.wide") as batches:
                for _ in batches:
                    pass
        except ReaderFailed as e:
            error = e
        else:
            raise AssertionError("a stalled read finished")
    finally:
        thread.join()
        mssql_server.clear_faults()
    assert "table `src:dbo.wide`: readers [1, 2] of 2 sent nothing for 3s" in str(error)
    assert not is_transient(error)
    assert reader_pids() == []  # the stopped one too: killed and reaped
    wait_for(lambda: replica_sessions(mssql_server, source_db) == 0, "the readers' sessions to close")


def test_a_dropped_reader_connection_is_retried_to_an_exact_copy(tmp_path, env, mssql_server, source_db,
                                                                 pg_conn, pg_schema):
    make_source(mssql_server, source_db)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.wide", "target_table": f"{pg_schema}.dropped",
                                    "parallel_readers": 2}], max_connections=2)
    mssql_server.inject_fault("drop_after_rows", rows=200, match="[id] >=", times=1)
    instance = DagsterInstance.ephemeral()
    try:
        result = run_job(defs, instance=instance)
    finally:
        mssql_server.clear_faults()
    assert result.success, failure_text(result)
    assert materialization_metadata(result)["attempts"].value == 2
    assert len(pg_rows(pg_conn, pg_schema, "dropped")) == 3000
    logs = run_log_text(instance, result.run_id)
    assert "reader 2 of 2 (1501 <= key) failed" in logs and "transient failure on attempt 1/3" in logs


PARENT = """
import json, sys
from mctm_replica.parallel.fanin import ReadJob, read_in_parallel
from mctm_replica.parallel.ranges import split
job = ReadJob(**json.loads(sys.argv[1]))
with read_in_parallel(job, split(1, 3000, 3), table="src:dbo.wide") as batches:
    for batch in batches:
        pass
"""


def test_readers_exit_when_their_parent_is_killed(mssql_server, source_db):
    """A step process killed outright (no cleanup runs) leaves no reader and no session."""
    import json
    import subprocess
    import sys
    from dataclasses import asdict

    from mctm_replica_tests.integration.test_parallel_readers import all_reader_pids

    make_source(mssql_server, source_db)
    # Longer than wait_for's patience: only readers that notice their parent is gone pass.
    mssql_server.inject_fault("delay", seconds=300, match=RANGE_QUERY, times=0)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(asdict(job_for(mssql_server, source_db)))])
    try:
        wait_for(lambda: replica_sessions(mssql_server, source_db) == 3, "three reader sessions")
        assert len(all_reader_pids()) == 3
        parent.kill()
        parent.wait()
        wait_for(lambda: all_reader_pids() == [], "the orphaned readers to exit")
        wait_for(lambda: replica_sessions(mssql_server, source_db) == 0, "their sessions to close")
    finally:
        parent.kill()
        mssql_server.clear_faults()
