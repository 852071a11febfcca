"""Every replica run's log ends with its per-table summary.

The summary is the table ``make demo`` prints (:mod:`mctm_replica.run_summary`): per
table the rows copied, seconds, rows/s and each check's outcome, read back from the run's
own events, so it shows exactly what the run recorded. :func:`report_run_summary` appends
it to the run's log as one engine event (message: a headline and the table, which the UI
shows in a fixed-width font; metadata: the totals), so the UI's run page and the event
log storage end with it.

Dagster has no hook that runs once at the end of a run, so the sensor
``replica_run_summary`` (running by default, in the daemon like the alert sensors) finds
runs of ``replica_job`` and of UI materializations that ended -- succeeded or failed --
and writes the summary within :data:`SUMMARY_INTERVAL_S` seconds. It is a plain sensor
with its own cursor (storage id of the last run-end event handled) and checks the run's
log before writing, so a run never gets two summaries, across ticks, daemon restarts or
a run summarized elsewhere (``make demo`` writes it directly: it runs without a daemon).
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    EventRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._core.events import EngineEventData
from dagster._time import get_current_timestamp

from mctm_replica.config import ReplicaConfig
from mctm_replica.run_summary import TableSummary, format_summary, summarize_run
from mctm_replica.sensors import FIRST_TICK_LOOKBACK

SUMMARY_SENSOR = "replica_run_summary"
# Every engine event this module writes starts with this; it is how a summary is recognised.
SUMMARY_PREFIX = "Replica run summary"
# Half a minute: the summary follows the run's end closely; a tick that finds no ended run
# is two indexed event-log queries.
SUMMARY_INTERVAL_S = 30
# Ended runs handled per tick; the rest follow on the next tick.
RUNS_PER_TICK = 50
_RUN_END = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE)


def has_summary(instance: DagsterInstance, run_id: str) -> bool:
    return any(
        (entry.message or "").startswith(SUMMARY_PREFIX)
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    )


def planned_tables(run: DagsterRun, config: ReplicaConfig, job_name: str) -> set[str]:
    """The replica tables a run was meant to copy or check: every table for the replica
    job, else the run's asset and check selection (UI materializations, "Execute checks")."""
    tables = {".".join(t.asset_key_path) for t in config.tables}
    if run.job_name == job_name:  # time-partitioned tables have jobs of their own
        return {".".join(t.asset_key_path) for t in config.tables if not t.partitions}
    keys: set[AssetKey] = set(run.asset_selection or ())
    keys |= {ck.asset_key for ck in run.asset_check_selection or ()}
    return tables & {".".join(k.path) for k in keys}


def summary_message(summary: list[TableSummary], status: str) -> str:
    rows = sum(t.rows or 0 for t in summary)
    copied = sum(t.rows is not None for t in summary)
    outcomes = [ok for t in summary for ok in t.checks.values()]
    failed = outcomes.count(False)
    headline = (
        f"{SUMMARY_PREFIX} ({status}): {copied} of {len(summary)} table(s) copied, {rows:,} rows; "
        f"{len(outcomes) - failed} check(s) passed, {failed} failed"
    )
    return f"{headline}\n\n{format_summary(summary)}"


def report_run_summary(
    instance: DagsterInstance, run: DagsterRun, planned: set[str] | None = None
) -> str | None:
    """Append the run's per-table summary to its log, unless it has one; return the text.

    ``planned`` tables that the run neither copied nor checked appear with ``-``, so a
    failed run shows what it did not do. Returns None when there was nothing to report.
    """
    if has_summary(instance, run.run_id):
        return None
    summary = {t.asset: t for t in summarize_run(instance, run.run_id)}
    for table in planned or ():
        summary.setdefault(table, TableSummary(table))
    if not summary:
        return None
    tables = sorted(summary.values(), key=lambda t: t.asset)
    message = summary_message(tables, run.status.value)
    outcomes = [ok for t in tables for ok in t.checks.values()]
    instance.report_engine_event(
        message,
        run,
        EngineEventData(metadata={
            "tables": len(tables),
            "rows_copied": sum(t.rows or 0 for t in tables),
            "checks_passed": outcomes.count(True),
            "checks_failed": outcomes.count(False),
        }),
    )
    return message


def build_run_summary_sensor(
    config: ReplicaConfig, job_name: str, job_names: set[str]
) -> SensorDefinition:
    """The sensor that writes the summary of every ended run of ``job_names``.

    ``job_name`` is the replica job (all tables planned); the others are judged by their
    asset and check selection.
    """

    @sensor(
        name=SUMMARY_SENSOR,
        minimum_interval_seconds=SUMMARY_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description="Ends each replica run's log with its per-table summary "
        "(rows, seconds, rows/s, check outcomes).",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        storage = context.instance.event_log_storage
        after = int(context.cursor) if (context.cursor or "").isdigit() else None
        records = []
        for event_type in _RUN_END:
            flt = (
                EventRecordsFilter(event_type=event_type, after_cursor=after)
                if after is not None
                else EventRecordsFilter(
                    event_type=event_type, after_timestamp=get_current_timestamp() - FIRST_TICK_LOOKBACK
                )
            )
            records += storage.get_event_records(flt, limit=RUNS_PER_TICK, ascending=True)
        # Both lists hold the lowest ids of their type: the first RUNS_PER_TICK merged are
        # every run end up to the new cursor.
        records = sorted(records, key=lambda r: r.storage_id)[:RUNS_PER_TICK]
        written = 0
        for record in records:
            after = record.storage_id
            run = context.instance.get_run_by_id(record.event_log_entry.run_id)
            if run is None or run.job_name not in job_names:
                continue
            try:
                if report_run_summary(context.instance, run, planned_tables(run, config, job_name)):
                    written += 1
            except Exception as e:  # one odd run must not stop the summaries of all later runs
                context.log.error(f"run summary of {run.run_id} failed: {e!r}")
        if after is not None:
            context.update_cursor(str(after))
        return SkipReason(f"{written} run summary(ies) written")

    return _sensor
