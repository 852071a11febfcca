"""Pure logic: reader key ranges, and `parallel_readers` / `max_connections` in tables.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mctm_replica.config import ConfigError, load_config
from mctm_replica.parallel.ranges import KeyRange, split


def load(tmp_path: Path, tables: list[dict], **source) -> object:
    p = tmp_path / "tables.yaml"
    p.write_text(yaml.safe_dump({
        "sources": {"mctm": {"env_prefix": "SQL_SERVER_MCTM", **source}},
        "tables": [{"source": "mctm", "source_table": f"dbo.t{i}", "target_table": f"public.t{i}", **t}
                   for i, t in enumerate(tables)],
    }))
    return load_config(p)


@pytest.mark.parametrize("low,high,n", [(1, 1000, 4), (-50, 49, 3), (7, 7, 4), (1, 3, 2), (0, 10**12, 16)])
def test_ranges_cover_every_integer_once_and_their_ends_are_open(low, high, n):
    ranges = split(low, high, n)
    assert ranges[0].lower is None and ranges[-1].upper is None
    assert len(ranges) == min(n, high - low + 1)
    for a, b in zip(ranges, ranges[1:]):
        assert a.upper == b.lower and a.upper is not None
    probes = [low - 10**9, low - 1, low, (low + high) // 2, high, high + 1, high + 10**9]
    probes += [r.lower for r in ranges if r.lower is not None]
    probes += [r.upper - 1 for r in ranges if r.upper is not None]
    for key in probes:
        assert sum(r.contains(key) for r in ranges) == 1, key


def test_an_empty_table_is_read_by_one_unbounded_range():
    assert split(None, None, 4) == [KeyRange(None, None)]
    assert KeyRange(None, None).condition("id") == ("", ())


def test_a_range_becomes_a_half_open_where_with_parameters():
    assert KeyRange(10, 20).condition("id") == ("[id] >= %s AND [id] < %s", (10, 20))
    assert KeyRange(None, 20).condition("id") == ("[id] < %s", (20,))
    assert KeyRange(10, None).condition("id") == ("[id] >= %s", (10,))
    assert KeyRange(1, 2).condition("a%]b") == ("[a%]]b] >= %s AND [a%]]b] < %s", (1, 2))


def test_parallel_readers_defaults_to_one_and_max_connections_to_max_concurrent_tables(tmp_path):
    config = load(tmp_path, [{}], max_concurrent_tables=2)
    assert config.tables[0].parallel_readers == 1
    assert config.sources["mctm"].max_connections == 2


def test_readers_within_the_cap_load(tmp_path):
    config = load(tmp_path, [{"parallel_readers": 4}, {"parallel_readers": 2}, {}],
                  max_concurrent_tables=2, max_connections=6)
    assert [t.parallel_readers for t in config.tables] == [4, 2, 1]


@pytest.mark.parametrize("tables,source,message", [
    ([{"parallel_readers": 2}], {}, r"`dbo.t0` \(2\).*can open 2 connections.*`max_connections: 1`; raise"),
    ([{"parallel_readers": 4}, {"parallel_readers": 3}], {"max_concurrent_tables": 2, "max_connections": 6},
     r"`dbo.t0` \(4\), `dbo.t1` \(3\).*can open 7 connections"),
    ([{"parallel_readers": 0}], {}, r"table entry 1 \(`dbo.t0`\): `parallel_readers` must be a whole number from 1"),
    ([{"parallel_readers": True}], {}, r"`parallel_readers` must be a whole number"),
    ([{"parallel_readers": 17}], {"max_connections": 17}, r"from 1 to 16"),
    ([{"parallel_readers": 2, "primary_key": ["a", "b"]}], {"max_connections": 2},
     r"`dbo.t0`.*needs a single integer key column.*`primary_key` has 2"),
    ([{}], {"max_connections": 0}, r"source `mctm`: `max_connections` must be a whole number >= 1"),
    ([{}], {"max_concurrent_tables": 3, "max_connections": 2}, r"below `max_concurrent_tables`"),
])
def test_bad_reader_settings_fail_naming_the_table_or_source(tmp_path, tables, source, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, tables, **source)


def test_readers_share_out_the_batch_size_but_keep_batches_worth_sending():
    from mctm_replica.parallel.opener import reader_batch

    assert [reader_batch(10_000, n) for n in (1, 2, 4, 16)] == [10_000, 5_000, 2_500, 1_000]
    assert reader_batch(500, 4) == 500  # never above the source's own batch
