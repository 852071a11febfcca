"""The Dagster UI and daemon, as an operator uses them, against the demo's local services.

One ``dagster dev`` (webserver, daemon, code server) serves the project's definitions
(``workspace_defs``: only ``replica_schedule``'s cron differs) on the stand-in and an
embedded PostgreSQL; Debian's Chromium, driven by Playwright, clicks through the UI.
Nothing is mocked: runs are launched by the UI or the scheduler, executed by the real
run launcher and multiprocess executor, and alerts leave the daemon's sensors through
Apprise to a local webhook receiver. Screenshots go to ``test-artifacts/browser/``.

It is one test in two phases, run in order on one stack: pytest-xdist would spread two
tests over both workers and start two stacks (``--dist loadgroup`` does not group with
pytest 9.2, pytest-xdist issue 1386). The schedule phase switches the every-minute
schedule off again before the UI phase tampers with a table.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from playwright.sync_api import Page, expect

from mctm_replica.run_report import SUMMARY_PREFIX
from mctm_replica_tests.dagster_runs import DEMO_JOB_CHECKS, DEMO_ROWS, JOB_CHECKS, finished, summary_of, table_rows, wait_for
from mctm_replica_tests.browser.stack import Stack
from mctm_replica_tests.integration.webhook import WEBHOOK_SECRET, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The alert sensors tick every 60 s; the daemon may be busy launching a run.
ALERT_TIMEOUT_S = 240
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"
MIN_SCREENSHOT_BYTES = 30_000  # a blank 1600x1000 page compresses to a few kB



def ui_runs(stack: Stack, since: float) -> list[DagsterRun]:
    """Runs of the asset job launched from the UI after ``since`` (no sensor or schedule)."""
    return [r for r in stack.instance.get_runs(RunsFilter(job_name=IMPLICIT_ASSET_JOB_NAME))
            if SENSOR_TAG not in r.tags and SCHEDULE_TAG not in r.tags
            and stack.instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp() >= since]


def screenshot(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    assert path.stat().st_size > MIN_SCREENSHOT_BYTES, f"{path} looks blank ({path.stat().st_size} bytes)"
    return path


def schedule_status(stack: Stack) -> InstigatorStatus | None:
    """replica_schedule's status as the instance stores it (what the daemon obeys)."""
    states = stack.instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    return next((st.status for st in states if st.instigator_name == "replica_schedule"), None)


def tick_done(stack: Stack) -> bool:
    """replica_schedule's latest tick has finished (launched its run and stored its end)."""
    state = next(st for st in stack.instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
                 if st.instigator_name == "replica_schedule")
    ticks = stack.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
    return bool(ticks) and ticks[0].status in (TickStatus.SUCCESS, TickStatus.SKIPPED)


def schedule_toggle(page: Page):
    # The UI's switch is a hidden checkbox inside a label that draws it.
    box = page.locator("input[type=checkbox]:not(#newsletter)")
    return box, box.locator("xpath=..")


def test_operator_flow_through_the_ui_and_the_daemon(
    stack: Stack, page: Page, artifacts: Path, alert_receiver: Receiver
):
    daemon_ticks_replica_schedule_and_ends_the_run_log_with_its_summary(stack, page, artifacts)
    materialize_all_then_a_tampered_table_fails_its_check_and_alerts(stack, page, artifacts, alert_receiver)


