"""`mctm-replica demo` end to end: stand-in + embedded PostgreSQL + the real replica_job.

This is the one test that runs the job the way the schedule does: multiprocess executor,
steps in their own processes, and the Dagster instance stored in PostgreSQL through
dagster-postgres (dagster.yaml).
"""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg2
import pytest

from mctm_replica.local.postgres import LocalPostgres
from mctm_replica.local.services import DAGSTER_DB, REPLICA_DB

TABLES = ("public.customer", "public.mctm_module", "public.voipdb_customer", "public.voipdb_useragent")


@pytest.mark.slow
def test_demo_materializes_every_table_and_passes_its_checks(tmp_path):
    workdir = tmp_path / "local"
    proc = subprocess.run(
        [sys.executable, "-m", "mctm_replica.cli", "demo", "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    reported = {}
    for table in TABLES:
        line = next(l for l in out.splitlines() if l.startswith(table + " "))
        reported[table] = int(re.split(r"\s+", line)[1].replace(",", ""))
        assert reported[table] > 0, line
        assert "row_count_matches passed" in line, line
    run_id = re.search(r"run ([0-9a-f-]{36}): SUCCESS", out).group(1)

    # The demo's PostgreSQL keeps its data directory: the replica holds the reported rows,
    # and dagster-postgres stored the run in the `dagster` database.
    with LocalPostgres(data_dir=workdir / "pgdata") as pg:
        with psycopg2.connect(pg.dsn(REPLICA_DB)) as conn, conn.cursor() as cur:
            for table, rows in reported.items():
                cur.execute(f"SELECT count(*) FROM {table}")  # fixed names from TABLES
                assert cur.fetchone()[0] == rows
        with psycopg2.connect(pg.dsn(DAGSTER_DB)) as conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)


def test_cli_help_names_every_command():
    proc = subprocess.run([sys.executable, "-m", "mctm_replica.cli", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("standin", "demo", "dev"):
        assert command in proc.stdout
