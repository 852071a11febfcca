"""Pure logic: a table's plan from its introspected source schema and its tables.yaml entry.

(The stand-in has no sql_variant/geography/hierarchyid, so the unmapped-type failure is
tested here on an introspection result; SQL Server reports such columns the same way.)
"""

import pytest

from mctm_replica.config import ConfigError, TableSpec
from mctm_replica.naming import IdentifierError
from mctm_replica.plan import build_plan
from mctm_replica.resources.mssql import SourceColumn, SourceTable
from mctm_replica.typemap import SourceType, UnmappedTypeError


def source(*columns: tuple[str, SourceType], pk=("CustomerID",)) -> SourceTable:
    cols = [SourceColumn(n, t, nullable=n not in pk, ordinal=i + 1) for i, (n, t) in enumerate(columns)]
    return SourceTable("dbo", "customer", cols, list(pk))


CUSTOMER = source(
    ("CustomerID", SourceType("int")),
    ("CustomerName", SourceType("nvarchar", 100)),
    ("SIM No", SourceType("varchar", 20)),
    ("Secret", SourceType("varbinary", -1)),
)


def spec(**kw) -> TableSpec:
    return TableSpec(source="mctm", source_schema="dbo", source_table="customer",
                     target_schema="public", target_table="customer", **kw)


def test_default_plan_snake_cases_maps_types_and_keeps_the_key():
    plan = build_plan(spec(), CUSTOMER)
    assert [(c.source_name, c.target_name, c.pg_type, c.value) for c in plan.columns] == [
        ("CustomerID", "customer_id", "integer", "plain"),
        ("CustomerName", "customer_name", "character varying(100)", "text"),
        ("SIM No", "sim_no", "character varying(20)", "text"),
        ("Secret", "secret", "bytea", "bytes"),
    ]
    assert plan.primary_key == ["customer_id"]
    assert [c.nullable for c in plan.columns] == [False, True, True, True]


def test_exclude_include_and_configured_key():
    assert build_plan(spec(exclude=("secret",)), CUSTOMER).source_columns == [
        "CustomerID", "CustomerName", "SIM No"]
    plan = build_plan(spec(include=("SIM No", "customername"), primary_key=("SIM No",)), CUSTOMER)
    assert plan.source_columns == ["CustomerName", "SIM No"]
    assert plan.primary_key == ["sim_no"]


def test_unmapped_type_names_table_column_and_type():
    table = source(("CustomerID", SourceType("int")), ("Location", SourceType("geography")))
    with pytest.raises(UnmappedTypeError, match=r"`dbo\.customer`, column `Location`: .*`geography`"):
        build_plan(spec(), table)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"include": ("Nope",)}, "`columns.include` names column(s) ['Nope']"),
        ({"exclude": ("Nope",)}, "`columns.exclude` names column(s) ['Nope']"),
        ({"exclude": ("CustomerID",)}, "primary key column(s) ['CustomerID'] are excluded"),
        ({"primary_key": ("Missing",)}, "`primary_key` names column(s) ['Missing']"),
        ({"column_names": {"Ghost": "g"}}, "renames unknown column(s) ['Ghost']"),
    ],
)
def test_bad_entries_name_the_table_and_the_fix(kw, fragment):
    with pytest.raises(ConfigError) as e:
        build_plan(spec(**kw), CUSTOMER)
    assert "`mctm:dbo.customer`" in str(e.value)
    assert fragment in str(e.value)


def test_snake_case_collision_is_reported():
    table = source(("CustomerID", SourceType("int")), ("Customer_ID", SourceType("int")))
    with pytest.raises(IdentifierError, match="both become `customer_id`"):
        build_plan(spec(), table)
