"""Packed column forms (contract.py): the encoder must send exactly the bytes of the value form.

Pure logic, no network: each value is encoded once from its value form and once
from its packed form, at the extremes of every packed type, and the row bytes
must be identical. ``ResultSet.value_batches`` must turn packed rows back into
the value forms. The conformance suite covers the same types end to end.
"""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest

from mctm_replica.standin.contract import TICKS_PER_DAY, Column, ResultSet
from mctm_replica.standin.tds.rowenc import RowEncoder

MAX_TICKS = 3_652_059 * TICKS_PER_DAY - 1  # 9999-12-31 23:59:59.9999999


def _time_bytes(scale: int) -> int:
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


def _pack(col: Column, v: object) -> object:
    """The packed form of a value-form value (test-side, written from the contract's table)."""
    if v is None:
        return None
    scale = 7 if col.scale is None else col.scale
    unit = 10 ** (7 - scale)
    if col.type in ("money", "smallmoney"):
        return int(v * 10_000)  # type: ignore[operator]
    if col.type in ("decimal", "numeric"):
        return int(v.scaleb(col.scale or 0))  # type: ignore[union-attr]
    if col.type == "uniqueidentifier":
        return v.bytes_le  # type: ignore[union-attr]
    if col.type == "time":
        return v // unit  # type: ignore[operator]
    ticks = v[0] if col.type == "datetimeoffset" else v  # type: ignore[index]
    days, tod = divmod(ticks, TICKS_PER_DAY)
    return (days << (8 * _time_bytes(scale))) | (tod // unit)


CASES = [
    (Column("m", "money"), [D("-922337203685477.5808"), D("922337203685477.5807"), D("0.0001"), D("0.0000")]),
    (Column("m", "money", nullable=False), [D("-922337203685477.5808"), D("1.2500")]),
    (Column("sm", "smallmoney"), [D("-214748.3648"), D("214748.3647"), D("-0.0001")]),
    (Column("sm", "smallmoney", nullable=False), [D("214748.3647")]),
    (Column("d", "decimal", precision=18, scale=4), [D("-99999999999999.9999"), D("99999999999999.9999"), D("0.0000")]),
    (Column("d", "numeric", precision=9, scale=0), [D("-999999999"), D("999999999"), D("0")]),
    (Column("d", "decimal", precision=5, scale=5), [D("-0.99999"), D("0.00001")]),
    (Column("g", "uniqueidentifier"), [uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"), uuid.UUID(int=0),
                                       uuid.UUID(int=2**128 - 1)]),
    *[(Column("t", "time", scale=n), [0, TICKS_PER_DAY - 10 ** (7 - n), 37_234_560_000 // 10 ** (7 - n) * 10 ** (7 - n)])
      for n in (0, 2, 3, 4, 5, 7)],
    *[(Column("d2", "datetime2", scale=n), [0, MAX_TICKS // 10 ** (7 - n) * 10 ** (7 - n), 638_396_640_000_000_000])
      for n in (0, 2, 3, 4, 6, 7)],
    *[(Column("dto", "datetimeoffset", scale=n), [(0, 840), (MAX_TICKS // 10 ** (7 - n) * 10 ** (7 - n), -840),
                                                  (638_396_640_000_000_000, 0), (638_396_640_000_000_000, 330)])
      for n in (0, 3, 4, 7)],
]


def _rows(col: Column, values: list) -> list[tuple]:
    with_null = values + ([None] if col.nullable else [])
    return [(i, v) for i, v in enumerate(with_null)]


@pytest.mark.parametrize(("col", "values"), CASES, ids=lambda c: str(c) if not isinstance(c, Column) else
                         f"{c.type}_{c.scale}_{'null' if c.nullable else 'notnull'}")
def test_packed_form_encodes_to_the_same_bytes(col: Column, values: list):
    columns = [Column("id", "int", nullable=False), col]
    rows = _rows(col, values)
    plain = RowEncoder(columns).encode(rows)
    if col.type == "datetimeoffset":
        packed_rows = [(i, _pack(col, v), None if v is None else v[1]) for i, v in rows]
    else:
        packed_rows = [(i, _pack(col, v)) for i, v in rows]
    assert RowEncoder(columns, frozenset({1})).encode(packed_rows) == plain
    # and back: value_batches restores the value forms exactly
    rs = ResultSet(columns, iter([packed_rows]), frozenset({1}))
    assert [r for b in rs.value_batches() for r in b] == rows


def test_packed_rows_must_carry_the_offsets():
    columns = [Column("a", "datetimeoffset", scale=7), Column("b", "datetimeoffset", scale=7)]
    enc = RowEncoder(columns, frozenset({0, 1}))
    assert enc.args == [(0, 2), (1, 3)]
    from mctm_replica.standin.contract import SqlError

    with pytest.raises(SqlError) as ei:
        enc.encode([(1, 2)])  # the two offsets are missing
    assert ei.value.number == 50000
    assert "2 values for 4 values per row" in ei.value.message


def test_non_packable_type_is_refused():
    from mctm_replica.standin.contract import SqlError

    with pytest.raises(SqlError) as ei:
        RowEncoder([Column("s", "nvarchar", length=5)], frozenset({0}))
    assert ei.value.number == 50000
    assert "no packed form for declared type 'nvarchar'" in ei.value.message
