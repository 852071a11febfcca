"""tables.yaml: `rows_match_blocking` and the checks it configures."""

from __future__ import annotations

import pytest
import yaml
from dagster import AssetCheckKey, AssetKey

from mctm_replica.config import ConfigError, load_config
from mctm_replica.definitions import build_definitions


def write_tables(tmp_path, **extra):
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump({
        "sources": {"src": {"env_prefix": "SRC"}},
        "tables": [
            {"source": "src", "source_table": "dbo.a", "target_table": "public.a", **extra},
            {"source": "src", "source_table": "dbo.b", "target_table": "public.b"},
        ],
    }))
    return path


def test_rows_match_is_blocking_by_default_and_configurable(tmp_path):
    config = load_config(write_tables(tmp_path, rows_match_blocking=False))
    assert [t.rows_match_blocking for t in config.tables] == [False, True]
    graph = build_definitions(config).resolve_asset_graph()
    spec_a = graph.get_check_spec(AssetCheckKey(AssetKey(["public", "a"]), "rows_match"))
    spec_b = graph.get_check_spec(AssetCheckKey(AssetKey(["public", "b"]), "rows_match"))
    assert (spec_a.blocking, spec_b.blocking) == (False, True)


def test_every_packaged_table_has_a_rows_match_check_in_the_job():
    defs = build_definitions()
    job = defs.resolve_job_def("replica_job")
    assert len([n for n in job.graph.node_dict if n.endswith("_rows_match")]) == 4


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_rows_match_blocking_must_be_a_boolean(tmp_path, value):
    with pytest.raises(ConfigError, match=r"table entry 1 \(`dbo.a`\): `rows_match_blocking` must be true or false"):
        load_config(write_tables(tmp_path, rows_match_blocking=value))


def test_rows_match_method_defaults_to_checksum_and_is_configurable(tmp_path):
    config = load_config(write_tables(tmp_path, rows_match="rows", rows_match_segment_rows=500))
    assert [(t.rows_match, t.rows_match_segment_rows) for t in config.tables] == [("rows", 500), ("checksum", 10_000)]


@pytest.mark.parametrize("value", ["hash", "", None, True])
def test_rows_match_method_must_be_checksum_or_rows(tmp_path, value):
    with pytest.raises(ConfigError, match=r"table entry 1 \(`dbo.a`\): `rows_match` must be `checksum`"):
        load_config(write_tables(tmp_path, rows_match=value))


@pytest.mark.parametrize("value", [99, 0, "1000", 1.5, True])
def test_rows_match_segment_rows_must_be_a_whole_number_of_at_least_100(tmp_path, value):
    with pytest.raises(ConfigError, match=r"`rows_match_segment_rows` must be a whole number >= 100"):
        load_config(write_tables(tmp_path, rows_match_segment_rows=value))
