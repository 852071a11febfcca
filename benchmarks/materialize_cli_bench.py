"""Wall time of one table's `dagster asset materialize` through the project's CLI path.

Builds a ``--rows`` table (default 200,000; the mixed-type table of ``replication_bench``)
in the SQL Server stand-in, points a one-table tables.yaml at it, and times
``dagster asset materialize -m mctm_replica.definitions --select '*'`` with a
``DAGSTER_HOME`` holding the project's dagster.yaml on an embedded PostgreSQL -- the copy,
its checks, and everything Dagster spends around them (process start-up included). It
also reports how much of that the steps themselves took (STEP_START to STEP_SUCCESS in
the stored events), so start-up overhead is visible. One run, printed; nothing asserted.

    .venv/bin/python benchmarks/materialize_cli_bench.py --rows 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replication_bench import DDL, FILL, TABLE  # noqa: E402  (the same table as make bench)

REPO = Path(__file__).resolve().parents[1]
TABLES_YAML = f"""sources:
  bench:
    env_prefix: BENCH
tables:
  - source: bench
    source_table: dbo.{TABLE}
    target_table: bench.{TABLE}
"""


def _step_figures(run_id: str) -> tuple[float, float, int]:
    """Sum of the steps' own durations (STEP_START to STEP_SUCCESS/FAILURE), sum of their
    start-up (STEP_WORKER_STARTING, when the executor launches the process, to STEP_START),
    and the number of steps -- from the stored events."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        launched: dict[str, float] = {}
        starts: dict[str, float] = {}
        own = startup = 0.0
        for entry in instance.all_logs(run_id):
            ev = entry.dagster_event
            if ev is None or ev.step_key is None:
                continue
            if os.environ.get("BENCH_VERBOSE"):
                print(f"  {entry.timestamp:.3f} {ev.step_key} {ev.event_type.value}")
            if ev.event_type == DagsterEventType.STEP_WORKER_STARTING:
                launched[ev.step_key] = entry.timestamp
            elif ev.event_type == DagsterEventType.STEP_START:
                starts[ev.step_key] = entry.timestamp
                startup += entry.timestamp - launched.get(ev.step_key, entry.timestamp)
            elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                own += entry.timestamp - starts.get(ev.step_key, entry.timestamp)
        return own, startup, len(starts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    from dagster import DagsterInstance

    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    work = Path(tempfile.mkdtemp(prefix="mctm-mat-bench-"))
    try:
        with LocalPostgres(data_dir=work / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("replica")
            pg.create_database("dagster")
            conn = server.connect_pymssql(autocommit=True)
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE [benchdb]")
                cur.execute("USE [benchdb]")
                cur.execute("CREATE TABLE dbo.n (n int PRIMARY KEY)")
                cur.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000)))
                cur.execute(DDL)
                cur.execute(FILL.format(rows=args.rows))
            conn.close()
            home = work / "dagster_home"
            home.mkdir()
            shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
            (work / "tables.yaml").write_text(TABLES_YAML)
            env = {
                **os.environ, **pg.env("replica", "PG"), **pg.env("dagster", "DAGSTER_PG"),
                "PG_SSLMODE": "disable", "DAGSTER_HOME": str(home),
                "MCTM_REPLICA_TABLES": str(work / "tables.yaml"),
                "BENCH_HOST": server.host, "BENCH_PORT": str(server.port), "BENCH_DB": "benchdb",
                "BENCH_USER": server.user, "BENCH_PASSWORD": server.password,
            }
            dagster = Path(sys.executable).with_name("dagster")
            t = time.perf_counter()
            proc = subprocess.run([str(dagster), "asset", "materialize", "-m", "mctm_replica.definitions",
                                   "--select", "*"], env=env, cwd=REPO, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            os.environ.update(env)
            with DagsterInstance.get() as instance:
                run_id = instance.get_runs(limit=1)[0].run_id
            own, startup, n = _step_figures(run_id)
            print(f"{args.rows:,} rows: `dagster asset materialize --select '*'` {wall:.1f}s wall; "
                  f"{n} steps: {own:.1f}s in the steps themselves, {startup:.1f}s starting them "
                  f"({startup / max(n, 1):.2f}s each, process launch to STEP_START)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
