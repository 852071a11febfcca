"""One Dagster pool per source database: at most ``max_concurrent_tables`` steps read it.

Every step that reads a source -- the copy, ``rows_match``, ``row_count_matches``,
``schema_matches``, and so the deletes job's copies too -- declares that source's pool
(``pool=`` on the asset and the checks). Dagster enforces a pool instance-wide: before a
step starts, its run claims one of the pool's slots in the instance's event-log storage
(PostgreSQL here) and frees it when the step ends. So the limit holds for every job
(``replica_job``, the asset job behind the UI's "Materialize all", "Execute checks" and
``dagster asset materialize``, sensor- and schedule-launched runs) and across runs that
run at the same time, which an executor's tag limit -- one run's business -- never did.

Where a pool's limit comes from:

* ``dagster.yaml``'s ``concurrency: pools: default_limit: 1`` gives every pool without an
  explicit limit one slot, so a ``DAGSTER_HOME`` holding the project's dagster.yaml is
  enough for the default ``max_concurrent_tables: 1``.
* A source with another ``max_concurrent_tables`` gets it as the pool's explicit limit from
  :func:`apply_pool_limits`: at start-up of ``make demo`` / ``make dev`` and, in every
  deployment, from the ``replica_pool_limits`` sensor (daemon) whenever tables.yaml's value
  differs from the one it last applied.
* An operator changes a limit live with ``dagster instance concurrency set
  mctm_replica/<source> N`` (or the UI's Deployment > Concurrency page): it holds until
  tables.yaml's value for that source changes.
"""

from __future__ import annotations

import json

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from mctm_replica.config import ReplicaConfig

POOL_LIMITS_SENSOR = "replica_pool_limits"
# Once a minute: a changed tables.yaml reaches the pools within a minute of the code
# location reloading, and a tick that changes nothing is one small query.
POOL_LIMITS_INTERVAL_S = 60


def source_pool(source: str) -> str:
    """The Dagster pool of every step that reads source ``source`` (its tables.yaml name)."""
    return f"mctm_replica/{source}"


def configured_limits(config: ReplicaConfig) -> dict[str, int]:
    """Pool name -> tables.yaml's ``max_concurrent_tables`` for every source."""
    return {source_pool(s.name): s.max_concurrent_tables for s in config.sources.values()}


def apply_pool_limits(instance: DagsterInstance, config: ReplicaConfig,
                      applied: dict[str, int] | None = None) -> dict[str, int]:
    """Set each source pool's instance limit to tables.yaml's value, for the pools whose
    value differs from ``applied`` (what was applied before; None: apply all). Returns the
    values now applied. An instance without pool support (SQLite storage) is left alone:
    its runs are the demo's and the tests', never production's."""
    wanted = configured_limits(config)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return dict(applied or {})
    for pool, limit in wanted.items():
        if applied is None or applied.get(pool) != limit:
            storage.set_concurrency_slots(pool, limit)
    return wanted


def build_pool_limits_sensor(config: ReplicaConfig) -> SensorDefinition:
    """Applies tables.yaml's ``max_concurrent_tables`` to the source pools when it changes.

    The cursor holds the values last applied, so a limit an operator set live is kept
    until tables.yaml's value for that source changes."""

    @sensor(
        name=POOL_LIMITS_SENSOR,
        minimum_interval_seconds=POOL_LIMITS_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
        description="Sets each source pool's limit (mctm_replica/<source>) to tables.yaml's "
        "max_concurrent_tables when that value changes.",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        try:
            applied = json.loads(context.cursor) if context.cursor else None
        except ValueError:
            applied = None  # unreadable: apply everything once more
        now = apply_pool_limits(context.instance, config, applied)
        changed = sorted(p for p, n in now.items() if (applied or {}).get(p) != n)
        context.update_cursor(json.dumps(now, sort_keys=True))
        return SkipReason(f"pool limits applied: {', '.join(f'{p}={now[p]}' for p in changed)}"
                          if changed else "pool limits unchanged")

    return _sensor
