"""The dry run: `mctm-replica plan` and run config `dry_run: true`, stand-in (pymssql) and
real PostgreSQL. Every test proves nothing changed on either server: the replica's
relations, rows, stored watermarks and write statistics, and the source's rows."""

from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica.cli import main
from mctm_replica.config import TABLES_ENV, load_config
from mctm_replica.local.services import DEMO_TABLES, demo_source_env
from mctm_replica.partition_status import NEEDS_INSTANCE
from mctm_replica.standin import StandIn
from mctm_replica_tests.integration.replica_helpers import materialization_metadata
from mctm_replica_tests.integration.test_ops_commands import ALL_DEMO_ROWS, cli
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_rows, tsql


def pg_snapshot(pg_conn) -> dict:
    """Everything a dry run must leave alone in the replica database."""
    with pg_conn.cursor() as cur:
        # A backend flushes its write statistics as it exits, just before it leaves
        # pg_stat_activity: wait (generously) for the run's connections to be gone, so a
        # late flush of the real run's writes cannot look like a write by the dry run.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.05)
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1, 2")
        relations = cur.fetchall()
        cur.execute("SELECT nspname FROM pg_namespace ORDER BY 1")
        schemas = cur.fetchall()
        cur.execute("SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup "
                    "FROM pg_stat_user_tables ORDER BY 1, 2")
        stats = cur.fetchall()
        rows = {}
        for schema, name, kind in relations:
            if kind == "r":
                cur.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(sql.Identifier(schema),
                                                                              sql.Identifier(name)))
                rows[f"{schema}.{name}"] = cur.fetchall()
    pg_conn.rollback()
    return {"relations": relations, "schemas": schemas, "stats": stats, "rows": rows}


def plan_cli(monkeypatch, capsys, tmp_path, *args: str) -> tuple[int, str]:
    monkeypatch.setenv(TABLES_ENV, str(tmp_path / "tables.yaml"))
    code = main(["plan", *args])
    return code, capsys.readouterr().out


def plan_json(monkeypatch, capsys, tmp_path, *args: str) -> tuple[int, list[dict]]:
    code, out = plan_cli(monkeypatch, capsys, tmp_path, "--json", *args)
    return code, json.loads(out)


def full_table(schema: str) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "mode": "full"}


def incremental_table(schema: str, **extra) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "mode": "incremental",
            "primary_key": ["id"], "watermark": "wm", **extra}


def test_first_load_is_planned_and_nothing_is_created(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)",
         "INSERT INTO dbo.t VALUES (1, N'a', 10), (2, N'b', 20), (3, N'c', 30)")
    # pg_schema is only a name (the replica's schema does not exist yet)
    replica_defs(tmp_path, [incremental_table(pg_schema)])
    before, source_before = pg_snapshot(pg_conn), source_rows(mssql_server, source_db, "SELECT * FROM dbo.t")

    code, [table] = plan_json(monkeypatch, capsys, tmp_path)

    assert code == 0
    assert (table["load"], table["reason"], table["replica_exists"], table["reconcile_deletes"]) == (
        "first load", "replica table created", False, True)
    assert table["estimated_rows"] == 3  # sys.partitions, no scan
    assert [q["purpose"] for q in table["queries"]] == ["watermark limit", "rows"]
    assert table["queries"][0]["sql"] == "SELECT MAX([wm]) FROM [dbo].[t]"  # incremental: no NOLOCK
    assert table["queries"][1]["sql"].endswith("FROM [dbo].[t]") and table["queries"][1]["params"] == []
    assert pg_snapshot(pg_conn) == before  # no schema, no table, no state table created
    assert source_rows(mssql_server, source_db, "SELECT * FROM dbo.t") == source_before


def test_full_table_plans_a_load_by_difference_and_the_sql_the_run_sends(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20))",
         "INSERT INTO dbo.t VALUES (1, N'a'), (2, N'b')")
    defs = replica_defs(tmp_path, [full_table(pg_schema)], format_on_server=False)
    assert run_job(defs).success
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'c')")
    before = pg_snapshot(pg_conn)

    code, out = plan_cli(monkeypatch, capsys, tmp_path)

    assert code == 0
    assert f"src:dbo.t -> {pg_schema}.t (mode full)" in out
    assert "load:      full load by difference" in out and "reason: mode full" in out
    assert "deletes:   reconciled on this run" in out
    assert "rows:      about 3 in the source" in out
    assert "schema:    no changes" in out
    # typed reads (format_on_server: false): the plain select, as the run sends it
    assert "sql (rows): SELECT [id], [v] FROM [dbo].[t] WITH (NOLOCK)" in out
    assert pg_snapshot(pg_conn) == before


