"""Which executor a run gets (mctm_replica/executor.py), through `dagster asset materialize`
as a user runs it: a run of one table runs its copy and checks in the run's own process; a
run of several tables starts a process per step from the forkserver.

Real parts: the project's definitions in the Dagster CLI, the stand-in over TCP, real
PostgreSQL, a persistent (SQLite) Dagster instance whose event log is read afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, EventRecordsFilter

from mctm_replica_tests.integration.source_helpers import tsql
from mctm_replica_tests.integration.test_parallel_readers import pg_rows

IN_PROCESS = "Executing steps in process"
MULTIPROCESS = "Executing steps using multiprocess executor"


def materialize(tmp_path: Path, home: Path, tables: Path, select: str) -> str:
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run([str(dagster), "asset", "materialize", "-m", "mctm_replica", "--select", select],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "MCTM_REPLICA_TABLES": str(tables), "DAGSTER_HOME": str(home)})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def passed_checks(instance: DagsterInstance, key: AssetKey) -> set[str]:
    records = instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION))
    return {r.event_log_entry.dagster_event.event_specific_data.check_name for r in records
            if r.event_log_entry.dagster_event.event_specific_data.asset_key == key
            and r.event_log_entry.dagster_event.event_specific_data.passed}


@pytest.mark.slow
def test_one_table_runs_in_process_and_several_tables_a_process_per_step(tmp_path, env, mssql_server, source_db,
                                                                        pg_conn, pg_schema):
    for t in ("one", "two"):
        tsql(mssql_server, source_db, f"CREATE TABLE dbo.{t} (id int PRIMARY KEY, v nvarchar(20))",
             f"INSERT INTO dbo.{t} VALUES (1, N'{t}'), (2, NULL), (3, N'日本')")
    tables = tmp_path / "tables.yaml"
    tables.write_text(yaml.safe_dump({
        "sources": {"src": {"env_prefix": "SRC", "encryption": "request"}},
        "tables": [{"source": "src", "source_table": f"dbo.{t}", "target_table": f"{pg_schema}.{t}"}
                   for t in ("one", "two")]}))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    single = materialize(tmp_path, home, tables, f"{pg_schema}/one")
    assert IN_PROCESS in single and MULTIPROCESS not in single
    assert pg_rows(pg_conn, pg_schema, "one") == [(1, "one"), (2, None), (3, "日本")]
    with DagsterInstance.from_config(str(home)) as instance:
        # its checks ran in that process too, after the copy
        assert passed_checks(instance, AssetKey([pg_schema, "one"])) >= {
            "row_count_matches", "rows_match", "schema_matches"}

    both = materialize(tmp_path, home, tables, "*")
    assert MULTIPROCESS in both and IN_PROCESS not in both
    assert pg_rows(pg_conn, pg_schema, "two") == [(1, "two"), (2, None), (3, "日本")]
