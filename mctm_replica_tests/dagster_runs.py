"""What the browser and topology tiers share: watching a running Dagster stack's runs.

Both tiers start real Dagster processes (``dagster dev``; the compose file's services) over
the demo's embedded services, then wait on the instance for runs, their summaries and the
rows each table got. A stack is anything with the instance and a tail of its logs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun

from mctm_replica.run_report import SUMMARY_PREFIX
from mctm_replica.standin.demo_data import (
    CUSTOMERS, MODULE_USAGE, MODULES, SIM_STATUS_ROWS, USER_AGENTS, VOIP_CUSTOMERS,
)

# The demo registry: production's four tables, the demo's incremental one and its Change
# Tracking one.
DEMO_ROWS = {"public.customer": CUSTOMERS, "public.mctm_module": MODULES,
             "public.voipdb_customer": VOIP_CUSTOMERS, "public.voipdb_useragent": USER_AGENTS,
             "public.mctm_module_usage": MODULE_USAGE, "public.sim_status_history": SIM_STATUS_ROWS}
# Not in DEMO_ROWS: the time-partitioned demo table (public.sim_daily_usage) has a job of its
# own, not replica_job; the browser and topology code locations leave it out (see
# unpartitioned_definitions); mctm_replica_tests/integration/test_partitioned_demo.py (in process)
# and mctm_replica_tests/daemon/test_backfill.py (its own dagster dev) cover it.


def unpartitioned_definitions():
    """The project's definitions without its time-partitioned tables: the UI's "Materialize
    all" would open Dagster's partition dialog for them, and the tiers' every-minute copies of
    each schedule request runs without a partition key."""
    from dataclasses import replace

    from mctm_replica.config import load_config
    from mctm_replica.definitions import build_definitions

    config = load_config()
    return build_definitions(replace(config, tables=[t for t in config.tables if t.partitions is None]))
# What replica_job checks per table (freshness belongs to its sensor).
JOB_CHECKS = ("row_count_matches", "rows_match", "schema_matches")
# Every check replica_job runs on the demo: JOB_CHECKS per table, plus the Change Tracking
# table's change_tracking_retention.
DEMO_JOB_CHECKS = len(DEMO_ROWS) * len(JOB_CHECKS) + 1
# A run of every table with its checks takes about a minute on a quiet machine; make test
# runs the rest of the suite on the other core meanwhile.
RUN_TIMEOUT_S = 420

T = TypeVar("T")


class Stack(Protocol):
    instance: DagsterInstance

    def log_tail(self) -> str: ...


def wait_for(what: str, fn: Callable[[], T | None], stack: Stack, timeout: float = RUN_TIMEOUT_S) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := fn()) is not None and value is not False:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{stack.log_tail()}")


def finished(stack: Stack, run_id: str) -> DagsterRun | None:
    run = stack.instance.get_run_by_id(run_id)
    return run if run is not None and run.is_finished else None


def summary_of(stack: Stack, run_id: str) -> str | None:
    """The run-summary engine event the daemon's sensor appends to the run's log."""
    for entry in stack.instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        if entry.message.startswith(SUMMARY_PREFIX):
            return entry.message
    return None


def table_rows(summary: str) -> dict[str, int]:
    """Rows per copied table: the column after `load` (`full` or `incremental +i ~u -d`)."""
    rows = {}
    for line in summary.splitlines():
        table, _load, row_count, *_ = re.split(r"\s{2,}", line.strip()) + [""] * 3
        if table in DEMO_ROWS and row_count not in ("-", ""):
            rows[table] = int(row_count.replace(",", ""))
    return rows


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the block (the instance reads DAGSTER_HOME's services)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
