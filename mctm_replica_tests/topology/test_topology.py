"""Webserver, daemon and code server as the separate services a deployment runs.

The services of docker-compose.yaml run as processes with the compose file's own commands
(``stack.py``): the code server serves the definitions over gRPC, the webserver and the
daemon find it through ``deploy/workspace.yaml``, and all of them share the instance on
PostgreSQL through the project's ``dagster.yaml``. Nothing is mocked: the scheduler and
the webserver launch runs through the code server, the runs copy from the stand-in into
PostgreSQL, and alerts leave the daemon's sensors through Apprise to a local receiver.

One test in phases on one stack (as the browser tier, pytest-xdist would otherwise start
a stack per worker). Waits are generous; nothing is timed.
"""

from __future__ import annotations

import psycopg2
import pytest
from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

from mctm_replica.run_report import SUMMARY_PREFIX
from mctm_replica_tests.dagster_runs import DEMO_JOB_CHECKS, DEMO_ROWS, finished, summary_of, table_rows, wait_for
from mctm_replica_tests.integration.webhook import WEBHOOK_SECRET, Receiver
from mctm_replica_tests.topology.stack import LOCATION, Stack

pytestmark = [pytest.mark.topology, pytest.mark.slow]

# The sensors tick every 30-60 s; the daemon may be busy launching a run.
SENSOR_TIMEOUT_S = 300
SCHEDULE_TAG = "dagster/schedule_name"
REPOSITORY = "__repository__"

WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus displayMetadata { key value }
    locationOrLoadError { __typename
      ... on RepositoryLocation { repositories { name jobs { name } schedules { name cronSchedule }
                                                  sensors { name } } }
      ... on PythonError { message } } } } } }
"""
LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on UnauthorizedError { message }
  ... on PythonError { message }
  ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }
"""



def location_entry(stack: Stack, service: str = "webserver") -> dict | None:
    data = stack.graphql(WORKSPACE_QUERY, service=service)["workspaceOrError"]
    assert data["__typename"] == "Workspace", data
    return next((e for e in data["locationEntries"] if e["name"] == LOCATION), None)


def loaded(stack: Stack, service: str = "webserver") -> dict | None:
    entry = location_entry(stack, service)
    if entry and entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation":
        return entry
    return None


def launch(stack: Stack, service: str = "webserver", *, job: str = "replica_job", **selection) -> dict:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job, **selection}
    return stack.graphql(LAUNCH, {"params": {"selector": selector, "runConfigData": {}}},
                         service=service)["launchRun"]


def launched_run_id(result: dict, stack: Stack) -> str:
    assert result["__typename"] == "LaunchRunSuccess", f"{result}\n{stack.log_tail()}"
    return result["run"]["runId"]


def assert_through_the_code_server(stack: Stack, run: DagsterRun) -> None:
    """The run's code came from the gRPC code server on its port (not a local load)."""
    origin = run.remote_job_origin.repository_origin.code_location_origin
    assert isinstance(origin, GrpcServerCodeLocationOrigin), origin
    assert (origin.host, origin.port) == ("127.0.0.1", stack.ports["code-server"])


def test_the_deployed_topology(stack: Stack, alert_receiver: Receiver):
    webserver_lists_the_code_location_from_the_grpc_server(stack)
    readonly_webserver_refuses_to_launch(stack)
    run = scheduler_launches_a_run_through_the_code_server_that_copies_every_table(stack)
    failed = a_failed_check_run_is_alerted_by_the_daemon(stack, alert_receiver)
    code_server_restart_is_survived(stack)
    alerts_arrive(stack, alert_receiver, failed)
    assert stack.healthy("daemon"), stack.log_tail()  # compose's liveness check, after it all
    assert run.status == DagsterRunStatus.SUCCESS
    # The services' output (kept in test-artifacts/topology/) shows no secret.
    for service in stack.commands:
        logged = stack.log(service).read_text(errors="replace")
        for secret in (stack.env["PG_PASSWORD"], stack.env["SQL_SERVER_MCTM_PASSWORD"], WEBHOOK_SECRET):
            assert secret not in logged, service


def webserver_lists_the_code_location_from_the_grpc_server(stack: Stack) -> None:
    entry = wait_for("the webserver to load the code location", lambda: loaded(stack), stack, timeout=180)
    meta = {m["key"]: m["value"] for m in entry["displayMetadata"]}
    assert meta.get("host") == "127.0.0.1" and meta.get("port") == str(stack.ports["code-server"]), meta
    repo = entry["locationOrLoadError"]["repositories"][0]
    assert "replica_job" in {j["name"] for j in repo["jobs"]}
    assert {"replica_schedule": "* * * * *"}.items() <= {s["name"]: s["cronSchedule"] for s in repo["schedules"]}.items()
    assert {"replica_check_alerts", "replica_run_failure_alerts", "replica_run_summary"} <= {
        s["name"] for s in repo["sensors"]}


def readonly_webserver_refuses_to_launch(stack: Stack) -> None:
    wait_for("the read-only webserver to load the code location",
             lambda: loaded(stack, "webserver-readonly"), stack, timeout=180)
    before = len(stack.instance.get_run_ids())
    result = launch(stack, "webserver-readonly")
    assert result["__typename"] == "UnauthorizedError", result
    assert len(stack.instance.get_run_ids()) == before  # nothing was queued or launched


