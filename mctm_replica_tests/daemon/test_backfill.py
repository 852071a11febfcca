"""A backfill of the demo's daily-partitioned table through Dagster's own machinery.

One ``dagster dev`` (webserver, daemon, code server; ``workspace_defs``: the project's
definitions for the demo registry, schedules left out) over the demo's stand-in and an
embedded PostgreSQL. The backfill is launched as an operator launches it from a shell:
``dagster job backfill`` submits one run per partition to the instance's run queue, the
daemon dequeues them and the run launcher executes them (multiprocess executor, the
source's pool) -- nothing is emulated in the test process. One partition's read is made to
fail by a stand-in fault; after the backfill that partition is re-run alone with a second
``dagster job backfill --partitions``, and every other partition's rows keep their tuple.

Dagster's own records are the proof: the runs and their tags, the checks' evaluations in
the event log, and the asset's materialized partitions. A week of partitions keeps it to
seven runs (each a process tree on a 2-core machine);
``mctm_replica_tests/integration/test_partitioned_demo.py`` covers the whole year in process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg2
import pytest
from dagster import AssetKey, AssetPartitionStatus, DagsterEventType, DagsterRunStatus, RunsFilter

from mctm_replica.config import load_config
from mctm_replica.local.services import DEMO_TABLES, REPO_ROOT
from mctm_replica.standin import StandIn
from mctm_replica.standin.demo_sim_usage import HISTORY_START, SIM_USAGE_PER_DAY
from mctm_replica_tests.browser.stack import Stack, dagster_dev_stack
from mctm_replica_tests.dagster_runs import finished, wait_for
from mctm_replica_tests.integration.webhook import Receiver

pytestmark = [pytest.mark.daemon, pytest.mark.slow]

MODULE = "mctm_replica_tests.daemon.workspace_defs"
JOB = "public__sim_daily_usage_partitions_job"
KEY = AssetKey(["public", "sim_daily_usage"])
# A week of the demo's history, well inside it (not its first day: the query counting the
# rows outside every partition has the first day's start as a bound, and the fault below
# matches a partition's start).
WEEK = [(HISTORY_START + dt.timedelta(days=40 + i)).isoformat() for i in range(7)]
FAILING = WEEK[3]
FAULT = "disk read error (injected)"
BACKFILL_TAG = "dagster/backfill"
PARTITION_TAG = "dagster/partition"
# `mctm-replica plan` after the failed backfill, for the README (not committed).
ARTIFACTS = REPO_ROOT / "test-artifacts" / "daemon"
# The CLI loads the code location itself (a code server of its own) before submitting.
CLI_TIMEOUT_S = 300
# Seven runs of one source queue on its pool (one step at a time) on two busy cores.
BACKFILL_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    receiver = Receiver()  # the alert sensors post the failed partition's run here
    receiver.thread.start()
    try:
        with dagster_dev_stack(receiver.url(), module=MODULE) as s:
            yield s
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def stand_in(stack: Stack) -> StandIn:
    """The stack's stand-in (another process), reached over TCP like any client: its fault
    control is SQL (``sp_standin_fault``), so arming and clearing work across processes."""
    env = stack.env
    return StandIn(host=env["SQL_SERVER_MCTM_HOST"], port=int(env["SQL_SERVER_MCTM_PORT"]),
                   user=env["SQL_SERVER_MCTM_USER"], password=env["SQL_SERVER_MCTM_PASSWORD"])


def backfill(stack: Stack, *selection: str) -> str:
    """``dagster job backfill ... --noprompt`` as an operator types it; the backfill's id."""
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    cmd = [dagster, "job", "backfill", "-w", str(stack.workspace), "-l", "mctm_replica", "-j", JOB,
           *selection, "--noprompt"]
    out = subprocess.run(cmd, env={**os.environ, **stack.env}, cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{out.stdout}\n{out.stderr}"
    launched = [line for line in out.stdout.splitlines() if line.startswith("Launched backfill job")]
    assert launched, out.stdout
    return launched[0].split("`")[1]


def backfill_runs(stack: Stack, backfill_id: str, count: int) -> dict[str, object]:
    """The backfill's runs by partition, once all ``count`` of them finished."""
    def done():
        runs = stack.instance.get_runs(RunsFilter(tags={BACKFILL_TAG: backfill_id}))
        if len(runs) == count and all(finished(stack, r.run_id) for r in runs):
            return {r.tags[PARTITION_TAG]: stack.instance.get_run_by_id(r.run_id) for r in runs}
        return None

    return wait_for(f"the {count} run(s) of backfill {backfill_id}", done, stack, timeout=BACKFILL_TIMEOUT_S)


def plan(stack: Stack, *args: str) -> str:
    """``mctm-replica plan --table public.sim_daily_usage`` with the stack's DAGSTER_HOME."""
    cli = os.path.join(os.path.dirname(sys.executable), "mctm-replica")
    out = subprocess.run([cli, "plan", "--table", "public.sim_daily_usage", *args], env={**os.environ, **stack.env},
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"mctm-replica plan failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def check_evaluations(stack: Stack, run_id: str) -> dict:
    return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
            for e in stack.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)}


