"""What REAL SQL Server gives pymssql and python-tds for each declared type.

The conformance suite inserts T-SQL literals into columns of every type the
replicator reads, selects them back through both clients, and compares with the
values below.  Each expected value is what that *client* returns when talking to
a real SQL Server (2019/2022, default collation SQL_Latin1_General_CP1_CI_AS),
derived from how the client decodes the TDS bytes SQL Server sends:

* pymssql 2.4 (FreeTDS dblib): decimal/money are formatted to text by FreeTDS and
  parsed by ``Decimal`` (so the scale's trailing zeros survive: ``'0.0000'``);
  date/time types are "cracked" to nanoseconds and ``// 1000`` gives microseconds
  (truncation, never rounding); datetimeoffset comes back in its own offset as
  ``datetime.timezone``; datetime's 1/300 s ticks go through
  ``(ticks * 1000 + 150) // 300`` milliseconds.
* python-tds 1.17: decimal is ``Decimal(int) / 10**scale`` and money
  ``Decimal(int) / 10000`` -- exact divisions that *drop* trailing zeros
  (``Decimal('12.34')`` for a decimal(18,4) 12.3400, ``Decimal('0')`` for zero);
  time/datetime2/datetimeoffset truncate 100-ns ticks to microseconds;
  datetimeoffset is an aware datetime in ``pytds.tz.FixedOffsetTimezone(offset)``;
  datetime's ticks become ``round(ticks % 300 * 10 / 3)`` milliseconds.

Values are compared through :func:`canonical`, which keeps the Python type, the
exact text of a Decimal, the wall-clock fields and the UTC offset of a datetime,
and the exact repr of a float: ``Decimal('1.5') == Decimal('1.50')`` and two
aware datetimes at the same instant compare equal in Python, but a client that
returned one instead of the other would not be indistinguishable from SQL Server.

The module also holds the small helpers the conformance modules share
(:func:`mismatches`, :func:`create_big`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass

D = decimal.Decimal


def tz(minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=minutes))


# A value whose expected pytds result equals the pymssql one.
SAME = object()


@dataclass(frozen=True)
class Value:
    """One T-SQL literal and what each client reads back from SQL Server."""

    literal: str
    pymssql: object
    pytds: object = SAME

    @property
    def pytds_value(self) -> object:
        return self.pymssql if self.pytds is SAME else self.pytds


@dataclass(frozen=True)
class TypeSpec:
    """A declared column type with the values the matrix stores in it."""

    decl: str  # as written in CREATE TABLE
    values: list[Value]
    # PEP 249 type_code pymssql puts in cursor.description (pymssql STRING=1,
    # BINARY=2, NUMBER=3, DATETIME=4, DECIMAL=5 from dbcoltype(); FreeTDS has no
    # category for the SQL Server 2008 date/time types nor for uniqueidentifier,
    # so pymssql reports them as BINARY even against real SQL Server).
    pymssql_type_code: int = 0
    # python-tds cursor.description: (type id, size, precision, scale) as its
    # serializer for the TYPE_INFO SQL Server sends reports them.  pytds folds some
    # wire types together (BIGCHAR->167, NCHAR->231, BIGBINARY->165, NUMERICN->106,
    # nvarchar(max)->NTEXT 99), reports nvarchar sizes in characters (as a float),
    # (max) sizes as 0 (varchar/varbinary) or -1 (nvarchar/xml), and precision
    # only for decimal and the fractional-second digits of time types.
    pytds_desc: tuple = ()


STRING, BINARY, NUMBER, DATETIME, DECIMAL = 1, 2, 3, 4, 5

# TDS type ids python-tds reports (cursor.description[1]); names as in MS-TDS.
INT1, BIT, INT2, INT4, DATETIM4, FLT4, MONEY, DATETIME_T, FLT8 = 48, 50, 52, 56, 58, 59, 60, 61, 62
DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN = 40, 41, 42, 43
GUID, IMAGE, TEXT, NTEXT, DECIMALN, MONEY4, INT8 = 36, 34, 35, 99, 106, 122, 127
BIGVARBIN, BIGVARCHR, NVARCHAR, XML = 165, 167, 231, 241

NINES38 = "9" * 38
JAPANESE = "日本語テキスト"
# U+20BB7 (outside the BMP: a surrogate pair in UTF-16) and an emoji.
NON_BMP = "\U00020BB7野家\U0001F600"
LONG_NVARCHAR = ("東京都千代田区" * 715)[:5000]  # > 4000 characters: needs nvarchar(max)
LONG_VARCHAR = ("abcdefghij" * 900)  # 9000 characters: needs varchar(max)
GUID_TEXT = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
XML_DOC = '<root><a x="1">t</a><b>日本</b></root>'

def _spec(decl: str, code: int, desc: tuple, *values: Value) -> TypeSpec:
    return TypeSpec(decl, list(values), code, desc)


DT = dt.datetime

TYPE_MATRIX: list[TypeSpec] = [
    _spec("bit", NUMBER, (BIT, 1, None, None),
          Value("0", False), Value("1", True), Value("'TRUE'", True), Value("42", True)),
    _spec("tinyint", NUMBER, (INT1, 1, None, None), Value("0", 0), Value("255", 255)),
    _spec("smallint", NUMBER, (INT2, 2, None, None),
          Value("-32768", -32768), Value("32767", 32767)),
    _spec("int", NUMBER, (INT4, 4, None, None),
          Value("-2147483648", -2147483648), Value("2147483647", 2147483647)),
    _spec("bigint", NUMBER, (INT8, 8, None, None),
          Value("-9223372036854775808", -9223372036854775808),
          Value("9223372036854775807", 9223372036854775807)),
    _spec("decimal(38,0)", DECIMAL, (DECIMALN, 17, 38, 0),
          Value(NINES38, D(NINES38)), Value("-" + NINES38, D("-" + NINES38)), Value("0", D("0"))),
    _spec("decimal(38,38)", DECIMAL, (DECIMALN, 17, 38, 38),
          Value("0." + NINES38, D("0." + NINES38)),
          Value("-0." + NINES38, D("-0." + NINES38)),
          Value("0.5", D("0.5" + "0" * 37), D("0.5"))),
    _spec("decimal(18,4)", DECIMAL, (DECIMALN, 9, 18, 4),
          Value("99999999999999.9999", D("99999999999999.9999")),
          Value("-99999999999999.9999", D("-99999999999999.9999")),
          Value("-12.34", D("-12.3400"), D("-12.34")),
          Value("0", D("0.0000"), D("0")),
          Value("0.0005", D("0.0005"))),
    # numeric is DECIMALN's twin NUMERICN (0x6C) on the wire; pytds reports both as 106.
    _spec("numeric(10,5)", DECIMAL, (DECIMALN, 9, 10, 5),
          Value("12345.67891", D("12345.67891")), Value("-0.00001", D("-0.00001"))),
    _spec("money", DECIMAL, (MONEY, 8, None, None),
          Value("922337203685477.5807", D("922337203685477.5807")),
          Value("-922337203685477.5808", D("-922337203685477.5808")),
          Value("1234.5", D("1234.5000"), D("1234.5")),
          Value("0", D("0.0000"), D("0"))),
    _spec("smallmoney", DECIMAL, (MONEY4, 4, None, None),
          Value("214748.3647", D("214748.3647")),
          Value("-214748.3648", D("-214748.3648")),
          Value("1.25", D("1.2500"), D("1.25"))),
    _spec("float", NUMBER, (FLT8, 8, None, None),
          Value("1.7976931348623157E+308", 1.7976931348623157e308),
          Value("-1.7976931348623157E+308", -1.7976931348623157e308),
          Value("2.2250738585072014E-308", 2.2250738585072014e-308),
          Value("0.1", 0.1), Value("0", 0.0)),
    # real is 32-bit: 0.1 comes back as the nearest float32, widened to a Python float.
    _spec("real", NUMBER, (FLT4, 4, None, None),
          Value("3.4028234663852886E+38", 3.4028234663852886e38),
          Value("-3.4028234663852886E+38", -3.4028234663852886e38),
          Value("1.1754943508222875E-38", 1.1754943508222875e-38),
          Value("0.1", 0.10000000149011612)),
    _spec("date", BINARY, (DATEN, None, None, None),
          Value("'0001-01-01'", dt.date(1, 1, 1)), Value("'9999-12-31'", dt.date(9999, 12, 31)),
          Value("'2024-02-29'", dt.date(2024, 2, 29))),
    # Conversions to a lower fractional precision round (12:34:56.5 -> 12:34:57); the
    # clients then truncate 100 ns ticks to microseconds.
    _spec("time(0)", BINARY, (TIMEN, 3, 0, None),
          Value("'00:00:00'", dt.time(0, 0)), Value("'23:59:59'", dt.time(23, 59, 59)),
          Value("'12:34:56.5'", dt.time(12, 34, 57))),
    _spec("time(7)", BINARY, (TIMEN, 5, 7, None),
          Value("'23:59:59.9999999'", dt.time(23, 59, 59, 999999)),
          Value("'00:00:00.0000001'", dt.time(0, 0, 0, 0)),
          Value("'12:34:56.1234567'", dt.time(12, 34, 56, 123456))),
    # datetime rounds to 1/300 s: .994 -> .993, .995 -> .997, .991 -> .990, .999 -> next day.
    _spec("datetime", DATETIME, (DATETIME_T, 8, None, None),
          Value("'1753-01-01 00:00:00'", DT(1753, 1, 1)),
          Value("'9999-12-31 23:59:59.997'", DT(9999, 12, 31, 23, 59, 59, 997000)),
          Value("'2024-01-01 23:59:59.994'", DT(2024, 1, 1, 23, 59, 59, 993000)),
          Value("'2024-01-01 00:00:00.995'", DT(2024, 1, 1, 0, 0, 0, 997000)),
          Value("'2024-01-01 00:00:00.991'", DT(2024, 1, 1, 0, 0, 0, 990000)),
          Value("'2024-01-01 23:59:59.999'", DT(2024, 1, 2))),
    # smalldatetime: 29.998 s rounds down, 30 s up.
    _spec("smalldatetime", DATETIME, (DATETIM4, 4, None, None),
          Value("'1900-01-01 00:00:00'", DT(1900, 1, 1)),
          Value("'2079-06-06 23:59:00'", DT(2079, 6, 6, 23, 59)),
          Value("'2024-01-01 12:34:29.998'", DT(2024, 1, 1, 12, 34)),
          Value("'2024-01-01 12:34:30'", DT(2024, 1, 1, 12, 35))),
    _spec("datetime2(0)", BINARY, (DATETIME2N, 6, 0, None),
          Value("'0001-01-01 00:00:00'", DT(1, 1, 1)),
          Value("'9999-12-31 23:59:59'", DT(9999, 12, 31, 23, 59, 59)),
          Value("'2024-01-01 12:34:56.5'", DT(2024, 1, 1, 12, 34, 57))),
    _spec("datetime2(3)", BINARY, (DATETIME2N, 7, 3, None),
          Value("'9999-12-31 23:59:59.999'", DT(9999, 12, 31, 23, 59, 59, 999000)),
          Value("'2024-02-29 12:34:56.1235'", DT(2024, 2, 29, 12, 34, 56, 124000))),
    _spec("datetime2(7)", BINARY, (DATETIME2N, 8, 7, None),
          Value("'0001-01-01 00:00:00.0000000'", DT(1, 1, 1)),
          Value("'9999-12-31 23:59:59.9999999'", DT(9999, 12, 31, 23, 59, 59, 999999)),
          Value("'2024-02-29 12:34:56.1234567'", DT(2024, 2, 29, 12, 34, 56, 123456))),
    # Both clients give the wall-clock time in the value's own offset.
    _spec("datetimeoffset(0)", BINARY, (DATETIMEOFFSETN, 8, 0, None),
          Value("'2024-03-10 12:34:56 -05:30'", DT(2024, 3, 10, 12, 34, 56, tzinfo=tz(-330)))),
    _spec("datetimeoffset(7)", BINARY, (DATETIMEOFFSETN, 10, 7, None),
          Value("'2024-03-10 12:34:56.1234567 +09:00'",
                DT(2024, 3, 10, 12, 34, 56, 123456, tzinfo=tz(540))),
          Value("'9999-12-31 23:59:59.9999999 +14:00'",
                DT(9999, 12, 31, 23, 59, 59, 999999, tzinfo=tz(840))),
          Value("'0001-01-01 00:00:00.0000000 -14:00'", DT(1, 1, 1, tzinfo=tz(-840))),
          Value("'2024-01-01 00:30:00 +01:00'", DT(2024, 1, 1, 0, 30, tzinfo=tz(60)))),
    _spec("char(5)", STRING, (BIGVARCHR, 5, None, None),
          Value("'ab'", "ab   "), Value("''", "     ")),
    # SQL_Latin1_General_CP1_CI_AS stores varchar in code page 1252: the euro sign
    # survives, Japanese becomes '?' per character.
    _spec("varchar(10)", STRING, (BIGVARCHR, 10, None, None),
          Value("'café €'", "café €"), Value("N'日本語'", "???"), Value("''", "")),
    _spec("varchar(max)", STRING, (BIGVARCHR, 0, None, None),
          Value(f"'{LONG_VARCHAR}'", LONG_VARCHAR), Value("''", "")),
    _spec("nchar(5)", STRING, (NVARCHAR, 5, None, None), Value("N'日本'", "日本   ")),
    # nchar(n) counts UTF-16 code units: a surrogate pair takes two of four.
    _spec("nchar(4)", STRING, (NVARCHAR, 4, None, None), Value("N'\U00020BB7'", "\U00020BB7  ")),
    _spec("nvarchar(20)", STRING, (NVARCHAR, 20, None, None),
          Value(f"N'{JAPANESE}'", JAPANESE), Value(f"N'{NON_BMP}'", NON_BMP),
          Value("N''", ""), Value("N'it''s'", "it's")),
    _spec("nvarchar(max)", STRING, (NTEXT, -1, None, None),
          Value(f"N'{LONG_NVARCHAR}'", LONG_NVARCHAR), Value(f"N'{NON_BMP}'", NON_BMP)),
    _spec("text", STRING, (TEXT, 2147483647, None, None), Value("'hello text'", "hello text")),
    _spec("ntext", STRING, (NTEXT, 2147483646, None, None), Value(f"N'{NON_BMP}'", NON_BMP)),
    _spec("xml", STRING, (XML, -1, None, None), Value(f"N'{XML_DOC}'", XML_DOC)),
    _spec("binary(4)", BINARY, (BIGVARBIN, 4, None, None), Value("0x0102", b"\x01\x02\x00\x00")),
    _spec("varbinary(10)", BINARY, (BIGVARBIN, 10, None, None),
          Value("0x", b""), Value("0x00FF", b"\x00\xff")),
    _spec("varbinary(max)", BINARY, (BIGVARBIN, 0, None, None),
          Value("0x" + "AB" * 9000, b"\xab" * 9000), Value("0x", b"")),
    _spec("image", BINARY, (IMAGE, 2147483647, None, None), Value("0x0102FF", b"\x01\x02\xff")),
    # uniqueidentifier travels mixed-endian (uuid.bytes_le); the text form must survive.
    _spec("uniqueidentifier", BINARY, (GUID, None, None, None),
          Value(f"'{GUID_TEXT}'", uuid.UUID(GUID_TEXT)),
          Value("'00000000-0000-0000-0000-000000000000'", uuid.UUID(int=0)),
          Value("'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'", uuid.UUID(int=2**128 - 1))),
]


def spec_id(spec: TypeSpec) -> str:
    return spec.decl.replace("(", "_").replace(")", "").replace(",", "_")


def canonical(value: object) -> tuple:
    """A comparable form that keeps what Python's == forgets (see module doc)."""
    if value is None:
        return ("NULL",)
    name = type(value).__name__
    if isinstance(value, decimal.Decimal):
        return (name, str(value))
    if isinstance(value, float):
        return (name, repr(value))
    if isinstance(value, dt.datetime):
        return (name, value.replace(tzinfo=None).isoformat(), value.utcoffset())
    if isinstance(value, str) and len(value) > 200:
        return (name, len(value), value[:50], value[-50:], hash(value))
    if isinstance(value, bytes) and len(value) > 200:
        return (name, len(value), value[:50], value[-50:], hash(value))
    return (name, value)


