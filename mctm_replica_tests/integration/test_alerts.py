"""Alert sensors over real runs, delivered by Apprise to a local HTTP webhook receiver.

The Dagster instance holds real check evaluations and run failures from real runs
(stand-in -> PostgreSQL); the sensors are evaluated with Dagster's own tick machinery
(``evaluate_tick`` on a ``build_sensor_context`` with the stored cursor), and Apprise
posts its generic JSON (``json://``) to a receiver on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import socket

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, build_sensor_context, materialize
from psycopg2 import sql

from mctm_replica.definitions import build_definitions
from mctm_replica.sensors import CHECK_ALERT_SENSOR, RUN_FAILURE_SENSOR, AlertCursor
from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, tsql
from mctm_replica_tests.integration.webhook import WEBHOOK_SECRET

@pytest.fixture
def env(base_env, monkeypatch, receiver):
    return {**base_env, **set_env(monkeypatch, {
        "REPLICA_ALERT_URLS": receiver.url(), "DAGSTER_WEBSERVER_URL": "http://dagster.test:3000/",
        "REPLICA_RETRY_BASE_DELAY_S": "0.01"})}


def tick(defs, name: str, instance, cursor: str | None):
    """One sensor tick as the daemon runs it; returns the new cursor."""
    data = defs.resolve_sensor_def(name).evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    return data.cursor


def fail_rows_match(defs, instance, pg_conn, schema: str) -> str:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {}.t SET v = v + 1 WHERE id = 2").format(sql.Identifier(schema)))
    key = AssetKey([schema, "t"])
    check_key = AssetCheckKey(key, "rows_match")
    result = materialize([next(a for a in defs.assets if key in a.keys),
                          next(c for c in defs.asset_checks if check_key in c.check_keys)],
                         selection=AssetSelection.checks(check_key), resources=defs.resources,
                         instance=instance, raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    return result.run_id


@pytest.fixture
def replicated(tmp_path, env, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY, v int)",
         "INSERT INTO dbo.t VALUES (1, 10), (2, 20), (3, 30)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, instance=instance).success  # three passing check evaluations
    return defs, instance


def test_failed_check_is_announced_once_across_ticks_and_restarts(
    tmp_path, env, replicated, receiver, pg_conn, pg_schema
):
    defs, instance = replicated
    run_id = fail_rows_match(defs, instance, pg_conn, pg_schema)
    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, None)
    assert len(receiver.posts) == 1
    [post] = receiver.posts
    assert post["path"] == f"/hook/{WEBHOOK_SECRET}"
    assert post["type"] == "failure"
    assert post["title"] == f"[mctm_replica] {pg_schema}.t: check rows_match failed"
    lines = post["message"].splitlines()
    assert lines[:3] == [f"Table: {pg_schema}.t", "Check: rows_match failed (ERROR)",
                         "Result: 1 row(s) with different values (columns: v)"]
    assert lines[3:11] == ["Figures:", "  source_rows: 3", "  target_rows: 3", "  missing_in_target: 0",
                           "  extra_in_target: 0", "  different_values: 1", '  differing_columns: {"v": 1}',
                           "  attempts: 1"]
    assert lines[11].startswith("  duration_s: ")
    assert "  strategy: merge" in lines and "  method: checksum" in lines  # the checksum path found it
    assert lines[-4:] == ["Example keys:", "  - different: id=2 (columns: v)",
                          f"Run: {run_id}", f"Link: http://dagster.test:3000/runs/{run_id}"]

    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, cursor)
    assert len(receiver.posts) == 1  # the next tick does not repeat it
    restarted = build_definitions(defs_config(tmp_path))  # a new process: new sensor, stored cursor
    cursor = tick(restarted, CHECK_ALERT_SENSOR, instance, cursor)
    assert len(receiver.posts) == 1

    second = fail_rows_match(defs, instance, pg_conn, pg_schema)
    cursor = tick(restarted, CHECK_ALERT_SENSOR, instance, cursor)
    assert len(receiver.posts) == 2 and f"Run: {second}" in receiver.posts[1]["message"]
    assert AlertCursor.from_json(cursor).pending == {}
    # Those check-only runs failed (blocking check) but are not replica-job runs: the run
    # sensor stays silent, so each problem is announced once.
    tick(defs, RUN_FAILURE_SENSOR, instance, None)
    assert len(receiver.posts) == 2


def defs_config(tmp_path):
    from mctm_replica.config import load_config

    return load_config(tmp_path / "tables.yaml")


def test_failed_run_is_announced_once_without_secrets(tmp_path, env, monkeypatch, mssql_server, source_db,
                                                       pg_schema, receiver):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY)", "INSERT INTO dbo.t VALUES (1)")
    monkeypatch.setenv("SRC_PASSWORD", "wrong-Secret-pw-4242")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    instance = DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert not result.success
    cursor = tick(defs, RUN_FAILURE_SENSOR, instance, None)
    assert len(receiver.posts) == 1
    [post] = receiver.posts
    assert post["title"] == "[mctm_replica] run of replica_job failed"
    lines = post["message"].splitlines()
    assert lines[:2] == ["Job: replica_job", f"Run: {result.run_id} failed"]
    assert f"  - {pg_schema}__t: " in post["message"]
    assert "cannot connect to SQL Server" in post["message"]
    assert lines[-1] == f"Link: http://dagster.test:3000/runs/{result.run_id}"
    for secret in ("wrong-Secret-pw-4242", env["PG_PASSWORD"], WEBHOOK_SECRET):
        assert secret not in post["title"] and secret not in post["message"]
    tick(defs, RUN_FAILURE_SENSOR, instance, cursor)
    assert len(receiver.posts) == 1
    # The check sensor ignores this run: no check was evaluated.
    tick(defs, CHECK_ALERT_SENSOR, instance, None)
    assert len(receiver.posts) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broken_endpoint_is_survived_and_retried_next_tick(
    tmp_path, env, monkeypatch, replicated, receiver, pg_conn, pg_schema, capfd
):
    defs, instance = replicated
    fail_rows_match(defs, instance, pg_conn, pg_schema)
    dead = f"json://127.0.0.1:{closed_port()}/dead"
    monkeypatch.setenv("REPLICA_ALERT_URLS", f"{receiver.url()}, {dead}")
    receiver.status = 500
    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, None)  # both targets fail: no exception
    assert receiver.posts == []
    assert len(next(iter(AlertCursor.from_json(cursor).pending.values()))) == 2

    receiver.status = 200
    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, cursor)  # the webhook is back, `dead` is not
    assert len(receiver.posts) == 1
    [(_, still_failing)] = AlertCursor.from_json(cursor).pending.items()
    assert len(still_failing) == 1

    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, cursor)  # retried for `dead` only
    assert len(receiver.posts) == 1
    monkeypatch.setenv("REPLICA_ALERT_URLS", receiver.url())  # `dead` removed from the config
    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, cursor)
    assert AlertCursor.from_json(cursor).pending == {}
    assert len(receiver.posts) == 1
    logged = capfd.readouterr().err
    assert "will retry next tick" in logged
    assert WEBHOOK_SECRET not in logged and WEBHOOK_SECRET not in cursor  # targets by hash only


def test_without_alert_urls_alerts_are_logged(tmp_path, env, monkeypatch, replicated, receiver, pg_conn,
                                              pg_schema, capfd):
    defs, instance = replicated
    monkeypatch.delenv("REPLICA_ALERT_URLS")
    fail_rows_match(defs, instance, pg_conn, pg_schema)
    capfd.readouterr()
    cursor = tick(defs, CHECK_ALERT_SENSOR, instance, None)
    logged = capfd.readouterr().err  # the sensor's log (the daemon keeps it with the tick)
    assert receiver.posts == []
    assert f"[mctm_replica] {pg_schema}.t: check rows_match failed" in logged
    assert "Example keys:\n  - different: id=2 (columns: v)" in logged
    assert "no REPLICA_ALERT_URLS set: logged only" in logged
    assert AlertCursor.from_json(cursor).pending == {}
