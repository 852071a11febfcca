"""Pure logic: tables.yaml loading and its error messages."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from mctm_replica.config import PACKAGED_TABLES, ConfigError, load_config
from mctm_replica.definitions import mssql_resource

GOOD = {
    "sources": {"mctm": {"env_prefix": "SQL_SERVER_MCTM"}},
    "tables": [
        {"source": "mctm", "source_table": "dbo.customer", "target_table": "public.customer",
         "mode": "full"},
    ],
}


INCREMENTAL = {"mode": "incremental", "watermark": "UpdatedAt", "primary_key": ["CustomerID"]}


def write(tmp_path: Path, data) -> Path:
    p = tmp_path / "tables.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def with_table(**changes):
    data = {"sources": dict(GOOD["sources"]), "tables": [dict(GOOD["tables"][0], **changes)]}
    return {**data, "tables": [{k: v for k, v in data["tables"][0].items() if v is not None}]}


def test_packaged_file_declares_the_four_lambda_tables():
    config = load_config(PACKAGED_TABLES)
    assert {(t.source, t.source_name, t.target_name) for t in config.tables} == {
        ("mctm", "dbo.customer", "public.customer"),
        ("mctm", "dbo.mctm_module", "public.mctm_module"),
        ("voipdb", "dbo.voipdb_customer", "public.voipdb_customer"),
        ("voipdb", "dbo.voipdb_useragent", "public.voipdb_useragent"),
    }
    assert {s.env_prefix for s in config.sources.values()} == {"SQL_SERVER_MCTM", "SQL_SERVER_VOIPDB"}
    assert all(t.nolock and t.row_count_tolerance == 0 and t.mode == "full" for t in config.tables)


def test_sources_format_rows_on_server_unless_told_not_to(tmp_path):
    assert load_config(write(tmp_path, GOOD)).sources["mctm"].format_on_server is True
    data = {**GOOD, "sources": {"mctm": {"env_prefix": "SQL_SERVER_MCTM", "format_on_server": False}}}
    config = load_config(write(tmp_path, data))
    assert config.sources["mctm"].format_on_server is False
    assert mssql_resource(config.sources["mctm"]).format_on_server is False


def test_env_variable_selects_another_file(tmp_path, monkeypatch):
    p = write(tmp_path, with_table(target_table="x.y"))
    monkeypatch.setenv("MCTM_REPLICA_TABLES", str(p))
    assert load_config().tables[0].target_name == "x.y"


def test_defaults_and_options(tmp_path):
    t = load_config(write(tmp_path, with_table(
        primary_key=["CustomerID"], columns={"exclude": ["Secret"]}, nolock=False,
        row_count_tolerance=5, column_naming="preserve", column_names={"A": "b"},
        source_table="[sales data].[odd]]name]",
    ))).tables[0]
    assert (t.source_schema, t.source_table) == ("sales data", "odd]name")
    assert t.primary_key == ("CustomerID",)
    assert t.exclude == ("Secret",) and t.include is None
    assert (t.nolock, t.row_count_tolerance, t.column_naming) == (False, 5, "preserve")
    assert t.asset_key_path == ["public", "customer"]


def test_incremental_defaults_and_options(tmp_path):
    t = load_config(write(tmp_path, with_table(**INCREMENTAL))).tables[0]
    assert t.mode == "incremental" and t.incremental.watermark == "UpdatedAt"
    assert t.incremental.lookback is None  # resolved by the column's type at run time
    assert t.incremental.deletes.mode == "every_run" and not t.incremental.deletes.deferred
    assert t.nolock is False  # incremental tables read committed data unless told otherwise
    t = load_config(write(tmp_path, with_table(
        **INCREMENTAL, watermark_lookback="90 seconds", deletes={"every_n_runs": 3}, nolock=True,
    ))).tables[0]
    assert t.incremental.lookback == dt.timedelta(seconds=90)
    assert (t.incremental.deletes.mode, t.incremental.deletes.every_n_runs) == ("every_n_runs", 3)
    assert t.incremental.deletes.deferred and t.nolock is True
    for text, seconds in [("10 minutes", 600), ("2h", 7200), ("1.5 days", 129600), ("30s", 30)]:
        spec = load_config(write(tmp_path, with_table(**INCREMENTAL, watermark_lookback=text))).tables[0]
        assert spec.incremental.lookback == dt.timedelta(seconds=seconds)
    spec = load_config(write(tmp_path, with_table(**INCREMENTAL, watermark_lookback=500))).tables[0]
    assert spec.incremental.lookback == 500
    assert load_config(write(tmp_path, with_table())).tables[0].incremental is None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (with_table(source="nope"), "unknown source `nope`"),
        (with_table(source_table=None), "missing `source_table`"),
        (with_table(target_table=None), "missing `target_table`"),
        (with_table(source_table="customer"), "`source_table`"),
        (with_table(target_table="public.my table"), "`target_table` must be `schema.table`"),
        (with_table(mode="incremental", primary_key=["CustomerID"]), "needs `watermark`"),
        (with_table(mode="incremental", watermark="UpdatedAt"), "needs `primary_key`"),
        (with_table(watermark="UpdatedAt"), "['watermark'] only apply to `mode: incremental`"),
        (with_table(**INCREMENTAL, watermark_lookback="soon"), "`watermark_lookback` must be"),
        (with_table(**INCREMENTAL, watermark_lookback=-3), "`watermark_lookback` must be"),
        (with_table(**INCREMENTAL, deletes="sometimes"), "`deletes` must be `every_run`"),
        (with_table(**INCREMENTAL, deletes={"every_n_runs": 0}), "`deletes` must be"),
        (with_table(mode="sometimes"), "`mode` must be `full`"),
        (with_table(row_count_tolerance=-1), "`row_count_tolerance`"),
        (with_table(nolock="yes"), "`nolock` must be true or false"),
        (with_table(columns={"include": ["a"], "exclude": ["b"]}), "not both"),
        (with_table(column_naming="camel"), "`column_naming`"),
        (with_table(colour="blue"), "unknown key(s) ['colour']"),
        ({"sources": {"mctm": {"env_prefix": "lower"}}, "tables": GOOD["tables"]}, "`env_prefix`"),
        ({"sources": {"mctm": {"env_prefix": "X", "format_on_server": "no"}}, "tables": GOOD["tables"]},
         "source `mctm`: `format_on_server` must be true or false"),
        ({"sources": GOOD["sources"], "tables": []}, "`tables` must be a non-empty list"),
        ({"sources": GOOD["sources"], "tables": GOOD["tables"] * 2}, "both write `public.customer`"),
        ("tables: [", "not valid YAML"),
    ],
)
def test_bad_file_names_file_entry_and_fix(tmp_path, data, fragment):
    p = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value)
    assert fragment in str(e.value)


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="MCTM_REPLICA_TABLES"):
        load_config(tmp_path / "absent.yaml")


def test_demo_registry_is_production_plus_an_incremental_a_change_tracking_and_a_partitioned_table():
    from mctm_replica.local.services import DEMO_TABLES

    production, demo = load_config(PACKAGED_TABLES), load_config(DEMO_TABLES)
    assert demo.sources == production.sources
    assert demo.tables[:len(production.tables)] == production.tables
    extra, tracked, partitioned = demo.tables[len(production.tables):]
    assert (extra.mode, extra.target_name, extra.incremental.watermark) == (
        "incremental", "public.mctm_module_usage", "UpdatedAt")
    assert (tracked.mode, tracked.target_name, tracked.primary_key, tracked.nolock) == (
        "change_tracking", "public.sim_status_history", ("HistoryID",), False)
    assert (partitioned.target_name, partitioned.partitions.granularity, partitioned.partitions.column) == (
        "public.sim_daily_usage", "daily", "UsageDate")


def test_mode_change_tracking_needs_a_primary_key_and_reads_committed_rows(tmp_path):
    with pytest.raises(ConfigError, match="`mode: change_tracking` needs `primary_key`"):
        load_config(write(tmp_path, with_table(mode="change_tracking")))
    spec = load_config(write(tmp_path, with_table(mode="change_tracking", primary_key=["id"]))).tables[0]
    assert (spec.mode, spec.primary_key, spec.nolock, spec.incremental) == ("change_tracking", ("id",), False, None)
    with pytest.raises(ConfigError, match="only apply to `mode: incremental`"):
        load_config(write(tmp_path, with_table(mode="change_tracking", primary_key=["id"], watermark="wm")))


def test_max_delete_fraction_is_a_number_from_0_to_1(tmp_path):
    assert load_config(write(tmp_path, GOOD)).tables[0].max_delete_fraction is None  # the default applies
    assert load_config(write(tmp_path, with_table(max_delete_fraction=0.2))).tables[0].max_delete_fraction == 0.2
    assert load_config(write(tmp_path, with_table(max_delete_fraction=1))).tables[0].max_delete_fraction == 1.0
    for bad in (1.5, -0.1, "half", True):
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, with_table(max_delete_fraction=bad)))
        assert "table entry 1 (`dbo.customer`): `max_delete_fraction` must be a number from 0 to 1" in str(e.value)
        assert repr(bad) in str(e.value)
