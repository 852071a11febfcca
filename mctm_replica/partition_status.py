"""Which partitions of a time-partitioned table are missing, by Dagster's own record.

The instance's partition status (``DagsterInstance.get_materialized_partitions``: the
partitions with a materialization) is the record of what is copied -- the same the asset's
Partitions tab shows. Missing is every partition that exists now (up to and including the
one still filling, ``end_offset=1``) without one; of those, the ones whose latest run failed
are listed too (the instance's ``AssetPartitionStatus.FAILED``: re-run them). ``mctm-replica
plan`` reads the instance of
``DAGSTER_HOME``; run config ``dry_run: true`` reads the run's own. Without an instance
the status is not guessed (the replica's rows cannot tell a copied empty day from a day
never copied): the plan says what it needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from dagster import AssetKey, AssetPartitionStatus

from mctm_replica.partitions import PartitionSpec

NEEDS_INSTANCE = "partition status needs DAGSTER_HOME (the Dagster instance records which partitions are copied)"
#: Ranges the text line shows; --json and the metadata's JSON list every one.
SHOWN_RANGES = 5


def missing_ranges(keys: Sequence[str], materialized: Iterable[str]) -> list[dict[str, Any]]:
    """Runs of consecutive ``keys`` (in partition order) not in ``materialized``:
    ``[{"from": first, "to": last, "count": n}, ...]``."""
    done = set(materialized)
    ranges: list[dict[str, Any]] = []
    previous = -2
    for i, key in enumerate(keys):
        if key in done:
            continue
        if i == previous + 1:
            ranges[-1]["to"] = key
            ranges[-1]["count"] += 1
        else:
            ranges.append({"from": key, "to": key, "count": 1})
        previous = i
    return ranges


def partition_status(spec: PartitionSpec, materialized: Iterable[str] | None,
                     now: dt.datetime | None = None, failed: Iterable[str] = ()) -> dict[str, Any]:
    """The table's partitions now against ``materialized`` (None: no instance to ask);
    ``failed``: partitions whose latest run failed."""
    if materialized is None:
        return {"status": "unknown", "reason": NEEDS_INSTANCE}
    keys = spec.definition().get_partition_keys(current_time=now)
    done = set(materialized) & set(keys)  # a key of an older definition is not one of these
    ranges = missing_ranges(keys, done)
    failed_keys = (set(failed) & set(keys)) - done  # never copied, and the latest try failed
    return {"status": "known", "total": len(keys), "materialized": len(done),
            "missing": len(keys) - len(done), "missing_ranges": ranges,
            "failed": len(failed_keys), "failed_ranges": missing_ranges(keys, set(keys) - failed_keys)}


def instance_status(instance: Any, spec: PartitionSpec, asset_key: AssetKey,
                    now: dt.datetime | None = None) -> dict[str, Any]:
    """:func:`partition_status` from an instance (None: no instance)."""
    if instance is None:
        return partition_status(spec, None, now)
    definition = spec.definition()
    keys = definition.get_partition_keys(current_time=now)
    by_key = instance.get_status_by_partition(asset_key, keys, definition) or {}
    failed = [k for k, st in by_key.items() if st == AssetPartitionStatus.FAILED]
    return partition_status(spec, instance.get_materialized_partitions(asset_key), now, failed)


def format_range(r: dict[str, Any]) -> str:
    """``2025-01-01..2025-03-31 (90)``, or ``2025-01-08 (1)``."""
    span = r["from"] if r["from"] == r["to"] else f"{r['from']}..{r['to']}"
    return f"{span} ({r['count']})"


def format_status(status: dict[str, Any]) -> str:
    """One line: ``7 of 369 copied; 362 missing: 2025-12-01..2026-01-09 (40), ...``."""
    if status["status"] != "known":
        return f"unknown: {status['reason']}"
    if not status["missing"]:
        return f"all {status['total']} copied"
    line = (f"{status['materialized']} of {status['total']} copied; {status['missing']} missing: "
            f"{_ranges(status['missing_ranges'])}")
    if status.get("failed"):
        line += f"; {status['failed']} of them failed: {_ranges(status['failed_ranges'])}"
    return line


def _ranges(ranges: list[dict[str, Any]]) -> str:
    shown = ", ".join(format_range(r) for r in ranges[:SHOWN_RANGES])
    return shown + (f", and {len(ranges) - SHOWN_RANGES} more range(s)" if len(ranges) > SHOWN_RANGES else "")