def daemon_ticks_replica_schedule_and_ends_the_run_log_with_its_summary(
    stack: Stack, page: Page, artifacts: Path
) -> None:
    page.goto(f"{stack.url}/locations/mctm_replica/schedules/replica_schedule")
    expect(page.get_by_text("* * * * *")).to_be_visible()
    expect(page.get_by_role("link", name="replica_job")).to_be_visible()
    box, switch = schedule_toggle(page)
    expect(box).not_to_be_checked()
    switch.click()  # start it from the UI; the daemon's scheduler does the rest
    expect(box).to_be_checked()
    wait_for("replica_schedule stored as running", lambda: schedule_status(stack) == InstigatorStatus.RUNNING,
             stack, timeout=60)

    def scheduled_run() -> DagsterRun | None:
        runs = stack.instance.get_runs(RunsFilter(tags={SCHEDULE_TAG: "replica_schedule"}), limit=1)
        return runs[0] if runs else None

    run = wait_for("a run launched by replica_schedule's first tick", scheduled_run, stack, timeout=240)
    # The daemon writes the schedule's whole state when it finishes a tick: a stop stored
    # while a tick is still being finished would be overwritten. Stop once the tick is done
    # (the next one is most of a minute away).
    wait_for("replica_schedule's tick to finish", lambda: tick_done(stack), stack, timeout=120)
    switch.click()  # stop it again, so no later tick refreshes a table while a test tampers with it
    expect(box).not_to_be_checked()
    # The switch flips before the UI's request is answered: reload only once it is stored.
    wait_for("replica_schedule stored as stopped", lambda: schedule_status(stack) == InstigatorStatus.STOPPED,
             stack, timeout=60)
    # Stored, not just drawn: a reloaded page shows it stopped. Under load the webserver can
    # answer a reload from before the change, so reload until it agrees (the stored state
    # must stay stopped meanwhile).
    def shown_stopped() -> bool:
        assert schedule_status(stack) == InstigatorStatus.STOPPED
        page.reload()
        box = schedule_toggle(page)[0]
        box.wait_for(state="attached")
        return not box.is_checked()

    wait_for("the reloaded schedule page to show it stopped", shown_stopped, stack, timeout=120)
    assert run.job_name == "replica_job"

    run = wait_for(f"scheduled run {run.run_id} to finish", lambda: finished(stack, run.run_id), stack)
    assert run.status == DagsterRunStatus.SUCCESS, stack.log_tail()
    # The tick is in the schedule's history, with the run it requested.
    page.reload()
    expect(page.get_by_text("1 run requested").first).to_be_visible()
    expect(page.get_by_role("link", name=run.run_id[:8])).to_be_visible()
    screenshot(page, artifacts / "schedule-ticks.png")

    # The daemon's replica_run_summary sensor ends the run's log with the per-table summary.
    summary = wait_for(f"the summary in run {run.run_id}'s log", lambda: summary_of(stack, run.run_id),
                       stack, timeout=ALERT_TIMEOUT_S)
    n = len(DEMO_ROWS)
    assert summary.startswith(f"{SUMMARY_PREFIX} (SUCCESS): {n} of {n} table(s) copied, "
                              f"{sum(DEMO_ROWS.values()):,} rows; {DEMO_JOB_CHECKS} check(s) passed, "
                              f"0 failed"), summary
    assert table_rows(summary) == DEMO_ROWS
    assert stack.instance.all_logs(run.run_id)[-1].message == summary  # the log ends with it
    page.goto(f"{stack.url}/runs/{run.run_id}")
    expect(page.get_by_text(f"{SUMMARY_PREFIX} (SUCCESS)")).to_be_visible()
    expect(page.get_by_text("public.voipdb_useragent").first).to_be_visible()
    screenshot(page, artifacts / "run-summary.png")


