"""Pure logic: tables.yaml loading and its error messages."""

from pathlib import Path

import pytest
import yaml

from mctm_replica.config import PACKAGED_TABLES, ConfigError, load_config

GOOD = {
    "sources": {"mctm": {"env_prefix": "SQL_SERVER_MCTM"}},
    "tables": [
        {"source": "mctm", "source_table": "dbo.customer", "target_table": "public.customer",
         "mode": "full"},
    ],
}


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


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (with_table(source="nope"), "unknown source `nope`"),
        (with_table(source_table=None), "missing `source_table`"),
        (with_table(target_table=None), "missing `target_table`"),
        (with_table(source_table="customer"), "`source_table`"),
        (with_table(target_table="public.my table"), "`target_table` must be `schema.table`"),
        (with_table(mode="incremental"), "`mode: incremental` is not available yet"),
        (with_table(mode="sometimes"), "`mode` must be `full`"),
        (with_table(row_count_tolerance=-1), "`row_count_tolerance`"),
        (with_table(nolock="yes"), "`nolock` must be true or false"),
        (with_table(columns={"include": ["a"], "exclude": ["b"]}), "not both"),
        (with_table(column_naming="camel"), "`column_naming`"),
        (with_table(colour="blue"), "unknown key(s) ['colour']"),
        ({"sources": {"mctm": {"env_prefix": "lower"}}, "tables": GOOD["tables"]}, "`env_prefix`"),
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
