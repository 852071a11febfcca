"""Every declared type through the TDS encoder to both real clients, and RPC parameters back.

A scripted engine (conftest.FakeEngine) hands the server exact contract values,
so these tests pin the wire encoding itself: metadata and row bytes must make
pymssql and python-tds decode what they would decode from real SQL Server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D

import pytds
import pytest
from pytds import tds_types as T
from pytds.tds_base import Param

from mctm_replica.standin.contract import TICKS_PER_DAY, DateTime2Ticks, DateTimeOffsetTicks, TimeTicks
from mctm_replica.standin.contract import Column as C

GUID = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")


def ticks(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0, frac: int = 0) -> int:
    """datetime2 contract value: 100-ns ticks since 0001-01-01."""
    return (dt.date(y, m, d).toordinal() - 1) * TICKS_PER_DAY + (h * 3600 + mi * 60 + s) * 10**7 + frac


COLUMNS = [
    C("bit", "bit"), C("bitnn", "bit", nullable=False), C("ti", "tinyint"), C("si", "smallint", nullable=False),
    C("i", "int"), C("bi", "bigint"), C("dec", "decimal", precision=38, scale=4),
    C("num", "numeric", precision=5, scale=2), C("m", "money"), C("mnn", "money", nullable=False),
    C("sm", "smallmoney"), C("f", "float"), C("r", "real"), C("d", "date"), C("t0", "time", scale=0),
    C("t7", "time", scale=7), C("dtm", "datetime"), C("sdt", "smalldatetime"), C("d2", "datetime2", scale=7),
    C("d23", "datetime2", scale=3), C("dto", "datetimeoffset", scale=7), C("c", "char", length=5),
    C("vc", "varchar", length=10), C("vcm", "varchar", length=-1), C("nc", "nchar", length=3),
    C("nvc", "nvarchar", length=20), C("nvm", "nvarchar", length=-1), C("tx", "text"), C("ntx", "ntext"),
    C("bn", "binary", length=4), C("vb", "varbinary", length=10), C("vbm", "varbinary", length=-1),
    C("img", "image"), C("g", "uniqueidentifier"), C("x", "xml"), C("rv", "rowversion", nullable=False),
]
ROW_MAX = (
    True, False, 255, 32767, 2147483647, 9223372036854775807,
    D("9999999999999999999999999999999999.9999"), D("-999.99"), D("922337203685477.5807"),
    D("-922337203685477.5808"), D("214748.3647"), 1.7976931348623157e308, 3.4028234663852886e38,
    dt.date(9999, 12, 31), 86399 * 10**7, 86399 * 10**7 + 9999999, dt.datetime(9999, 12, 31, 23, 59, 59, 997000),
    dt.datetime(2079, 6, 6, 23, 59), ticks(9999, 12, 31, 23, 59, 59, 9999999), ticks(9999, 12, 31, 23, 59, 59, 9990000),
    (ticks(2024, 1, 2, 3, 4, 5, 1234567), 540), "ab", "héllo€", "x" * 9000, "日本", "𠮷野家😀", "あ" * 5000,
    "text é", "ntext 日本", b"\x01\x02", b"", b"\x00" * 100, b"img", GUID, "<a>日本</a>",
    b"\x00\x00\x00\x00\x00\x00\x07\xd1",
)
ROW_MIN = (
    False, True, 0, -32768, -2147483648, -9223372036854775808, D("-0.0001"), D("0.01"), D("0.0000"),
    D("0.0001"), D("-214748.3648"), -2.2250738585072014e-308, -1.401298464324817e-45, dt.date(1, 1, 1), 0, 1,
    dt.datetime(1753, 1, 1, 0, 0, 0, 3000), dt.datetime(1900, 1, 1), ticks(1, 1, 1), ticks(1, 1, 1, frac=10000),
    (ticks(1, 1, 1, 14), -840), "", "", "", "", "", "", "", "", b"", b"", b"", b"", uuid.UUID(int=0), "",
    b"\xff" * 8,
)
# NULL in every nullable column; NOT NULL ones (bitnn, si, mnn, rv) carry values.
ROW_NULL = tuple(
    {"bitnn": True, "si": 0, "mnn": D("1.0000"), "rv": b"\x00" * 8}.get(c.name) for c in COLUMNS
)

JST = dt.timedelta(hours=9)
MINUS14 = dt.timedelta(hours=-14)

# What each client decodes from those bytes (identical to what it decodes from SQL Server).
COMMON_MAX = [
    True, False, 255, 32767, 2147483647, 9223372036854775807,
    D("9999999999999999999999999999999999.9999"), D("-999.99"), D("922337203685477.5807"),
    D("-922337203685477.5808"), D("214748.3647"), 1.7976931348623157e308, 3.4028234663852886e38,
    dt.date(9999, 12, 31), dt.time(23, 59, 59), dt.time(23, 59, 59, 999999),
    dt.datetime(9999, 12, 31, 23, 59, 59, 997000), dt.datetime(2079, 6, 6, 23, 59),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
    "DTO_MAX", "ab   ", "héllo€", "x" * 9000, "日本 ", "𠮷野家😀", "あ" * 5000, "text é", "ntext 日本",
    b"\x01\x02\x00\x00", b"", b"\x00" * 100, b"img", GUID, "<a>日本</a>", b"\x00\x00\x00\x00\x00\x00\x07\xd1",
]
COMMON_MIN = [
    False, True, 0, -32768, -2147483648, -9223372036854775808, D("-0.0001"), D("0.01"), "MONEY_ZERO",
    D("0.0001"), D("-214748.3648"), -2.2250738585072014e-308, -1.401298464324817e-45, dt.date(1, 1, 1),
    dt.time(0, 0), dt.time(0, 0), dt.datetime(1753, 1, 1, 0, 0, 0, 3000), dt.datetime(1900, 1, 1),
    dt.datetime(1, 1, 1), dt.datetime(1, 1, 1, 0, 0, 0, 1000), "DTO_MIN", "     ", "", "", "   ", "", "", "", "",
    b"\x00\x00\x00\x00", b"", b"", b"", uuid.UUID(int=0), "", b"\xff" * 8,
]


def _expected(row: list[object], dto_max: dt.tzinfo, dto_min: dt.tzinfo, money_zero: D) -> list[object]:
    subst = {
        "DTO_MAX": dt.datetime(2024, 1, 2, 12, 4, 5, 123456, tzinfo=dto_max),
        "DTO_MIN": dt.datetime(1, 1, 1, 0, 0, tzinfo=dto_min),
        "MONEY_ZERO": money_zero,
    }
    return [subst.get(v, v) if isinstance(v, str) else v for v in row]


@pytest.fixture(scope="module")
def typed(fake_engine):
    fake_engine.typed_results["all"] = (COLUMNS, [ROW_MAX, ROW_MIN, ROW_NULL])
    fake_engine.typed_results["nbc"] = (
        [C("a", "int", nullable=False), C("b", "nvarchar", length=5), C("c", "money", nullable=False)],
        [(1, "x", D("1.5000")), (None, None, None), (3, None, D("-2.0000"))],
    )
    return fake_engine


def _null_expected() -> list[object]:
    return [
        {"bitnn": True, "si": 0, "mnn": D("1.0000"), "rv": b"\x00" * 8}.get(c.name) for c in COLUMNS
    ]


def test_every_type_pytds(fake_standin, typed):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("TYPES all")
        rows = cur.fetchall()
        assert [d[0] for d in cur.description] == [c.name for c in COLUMNS]
    finally:
        conn.close()
    tz_max = rows[0][20].tzinfo
    tz_min = rows[1][20].tzinfo
    assert tz_max.utcoffset(None) == JST and tz_min.utcoffset(None) == MINUS14
    # pytds decodes money 0 as Decimal('0') (it divides the integer by 10000).
    assert list(rows[0]) == _expected(COMMON_MAX, tz_max, tz_min, D("0"))
    assert list(rows[1]) == _expected(COMMON_MIN, tz_max, tz_min, D("0"))
    assert str(rows[1][8]) == "0"
    assert list(rows[2]) == _null_expected()


def test_every_type_pymssql(fake_standin, typed):
    conn = fake_standin.connect_pymssql(database="fakedb")
    try:
        cur = conn.cursor()
        cur.execute("TYPES all")
        rows = cur.fetchall()
        type_codes = [d[1] for d in cur.description]
    finally:
        conn.close()
    tz_max = dt.timezone(JST)
    tz_min = dt.timezone(MINUS14)
    assert list(rows[0]) == _expected(COMMON_MAX, tz_max, tz_min, D("0.0000"))
    assert list(rows[1]) == _expected(COMMON_MIN, tz_max, tz_min, D("0.0000"))
    assert str(rows[1][8]) == "0.0000"
    assert list(rows[2]) == _null_expected()
    # pymssql's DB-API type codes: 1 STRING, 2 BINARY, 3 NUMBER, 4 DATETIME, 5 DECIMAL.
    assert type_codes == [
        3, 3, 3, 3, 3, 3, 5, 5, 5, 5, 5, 3, 3, 2, 2, 2, 4, 4, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,
        2, 2, 2, 2, 2, 1, 2,
    ]


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_null_in_not_null_column_uses_nbcrow(fake_standin, typed, client):
    if client == "pytds":
        conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    else:
        conn = fake_standin.connect_pymssql(database="fakedb")
    try:
        cur = conn.cursor()
        cur.execute("TYPES nbc")
        assert [tuple(r) for r in cur.fetchall()] == [
            (1, "x", D("1.5000")), (None, None, None), (3, None, D("-2.0000"))
        ]
    finally:
        conn.close()


def test_rpc_parameters_inferred_by_pytds(fake_standin, fake_engine):
    params = {
        "i": 5, "big": 2**40, "huge": 10**30, "b": True, "f": 1.5, "dec": D("-12.345"), "s": "日本😀",
        "long": "x" * 5000, "by": pytds.Binary(b"\x00\x01"), "bym": pytds.Binary(b"z" * 9000), "g": GUID,
        "d": dt.date(2024, 2, 29), "t": dt.time(1, 2, 3, 456789), "dtm": dt.datetime(2024, 2, 29, 1, 2, 3, 456789),
        "dto": dt.datetime(2024, 2, 29, 1, 2, 3, 456789, tzinfo=dt.timezone(JST)), "e": "",
        "eb": pytds.Binary(b""),
    }
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    try:
        conn.cursor().execute("ECHO " + " ".join(f"%({k})s" for k in params), params)
    finally:
        conn.close()
    sql, got = [e for e in fake_engine.log if e[0].startswith("ECHO @")][-1]
    assert sql == "ECHO " + " ".join(f"@P{i}" for i in range(1, len(params) + 1))
    assert list(got.values()) == [
        5, 2**40, D("1000000000000000000000000000000"), True, 1.5, D("-12.345"), "日本😀", "x" * 5000,
        b"\x00\x01", b"z" * 9000, GUID, dt.date(2024, 2, 29), TimeTicks((3723 * 10**7) + 4567890, 6),
        DateTime2Ticks(ticks(2024, 2, 29, 1, 2, 3, 4567890), 6),
        DateTimeOffsetTicks(ticks(2024, 2, 28, 16, 2, 3, 4567890), 540, 6), "", b"",
    ]
    # python-tds declares time/datetime2/datetimeoffset parameters with scale 6
    assert [(type(v).__name__, v.scale) for v in list(got.values())[12:15]] == [
        ("TimeTicks", 6), ("DateTime2Ticks", 6), ("DateTimeOffsetTicks", 6)]


TYPED_PARAMS = [
    (T.MoneyType(), D("-922337203685477.5808"), D("-922337203685477.5808")),
    (T.SmallMoneyType(), D("214748.3647"), D("214748.3647")),
    (T.DateTimeType(), dt.datetime(1753, 1, 1, 0, 0, 0, 3000), dt.datetime(1753, 1, 1, 0, 0, 0, 3000)),
    (T.DateTimeType(), dt.datetime(9999, 12, 31, 23, 59, 59, 997000), dt.datetime(9999, 12, 31, 23, 59, 59, 997000)),
    (T.SmallDateTimeType(), dt.datetime(2079, 6, 6, 23, 59), dt.datetime(2079, 6, 6, 23, 59)),
    (T.IntType(), None, None), (T.TinyIntType(), 255, 255), (T.SmallIntType(), -32768, -32768),
    (T.BigIntType(), None, None), (T.RealType(), 0.5, 0.5), (T.FloatType(), None, None),
    (T.VarCharType(size=20), "héllo", "héllo"), (T.CharType(size=3), "ab", "ab"), (T.NCharType(size=3), "日", "日"),
    (T.NVarCharType(size=10), None, None), (T.VarBinaryMaxType(), None, None), (T.VarCharMaxType(), "big", "big"),
    (T.TextType(), "txt", "txt"), (T.NTextType(), "日本", "日本"), (T.ImageType(), b"\x01", b"\x01"),
    (T.XmlType(), "<a/>", "<a/>"),
    (T.DateTimeOffsetType(precision=0), dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
     DateTimeOffsetTicks(ticks(2020, 1, 1, 5), -300, 0)),
    (T.TimeType(precision=0), dt.time(23, 59, 59), TimeTicks(86399 * 10**7, 0)),
    (T.DateTime2Type(precision=3), dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
     DateTime2Ticks(ticks(9999, 12, 31, 23, 59, 59, 9990000), 3)),
    (T.DateType(), None, None),
    (T.DecimalType(precision=38, scale=38), D("0.12345678901234567890123456789012345678"),
     D("0.12345678901234567890123456789012345678")),
    (T.DecimalType(precision=38, scale=0), D("-99999999999999999999999999999999999999"),
     D("-99999999999999999999999999999999999999")),
    (T.UniqueIdentifierType(), None, None), (T.BitType(), None, None), (T.TextType(), None, None),
    (T.XmlType(), None, None),
]


def test_rpc_parameters_of_explicit_types(fake_standin, fake_engine):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    got = []
    try:
        cur = conn.cursor()
        for sql_type, value, _expected_value in TYPED_PARAMS:
            cur.execute("ECHO %s", (Param(type=sql_type, value=value),))
            got.append(fake_engine.log[-1][1]["P1"])
    finally:
        conn.close()
    assert got == [e for _t, _v, e in TYPED_PARAMS]
    assert [type(g) for g in got] == [type(e) for _t, _v, e in TYPED_PARAMS]
    assert [getattr(g, "scale", None) for g in got] == [getattr(e, "scale", None) for _t, _v, e in TYPED_PARAMS]