def test_incremental_plans_from_the_stored_watermark_and_its_sql_reads_those_rows(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)",
         "INSERT INTO dbo.t VALUES (1, N'a', 10), (2, N'b', 20)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema, watermark_lookback=5,
                                                     deletes={"every_n_runs": 3})], format_on_server=False)
    assert run_job(defs).success
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'c', 30), (4, N'old', 1)")
    before = pg_snapshot(pg_conn)

    code, [table] = plan_json(monkeypatch, capsys, tmp_path, "--table", f"{pg_schema}.t")

    assert code == 0
    assert (table["load"], table["reason"], table["reconcile_deletes"]) == ("incremental", "incremental", False)
    assert table["details"].items() >= {"watermark_column": "wm", "stored_watermark": "20", "read_from": "15",
                                        "runs_since_reconcile": 0, "deletes": "every_n_runs"}.items()
    purposes = [q["purpose"] for q in table["queries"]]
    assert purposes == ["watermark limit", "rows"]  # no key read: deletes wait for the 3rd run
    rows = table["queries"][1]
    assert rows["params"] == [15] and rows["sql"].endswith("WHERE [wm] >= %s")
    # The printed statement is the one the run sends: run it, it returns the rows the merge reads.
    conn = mssql_server.connect_pymssql(database=source_db, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(rows["sql"], tuple(rows["params"]))
            assert sorted(r[0] for r in cur.fetchall()) == [2, 3]
    finally:
        conn.close()
    assert pg_snapshot(pg_conn) == before

    code, out = plan_cli(monkeypatch, capsys, tmp_path)
    assert "watermark: wm stored 20; reads from 15 (lookback 5)" in out
    assert "deletes:   not on this run (deletes: every_n_runs, 0 run(s) since the last)" in out
    assert pg_snapshot(pg_conn) == before


def test_schema_changes_to_apply_and_to_refuse(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, code varchar(20), qty int)",
         "INSERT INTO dbo.t VALUES (1, 'abc', 3)")
    defs = replica_defs(tmp_path, [full_table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ADD extra int NULL",
         "ALTER TABLE dbo.t ALTER COLUMN code varchar(40)")
    before = pg_snapshot(pg_conn)

    code, [table] = plan_json(monkeypatch, capsys, tmp_path)
    assert code == 0 and table["refused"] is None and table["load"] == "full"
    assert [(c["column"], c["kind"], c["action"]) for c in table["schema_changes"]] == [
        ("code", "widen", "apply"), ("extra", "add", "apply")]
    assert pg_snapshot(pg_conn) == before

    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ALTER COLUMN qty nvarchar(10)")
    code, out = plan_cli(monkeypatch, capsys, tmp_path)
    assert code == 1  # the next run would fail: a deploy gate can see it
    assert "schema:    refuse: `qty` changed type from integer to character varying(10)" in out
    assert "REFUSED:   replica table" in out and "full_refresh: true" in out
    assert "sql (" not in out  # the run fails before it reads a row
    assert pg_snapshot(pg_conn) == before
    # and the real run refuses exactly so
    assert not run_job(defs).success
    assert pg_snapshot(pg_conn)["rows"] == before["rows"]


def test_unknown_table_is_named(tmp_path, monkeypatch, capsys, env, pg_schema):
    replica_defs(tmp_path, [full_table(pg_schema)])
    monkeypatch.setenv(TABLES_ENV, str(tmp_path / "tables.yaml"))
    assert main(["plan", "--table", "dbo.nope"]) == 2
    err = capsys.readouterr().err
    assert "no table `dbo.nope` in tables.yaml" in err and f"{pg_schema}.t" in err


def test_dry_run_run_config_logs_the_plan_and_changes_nothing(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)",
         "INSERT INTO dbo.t VALUES (1, N'a', 10), (2, N'b', 20)")
    defs = replica_defs(tmp_path, [incremental_table(pg_schema)])
    key = AssetKey([pg_schema, "t"])
    with DagsterInstance.ephemeral() as instance:
        assert run_job(defs, instance).success
        last = instance.get_latest_materialization_event(key)
        tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'c', 30)", "DELETE FROM dbo.t WHERE id = 1",
             "ALTER TABLE dbo.t ADD extra int NULL")
        before = pg_snapshot(pg_conn)

        job = defs.resolve_job_def("replica_job")
        op = job.asset_layer.get_op_output_handle(key).node_handle.name
        result = job.execute_in_process(run_config={"ops": {op: {"config": {"dry_run": True}}}},
                                        instance=instance, raise_on_error=False)

        assert result.success
        assert result.get_asset_materialization_events() == []  # not a materialization
        assert instance.get_latest_materialization_event(key).run_id == last.run_id
        [observation] = [e.event_specific_data.asset_observation for e in result.all_events
                         if e.event_type_value == "ASSET_OBSERVATION"]
        meta = observation.metadata
        assert meta["dry_run"].value is True
        assert (meta["load"].value, meta["stored_watermark"].value) == ("incremental", "20")
        assert meta["schema_changes"].value[0]["change"] == "`extra` is new in the source (integer)"
        assert "WHERE [wm] >= %s" in meta["source_sql"].value
        logs = "\n".join(e.message for e in instance.all_logs(result.run_id) if e.message)
        assert "dry run, nothing changed" in logs and "apply: `extra` is new in the source" in logs
        # the run's checks did not run against an unchanged replica as if it were fresh
        assert result.get_asset_check_evaluations() == []
        assert pg_snapshot(pg_conn) == before

        # without dry_run the same changes land
        assert materialization_metadata(run_job(defs, instance))["rows_inserted"].value == 1


