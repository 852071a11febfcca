"""``mctm-replica demo``: the main job, end to end, on local services.

Starts the SQL Server stand-in with its demo databases and an embedded PostgreSQL,
materializes every replica asset with its checks through the real ``replica_job``
(multiprocess executor, PostgreSQL-backed Dagster instance), prints a per-table summary
and exits non-zero if anything failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable

from mctm_replica.config import load_config
from mctm_replica.local.services import REPO_ROOT, local_services
from mctm_replica.run_report import planned_tables, report_run_summary
from mctm_replica.run_summary import format_summary, summarize_run


def replica_job() -> JobDefinition:
    """The job as a module-level function, so child processes can rebuild it."""
    from mctm_replica.definitions import build_definitions

    return build_definitions().resolve_job_def("replica_job")


def run_demo(workdir: Path) -> int:
    with local_services(workdir) as env:
        os.environ.update(env)
        print(f"SQL Server stand-in on {env['SQL_SERVER_MCTM_HOST']}:{env['SQL_SERVER_MCTM_PORT']}, "
              f"PostgreSQL on {env['PG_HOST']}:{env['PG_PORT']}", flush=True)
        with DagsterInstance.get() as instance:
            result = execute_job(reconstructable(replica_job), instance=instance)
            summary = summarize_run(instance, result.run_id)
            # No daemon here: write the run log's closing summary as the sensor would.
            run = instance.get_run_by_id(result.run_id)
            report_run_summary(instance, run, planned_tables(run, load_config(), run.job_name))
        print()
        print(format_summary(summary))
        ok = result.success and len(summary) > 0 and all(t.ok for t in summary)
        print(f"\nrun {result.run_id}: {'SUCCESS' if ok else 'FAILED'}")
        return 0 if ok else 1


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
