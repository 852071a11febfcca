"""Pure logic: the one type map, and the README's copy of it."""

from pathlib import Path

import pytest

from mctm_replica.typemap import SourceType, UnmappedTypeError, pg_type, readme_rows


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (SourceType("bit"), "boolean"),
        (SourceType("tinyint"), "smallint"),
        (SourceType("int"), "integer"),
        (SourceType("bigint"), "bigint"),
        (SourceType("decimal", precision=38, scale=10), "numeric(38,10)"),
        (SourceType("numeric", precision=5, scale=0), "numeric(5,0)"),
        (SourceType("money"), "numeric(19,4)"),
        (SourceType("smallmoney"), "numeric(10,4)"),
        (SourceType("float"), "double precision"),
        (SourceType("real"), "real"),
        (SourceType("date"), "date"),
        (SourceType("time", datetime_precision=7), "time(6) without time zone"),
        (SourceType("time", datetime_precision=0), "time(0) without time zone"),
        (SourceType("datetime", datetime_precision=3), "timestamp(3) without time zone"),
        (SourceType("smalldatetime", datetime_precision=0), "timestamp(0) without time zone"),
        (SourceType("datetime2", datetime_precision=7), "timestamp(6) without time zone"),
        (SourceType("datetime2", datetime_precision=3), "timestamp(3) without time zone"),
        (SourceType("datetimeoffset", datetime_precision=7), "timestamp(6) with time zone"),
        (SourceType("char", 10), "character varying(10)"),
        (SourceType("nvarchar", 50), "character varying(50)"),
        (SourceType("varchar", -1), "text"),
        (SourceType("nvarchar", -1), "text"),
        (SourceType("text", 2147483647), "text"),
        (SourceType("ntext", 1073741823), "text"),
        (SourceType("varbinary", -1), "bytea"),
        (SourceType("binary", 16), "bytea"),
        (SourceType("image", 2147483647), "bytea"),
        (SourceType("timestamp"), "bytea"),  # rowversion as INFORMATION_SCHEMA names it
        (SourceType("uniqueidentifier"), "uuid"),
        (SourceType("xml", -1), "text"),
    ],
)
def test_pg_type(source, expected):
    assert pg_type(source, table="dbo.t", column="c") == expected


@pytest.mark.parametrize("name", ["sql_variant", "geography", "hierarchyid", "my_udt"])
def test_unmapped_type_names_table_column_and_type(name):
    with pytest.raises(UnmappedTypeError) as e:
        pg_type(SourceType(name), table="dbo.customer", column="Location")
    assert "`dbo.customer`" in str(e.value)
    assert "`Location`" in str(e.value)
    assert f"`{name}`" in str(e.value)
    assert "exclude" in str(e.value)


def test_readme_type_map_matches_code():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for source, target, note in readme_rows():
        row = f"| {source} | {target} | {note} |"
        assert row in readme, f"README type map lacks or differs on: {row}"
