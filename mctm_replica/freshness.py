"""Freshness expectations for every replica asset, evaluated by Dagster.

A stopped schedule, a stuck daemon or a run that silently never started leave the
replica old but "green": no run failed, no check failed. A freshness check catches that:
at every tick of the table's ``deadline_cron`` (default hourly 09:00-20:00 Japan time)
the asset's last materialization must be at most ``max_lag_hours`` (default 5) old --
"updated within 5 hours between 08:00 and 20:00 Japan time" (see
:class:`~mctm_replica.table_options.FreshnessSpec`).

Dagster's last-update freshness checks do the evaluation; the sensor from
``build_sensor_for_freshness_checks`` re-runs them whenever a passing check could have
become overdue. A failed freshness check is an asset check evaluation with WARN
severity, so the check-alert sensor (:mod:`mctm_replica.sensors`) delivers it like any
other failed check. Dagster marks these builders "superseded" by ``FreshnessPolicy``;
they are kept on purpose (README, Design notes): in open-source Dagster 1.13 a
``FreshnessPolicy`` is evaluated only by the daemon and recorded as a
``FRESHNESS_STATE_CHANGE`` event, not a check evaluation, so the alert sensor, the check
history, the run summary and ``info`` would not see it, and tests could not set the
evaluation time through any public call. These checks' results are ordinary check
evaluations, and their evaluation time is Dagster's clock (``freeze_time`` in tests).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import defaultdict

from dagster import (
    AssetChecksDefinition,
    AssetKey,
    DefaultSensorStatus,
    SensorDefinition,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

from mctm_replica.config import ReplicaConfig
from mctm_replica.table_options import FreshnessSpec

FRESHNESS_SENSOR_NAME = "replica_freshness_sensor"
# The sensor only decides whether a check may have become overdue (cheap); 5 minutes
# keeps a stale replica's alert within minutes of the deadline without busy ticking.
FRESHNESS_SENSOR_INTERVAL_S = 300


def build_freshness_checks(config: ReplicaConfig) -> list[AssetChecksDefinition]:
    """One multi-asset freshness check per distinct freshness setting."""
    groups: dict[FreshnessSpec, list[AssetKey]] = defaultdict(list)
    for t in config.tables:
        groups[t.freshness].append(AssetKey(t.asset_key_path))
    checks: list[AssetChecksDefinition] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "superseded" notice; the reason is in the docstring
        for spec, keys in groups.items():
            checks.extend(
                build_last_update_freshness_checks(
                    assets=keys,
                    lower_bound_delta=dt.timedelta(hours=spec.max_lag_hours),
                    deadline_cron=spec.deadline_cron,
                    timezone=spec.timezone,
                )
            )
    return checks


def build_freshness_sensor(checks: list[AssetChecksDefinition]) -> SensorDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=FRESHNESS_SENSOR_NAME,
            minimum_interval_seconds=FRESHNESS_SENSOR_INTERVAL_S,
            # Running by default, like the schedule: freshness is only useful if it is on.
            default_status=DefaultSensorStatus.RUNNING,
        )