def materialize_all_then_a_tampered_table_fails_its_check_and_alerts(
    stack: Stack, page: Page, artifacts: Path, alert_receiver: Receiver
) -> None:
    # The asset graph: both groups expanded, laid out side by side so all five fit.
    page.goto(f"{stack.url}/asset-groups")
    page.get_by_role("button", name="Materialize all").wait_for()
    page.get_by_role("img", name="settings").last.click()  # the graph's settings menu
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.get_by_role("menuitem", name="vertical orientation").click()
    page.keyboard.press("Escape")
    page.reload()  # the graph fits itself to the window when it loads
    for table in (t.split(".")[1] for t in DEMO_ROWS):
        expect(page.get_by_text(table, exact=True).last).to_be_visible()
    time.sleep(1)  # let the layout settle before the picture
    graph_png = screenshot(page, artifacts / "asset-graph.png")

    clicked = time.time() - 1
    page.get_by_role("button", name="Materialize all").click()
    run = wait_for("the run launched by Materialize all", lambda: (ui_runs(stack, clicked) or [None])[0], stack)
    run = wait_for(f"run {run.run_id} to finish", lambda: finished(stack, run.run_id), stack)
    assert run.status == DagsterRunStatus.SUCCESS, stack.log_tail()
    assert {"/".join(k.path) for k in run.asset_selection} == {t.replace(".", "/") for t in DEMO_ROWS}
    page.goto(f"{stack.url}/runs/{run.run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()

    # Every check of public.customer passed.
    page.goto(f"{stack.url}/assets/public/customer?view=checks")
    for check in (*JOB_CHECKS, "freshness_check"):
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(JOB_CHECKS) + 1)

    # Someone edits the replica behind the replicator's back (once no replica_job run, which
    # would copy the table again, is still going).
    wait_for("no replica_job run in progress", lambda: not stack.instance.get_runs(
        RunsFilter(job_name="replica_job", statuses=list(IN_PROGRESS_RUN_STATUSES))), stack)
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

    clicked = time.time() - 1
    page.get_by_role("button", name="Execute all").click()  # the asset's checks, on their own
    checks = wait_for("the run launched by Execute all", lambda: (ui_runs(stack, clicked) or [None])[0], stack)
    checks = wait_for(f"run {checks.run_id} to finish", lambda: finished(stack, checks.run_id), stack)
    assert not checks.asset_selection and checks.asset_check_selection
    # rows_match is blocking: its failure fails the run.
    assert checks.status == DagsterRunStatus.FAILURE, stack.log_tail()

    page.reload()
    page.get_by_text("rows_match", exact=True).first.click()
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    expect(page.get_by_text("1 row(s) with different values (columns: customer_name)")).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(JOB_CHECKS))  # the others still pass
    failed_png = screenshot(page, artifacts / "failed-check.png")

    # The daemon's replica_check_alerts sensor announces it; replica_run_failure_alerts the run.
    title = "[mctm_replica] public.customer: check rows_match failed"

    def posted(t: str) -> dict | None:
        return next((p for p in alert_receiver.posts if p["title"] == t and checks.run_id in p["message"]), None)

    alert = wait_for("the failed check's alert at the webhook", lambda: posted(title), stack, ALERT_TIMEOUT_S)
    assert alert["type"] == "failure"
    lines = alert["message"].splitlines()
    assert lines[:3] == ["Table: public.customer", "Check: rows_match failed (ERROR)",
                         "Result: 1 row(s) with different values (columns: customer_name)"]
    assert f"Link: {stack.url}/runs/{checks.run_id}" in lines
    run_alert = wait_for("the failed run's alert at the webhook",
                         lambda: posted(f"[mctm_replica] run of {IMPLICIT_ASSET_JOB_NAME} failed"),
                         stack, ALERT_TIMEOUT_S)
    assert "public__customer_rows_match" in run_alert["message"]
    for post in alert_receiver.posts:
        for secret in (env["PG_PASSWORD"], env["SQL_SERVER_MCTM_PASSWORD"], WEBHOOK_SECRET):
            assert secret not in post["title"] + post["message"]

    # The check-only run's log ends with its summary too: the failed check, no table copied.
    summary = wait_for("the check run's summary", lambda: summary_of(stack, checks.run_id), stack, ALERT_TIMEOUT_S)
    assert summary.startswith(f"{SUMMARY_PREFIX} (FAILURE): 0 of 1 table(s) copied"), summary
    assert "rows_match FAILED" in summary

    for png in (graph_png, failed_png):
        assert png.exists() and png.stat().st_size > MIN_SCREENSHOT_BYTES
    # dagster dev's output (webserver, daemon, sensors) is kept as an artifact: no secrets in it.
    logged = stack.log.read_text(errors="replace")
    for secret in (env["PG_PASSWORD"], env["SQL_SERVER_MCTM_PASSWORD"], WEBHOOK_SECRET):
        assert secret not in logged
