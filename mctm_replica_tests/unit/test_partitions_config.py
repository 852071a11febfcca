"""Pure logic: the `partitions` setting of tables.yaml and the partition time windows."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mctm_replica.config import ConfigError, load_config
from mctm_replica.partitions import PartitionSpec
from mctm_replica_tests.unit.test_config import with_table, write

DAILY = {"column": "UsageDate", "granularity": "daily", "start": "2023-01-01", "timezone": "Asia/Tokyo"}


def test_partitions_parse_into_a_spec(tmp_path):
    (table,) = load_config(write(tmp_path, with_table(partitions=DAILY))).tables
    assert table.partitions == PartitionSpec("UsageDate", "daily", dt.date(2023, 1, 1), "Asia/Tokyo")
    # YAML's own date type is accepted too, and the timezone defaults to Japan time.
    text = write(tmp_path, with_table(partitions={"column": "D", "granularity": "monthly", "start": "x"}))
    text.write_text(text.read_text().replace("start: x", "start: 2023-02-01"))
    assert load_config(text).tables[0].partitions == PartitionSpec("D", "monthly", dt.date(2023, 2, 1), "Asia/Tokyo")
    assert load_config(write(tmp_path, with_table())).tables[0].partitions is None


@pytest.mark.parametrize("partitions, fragment", [
    ("daily", "`partitions` must be a mapping"),
    ({**DAILY, "every": 2}, "`partitions` has unknown key(s) ['every']"),
    ({**DAILY, "column": ""}, "`partitions.column` must name the source's date"),
    ({**DAILY, "granularity": "hourly"}, "`partitions.granularity` must be `daily` or `monthly`, got 'hourly'"),
    ({**DAILY, "start": "01/01/2023"}, "`partitions.start` must be a date like 2023-01-01"),
    ({**DAILY, "granularity": "monthly", "start": "2023-01-15"}, "use 2023-01-01"),
    ({**DAILY, "timezone": "Mars/Base"}, "`partitions.timezone` must be an IANA name"),
])
def test_bad_partitions_name_the_table_and_setting(tmp_path, partitions, fragment):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, with_table(partitions=partitions)))
    assert "table entry 1 (`dbo.customer`)" in str(e.value)
    assert fragment in str(e.value)


def test_partitions_exclude_incremental_mode(tmp_path):
    with pytest.raises(ConfigError, match="`partitions` replaces `mode: incremental`"):
        load_config(write(tmp_path, with_table(partitions=DAILY, mode="incremental", watermark="W",
                                               primary_key=["K"])))


def test_windows_are_half_open_local_times_and_include_the_current_one():
    spec = PartitionSpec("UsageDate", "daily", dt.date(2023, 1, 1), "Asia/Tokyo")
    now = dt.datetime(2024, 5, 3, 1, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert spec.bounds("2024-05-02") == (dt.datetime(2024, 5, 2), dt.datetime(2024, 5, 3))
    assert spec.latest_keys(now) == ["2024-05-02", "2024-05-03"]  # today (still filling) and yesterday
    assert spec.covered(now) == (dt.datetime(2023, 1, 1), dt.datetime(2024, 5, 4))
    # 2024-05-02 20:00 UTC is already 2024-05-03 in Tokyo.
    assert spec.latest_keys(dt.datetime(2024, 5, 2, 20, 0, tzinfo=dt.timezone.utc))[-1] == "2024-05-03"
    monthly = PartitionSpec("UsageDate", "monthly", dt.date(2023, 1, 1), "Asia/Tokyo")
    assert monthly.bounds("2024-02-01") == (dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1))
    assert monthly.latest_keys(now) == ["2024-04-01", "2024-05-01"]