def scheduler_launches_a_run_through_the_code_server_that_copies_every_table(stack: Stack) -> DagsterRun:
    def scheduled() -> DagsterRun | None:
        runs = stack.instance.get_runs(RunsFilter(tags={SCHEDULE_TAG: "replica_schedule"}), limit=1)
        return runs[0] if runs else None

    run = wait_for("a run launched by replica_schedule's tick", scheduled, stack, timeout=240)
    assert run.job_name == "replica_job"
    run = wait_for(f"scheduled run {run.run_id} to finish", lambda: finished(stack, run.run_id), stack)
    assert run.status == DagsterRunStatus.SUCCESS, stack.log_tail()
    assert_through_the_code_server(stack, run)
    # The daemon's replica_run_summary sensor ends the run's log with the per-table summary.
    summary = wait_for(f"the summary in run {run.run_id}'s log", lambda: summary_of(stack, run.run_id),
                       stack, timeout=SENSOR_TIMEOUT_S)
    n = len(DEMO_ROWS)
    assert summary.startswith(f"{SUMMARY_PREFIX} (SUCCESS): {n} of {n} table(s) copied, "
                              f"{sum(DEMO_ROWS.values()):,} rows; {DEMO_JOB_CHECKS} check(s) passed, "
                              f"0 failed"), summary
    assert table_rows(summary) == DEMO_ROWS
    return run


def a_failed_check_run_is_alerted_by_the_daemon(stack: Stack, receiver: Receiver) -> DagsterRun:
    """Someone edits the replica by hand; the content check launched from the UI fails."""
    env = stack.env
    conn = psycopg2.connect(host=env["PG_HOST"], port=env["PG_PORT"], dbname=env["PG_DB"],
                            user=env["PG_USER"], password=env["PG_PASSWORD"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE public.customer SET customer_name = 'edited by hand' "
                        "WHERE customer_id = (SELECT min(customer_id) FROM public.customer)")
            assert cur.rowcount == 1
    finally:
        conn.close()
    # What the UI's "Execute checks" sends: the asset job with one check and no asset.
    run_id = launched_run_id(launch(stack, job="__ASSET_JOB", assetSelection=[], assetCheckSelection=[
        {"assetKey": {"path": ["public", "customer"]}, "name": "rows_match"}]), stack)
    run = wait_for(f"check run {run_id} to finish", lambda: finished(stack, run_id), stack)
    assert run.status == DagsterRunStatus.FAILURE, stack.log_tail()  # rows_match is blocking
    assert_through_the_code_server(stack, run)
    return run


def code_server_restart_is_survived(stack: Stack) -> None:
    """The code server alone is restarted (a deploy of new code); webserver and daemon stay."""
    old_pid = stack.procs["code-server"].pid
    stack.stop("code-server")
    stack.start("code-server")
    assert stack.procs["code-server"].pid != old_pid
    stack.wait_healthy("code-server")
    wait_for("the webserver to reload the code location", lambda: loaded(stack), stack, timeout=180)
    # The next run, launched through the webserver, runs on the new code server; it copies
    # every table again (the hand-edited row too).
    run_id = wait_for("a launch the new code server accepts",
                      lambda: (r := launch(stack))["__typename"] == "LaunchRunSuccess" and r["run"]["runId"],
                      stack, timeout=180)
    run = wait_for(f"run {run_id} after the restart to finish", lambda: finished(stack, run_id), stack)
    assert run.status == DagsterRunStatus.SUCCESS, stack.log_tail()
    assert_through_the_code_server(stack, run)
    # The daemon's sensors reach the new code server too: this run's summary is written.
    summary = wait_for(f"the summary in run {run_id}'s log", lambda: summary_of(stack, run_id),
                       stack, timeout=SENSOR_TIMEOUT_S)
    n = len(DEMO_ROWS)
    assert summary.startswith(f"{SUMMARY_PREFIX} (SUCCESS): {n} of {n} table(s) copied"), summary
    # Full tables are copied whole again; the incremental and Change Tracking ones merge only what changed.
    full = {t: rows for t, rows in DEMO_ROWS.items()
            if t not in ("public.mctm_module_usage", "public.sim_status_history")}
    assert full.items() <= table_rows(summary).items(), summary


def alerts_arrive(stack: Stack, receiver: Receiver, failed: DagsterRun) -> None:
    def posted(title: str) -> dict | None:
        return next((p for p in receiver.posts if p["title"] == title and failed.run_id in p["message"]), None)

    check = wait_for("the failed check's alert at the webhook",
                     lambda: posted("[mctm_replica] public.customer: check rows_match failed"),
                     stack, SENSOR_TIMEOUT_S)
    assert "Result: 1 row(s) with different values (columns: customer_name)" in check["message"]
    wait_for("the failed run's alert at the webhook",
             lambda: posted("[mctm_replica] run of __ASSET_JOB failed"), stack, SENSOR_TIMEOUT_S)
    for post in receiver.posts:
        for secret in (stack.env["PG_PASSWORD"], stack.env["SQL_SERVER_MCTM_PASSWORD"], WEBHOOK_SECRET):
            assert secret not in post["title"] + post["message"]
