"""Each replica run's log ends with its per-table summary, written by the summary sensor.

Real runs (stand-in -> PostgreSQL) on a Dagster instance; the sensor is evaluated with
Dagster's own tick machinery, as the daemon does (the browser tier runs it in a real daemon).
"""

from __future__ import annotations

import re

import pytest
from dagster import DagsterEventType, DagsterInstance, build_sensor_context

from mctm_replica.run_report import SUMMARY_PREFIX, SUMMARY_SENSOR
from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_env, tsql


@pytest.fixture
def env(monkeypatch, mssql_server, source_db, pg_server):
    values = {**source_env(mssql_server, source_db), **pg_server.env(REPLICA_DB), "PG_SSLMODE": "disable",
              "REPLICA_RETRY_BASE_DELAY_S": "0.01"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def tick(defs, instance, cursor: str | None) -> str | None:
    data = defs.resolve_sensor_def(SUMMARY_SENSOR).evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    return data.cursor


def summaries(instance, run_id: str) -> list[str]:
    return [e.message for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if e.message.startswith(SUMMARY_PREFIX)]


def table_line(message: str, table: str) -> list[str]:
    """[table, rows, seconds, rows/s, checks]: the summary line without its load column."""
    line = next(l for l in message.splitlines() if l.startswith(table + " "))
    table_, _load, *rest = re.split(r"\s{2,}", line.strip())
    return [table_, *rest]


def test_run_logs_end_with_the_per_table_summary(tmp_path, env, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.a (id int PRIMARY KEY, v int)",
         "INSERT INTO dbo.a VALUES (1, 10), (2, 20), (3, 30)",
         "CREATE TABLE dbo.b (id int PRIMARY KEY)", "INSERT INTO dbo.b VALUES (1), (2)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.a", "target_table": f"{pg_schema}.a"},
                                   {"source_table": "dbo.b", "target_table": f"{pg_schema}.b"}])
    instance = DagsterInstance.ephemeral()
    ok = run_job(defs, instance=instance)
    assert ok.success
    tsql(mssql_server, source_db, "DROP TABLE dbo.b")  # the next run fails on table b
    failed = run_job(defs, instance=instance)
    assert not failed.success
    assert summaries(instance, ok.run_id) == []  # written by the sensor, not by the run

    cursor = tick(defs, instance, None)
    [message] = summaries(instance, ok.run_id)
    assert message.startswith(f"{SUMMARY_PREFIX} (SUCCESS): 2 of 2 table(s) copied, 5 rows; "
                              "6 check(s) passed, 0 failed")
    a, b = table_line(message, f"{pg_schema}.a"), table_line(message, f"{pg_schema}.b")
    assert a[1] == "3" and b[1] == "2"
    assert float(a[2]) >= 0
    assert a[4] == b[4] == "row_count_matches passed, rows_match passed, schema_matches passed"
    last = instance.all_logs(ok.run_id)[-1]
    assert last.message == message  # the run's log ends with it, after RUN_SUCCESS
    # The same figures as the demo's table: rows, seconds, rows/s from the materialization.
    [mat] = [e for e in instance.all_logs(ok.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
             if e.dagster_event.asset_key.path[-1] == "a"]
    meta = mat.dagster_event.event_specific_data.materialization.metadata
    assert a[2] == f"{meta['duration_s'].value:,.2f}" and a[3] == f"{meta['rows_per_s'].value:,.0f}"

    [message] = summaries(instance, failed.run_id)
    assert message.startswith(f"{SUMMARY_PREFIX} (FAILURE): 1 of 2 table(s) copied, 3 rows; "
                              "3 check(s) passed, 0 failed")
    assert table_line(message, f"{pg_schema}.a")[1:2] == ["3"]
    assert table_line(message, f"{pg_schema}.b")[1:] == ["-", "-", "-", "none"]  # not copied

    # Later ticks, and a sensor that lost its cursor (the daemon's state reset), never repeat it.
    tick(defs, instance, cursor)
    tick(defs, instance, None)
    assert len(summaries(instance, ok.run_id)) == 1 and len(summaries(instance, failed.run_id)) == 1
