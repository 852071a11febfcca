"""Sensors that turn failed checks and failed runs into notifications.

Dagster open source does not alert on failed asset checks: a failed non-blocking check
does not fail its run, so run-failure alerting never sees it. Two sensors close the gap:

* ``replica_check_alerts`` reads asset check evaluations from the event log and sends
  one notification per failed evaluation (ERROR always; WARN -- e.g. a stale replica
  -- unless ``REPLICA_ALERT_ON_WARN=0``).
* ``replica_run_failure_alerts`` sends one per failed run of the replica job.

Both keep a persistent cursor (stored by Dagster with the sensor's ticks): the storage
id of the last event handled, plus the deliveries that failed and are retried on the
next tick -- per target, so a working channel never gets a message twice. An event is
therefore never announced twice, across ticks and daemon restarts, and a broken
endpoint is logged and retried, never crashing the sensor. On its very first tick (no
cursor) a sensor looks back :data:`FIRST_TICK_LOOKBACK` only, so enabling it on an old
instance does not replay history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    EventLogRecord,
    EventRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._time import get_current_timestamp  # Dagster's clock: testable with its freeze_time

from mctm_replica.alerts import ALERT_ON_WARN_ENV, Alert, Notifier, check_alert, run_failure_alert

CHECK_ALERT_SENSOR = "replica_check_alerts"
RUN_FAILURE_SENSOR = "replica_run_failure_alerts"
# A minute between ticks: alerts arrive within a minute or two, and a tick that finds
# nothing is one indexed event-log query.
ALERT_INTERVAL_S = 60
# The first tick of a new sensor looks back one day: long enough to report a failure of
# today's runs that happened just before the sensor was switched on, short enough not
# to flood a channel with an old instance's history.
FIRST_TICK_LOOKBACK = 24 * 3600.0
# Events handled per tick; the rest follow on the next tick (bounded tick duration).
EVENTS_PER_TICK = 100
# Undelivered alerts kept for retry; beyond this the oldest is dropped with an error
# log (an endpoint down for days must not grow the cursor without bound).
MAX_PENDING = 100
# One failed step's error in a run-failure message: enough for table, cause and fix.
MAX_STEP_ERROR_CHARS = 500


@dataclass
class AlertCursor:
    after: int | None = None  # storage id of the last event handled
    pending: dict[str, list[str]] = field(default_factory=dict)  # storage id -> target ids

    def to_json(self) -> str:
        return json.dumps({"after": self.after, "pending": self.pending}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> AlertCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(data.get("after"), {str(k): list(v) for k, v in data.get("pending", {}).items()})
        except (ValueError, AttributeError, TypeError):
            return cls()  # unreadable: start over (the lookback bounds what is replayed)


def _records(context: SensorEvaluationContext, event_type: DagsterEventType, cursor: AlertCursor,
             storage_ids: list[int] | None = None) -> list[EventLogRecord]:
    storage = context.instance.event_log_storage
    if storage_ids is not None:
        flt = EventRecordsFilter(event_type=event_type, storage_ids=storage_ids)
    elif cursor.after is None:
        since = get_current_timestamp() - FIRST_TICK_LOOKBACK
        flt = EventRecordsFilter(event_type=event_type, after_timestamp=since)
    else:
        flt = EventRecordsFilter(event_type=event_type, after_cursor=cursor.after)
    return list(storage.get_event_records(flt, limit=EVENTS_PER_TICK, ascending=True))


def _tick(
    context: SensorEvaluationContext,
    event_type: DagsterEventType,
    build: Callable[[SensorEvaluationContext, EventLogRecord], Alert | None],
) -> SkipReason:
    """Retry pending deliveries, then announce new events of ``event_type`` in storage order.

    ``build`` returns None for events that need no alert (passed checks, other jobs).
    """
    cursor = AlertCursor.from_json(context.cursor)
    notifier = Notifier.from_env(context.log)
    sent = retried = 0
    if cursor.pending:
        records = {str(r.storage_id): r for r in _records(
            context, event_type, cursor, [int(k) for k in cursor.pending])}
        for sid, targets in list(cursor.pending.items()):
            alert = _safe_build(context, build, records[sid]) if sid in records else None
            failed = notifier.send(alert, only=targets) if alert else []
            retried += 1
            if failed:
                cursor.pending[sid] = failed
            else:
                del cursor.pending[sid]
    for record in _records(context, event_type, cursor):
        cursor.after = record.storage_id
        alert = _safe_build(context, build, record)
        if alert is None:
            continue
        sent += 1
        if failed := notifier.send(alert):
            cursor.pending[str(record.storage_id)] = failed
    while len(cursor.pending) > MAX_PENDING:
        oldest = min(cursor.pending, key=int)
        context.log.error(f"dropping undelivered alert for event {oldest}: too many pending")
        del cursor.pending[oldest]
    context.update_cursor(cursor.to_json())
    return SkipReason(
        f"{sent} new alert(s), {retried} retried, {len(cursor.pending)} pending delivery"
    )


def _safe_build(
    context: SensorEvaluationContext,
    build: Callable[[SensorEvaluationContext, EventLogRecord], Alert | None],
    record: EventLogRecord,
) -> Alert | None:
    """``build``, but an event it cannot format still yields a (plain) alert instead of
    failing every tick on the same event and blocking all later alerts."""
    try:
        return build(context, record)
    except Exception as e:
        run_id = record.event_log_entry.run_id
        context.log.error(f"could not format the alert for event {record.storage_id}: {e!r}")
        return Alert(
            title="[mctm_replica] an alert could not be formatted",
            body=f"Event {record.storage_id} of run {run_id} needs attention ({type(e).__name__}); "
            f"see the run in the Dagster UI.",
            error=True,
        )


def _warn_enabled() -> bool:
    return (os.environ.get(ALERT_ON_WARN_ENV) or "1").strip().lower() not in ("0", "false", "no", "off")


def _check_alert(context: SensorEvaluationContext, record: EventLogRecord) -> Alert | None:
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.passed:
        return None
    if evaluation.severity == AssetCheckSeverity.WARN and not _warn_enabled():
        return None
    return check_alert(
        asset_key=evaluation.asset_key.path,
        check_name=evaluation.check_name,
        severity=evaluation.severity,
        description=evaluation.description,
        metadata=evaluation.metadata,
        run_id=record.event_log_entry.run_id,
    )


def build_check_alert_sensor() -> SensorDefinition:
    @sensor(
        name=CHECK_ALERT_SENSOR,
        minimum_interval_seconds=ALERT_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description="One notification per failed asset check evaluation (REPLICA_ALERT_URLS).",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        return _tick(context, DagsterEventType.ASSET_CHECK_EVALUATION, _check_alert)

    return _sensor


def build_run_failure_sensor(job_names: set[str]) -> SensorDefinition:
    def _run_alert(context: SensorEvaluationContext, record: EventLogRecord) -> Alert | None:
        run = context.instance.get_run_by_id(record.event_log_entry.run_id)
        if run is None or run.job_name not in job_names:
            return None
        failures = []
        for entry in context.instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            error = entry.dagster_event.step_failure_data.error
            # Dagster wraps the project's error ("Error occurred while executing op ...");
            # the operator needs the project's own message, which names table and cause.
            while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
                error = error.cause
            first = (error.message if error else entry.user_message or "").strip().splitlines()
            text = first[0] if first else "failed"
            if len(text) > MAX_STEP_ERROR_CHARS:
                text = text[: MAX_STEP_ERROR_CHARS - 1] + "…"
            failures.append((entry.dagster_event.step_key or "?", text))
        return run_failure_alert(
            job_name=run.job_name,
            run_id=run.run_id,
            message=record.event_log_entry.user_message or None,
            step_failures=failures,
        )

    @sensor(
        name=RUN_FAILURE_SENSOR,
        minimum_interval_seconds=ALERT_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"One notification per failed run of {', '.join(sorted(job_names))}.",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        return _tick(context, DagsterEventType.RUN_FAILURE, _run_alert)

    return _sensor