def step_failures(stack: Stack, run_id: str) -> str:
    return "\n".join(e.dagster_event.event_specific_data.error.to_string()
                     for e in stack.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE))


def source_rows(server: StandIn) -> dict[int, tuple]:
    conn = server.connect_pymssql(database="McTM")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SimUsageID, UsageDate, DataMB, SmsCount FROM dbo.sim_daily_usage "
                        "WHERE UsageDate >= %s AND UsageDate <= %s", (WEEK[0], WEEK[-1]))
            return {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    finally:
        conn.close()


def replica_rows(stack: Stack) -> dict[int, tuple]:
    """Every replica row, with its tuple's xmin last (unchanged xmin: the row was not rewritten)."""
    env = stack.env
    conn = psycopg2.connect(host=env["PG_HOST"], port=env["PG_PORT"], dbname=env["PG_DB"],
                            user=env["PG_USER"], password=env["PG_PASSWORD"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT sim_usage_id, usage_date, data_mb, sms_count, xmin::text FROM public.sim_daily_usage")
            return {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    finally:
        conn.close()


def test_cli_backfill_through_the_daemon_then_the_failed_partition_alone(stack: Stack):
    server = stand_in(stack)
    # One day's read fails on the source, in whichever run reads it.
    server.inject_fault("error", match=f">= '{FAILING}", times=0, message=FAULT)
    try:
        first = backfill(stack, "--from", WEEK[0], "--to", WEEK[-1])
        runs = backfill_runs(stack, first, len(WEEK))
    finally:
        server.clear_faults()

    assert sorted(runs) == WEEK  # one run per partition, each tagged with its key
    failed = runs.pop(FAILING)
    assert failed.status == DagsterRunStatus.FAILURE, stack.log_tail()
    assert FAULT in step_failures(stack, failed.run_id)
    for key, run in runs.items():
        assert run.status == DagsterRunStatus.SUCCESS, (key, stack.log_tail())
        checks = check_evaluations(stack, run.run_id)
        # The partition's own slice, counted and compared row by row on both servers.
        assert checks["row_count_matches"].passed and checks["rows_match"].passed, (key, checks)
        assert checks["row_count_matches"].metadata["source_rows"].value == SIM_USAGE_PER_DAY
        # The NULL date and the row dated before the first partition: reported, not dropped.
        assert not checks["schema_matches"].passed
        assert "2 source row(s) belong to no partition" in checks["schema_matches"].description
    # Dagster's partition status is the record: the failed day is not materialized.
    assert stack.instance.get_materialized_partitions(KEY) == set(WEEK) - {FAILING}
    (spec,) = [t for t in load_config(DEMO_TABLES).tables if t.partitions]
    status = stack.instance.get_status_by_partition(KEY, WEEK, spec.partitions.definition())
    assert {k for k, st in status.items() if st == AssetPartitionStatus.FAILED} == {FAILING}
    # ... and the plan reads it: every partition before the week and after it is missing, the
    # failed day between them is missing and listed as failed.
    [planned] = json.loads(plan(stack, "--json"))
    assert planned["partitions"]["failed_ranges"] == [{"from": FAILING, "to": FAILING, "count": 1}]
    assert {"from": FAILING, "to": FAILING, "count": 1} in planned["partitions"]["missing_ranges"]
    assert planned["partitions"]["materialized"] == len(WEEK) - 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "plan-after-failed-backfill.txt").write_text(plan(stack))

    source = source_rows(server)
    backfilled = replica_rows(stack)
    assert {k: v[:-1] for k, v in backfilled.items()} == {
        k: v for k, v in source.items() if v[0].isoformat() != FAILING}  # the failed day left nothing

    # The failed partition alone, as an operator re-runs it.
    again = backfill(stack, "--partitions", FAILING)
    (rerun,) = backfill_runs(stack, again, 1).values()
    assert rerun.status == DagsterRunStatus.SUCCESS, stack.log_tail()
    assert rerun.tags[PARTITION_TAG] == FAILING
    checks = check_evaluations(stack, rerun.run_id)
    assert checks["row_count_matches"].passed and checks["rows_match"].passed, checks
    assert stack.instance.get_materialized_partitions(KEY) == set(WEEK)
    [planned] = json.loads(plan(stack, "--json"))
    assert (planned["partitions"]["materialized"], planned["partitions"]["failed"]) == (len(WEEK), 0)

    after = replica_rows(stack)
    assert {k: v[:-1] for k, v in after.items()} == source  # the week equals the source
    assert {k: after[k] for k in backfilled} == backfilled  # no other row was rewritten (same xmin)
    assert {after[k][0].isoformat() for k in after.keys() - backfilled.keys()} == {FAILING}
    assert len(after) - len(backfilled) == SIM_USAGE_PER_DAY