def mismatches(actual: list, expected: list, labels: list[str]) -> list[str]:
    """Human-readable differences between two equally long value lists."""
    out = []
    if len(actual) != len(expected):
        out.append(f"got {len(actual)} values, expected {len(expected)}")
    for label, a, e in zip(labels, actual, expected):
        if canonical(a) != canonical(e):
            out.append(f"{label}: got {canonical(a)!r}, expected {canonical(e)!r}")
    return out


# Rows of the generated table used by cancel and drop tests: enough that reading
# it all takes far longer than a prompt cancel, small enough to build in a second.
BIG_ROWS = 100_000


def create_big(cur, name: str) -> None:
    """BIG_ROWS rows (ids 1..BIG_ROWS) built server-side by cross-joining a digits table."""
    cur.execute("CREATE TABLE dbo.digits (n int NOT NULL)")
    cur.execute("INSERT INTO dbo.digits (n) VALUES " + ", ".join(f"({n})" for n in range(10)))
    cur.execute(f"CREATE TABLE dbo.{name} (id int NOT NULL PRIMARY KEY, pad nvarchar(40) NULL)")
    cur.execute(
        f"INSERT INTO dbo.{name} (id, pad) "
        "SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n, "
        "N'padding-padding-padding' "
        "FROM dbo.digits AS a CROSS JOIN dbo.digits AS b CROSS JOIN dbo.digits AS c "
        "CROSS JOIN dbo.digits AS d CROSS JOIN dbo.digits AS e"
    )
    assert cur.rowcount == BIG_ROWS
