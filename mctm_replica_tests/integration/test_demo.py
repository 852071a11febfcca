"""`mctm-replica demo` end to end: stand-in + embedded PostgreSQL + the real replica_job.

This is the one test that runs the job the way the schedule does: multiprocess executor,
steps in their own processes, and the Dagster instance stored in PostgreSQL through
dagster-postgres (dagster.yaml).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from mctm_replica.local.postgres import LocalPostgres
from mctm_replica.local.services import DAGSTER_DB, REPLICA_DB

@pytest.fixture
def demo_workdir():
    # Not tmp_path: pytest keeps its base directory at mode 0700 (and re-applies that when
    # another session starts), which PostgreSQL's unprivileged service user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="mctm-demo-"))
    yield base / "local"
    shutil.rmtree(base, ignore_errors=True)


TABLES = ("public.customer", "public.mctm_module", "public.voipdb_customer", "public.voipdb_useragent")
INCREMENTAL = "public.mctm_module_usage"
TRACKED = "public.sim_status_history"  # mode: change_tracking
LINE = re.compile(r"(?P<table>\S+)\s+(?P<load>full|(?:incremental|change_tracking) \+\d+ ~\d+(?: -\d+)?)\s+"
                  r"(?P<rows>[\d,]+)\s")


@pytest.mark.slow
def test_demo_materializes_every_table_and_passes_its_checks(demo_workdir):
    workdir = demo_workdir
    proc = subprocess.run(
        [sys.executable, "-m", "mctm_replica.cli", "demo", "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    first, second = out.split("Changing the source between runs:")
    reported, loads = {}, {}
    for text, where in ((first, "run 1"), (second, "run 2")):
        for table in (*TABLES, INCREMENTAL, TRACKED):
            line = next(l for l in text.splitlines() if l.startswith(table + " "))
            m = LINE.match(line)
            assert m, f"{where}: {line}"
            reported[table], loads[table] = int(m["rows"].replace(",", "")), m["load"]
            assert reported[table] > 0, line
            for check in ("row_count_matches", "rows_match", "schema_matches"):
                assert f"{check} passed" in line, line
    # Run 2 merged only the demo's changes: 10 deleted, 25 inserted, 50 updated.
    assert loads[INCREMENTAL] == "incremental +25 ~50 -10"
    # ...and read only Change Tracking's changes: 20 inserted, 12 updated, 6 deleted.
    assert loads[TRACKED] == "change_tracking +20 ~12 -6"
    assert "change_tracking_retention passed" in next(l for l in second.splitlines() if l.startswith(TRACKED + " "))
    assert all(loads[t] == "full" for t in TABLES)
    # McTM is Japanese_CI_AS: its varchar columns arrive as code page 932 holds them, and
    # rows_match (passed above for public.customer) compared every one with the source.
    assert "Japanese varchar from McTM (Japanese_CI_AS, code page 932)" in out
    assert re.search(r"customer 13: \S+ \?男 \| [ｦ-ﾟ ]+ \| \S+", out), out
    assert "code page 932 has no 𠮷" in out
    run_id = re.findall(r"run ([0-9a-f-]{36}): SUCCESS", out)[-1]

    # The demo's PostgreSQL keeps its data directory: the replica holds the reported rows,
    # and dagster-postgres stored the run in the `dagster` database.
    with LocalPostgres(data_dir=workdir / "pgdata") as pg:
        with psycopg2.connect(pg.dsn(REPLICA_DB)) as conn, conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM {table}")  # fixed names from TABLES
                assert cur.fetchone()[0] == reported[table]
            cur.execute(f"SELECT count(*), max(updated_at) > '2025-01-01' FROM {INCREMENTAL}")
            assert cur.fetchone() == (5000 - 10 + 25, True)
            cur.execute("SELECT watermark FROM mctm_replica.replica_state WHERE target_table = %s", (INCREMENTAL,))
            assert cur.fetchone()[0] > "2025"
            cur.execute(f"SELECT count(*), count(*) FILTER (WHERE status IS NULL) FROM {TRACKED}")
            assert cur.fetchone() == (1200 - 6 + 20, 0)
            cur.execute("SELECT ct_version FROM mctm_replica.replica_state WHERE target_table = %s", (TRACKED,))
            assert cur.fetchone()[0] > 0
        with psycopg2.connect(pg.dsn(DAGSTER_DB)) as conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute(
                "SELECT step_key, dagster_event_type, timestamp FROM event_logs WHERE run_id = %s "
                "AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS')", (run_id,))
            steps: dict[str, dict[str, object]] = {}
            for step, kind, at in cur.fetchall():
                steps.setdefault(step, {})[kind] = at
            # The run's log ends with the per-table summary the demo printed.
            cur.execute("SELECT event FROM event_logs WHERE run_id = %s ORDER BY id DESC LIMIT 1", (run_id,))
            last = json.loads(cur.fetchone()[0])["dagster_event"]["message"]
    assert last.startswith("Replica run summary (SUCCESS): 6 of 6 table(s) copied"), last
    for table, rows in reported.items():
        assert re.search(rf"^{re.escape(table)} +{re.escape(loads[table])} +{rows:,} ", last, re.M), (table, last)

    # At most one table per source database at a time: the two McTM copies never overlap.
    a, b = steps["public__customer"], steps["public__mctm_module"]
    assert a["STEP_SUCCESS"] <= b["STEP_START"] or b["STEP_SUCCESS"] <= a["STEP_START"], steps


def test_cli_help_names_every_command():
    proc = subprocess.run([sys.executable, "-m", "mctm_replica.cli", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("standin", "demo", "dev"):
        assert command in proc.stdout


@pytest.mark.slow
def test_dagster_cli_materializes_everything_from_the_environment(tmp_path, pg_server):
    """`dagster asset materialize -m mctm_replica --select '*'` with only environment variables."""
    from mctm_replica.config import PACKAGED_TABLES, TABLES_ENV, load_config
    from mctm_replica.local.services import demo_source_env
    from mctm_replica.standin import StandIn

    database = "cli_replica"
    pg_server.create_database(database)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with StandIn(demo_data=True, mode="subprocess") as mssql:
        # The packaged registry: a MCTM_REPLICA_TABLES another test left in the worker must not count.
        env = {**{k: v for k, v in os.environ.items() if k != TABLES_ENV}, **pg_server.env(database),
               "PG_SSLMODE": "disable", "DAGSTER_HOME": str(home)}
        env |= demo_source_env(mssql, load_config(PACKAGED_TABLES))
        dagster = Path(sys.executable).with_name("dagster")
        proc = subprocess.run([str(dagster), "asset", "materialize", "-m", "mctm_replica", "--select", "*"],
                              capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RUN_SUCCESS" in proc.stdout + proc.stderr
    with psycopg2.connect(pg_server.dsn(database)) as conn, conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")  # fixed names from TABLES
            assert cur.fetchone()[0] > 0
