"""Pure logic: which schema changes are applied in place and which need a full refresh."""

import pytest

from mctm_replica.config import TableSpec
from mctm_replica.io_managers.drift import ColumnChange, classify, diff_layout
from mctm_replica.plan import ColumnPlan, TablePlan
from mctm_replica.typemap import SourceType


def make_plan(columns: list[tuple[str, str, bool]]) -> TablePlan:
    spec = TableSpec(source="s", source_schema="dbo", source_table="t", target_schema="p", target_table="t")
    return TablePlan(spec, [ColumnPlan(n, SourceType("int"), n, pg, nullable, "plain")
                            for n, pg, nullable in columns], ["id"])


@pytest.mark.parametrize(("old", "new", "kind"), [
    ("character varying(50)", "character varying(100)", "widen"),
    ("character varying(50)", "text", "widen"),
    ("character varying(100)", "character varying(50)", "narrow"),
    ("text", "character varying(50)", "narrow"),
    ("smallint", "integer", "widen"),
    ("integer", "bigint", "widen"),
    ("bigint", "integer", "narrow"),
    ("integer", "numeric(10,0)", "widen"),
    ("integer", "numeric(12,4)", "narrow"),  # 8 integer digits < 10
    ("numeric(18,4)", "numeric(20,4)", "widen"),
    ("numeric(18,4)", "numeric(19,5)", "widen"),
    ("numeric(18,4)", "numeric(18,5)", "narrow"),  # one integer digit fewer
    ("numeric(18,4)", "numeric(18,2)", "narrow"),
    ("timestamp(3) without time zone", "timestamp(6) without time zone", "widen"),
    ("timestamp(6) without time zone", "timestamp(0) without time zone", "narrow"),
    ("timestamp(6) without time zone", "timestamp(6) with time zone", "retype"),
    ("real", "double precision", "widen"),
    ("double precision", "real", "narrow"),
    ("integer", "character varying(20)", "retype"),
    ("uuid", "bytea", "retype"),
    ("bigint", "bigint", None),
])
def test_classify(old, new, kind):
    assert classify(old, new) == kind


def test_diff_layout_names_every_change_in_order():
    plan = make_plan([("id", "bigint", False), ("name", "character varying(100)", True),
                      ("note", "text", True), ("flag", "boolean", True)])
    existing = [("id", "integer", False), ("name", "character varying(50)", False),
                ("flag", "boolean", False), ("gone", "uuid", True)]
    changes = diff_layout(existing, plan)
    assert changes == [
        ColumnChange("id", "widen", "integer", "bigint"),
        ColumnChange("name", "widen", "character varying(50)", "character varying(100)"),
        ColumnChange("note", "add", None, "text"),
        ColumnChange("flag", "allow_null", "boolean", "boolean"),
        ColumnChange("gone", "drop", "uuid", None),
    ]
    assert [c.compatible for c in changes] == [True, True, True, True, False]
    assert changes[-1].describe() == "`gone` (uuid) is no longer in the source"
    assert diff_layout([("id", "bigint", False), ("name", "character varying(100)", True),
                        ("note", "text", True), ("flag", "boolean", True)], plan) == []
