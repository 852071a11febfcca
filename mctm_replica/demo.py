"""``mctm-replica demo``: the main job, end to end, on local services.

Starts the SQL Server stand-in with its demo databases and an embedded PostgreSQL,
materializes every replica asset with its checks through the real ``replica_job``
(multiprocess executor starting steps from a forkserver, PostgreSQL-backed Dagster
instance with the project's dagster.yaml, so each source's pool limits its reads), prints
a per-table summary, then changes the demo's incremental table in the source (updates, inserts, deletes) and
runs the job again, so the second summary shows the incremental merge. Exits non-zero if
anything failed.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pymssql

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable

from mctm_replica.config import load_config
from mctm_replica.local.services import REPO_ROOT, local_services
from mctm_replica.resources.postgres import pg_connect
from mctm_replica.run_report import planned_tables, report_run_summary
from mctm_replica.run_summary import format_summary, summarize_run
from mctm_replica.standin.demo_data import DEMO_DELETES, DEMO_INSERT, DEMO_UPDATES, change_sim_status_history


def replica_job() -> JobDefinition:
    """The job as a module-level function, so step processes can rebuild it: from the
    definitions module the executor's forkserver has already imported (executor.py)."""
    from mctm_replica.definitions import defs

    return defs.resolve_job_def("replica_job")


DEMO_NEW_ROWS = 25


def change_demo_source(env: dict[str, str]) -> str:
    """Update, insert and delete rows of the demo's incremental table, as its application would."""
    conn = pymssql.connect(server=env["SQL_SERVER_MCTM_HOST"], port=env["SQL_SERVER_MCTM_PORT"],
                           user=env["SQL_SERVER_MCTM_USER"], password=env["SQL_SERVER_MCTM_PASSWORD"],
                           database=env["SQL_SERVER_MCTM_DB"], autocommit=True, tds_version="7.4")
    try:
        with conn.cursor() as cur:
            cur.execute(DEMO_UPDATES)
            updated = cur.rowcount
            cur.execute(DEMO_DELETES)
            deleted = cur.rowcount
            cur.executemany(DEMO_INSERT, [(900_000 + i, 10_000_000_007, dt.date.today(), Decimal("0.125") * i, i)
                                          for i in range(DEMO_NEW_ROWS)])
        with conn.cursor() as cur:  # the Change Tracking table (mode: change_tracking)
            tracked = change_sim_status_history(cur)
    finally:
        conn.close()
    return (f"{updated} rows updated, {DEMO_NEW_ROWS} inserted, {deleted} deleted in McTM dbo.mctm_module_usage; "
            f"{tracked}")


# Customer 13's name has 𠮷, which code page 932 lacks: its varchar copy holds '?'.
JAPANESE_SAMPLE = """
SELECT customer_id, customer_name, customer_name_sjis, customer_name_kana_half, address
FROM public.customer WHERE customer_id IN (1, 2, 13) ORDER BY customer_id
"""


def japanese_sample(env: dict[str, str]) -> str:
    """McTM is Japanese_CI_AS: its varchar columns (code page 932) as the replica holds them."""
    conn = pg_connect(host=env["PG_HOST"], port=env["PG_PORT"], dbname=env["PG_DB"], user=env["PG_USER"],
                      password=env["PG_PASSWORD"])
    try:
        with conn.cursor() as cur:
            cur.execute(JAPANESE_SAMPLE)
            rows = cur.fetchall()
    finally:
        conn.close()
    lines = ["Japanese varchar from McTM (Japanese_CI_AS, code page 932), as the replica holds it:"]
    for cid, name, sjis, kana, address in rows:
        note = f"  (nvarchar keeps {name}; code page 932 has no {''.join(sorted(set(name) - set(sjis)))})" if name != sjis else ""
        lines.append(f"  customer {cid}: {sjis} | {kana} | {address}{note}")
    return "\n".join(lines)


def _run(instance: DagsterInstance, title: str) -> bool:
    result = execute_job(reconstructable(replica_job), instance=instance)
    summary = summarize_run(instance, result.run_id)
    # No daemon here: write the run log's closing summary as the sensor would.
    run = instance.get_run_by_id(result.run_id)
    report_run_summary(instance, run, planned_tables(run, load_config(), run.job_name))
    print(f"\n{title}\n")
    print(format_summary(summary))
    ok = result.success and len(summary) > 0 and all(t.ok for t in summary)
    print(f"\nrun {result.run_id}: {'SUCCESS' if ok else 'FAILED'}", flush=True)
    return ok


def run_demo(workdir: Path) -> int:
    with local_services(workdir) as env:
        os.environ.update(env)
        print(f"SQL Server stand-in on {env['SQL_SERVER_MCTM_HOST']}:{env['SQL_SERVER_MCTM_PORT']}, "
              f"PostgreSQL on {env['PG_HOST']}:{env['PG_PORT']}", flush=True)
        with DagsterInstance.get() as instance:
            first = _run(instance, "Run 1: every table copied (the incremental table's first run loads it in full)")
            print(f"\n{japanese_sample(env)}", flush=True)
            print(f"\nChanging the source between runs: {change_demo_source(env)}", flush=True)
            second = _run(instance, "Run 2: full tables copied again; the incremental table merges only its changes")
        return 0 if first and second else 1


def run_dev(workdir: Path) -> int:
    with local_services(workdir) as env:
        print("local services up; starting `dagster dev` (Ctrl-C stops everything)", flush=True)
        dagster = Path(sys.executable).with_name("dagster")
        try:
            return subprocess.call(
                [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml")],
                env={**os.environ, **env},
                cwd=REPO_ROOT,
            )
        except KeyboardInterrupt:
            return 0
