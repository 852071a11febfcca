"""Time-partitioned tables: the ``partitions`` setting of tables.yaml and its time logic.

``partitions: {column: UsageDate, granularity: daily | monthly, start: 2023-01-01,
timezone: Asia/Tokyo}`` makes a table a Dagster time-partitioned asset. One partition is
the rows whose ``column`` is in ``[start, end)`` -- half-open, so a row at midnight
belongs to exactly one partition (``BETWEEN`` would put it in two). The bounds are the
partition's wall-clock times in ``timezone`` without the offset: the source column holds
local dates and times (``date``, ``datetime``, ``datetime2``), as SQL Server applications
usually do.

The definition a replica was built with is stored with it (a ``COMMENT ON TABLE``, see
:mod:`mctm_replica.io_managers.modes.partition`); a run whose tables.yaml says otherwise
fails with the fix instead of mixing two slicings in one table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster import BackfillPolicy, DailyPartitionsDefinition, MonthlyPartitionsDefinition, TimeWindowPartitionsDefinition


Granularity = Literal["daily", "monthly"]
PARTITION_KEYS = {"column", "granularity", "start", "timezone"}
DEFAULT_TIMEZONE = "Asia/Tokyo"  # the sources' applications run on Japan time


class PartitionConfigError(ValueError):
    """A bad ``partitions`` entry; the message names the table and the setting."""


@dataclass(frozen=True)
class PartitionSpec:
    column: str  # source column name
    granularity: Granularity
    start: dt.date
    timezone: str = DEFAULT_TIMEZONE

    def definition(self) -> TimeWindowPartitionsDefinition:
        start = self.start.strftime("%Y-%m-%d")
        # end_offset=1: the partition still filling (today, this month) exists too, so the
        # schedule refreshes it while rows arrive instead of a day (a month) later.
        if self.granularity == "daily":
            return DailyPartitionsDefinition(start_date=start, timezone=self.timezone, end_offset=1)
        return MonthlyPartitionsDefinition(start_date=start, timezone=self.timezone, end_offset=1)

    def backfill_policy(self) -> BackfillPolicy:
        """A backfill copies up to a month per run: a year of daily history is 12 runs, not
        365 (each run costs seconds of start-up), and a failed run re-reads at most a month.
        A monthly partition is large enough to be a run of its own."""
        return BackfillPolicy.multi_run(max_partitions_per_run=31 if self.granularity == "daily" else 1)

    def describe(self) -> str:
        """The definition as stored with the replica and compared on every run."""
        return f"{self.granularity} by {self.column} from {self.start.isoformat()} ({self.timezone})"

    def bounds(self, partition_key: str) -> tuple[dt.datetime, dt.datetime]:
        """``[start, end)`` of one partition, as naive local times."""
        window = self.definition().time_window_for_partition_key(partition_key)
        return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)

    def covered(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """``[first start, last end)`` of every partition that exists at ``now``: rows
        outside it belong to no partition (before ``start``, or in the future)."""
        first = dt.datetime.combine(self.start, dt.time())
        keys = self.latest_keys(now, count=1)
        return first, (self.bounds(keys[0])[1] if keys else first)

    def latest_keys(self, now: dt.datetime | None = None, count: int = 2) -> list[str]:
        """The current partition and the one before (late rows land there), oldest first.
        "Current" is the one that contains ``now`` (``end_offset=1``)."""
        now = now or dt.datetime.now(ZoneInfo(self.timezone))
        return self.definition().get_partition_keys(current_time=now)[-count:]


def parse_partitions(raw: Any, where: str) -> PartitionSpec:
    """Validate a table's ``partitions`` mapping; ``where`` names the file and table."""
    if not isinstance(raw, dict):
        raise PartitionConfigError(
            f"{where}: `partitions` must be a mapping like {{column: UsageDate, granularity: daily, "
            f"start: 2023-01-01, timezone: Asia/Tokyo}}, got {raw!r}")
    unknown = set(raw) - PARTITION_KEYS
    if unknown:
        raise PartitionConfigError(f"{where}: `partitions` has unknown key(s) {sorted(unknown)}; "
                                   f"allowed: {sorted(PARTITION_KEYS)}")
    column = raw.get("column")
    if not isinstance(column, str) or not column.strip():
        raise PartitionConfigError(f"{where}: `partitions.column` must name the source's date or "
                                   f"datetime column that places each row in a partition")
    granularity = raw.get("granularity")
    if granularity not in ("daily", "monthly"):
        raise PartitionConfigError(f"{where}: `partitions.granularity` must be `daily` or `monthly`, "
                                   f"got {granularity!r}")
    start = raw.get("start")
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            start = None
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise PartitionConfigError(f"{where}: `partitions.start` must be a date like 2023-01-01 (the "
                                   f"first partition's first day), got {raw.get('start')!r}")
    if granularity == "monthly" and start.day != 1:
        raise PartitionConfigError(f"{where}: `partitions.start` of a monthly table must be the first "
                                   f"of a month, got {start.isoformat()}; use "
                                   f"{start.replace(day=1).isoformat()}")
    tz = raw.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as e:
        raise PartitionConfigError(f"{where}: `partitions.timezone` must be an IANA name like "
                                   f"`Asia/Tokyo`, got {tz!r}") from e
    return PartitionSpec(column=column, granularity=granularity, start=start, timezone=tz)


#: Source types a partition column may have: local dates and times without an offset.
PARTITION_COLUMN_TYPES = ("date", "datetime", "datetime2", "smalldatetime")


@dataclass(frozen=True)
class PartitionRun:
    """One run's partition, as the asset hands it to the IO manager."""

    key: str  # Dagster partition key, e.g. 2024-05-02
    target_column: str  # the partition column in the replica
    start: dt.datetime  # inclusive, naive local time
    end: dt.datetime  # exclusive
    definition: str  # PartitionSpec.describe(), stored with the replica
    # Source rows in no partition (column NULL, before the first or after the current
    # one): never copied, always reported. None: not counted.
    outside_rows: int | None = None
    outside_null: int | None = None


def partition_column_error(spec_where: str, column: str, found: Any) -> str:
    """The message for a partition column the source lacks or cannot partition by."""
    if found is None:
        return (f"{spec_where}: `partitions.column` `{column}` is not a copied column of the source "
                f"table; name one of its date or datetime columns (and keep it in `columns`)")
    return (f"{spec_where}: `partitions.column` `{column}` is {found}; a partition column must be "
            f"one of {list(PARTITION_COLUMN_TYPES)} (local times without an offset)")
