"""The ``change_tracking_retention`` asset check of ``mode: change_tracking`` tables.

When a run finds its stored Change Tracking version older than the table's minimum valid
version (an outage or a paused schedule outlasted the database's retention), it reloads
every row -- correct, but a full scan of the source the mode exists to avoid. This check
(WARN, never blocking) fails after such a run with the reason the run recorded, naming
the table and the retention to raise, so the check sensor's alert tells people
(:mod:`mctm_replica.alerts`; WARN results alert with ``REPLICA_ALERT_ON_WARN``).
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at runtime.

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    asset_check,
)

from mctm_replica.config import TableSpec

#: Prefix of ``load_reason`` of a resync forced by retention (modes/change_tracking.py).
RETENTION_REASON = "retention passed"


def build_retention_check(*, spec: TableSpec) -> AssetChecksDefinition:
    key = AssetKey(spec.asset_key_path)

    @asset_check(
        asset=key,
        name="change_tracking_retention",
        blocking=False,
        description=(f"The last run of `{spec.target_name}` read Change Tracking changes, not a full resync "
                     f"forced by the source's retention running out."),
    )
    def _retention(context: AssetCheckExecutionContext) -> AssetCheckResult:
        event = context.instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event is not None else None
        if materialization is None:
            return AssetCheckResult(passed=True, description="not materialized yet")
        reason = materialization.metadata.get("load_reason")
        text = str(reason.value) if reason is not None else ""
        if text.startswith(RETENTION_REASON):
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    description=f"replica table `{spec.target_name}`: {text}")
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN,
                                description=f"last load: {text or 'unknown'}")

    return _retention
