"""The rows_match comparison logic, without a network: values as the drivers return them.

Source rows look like pymssql's values, target rows like psycopg2's (uuid as str, bytea
as memoryview, real printed in its shortest form), so these tests pin the type-map rules.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal

import pytest

from mctm_replica.config import TableSpec
from mctm_replica.content_check import (
    MAX_EXAMPLES,
    ContentCheckError,
    choose_strategy,
    compare,
)
from mctm_replica.plan import ColumnPlan, TablePlan
from mctm_replica.typemap import SourceType, lookup, pg_type

UTC = dt.timezone.utc
JST = dt.timezone(dt.timedelta(hours=9))


def plan(columns: list[tuple[str, SourceType]], pk=("id",)) -> TablePlan:
    spec = TableSpec(source="s", source_schema="dbo", source_table="t", target_schema="x", target_table="t")
    cols = [ColumnPlan(n, t, n, pg_type(t, table="t", column=n), True, lookup(t).value) for n, t in columns]
    return TablePlan(spec, cols, list(pk))


INT = SourceType("int")
TYPES = [
    ("id", INT),
    ("m", SourceType("money")),
    ("ts", SourceType("datetime2", datetime_precision=7)),
    ("dto", SourceType("datetimeoffset", datetime_precision=7)),
    ("txt", SourceType("nvarchar", max_length=50)),
    ("g", SourceType("uniqueidentifier")),
    ("r", SourceType("real")),
    ("b", SourceType("varbinary", max_length=10)),
    ("x", SourceType("xml", max_length=-1)),
]
GUID = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")


def f32_text_roundtrip(x: float) -> float:
    """What psycopg2 returns for a PostgreSQL real: its shortest decimal form, as a double."""
    return float(f"{struct.unpack('<f', struct.pack('<f', x))[0]:.9g}")


def source_row(i: int) -> tuple:
    return (i, Decimal("12.3400"), dt.datetime(2024, 2, 29, 12, 34, 56, 123456),
            dt.datetime(2024, 6, 1, 12, 0, tzinfo=JST), f"a\x00b{i}", GUID, 0.1, b"\x01\x02", "<a />")


def target_row(i: int) -> tuple:
    return (i, Decimal("12.34"), dt.datetime(2024, 2, 29, 12, 34, 56, 123456),
            dt.datetime(2024, 6, 1, 3, 0, tzinfo=UTC), f"ab{i}", str(GUID).lower(),
            f32_text_roundtrip(0.1), memoryview(b"\x01\x02"), "<a />")


def test_type_map_rules_make_a_faithful_copy_equal():
    p = plan(TYPES)
    diff = compare(p, [[source_row(i) for i in range(1, 6)]], [[target_row(i) for i in range(1, 6)]])
    assert diff.passed, diff.summary()
    assert (diff.strategy, diff.source_rows, diff.target_rows) == ("merge", 5, 5)


@pytest.mark.parametrize(
    ("column", "tampered"),
    [
        (1, Decimal("12.35")),
        (2, dt.datetime(2024, 2, 29, 12, 34, 56, 123457)),  # shifted by 1 microsecond
        (3, dt.datetime(2024, 6, 1, 3, 0, 0, 1, tzinfo=UTC)),
        (4, "a3"),  # truncated
        (5, "6f9619ff-8b86-d011-b42d-00c04fc964fe"),
        (6, 0.2),
        (7, memoryview(b"\x01")),
        (8, "<b />"),
    ],
)
def test_each_tampered_value_is_named_with_key_and_column(column, tampered):
    p = plan(TYPES)
    target = [target_row(i) for i in range(1, 6)]
    target[2] = target[2][:column] + (tampered,) + target[2][column + 1:]
    diff = compare(p, [[source_row(i) for i in range(1, 6)]], [target])
    assert (diff.missing, diff.extra, diff.different) == (0, 0, 1)
    name = TYPES[column][0]
    assert dict(diff.differing_columns) == {name: 1}
    assert [e.as_json() for e in diff.examples] == [{"kind": "different", "key": {"id": 3}, "columns": [name]}]


def test_missing_and_extra_keys_in_merge_order():
    p = plan([("id", INT), ("v", INT)])
    src = [[(1, 1), (2, 2)], [(4, 4), (5, 5)]]
    tgt = [[(1, 1), (3, 3)], [(4, 9)], [(6, 6)]]
    diff = compare(p, src, tgt)
    assert (diff.missing, diff.extra, diff.different) == (2, 2, 1)
    assert [e.as_json() for e in diff.examples] == [
        {"kind": "missing", "key": {"id": 2}},
        {"kind": "extra", "key": {"id": 3}},
        {"kind": "different", "key": {"id": 4}, "columns": ["v"]},
        {"kind": "missing", "key": {"id": 5}},
        {"kind": "extra", "key": {"id": 6}},
    ]
    assert diff.summary() == ("2 row(s) missing in the replica; 2 extra row(s) in the replica; "
                              "1 row(s) with different values (columns: v)")


def test_text_keys_use_the_hash_strategy_in_any_order():
    p = plan([("code", SourceType("nvarchar", max_length=10)), ("v", INT)], pk=("code",))
    assert choose_strategy(p) == "hash"
    diff = compare(p, [[("b", 1), ("a", 1), ("c", 1)]], [[("c", 1), ("a", 2), ("d", 1)]])
    assert (diff.missing, diff.extra, diff.different) == (1, 1, 1)
    assert {(e.kind, e.key["code"]) for e in diff.examples} == {("missing", "b"), ("extra", "d"), ("different", "a")}


def test_uuid_keys_are_hashed_case_insensitively():
    p = plan([("g", SourceType("uniqueidentifier")), ("v", INT)], pk=("g",))
    assert choose_strategy(p) == "hash"
    diff = compare(p, [[(GUID, 1)]], [[(str(GUID).lower(), 1)]])
    assert diff.passed


def test_table_without_key_compares_row_multisets():
    p = plan([("v", INT), ("w", SourceType("varchar", max_length=5))], pk=())
    assert choose_strategy(p) == "multiset"
    same = compare(p, [[(1, "x"), (1, "x"), (None, None)]], [[(None, None), (1, "x"), (1, "x")]])
    assert same.passed
    diff = compare(p, [[(1, "x"), (1, "x"), (2, "y")]], [[(1, "x"), (2, "z")]])
    assert (diff.missing, diff.extra, diff.different) == (2, 1, 0)
    assert sorted((e.kind, e.key["v"], e.key["w"]) for e in diff.examples) == [
        ("extra", 2, "z"), ("missing", 1, "x"), ("missing", 2, "y")]


def test_examples_are_capped_but_counts_are_complete():
    p = plan([("id", INT), ("v", INT)])
    diff = compare(p, [[(i, 0) for i in range(100)]], [[(i, 1) for i in range(100)]])
    assert diff.different == 100
    assert len(diff.examples) == MAX_EXAMPLES
    assert diff.metadata()["differing_columns"] == {"v": 100}


def test_unordered_input_to_a_merge_fails_loudly():
    p = plan([("id", INT), ("v", INT)])
    with pytest.raises(ContentCheckError, match="not in ascending key order"):
        compare(p, [[(2, 0), (1, 0)]], [[(1, 0), (2, 0)]])


def test_long_values_are_shortened_in_examples():
    p = plan([("k", SourceType("varchar", max_length=-1)), ("v", INT)], pk=("k",))
    diff = compare(p, [[("z" * 500, 1)]], [[]])
    [example] = diff.examples
    assert len(example.key["k"]) == 80 and example.key["k"].endswith("…")
