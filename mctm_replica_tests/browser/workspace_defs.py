"""The code location the browser tier's ``dagster dev`` serves: the project's definitions,
with one change so the daemon's schedule ticks can be seen within a test.

``replica_schedule`` fires at 08:00, 12:30 and 16:00 Japan time; a test cannot wait for
that, and a real daemon's clock cannot be moved. Here it is the same schedule -- same
name, job (``replica_job`` with every table and check), timezone and description --
with an every-minute cron, STOPPED until the test switches it on from the UI (so it
never refreshes a table while another test tampers with it). Everything else (assets,
checks, resources, the alert, freshness and run-summary sensors) is the project's own.
"""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition
from dagster._record import copy  # Definitions is a Dagster record, not a dataclass

from mctm_replica_tests.dagster_runs import unpartitioned_definitions

EVERY_MINUTE = "* * * * *"


def _every_minute(schedule: ScheduleDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=schedule.name,
        job=schedule.job,
        cron_schedule=EVERY_MINUTE,
        execution_timezone=schedule.execution_timezone,
        description=f"{schedule.description} Browser tier: every minute, switched on by the test.",
        default_status=DefaultScheduleStatus.STOPPED,
    )


def _definitions():
    project = unpartitioned_definitions()  # not at module scope: Dagster wants one Definitions there
    return copy(project, schedules=[_every_minute(s) for s in project.schedules or ()])


defs = _definitions()
