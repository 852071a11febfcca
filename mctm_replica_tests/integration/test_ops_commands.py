"""`mctm-replica check-connections` and `mctm-replica info` against live and broken services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from mctm_replica.config import load_config
from mctm_replica.definitions import build_definitions
from mctm_replica.local.postgres import free_port
from mctm_replica.config import TABLES_ENV
from mctm_replica.local.services import DEMO_TABLES, demo_source_env
from mctm_replica.ops.info import table_info
from mctm_replica.standin import StandIn
from mctm_replica.standin.demo_sim_usage import SIM_USAGE_ROWS

DEMO_ROWS = {"public.customer": 2000, "public.mctm_module": 3000,
             "public.voipdb_customer": 800, "public.voipdb_useragent": 2500, "public.mctm_module_usage": 5000,
             "public.sim_status_history": 1200}
# Every demo table, with the time-partitioned one replica_job leaves to its own job.
ALL_DEMO_ROWS = DEMO_ROWS | {"public.sim_daily_usage": SIM_USAGE_ROWS}


@pytest.fixture(scope="module")
def demo_standin():
    with StandIn(demo_data=True, mode="subprocess", password="ops-test-secret-77") as server:
        yield server


@pytest.fixture
def ops_env(demo_standin, pg_server):
    database = "ops_replica"
    pg_server.create_database(database)
    env = {**pg_server.env(database), "PG_SSLMODE": "disable", TABLES_ENV: str(DEMO_TABLES)}
    return env | demo_source_env(demo_standin, load_config(DEMO_TABLES))


def cli(*args: str, env: dict[str, str], home: Path | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_SERVER_", "PG_", "DAGSTER_HOME"))}
    full |= env
    if home is not None:
        full["DAGSTER_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "mctm_replica.cli", *args], capture_output=True,
                          text=True, timeout=120, env=full)


def lines_by_name(out: str) -> dict[str, str]:
    return {line.split()[1]: line for line in out.splitlines() if line.split()[:1] in (["ok"], ["FAIL"])}


def test_check_connections_all_live(ops_env):
    proc = cli("check-connections", env=ops_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = lines_by_name(proc.stdout)
    assert set(lines) == {"mctm", "voipdb", "target"}
    assert all(line.startswith("ok") for line in lines.values())
    assert "SQL Server 16.0" in lines["mctm"] and "PostgreSQL 18" in lines["target"]
    assert "round trip" in lines["voipdb"]


@pytest.mark.parametrize(
    ("change", "who", "message"),
    [
        ({"SQL_SERVER_VOIPDB_PASSWORD": "wrong-pw-31337"}, "voipdb",
         "login failed for user `sa`: check SQL_SERVER_VOIPDB_USER and SQL_SERVER_VOIPDB_PASSWORD"),
        ({"SQL_SERVER_MCTM_HOST": "no-such-host.invalid"}, "mctm",
         "unknown host `no-such-host.invalid`: check SQL_SERVER_MCTM_HOST"),
        ({"SQL_SERVER_MCTM_DB": "NoSuchDb"}, "mctm", "database `NoSuchDb` cannot be opened"),
        ({"PG_PASSWORD": "wrong-pw-31337"}, "target", "login failed for user `postgres`: check PG_USER"),
        ({"SQL_SERVER_VOIPDB_HOST": ""}, "voipdb", "not configured: set SQL_SERVER_VOIPDB_HOST"),
    ],
)
def test_check_connections_names_each_failure_plainly(ops_env, change, who, message):
    proc = cli("check-connections", env={**ops_env, **change}, )
    assert proc.returncode == 1
    lines = lines_by_name(proc.stdout)
    assert lines[who].startswith("FAIL") and message in lines[who], proc.stdout
    assert all(line.startswith("ok") for name, line in lines.items() if name != who)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "wrong-pw-31337" not in proc.stdout + proc.stderr
    assert ops_env["SQL_SERVER_MCTM_PASSWORD"] not in proc.stdout + proc.stderr


def test_check_connections_stopped_servers(ops_env):
    closed = str(free_port())
    proc = cli("check-connections", env={**ops_env, "SQL_SERVER_MCTM_PORT": closed, "PG_PORT": closed})
    assert proc.returncode == 1
    lines = lines_by_name(proc.stdout)
    for who in ("mctm", "target"):
        assert f"connection refused on port {closed}: is the server running?" in lines[who]
    assert lines["voipdb"].startswith("ok")
    assert "Traceback" not in proc.stderr


def test_check_connections_json(ops_env):
    proc = cli("check-connections", "--json", env={**ops_env, "SQL_SERVER_VOIPDB_PASSWORD": "nope-1"})
    data = {d["name"]: d for d in json.loads(proc.stdout)}
    assert data["mctm"]["ok"] is True and data["voipdb"]["ok"] is False
    assert "password" not in json.dumps(data).lower().replace("sql_server_voipdb_password", "")


def test_info_shows_counts_last_materialization_and_checks(ops_env, tmp_path, monkeypatch):
    for k, v in ops_env.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = load_config(DEMO_TABLES)
    with DagsterInstance.from_config(str(home)) as instance:
        before = {r.target_table: r for r in table_info(config, instance, ops_env)}
        assert before["public.customer"].target_rows == "not created yet"
        assert before["public.customer"].last_materialization is None
        result = build_definitions(config).resolve_job_def("replica_job").execute_in_process(instance=instance)
        assert result.success
    proc = cli("info", "--json", env=ops_env, home=home)
    assert proc.returncode == 0, proc.stderr
    rows = {r["target_table"]: r for r in json.loads(proc.stdout)}
    # replica_job leaves the time-partitioned demo table to its own job: not created here.
    assert set(rows) == set(ALL_DEMO_ROWS)
    assert rows["public.sim_daily_usage"]["target_rows"] == "not created yet"
    for table, n in DEMO_ROWS.items():
        r = rows[table]
        assert (r["source_rows"], r["target_rows"], r["last_rows"]) == (n, n, n)
        assert r["last_run_status"] == "SUCCESS"
        assert r["mode"] == {"public.mctm_module_usage": "incremental",
                             "public.sim_status_history": "change_tracking"}.get(table, "full")
        assert (r["watermark"] is not None) == (r["mode"] == "incremental")
        assert r["checks"]["row_count_matches"] == "SUCCEEDED"
        assert r["last_materialization"].endswith("+00:00")
    assert rows["public.mctm_module_usage"]["watermark"].startswith("2024-05-31 ")  # the demo's newest row
    assert rows["public.mctm_module_usage"]["deletes_reconciled_at"].endswith("+00:00")
    text = cli("info", env=ops_env, home=home).stdout
    assert "mctm:dbo.customer" in text and "row_count_matches succeeded" in text
    assert "; watermark 2024-05-31 " in text


def test_verify_source_reports_a_ready_source_in_text_and_json(ops_env):
    proc = cli("verify-source", env=ops_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "source mctm: ok" in out and "source voipdb: ok" in out
    assert "SQL Server 16.0" in out and "Developer Edition" in out
    assert "collation Japanese_CI_AS (code page 932)" in out
    assert "collation SQL_Latin1_General_CP1_CI_AS (code page 1252)" in out
    assert "read check  passed" in out
    assert out.count("SELECT yes, VIEW DEFINITION yes") == len(ALL_DEMO_ROWS)
    assert ops_env["SQL_SERVER_MCTM_PASSWORD"] not in out + proc.stderr
    proc = cli("verify-source", "--json", "--source", "voipdb", env=ops_env)
    [report] = json.loads(proc.stdout)
    assert report["source"] == "voipdb" and report["ok"] and report["problems"] == []
    assert {t["source_table"] for t in report["tables"]} == {"voipdb:dbo.voipdb_customer",
                                                             "voipdb:dbo.voipdb_useragent"}
    assert all(t["readable"] and t["columns"] and t["estimated_rows"] for t in report["tables"])


def test_verify_source_names_a_missing_permission_and_its_grant(ops_env, demo_standin):
    # The stand-in has one sysadmin login: a login without VIEW DEFINITION is played by
    # rewriting the permission check's answer to 0 (README, Known differences).
    demo_standin.inject_fault("rewrite", match="N'VIEW DEFINITION')", replace="N'VIEW DEFINITION') * 0",
                              times=0)
    try:
        proc = cli("verify-source", "--source", "mctm", env=ops_env)
    finally:
        demo_standin.clear_faults()
    assert proc.returncode == 1, proc.stdout
    assert "source mctm: FAIL" in proc.stdout
    assert ("table `mctm:dbo.customer`: the login lacks VIEW DEFINITION: "
            "GRANT VIEW DEFINITION ON [dbo].[customer] TO [sa]") in proc.stdout
    assert "SELECT yes, VIEW DEFINITION NO" in proc.stdout


def test_verify_source_refuses_an_unknown_source(ops_env):
    proc = cli("verify-source", "--source", "nope", env=ops_env)
    assert proc.returncode == 2 and "unknown source `nope`" in proc.stderr
