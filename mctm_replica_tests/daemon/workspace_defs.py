"""The code location the daemon tier's ``dagster dev`` serves: the project's definitions
for the demo registry -- its time-partitioned table and that table's partition job
included -- without schedules.

Every schedule of the project is RUNNING by default at the replica's times (08:00, 12:30,
16:00 Japan time); a test that happened to run then would get scheduled runs next to the
backfill it launches. The daemon's other work (the run queue, sensors, run monitoring,
the pools) is the project's own.
"""

from __future__ import annotations

from dagster._record import copy  # Definitions is a Dagster record, not a dataclass


def _definitions():
    from mctm_replica.config import load_config
    from mctm_replica.definitions import build_definitions

    # Not at module scope: Dagster wants one Definitions there.
    return copy(build_definitions(load_config()), schedules=[])


defs = _definitions()
