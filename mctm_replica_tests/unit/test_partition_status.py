"""Which partitions are missing: ranges of consecutive keys, and the plan's one line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from mctm_replica.partition_status import NEEDS_INSTANCE, format_status, missing_ranges, partition_status
from mctm_replica.partitions import PartitionSpec

DAILY = PartitionSpec(column="UsageDate", granularity="daily", start=dt.date(2025, 1, 1))
# 2025-03-31 10:00 in Tokyo: partitions 2025-01-01 .. 2025-03-31 (the one still filling) exist.
NOW = dt.datetime(2025, 3, 31, 10, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_missing_ranges_are_runs_of_consecutive_keys_in_partition_order():
    keys = ["a", "b", "c", "d", "e", "f"]
    assert missing_ranges(keys, {"c", "f"}) == [{"from": "a", "to": "b", "count": 2},
                                                {"from": "d", "to": "e", "count": 2}]
    assert missing_ranges(keys, set(keys)) == []
    assert missing_ranges(keys, set()) == [{"from": "a", "to": "f", "count": 6}]


def test_status_counts_the_partitions_that_exist_now_and_ignores_stale_keys():
    done = {f"2025-01-{d:02d}" for d in range(1, 32)} | {"2025-02-15", "2024-12-31", "2025-04-01"}
    status = partition_status(DAILY, done, now=NOW)
    assert (status["total"], status["materialized"], status["missing"]) == (90, 32, 58)
    assert status["missing_ranges"] == [{"from": "2025-02-01", "to": "2025-02-14", "count": 14},
                                        {"from": "2025-02-16", "to": "2025-03-31", "count": 44}]
    assert format_status(status) == ("32 of 90 copied; 58 missing: 2025-02-01..2025-02-14 (14), "
                                     "2025-02-16..2025-03-31 (44)")
    assert format_status(partition_status(DAILY, set(), now=NOW)) == (
        "0 of 90 copied; 90 missing: 2025-01-01..2025-03-31 (90)")


def test_the_line_stays_short_and_an_unknown_status_says_what_it_needs():
    every_other = {f"2025-01-{d:02d}" for d in range(2, 32, 2)}
    status = partition_status(DAILY, every_other | {f"2025-{m:02d}-{d:02d}" for m in (2, 3) for d in range(1, 32)
                                                     if (m, d) <= (3, 31) and not (m == 2 and d > 28)}, now=NOW)
    assert len(status["missing_ranges"]) == 16  # 1, 3, ..., 31 of January
    assert format_status(status).endswith("2025-01-09 (1), and 11 more range(s)")
    assert format_status(partition_status(DAILY, set(DAILY.definition().get_partition_keys(current_time=NOW)),
                                          now=NOW)) == "all 90 copied"
    assert partition_status(DAILY, None) == {"status": "unknown", "reason": NEEDS_INSTANCE}
    assert format_status(partition_status(DAILY, None)) == f"unknown: {NEEDS_INSTANCE}"


def test_failed_partitions_among_the_missing_are_listed_in_their_own_ranges():
    keys = DAILY.definition().get_partition_keys(current_time=NOW)
    failed = {"2025-01-03", "2025-01-04", "2025-01-07", "2025-01-10"}  # 01-10 was copied before it failed
    status = partition_status(DAILY, set(keys[9:]), now=NOW, failed=failed)
    assert status["failed"] == 3
    assert status["failed_ranges"] == [{"from": "2025-01-03", "to": "2025-01-04", "count": 2},
                                       {"from": "2025-01-07", "to": "2025-01-07", "count": 1}]
    assert format_status(status) == ("81 of 90 copied; 9 missing: 2025-01-01..2025-01-09 (9); "
                                     "3 of them failed: 2025-01-03..2025-01-04 (2), 2025-01-07 (1)")