@pytest.fixture(scope="module")
def demo_standin():
    with StandIn(demo_data=True, mode="subprocess", password="plan-test-secret-41") as server:
        yield server


def test_plan_on_the_demo_as_a_command(demo_standin, pg_server):
    database = "plan_replica"
    pg_server.create_database(database)
    env = {**pg_server.env(database), "PG_SSLMODE": "disable", TABLES_ENV: str(DEMO_TABLES)}
    env |= demo_source_env(demo_standin, load_config(DEMO_TABLES))

    proc = cli("plan", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    tables = {t["target_table"]: t for t in json.loads(proc.stdout)}
    assert {name: t["estimated_rows"] for name, t in tables.items()} == ALL_DEMO_ROWS
    assert {t["load"] for t in tables.values()} == {"first load"}
    assert all(t["queries"] and t["error"] is None for t in tables.values())

    proc = cli("plan", "--table", "public.customer", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("mctm:dbo.customer -> public.customer (mode full)\n"), proc.stdout
    assert "load:      first load" in proc.stdout and "rows:      about 2,000 in the source" in proc.stdout
    assert "password" not in proc.stdout.lower() and "plan-test-secret-41" not in proc.stdout + proc.stderr


def test_dry_run_with_full_refresh_shows_the_rebuild_a_refused_change_gets(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, qty int)",
         "INSERT INTO dbo.t VALUES (1, 3)")
    defs = replica_defs(tmp_path, [full_table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ALTER COLUMN qty nvarchar(10)")
    before = pg_snapshot(pg_conn)
    job = defs.resolve_job_def("replica_job")
    op = job.asset_layer.get_op_output_handle(AssetKey([pg_schema, "t"])).node_handle.name

    for full_refresh, action in ((False, "refuse"), (True, "rebuild (full_refresh)")):
        result = job.execute_in_process(
            run_config={"ops": {op: {"config": {"dry_run": True, "full_refresh": full_refresh}}}},
            raise_on_error=False)
        assert result.success  # a dry run reports a refusal, it does not fail
        [meta] = [e.event_specific_data.asset_observation.metadata for e in result.all_events
                  if e.event_type_value == "ASSET_OBSERVATION"]
        assert [c["action"] for c in meta["schema_changes"].value] == [action]
        assert ("refused" in meta) is (not full_refresh)
        assert meta["load"].value == ("full" if full_refresh else "none (the run would fail)")
    assert pg_snapshot(pg_conn) == before


def test_a_table_that_cannot_be_planned_is_named_and_fails_the_command(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_schema):
    replica_defs(tmp_path, [{**full_table(pg_schema), "source_table": "dbo.missing"}])
    code, [table] = plan_json(monkeypatch, capsys, tmp_path)
    assert code == 1 and table["load"] is None and "dbo" in table["error"] and "missing" in table["error"]

    monkeypatch.setenv("SRC_PASSWORD", "wrong-pw-31337")
    code, out = plan_cli(monkeypatch, capsys, tmp_path)
    assert code == 1 and "cannot plan:" in out and "wrong-pw-31337" not in out


def test_change_tracking_plans_from_the_stored_version_and_its_sql_reads_those_changes(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
         "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20))",
         "INSERT INTO dbo.t VALUES (1, N'a'), (2, N'b')", "ALTER TABLE dbo.t ENABLE CHANGE_TRACKING")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t",
                                    "mode": "change_tracking", "primary_key": ["id"]}])
    assert run_job(defs).success
    stored = source_rows(mssql_server, source_db, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")[0][0]
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (3, N'c')", "DELETE FROM dbo.t WHERE id = 1")
    before = pg_snapshot(pg_conn)

    code, [table] = plan_json(monkeypatch, capsys, tmp_path, "--table", f"{pg_schema}.t")

    assert code == 0, table
    assert (table["load"], table["reason"]) == ("change_tracking", "change_tracking")
    assert table["details"]["change_tracking_version"] == stored
    assert table["details"]["reads_changes_since"] == stored
    changes = next(q for q in table["queries"] if q["purpose"] == "changes")
    assert changes["params"] == [stored] and "CHANGETABLE(CHANGES" in changes["sql"]
    # The printed statement is the one the run sends: it returns the two changed keys.
    conn = mssql_server.connect_pymssql(database=source_db, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(changes["sql"], tuple(changes["params"]))
            assert len(cur.fetchall()) == 2
    finally:
        conn.close()
    assert pg_snapshot(pg_conn) == before
    code, out = plan_cli(monkeypatch, capsys, tmp_path)
    assert f"change tracking version: {stored}" in out
    assert pg_snapshot(pg_conn) == before


def test_plan_lists_the_missing_partitions_from_the_dagster_instance(
        tmp_path, monkeypatch, capsys, env, mssql_server, source_db, pg_schema):
    today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
    days = [today - dt.timedelta(days=9 - i) for i in range(10)]  # the first partition ... today's
    keys = [d.isoformat() for d in days]
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.u (UsageID int NOT NULL PRIMARY KEY, UsageDate date NULL, DataMB decimal(10,3) NOT NULL)",
         "INSERT INTO dbo.u VALUES " + ", ".join(f"({i * 2 + j}, '{d}', {i}.5)" for i, d in enumerate(keys)
                                                  for j in range(2)))
    defs = replica_defs(tmp_path, [{"source_table": "dbo.u", "target_table": f"{pg_schema}.u", "partitions": {
        "column": "UsageDate", "granularity": "daily", "start": keys[0], "timezone": "Asia/Tokyo"}}])
    key = AssetKey([pg_schema, "u"])
    job = defs.resolve_job_def(f"{pg_schema}__u_partitions_job")

    # Without an instance the plan says what it needs instead of guessing.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, [table] = plan_json(monkeypatch, capsys, tmp_path)
    assert code == 0 and table["partitions"] == {"status": "unknown", "reason": NEEDS_INSTANCE}
    assert "partitions: unknown: partition status needs DAGSTER_HOME" in plan_cli(monkeypatch, capsys, tmp_path)[1]

    home = tmp_path / "dagster_home"  # a persistent instance (SQLite storage), as DAGSTER_HOME
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # not there yet: named, not created
    code, [table] = plan_json(monkeypatch, capsys, tmp_path)
    assert code == 0 and table["partitions"]["status"] == "unknown"
    assert table["partitions"]["reason"].startswith(f"DAGSTER_HOME={home} is not an existing absolute directory")
    assert not home.exists()
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        for k in (keys[2], keys[3], keys[6]):
            assert job.execute_in_process(partition_key=k, instance=instance, raise_on_error=False).success
        # One more partition's run fails on the source: still missing, and listed as failed.
        mssql_server.inject_fault("error", match=f">= '{keys[8]}", times=0, message="disk read error (injected)")
        try:
            assert not job.execute_in_process(partition_key=keys[8], instance=instance, raise_on_error=False).success
        finally:
            mssql_server.clear_faults()
        assert instance.get_materialized_partitions(key) == {keys[2], keys[3], keys[6]}

        missing = [{"from": keys[0], "to": keys[1], "count": 2}, {"from": keys[4], "to": keys[5], "count": 2},
                   {"from": keys[7], "to": keys[9], "count": 3}]
        code, [table] = plan_json(monkeypatch, capsys, tmp_path)
        assert code == 0
        assert table["partitions"] == {"status": "known", "total": 10, "materialized": 3, "missing": 7,
                                       "missing_ranges": missing, "failed": 1,
                                       "failed_ranges": [{"from": keys[8], "to": keys[8], "count": 1}]}
        code, out = plan_cli(monkeypatch, capsys, tmp_path)
        assert (f"  partitions: 3 of 10 copied; 7 missing: {keys[0]}..{keys[1]} (2), {keys[4]}..{keys[5]} (2), "
                f"{keys[7]}..{keys[9]} (3); 1 of them failed: {keys[8]} (1)\n") in out

        # Run config dry_run: true reports the same from the run's own instance.
        op = job.asset_layer.get_op_output_handle(key).node_handle.name
        result = job.execute_in_process(run_config={"ops": {op: {"config": {"dry_run": True}}}},
                                        partition_key=keys[9], instance=instance, raise_on_error=False)
        assert result.success
        [meta] = [e.event_specific_data.asset_observation.metadata for e in result.all_events
                  if e.event_type_value == "ASSET_OBSERVATION"]
        assert meta["missing_partitions"].value == 7 and meta["missing_partition_ranges"].value == missing
        assert meta["failed_partitions"].value == 1
        assert meta["partition_status"].value.startswith("3 of 10 copied; 7 missing: ")
        assert instance.get_materialized_partitions(key) == {keys[2], keys[3], keys[6]}  # a dry run copies none
