"""Option groups of a tables.yaml entry that have a shape of their own: ``mode:
incremental``'s watermark, lookback and deletes, and ``freshness``.

:mod:`mctm_replica.config` parses the entry and calls these; their errors name the entry
and the fix, and config re-raises them as its ``ConfigError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import is_valid_cron_string

_FRESHNESS_KEYS = {"max_lag_hours", "deadline_cron", "timezone"}
# `watermark_lookback`: "10 minutes", "90s", "2 hours"... (time watermarks) or a whole number
# of values (bigint and rowversion watermarks).
_LOOKBACK = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\s*")
_LOOKBACK_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Re-read window of a time watermark when tables.yaml gives none: covers writers whose
#: transactions commit up to 10 minutes after they stamped the row.
DEFAULT_TIME_LOOKBACK = timedelta(minutes=10)
DeletesMode = Literal["every_run", "every_n_runs", "scheduled", "never"]


class TableOptionError(ValueError):
    """An option group of a tables.yaml entry is invalid; the message names the entry."""


@dataclass(frozen=True)
class FreshnessSpec:
    """When a replica counts as stale: at every tick of ``deadline_cron`` (in
    ``timezone``) the last refresh must be at most ``max_lag_hours`` old.

    The default -- hourly deadlines 09:00..20:00 Japan time, 5 hours -- means "updated
    within 5 hours between 08:00 and 20:00": the schedule refreshes at 08:00, 12:30 and
    16:00, and the first deadline is an hour after the first refresh so the 08:00 run has
    time to finish. Nights are not checked (the last evening refresh is 16:00).
    """

    max_lag_hours: float = 5.0
    deadline_cron: str = "0 9-20 * * *"
    timezone: str = "Asia/Tokyo"


@dataclass(frozen=True)
class DeletesSpec:
    """When an incremental table removes rows deleted in the source (key reconciliation)."""

    mode: DeletesMode = "every_run"
    every_n_runs: int = 1  # with mode `every_n_runs`: reconcile on every Nth run

    @property
    def deferred(self) -> bool:
        """Between two reconciliations the replica may keep rows the source deleted."""
        return self.mode != "every_run"


@dataclass(frozen=True)
class IncrementalSpec:
    """``mode: incremental``: copy rows whose ``watermark`` is past the last committed one."""

    watermark: str  # source column name
    # Re-read overlap: a timedelta for time watermarks, a number of values for bigint and
    # rowversion ones; None: DEFAULT_TIME_LOOKBACK or 0 values, by the column's type.
    lookback: timedelta | int | None = None
    deletes: DeletesSpec = field(default_factory=DeletesSpec)


def parse_incremental(entry: dict, where: str) -> IncrementalSpec:
    watermark = entry.get("watermark")
    if not isinstance(watermark, str) or not watermark.strip():
        raise TableOptionError(
            f"{where}: `mode: incremental` needs `watermark`: the source column that grows with "
            f"every change (datetime, datetime2, datetimeoffset, bigint or rowversion)"
        )
    if entry.get("primary_key") is None:
        raise TableOptionError(
            f"{where}: `mode: incremental` needs `primary_key` (changed rows are merged into the "
            f"replica by key); list the key column(s), or use `mode: full` for a table without one"
        )
    return IncrementalSpec(
        watermark=watermark,
        lookback=_parse_lookback(entry.get("watermark_lookback"), where),
        deletes=_parse_deletes(entry.get("deletes", "every_run"), where),
    )


def _parse_lookback(raw: Any, where: str) -> timedelta | int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    m = _LOOKBACK.fullmatch(raw) if isinstance(raw, str) else None
    if m is None:
        raise TableOptionError(
            f"{where}: `watermark_lookback` must be a duration like `10 minutes`, `90s` or `2h` "
            f"(time watermarks) or a whole number of values >= 0 (bigint/rowversion), got {raw!r}"
        )
    return timedelta(seconds=float(m.group(1)) * _LOOKBACK_UNITS[m.group(2)[0]])


def _parse_deletes(raw: Any, where: str) -> DeletesSpec:
    if raw in ("every_run", "scheduled", "never"):
        return DeletesSpec(mode=raw)
    n = raw.get("every_n_runs") if isinstance(raw, dict) and set(raw) == {"every_n_runs"} else None
    if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
        return DeletesSpec(mode="every_n_runs", every_n_runs=n)
    raise TableOptionError(
        f"{where}: `deletes` must be `every_run` (default), `{{every_n_runs: N}}` (N >= 1), "
        f"`scheduled` (by replica_deletes_job) or `never`, got {raw!r}"
    )


def parse_freshness(raw: Any, where: str) -> FreshnessSpec:
    if raw is None:
        return FreshnessSpec()
    if not isinstance(raw, dict):
        raise TableOptionError(f"{where}: `freshness` takes {sorted(_FRESHNESS_KEYS)}")
    unknown = set(raw) - _FRESHNESS_KEYS
    if unknown:
        raise TableOptionError(f"{where}: `freshness`: unknown key(s) {sorted(unknown)}; "
                               f"allowed: {sorted(_FRESHNESS_KEYS)}")
    default = FreshnessSpec()
    lag = raw.get("max_lag_hours", default.max_lag_hours)
    if isinstance(lag, bool) or not isinstance(lag, (int, float)) or lag <= 0:
        raise TableOptionError(f"{where}: `freshness.max_lag_hours` must be a number of hours > 0")
    cron = raw.get("deadline_cron", default.deadline_cron)
    if not isinstance(cron, str) or not is_valid_cron_string(cron):
        raise TableOptionError(
            f"{where}: `freshness.deadline_cron` must be a cron string like `0 9-20 * * *`, "
            f"got {cron!r}"
        )
    tz = raw.get("timezone", default.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as e:
        raise TableOptionError(
            f"{where}: `freshness.timezone` must be an IANA name like `Asia/Tokyo`, got {tz!r}"
        ) from e
    return FreshnessSpec(max_lag_hours=float(lag), deadline_cron=cron, timezone=tz)
