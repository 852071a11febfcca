"""The code location the topology tier's code server serves: the project's definitions with
``replica_schedule`` firing every minute, once.

The production cron (08:00, 12:30, 16:00 Japan time) cannot be waited for, and a real
daemon's clock cannot be moved (as in the browser tier). Here the schedule has the same
name, job (``replica_job``: every table with its checks) and timezone, RUNNING by default,
every minute -- and it requests one run per test stack: once a run it launched exists, its
ticks skip, so later steps of the test never race a scheduled refresh. Everything else
(assets, checks, resources, the alert, freshness and run-summary sensors) is the project's.
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from dagster._record import copy  # Definitions is a Dagster record, not a dataclass

from mctm_replica_tests.dagster_runs import unpartitioned_definitions

EVERY_MINUTE = "* * * * *"
SCHEDULE_TAG = "dagster/schedule_name"


def _once_a_stack(project: ScheduleDefinition) -> ScheduleDefinition:
    @schedule(
        name=project.name,
        job=project.job,
        cron_schedule=EVERY_MINUTE,
        execution_timezone=project.execution_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"{project.description} Topology tier: every minute, one run.",
    )
    def _schedule(context: ScheduleEvaluationContext):
        if context.instance.get_runs_count(RunsFilter(tags={SCHEDULE_TAG: project.name})):
            return SkipReason("the topology tier's one scheduled run was already launched")
        return RunRequest()

    return _schedule


def _definitions():
    project = unpartitioned_definitions()  # not at module scope: Dagster wants one Definitions there
    schedules = [_once_a_stack(s) if s.name == "replica_schedule" else s for s in project.schedules or ()]
    return copy(project, schedules=schedules)


defs = _definitions()
