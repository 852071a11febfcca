"""Watermarks of incremental tables: which column types can be one, and how a value is
stored, compared and moved back by the lookback.

A watermark is the largest value of the table's ``watermark`` column among the rows the
replica holds. Each incremental run reads the source rows whose watermark is at or past
``stored - lookback`` (the overlap catches rows committed late with an older value; the
merge by primary key makes re-reading them harmless) and stores the new largest value in
the same PostgreSQL transaction as the rows it covers.

Values are kept as text in the state table (:mod:`mctm_replica.io_managers.state`) so one
column serves every kind, and are sent to SQL Server as parameters -- a string ``CAST`` to
the column's own type for times (exact to the microsecond, which is what pymssql reads),
an integer for bigint, bytes for rowversion -- never formatted into the SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from mctm_replica.config import ConfigError
from mctm_replica.table_options import DEFAULT_TIME_LOOKBACK
from mctm_replica.tsql import reads
from mctm_replica.typemap import SourceType

WatermarkKind = Literal["time", "time_tz", "integer", "rowversion"]

_KINDS: dict[str, WatermarkKind] = {
    "datetime": "time",
    "datetime2": "time",
    "datetimeoffset": "time_tz",
    "bigint": "integer",
    "timestamp": "rowversion",  # INFORMATION_SCHEMA's DATA_TYPE for rowversion
    "rowversion": "rowversion",
}
ROWVERSION_BYTES = 8
DATETIME_TICK = dt.timedelta(milliseconds=4)  # datetime's resolution is 1/300 s, rounded up


@dataclass(frozen=True)
class Watermark:
    """The watermark column of one incremental table, resolved against the live source."""

    source_column: str
    target_column: str
    kind: WatermarkKind
    cast_type: str  # T-SQL type a time parameter is CAST to: datetime2(7) or datetimeoffset(7)
    lookback: dt.timedelta | int
    nullable: bool

    def to_text(self, value: Any) -> str:
        if self.kind == "rowversion":
            return bytes(value).hex()
        if self.kind == "integer":
            return str(int(value))
        return value.isoformat(sep=" ")

    def from_text(self, text: str) -> Any:
        if self.kind == "rowversion":
            return bytes.fromhex(text)
        if self.kind == "integer":
            return int(text)
        return dt.datetime.fromisoformat(text)

    def low_bound(self, stored: Any) -> Any:
        """The first value the next read includes: ``stored`` moved back by the lookback."""
        if self.kind in ("time", "time_tz"):
            try:
                return stored - self.lookback
            except OverflowError:  # a lookback reaching before year 1
                return dt.datetime.min.replace(tzinfo=stored.tzinfo)
        if self.kind == "integer":
            return stored - self.lookback
        n = max(0, int.from_bytes(stored, "big") - self.lookback)
        return n.to_bytes(ROWVERSION_BYTES, "big")

    def parameter(self, bound: Any) -> Any:
        """``bound`` as the pymssql parameter of :meth:`predicate`."""
        if self.kind in ("time", "time_tz"):
            return self.to_text(bound)
        return bound

    def predicate(self) -> str:
        """T-SQL condition with one ``%s`` parameter (:meth:`parameter`). Rows whose
        watermark is NULL are read every run: skipping them would lose them for good."""
        cast = self.cast_type if self.kind in ("time", "time_tz") else None
        return reads.at_least(self.source_column, cast_type=cast, or_null=self.nullable)

    def cap_sql(self, schema: str, table: str, *, nolock: bool) -> str:
        """T-SQL for the highest watermark a run may store, read *before* its scan starts.

        Rowversion: ``MIN_ACTIVE_ROWVERSION()``, the lowest value an open transaction may
        still commit. Other kinds: the column's current maximum -- rows changed while the
        scan runs get higher values, so they are read again next time even if the scan
        passed them by; changes committed late with older values are the lookback's job.
        """
        if self.kind == "rowversion":
            return reads.MIN_ACTIVE_ROWVERSION_SQL
        return reads.max_sql(schema, table, self.source_column, nolock=nolock)

    def to_store(self, largest_read: Any, cap: Any) -> Any:
        """The watermark to commit: the largest value read, but never past ``cap``; None
        (the next run loads in full) when the cap was unknown -- an empty table."""
        if cap is None or largest_read is None:
            return None if cap is None else largest_read
        return min(largest_read, cap)

    def larger(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        return max(a, b)


def resolve_watermark(
    *, table: str, column: str, source_type: SourceType, target_column: str, nullable: bool,
    lookback: dt.timedelta | int | None,
) -> Watermark:
    """The :class:`Watermark` for ``column``; a :class:`ConfigError` naming the table, the
    column and the fix when its type cannot be one or the lookback does not fit it."""
    where = f"table `{table}`, watermark column `{column}`"
    kind = _KINDS.get(source_type.name)
    if kind is None:
        raise ConfigError(
            f"{where}: type `{source_type.declared()}` cannot be a watermark; choose a "
            f"datetime, datetime2, datetimeoffset, bigint or rowversion column as `watermark` "
            f"in tables.yaml, or use `mode: full`"
        )
    if kind in ("time", "time_tz"):
        if lookback is None:
            lookback = DEFAULT_TIME_LOOKBACK
        elif not isinstance(lookback, dt.timedelta):
            raise ConfigError(
                f"{where}: is a {source_type.declared()} column, so `watermark_lookback` must be "
                f"a duration like `10 minutes`, not the number {lookback}"
            )
    else:
        if lookback is None:
            lookback = 0
        elif isinstance(lookback, dt.timedelta):
            raise ConfigError(
                f"{where}: is a {source_type.declared()} column, so `watermark_lookback` must be "
                f"a whole number of values, not a duration"
            )
    if source_type.name == "datetime":
        # datetime ticks are 1/300 s; a client may round one up to the next millisecond,
        # so the bound always reaches back at least one tick.
        lookback = max(lookback, DATETIME_TICK)
    # Full precision, whatever the column's: a bound rounded *up* to the column's own
    # precision could skip a row.
    cast_type = {"time": "datetime2(7)", "time_tz": "datetimeoffset(7)"}.get(kind, source_type.name)
    return Watermark(column, target_column, kind, cast_type, lookback, nullable)
