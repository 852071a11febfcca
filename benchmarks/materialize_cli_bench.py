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

from replication_bench import TABLE, prepare_table  # noqa: E402  (the same table as make bench)

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


def _asset_figures(instance, run_id: str) -> dict[str, float]:
    """The copy's and each check's own ``duration_s`` from the run's stored events."""
    from dagster import DagsterEventType

    figures: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            meta = ev.event_specific_data.materialization.metadata
        elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            meta = {f"{ev.event_specific_data.check_name}.{k}": v
                    for k, v in ev.event_specific_data.metadata.items()}
        else:
            continue
        for key, value in meta.items():
            if key == "duration_s" or key.endswith(".duration_s"):
                figures[key.removesuffix(".duration_s") if key != "duration_s" else "copy"] = float(value.value)
    return figures


def materialize_once(pg, server, database: str, rows: int, work: Path) -> dict:
    """One ``dagster asset materialize --select '*'`` of ``dbo.bench`` as a user runs it.

    ``pg`` must have databases ``replica`` and ``dagster``. Returns wall seconds, the
    steps' own and start-up seconds, and the copy's and each check's ``duration_s``.
    """
    from dagster import DagsterInstance

    home = work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    (work / "tables.yaml").write_text(TABLES_YAML)
    env = {
        **os.environ, **pg.env("replica", "PG"), **pg.env("dagster", "DAGSTER_PG"),
        "PG_SSLMODE": "disable", "DAGSTER_HOME": str(home),
        "MCTM_REPLICA_TABLES": str(work / "tables.yaml"),
        "BENCH_HOST": server.host, "BENCH_PORT": str(server.port), "BENCH_DB": database,
        "BENCH_USER": server.user, "BENCH_PASSWORD": server.password,
    }
    dagster = Path(sys.executable).with_name("dagster")
    t = time.perf_counter()
    proc = subprocess.run([str(dagster), "asset", "materialize", "-m", "mctm_replica.definitions",
                           "--select", "*"], env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"dagster asset materialize failed:\n{proc.stderr[-3000:]}")
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "DAGSTER_PG_HOST")}
    os.environ.update(env)
    try:
        with DagsterInstance.get() as instance:
            run_id = instance.get_runs(limit=1)[0].run_id
            own, startup, n = _step_figures(run_id)
            durations = _asset_figures(instance, run_id)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return {"rows": rows, "wall_s": wall, "steps_s": own, "startup_s": startup, "steps": n, **durations}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    work = Path(tempfile.mkdtemp(prefix="mctm-mat-bench-"))
    try:
        with LocalPostgres(data_dir=work / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("replica")
            pg.create_database("dagster")
            prepare_table(server, "benchdb", args.rows)
            r = materialize_once(pg, server, "benchdb", args.rows, work / "run")
            print(f"{args.rows:,} rows: `dagster asset materialize --select '*'` {r['wall_s']:.1f}s wall; "
                  f"{r['steps']} steps: {r['steps_s']:.1f}s in the steps themselves, {r['startup_s']:.1f}s "
                  f"starting them; copy {r.get('copy', 0):.1f}s, rows_match {r.get('rows_match', 0):.1f}s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
