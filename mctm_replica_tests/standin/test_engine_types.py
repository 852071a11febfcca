"""Engine API (no network): every declared type's min/max/NULL round trip and metadata."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from mctm_replica.standin.contract import (
    Column, DateTime2Ticks, DateTimeOffsetTicks, ResultSet, RowCount, TimeTicks,
)
from mctm_replica.standin.engine import DuckEngine


@pytest.fixture(scope="module")
def sess():
    engine = DuckEngine()
    s = engine.connect("master", spid=52, login="sa")
    yield s
    s.close()
    engine.close()


def one(s, sql, params=None) -> ResultSet:
    results = list(s.execute(sql, params))
    rs = results[-1]
    assert isinstance(rs, ResultSet)
    rs.rows = [r for b in rs.value_batches() for r in b]  # type: ignore[assignment]
    return rs


# (declared type, T-SQL literal, expected contract value)
CASES = [
    ("bit", "1", True), ("bit", "0", False),
    ("tinyint", "0", 0), ("tinyint", "255", 255),
    ("smallint", "-32768", -32768), ("smallint", "32767", 32767),
    ("int", "-2147483648", -2147483648), ("int", "2147483647", 2147483647),
    ("bigint", "-9223372036854775808", -9223372036854775808), ("bigint", "9223372036854775807", 9223372036854775807),
    ("decimal(38,0)", "99999999999999999999999999999999999999", Decimal("99999999999999999999999999999999999999")),
    ("decimal(38,38)", "0.99999999999999999999999999999999999999", Decimal("0.99999999999999999999999999999999999999")),
    ("decimal(38,38)", "-0.00000000000000000000000000000000000001", Decimal("-1E-38")),  # no exponent text to DuckDB
    ("decimal(10,2)", "1000000.00", Decimal("1000000.00")),
    ("numeric(18,4)", "-12345678901234.5678", Decimal("-12345678901234.5678")),
    ("money", "-922337203685477.5808", Decimal("-922337203685477.5808")),
    ("money", "922337203685477.5807", Decimal("922337203685477.5807")),
    ("smallmoney", "-214748.3648", Decimal("-214748.3648")), ("smallmoney", "214748.3647", Decimal("214748.3647")),
    ("float", "-1.79E+308", -1.79e308), ("float", "2.23E-308", 2.23e-308),
    ("real", "3.40E+38", 3.3999999521443642e38), ("real", "1.5", 1.5),
    ("date", "'0001-01-01'", dt.date(1, 1, 1)), ("date", "'9999-12-31'", dt.date(9999, 12, 31)),
    ("time(7)", "'23:59:59.9999999'", 863999999999), ("time(0)", "'12:34:56.5'", 452970000000),
    ("time(3)", "'00:00:00.0005'", 10000),
    ("datetime", "'1753-01-01 00:00:00'", dt.datetime(1753, 1, 1)),
    ("datetime", "'9999-12-31 23:59:59.997'", dt.datetime(9999, 12, 31, 23, 59, 59, 997000)),
    ("datetime", "'2024-01-02 03:04:05.001'", dt.datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime", "'2024-01-02 03:04:05.005'", dt.datetime(2024, 1, 2, 3, 4, 5, 7000)),
    ("datetime", "'2024-01-02 23:59:59.999'", dt.datetime(2024, 1, 3)),
    ("smalldatetime", "'1900-01-01 00:00'", dt.datetime(1900, 1, 1)),
    ("smalldatetime", "'2079-06-06 23:59'", dt.datetime(2079, 6, 6, 23, 59)),
    ("smalldatetime", "'2024-01-01 10:20:30'", dt.datetime(2024, 1, 1, 10, 21)),
    ("datetime2(7)", "'0001-01-01 00:00:00'", 0),
    ("datetime2(7)", "'9999-12-31 23:59:59.9999999'", 3155378975999999999),
    ("datetime2(0)", "'2024-01-02 03:04:05.4'", 638397614450000000),
    ("datetime2(3)", "'2024-01-02 03:04:05.1235'", 638397614451240000),
    ("datetimeoffset(7)", "'9999-12-31 23:59:59.9999999 +14:00'", (3155378471999999999, 840)),
    ("datetimeoffset(7)", "'0001-01-01 14:00:00 +14:00'", (0, 840)),
    ("datetimeoffset(0)", "'2024-01-02T03:04:05-08:30'", (638397920450000000, -510)),
    ("char(5)", "'ab'", "ab   "), ("varchar(10)", "''", ""), ("varchar(max)", "'x'", "x"),
    ("text", "'legacy'", "legacy"),
    ("nchar(3)", "N'日本'", "日本 "), ("nvarchar(20)", "N'日本語テキスト𠮷😀'", "日本語テキスト𠮷😀"),
    ("nvarchar(max)", "N''", ""), ("ntext", "N'ｎｔｅｘｔ'", "ｎｔｅｘｔ"), ("xml", "N'<a b=\"1\"/>'", '<a b="1" />'),
    ("binary(4)", "0x0102", b"\x01\x02\x00\x00"), ("varbinary(10)", "0x", b""),
    ("varbinary(max)", "0xDEADBEEF", b"\xde\xad\xbe\xef"), ("image", "0xFF00", b"\xff\x00"),
    ("uniqueidentifier", "'6F9619FF-8B86-D011-B42D-00C04FD430C8'", uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FD430C8")),
]


@pytest.mark.parametrize(("decl", "literal", "expected"), CASES)
def test_insert_select_round_trip(sess, decl, literal, expected):
    name = "rt_" + uuid.uuid4().hex[:8]
    list(sess.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v {decl} NULL)"))
    out = list(sess.execute(f"INSERT INTO {name} (id, v) VALUES (1, {literal}), (2, NULL)"))
    assert out == [RowCount(2)]
    rs = one(sess, f"SELECT v FROM {name} ORDER BY id")
    assert rs.rows == [(expected,), (None,)]
    value = rs.rows[0][0]
    assert type(value) is type(expected)
    # the same literal through CAST gives the same value and declared type
    cast = one(sess, f"SELECT CAST({literal} AS {decl})")
    assert cast.rows == [(expected,)]
    assert cast.columns[0].type == rs.columns[0].type
    list(sess.execute(f"DROP TABLE {name}"))


SERVER = "SQL_Latin1_General_CP1_CI_AS"  # a database created without COLLATE has the server's


def test_declared_metadata_of_every_type(sess):
    list(sess.execute(
        "CREATE TABLE meta (a bit NOT NULL, b tinyint, c decimal(18,3), d numeric(5,2), e money, f float, g real,"
        " h time(3), i datetime2, j datetimeoffset(0), k char(3), l varchar(max), m nchar(4), n nvarchar(50),"
        " o ntext, p xml, q binary(8), r varbinary(max), s image, t rowversion, u uniqueidentifier,"
        " w int IDENTITY(1,1), x smalldatetime, y datetime, z date, aa text, bb smallmoney)"))
    rs = one(sess, "SELECT * FROM meta")
    assert rs.rows == []
    assert rs.columns == [
        Column("a", "bit", nullable=False), Column("b", "tinyint"), Column("c", "decimal", precision=18, scale=3),
        Column("d", "numeric", precision=5, scale=2), Column("e", "money"), Column("f", "float"), Column("g", "real"),
        Column("h", "time", scale=3), Column("i", "datetime2", scale=7), Column("j", "datetimeoffset", scale=0),
        Column("k", "char", length=3, collation=SERVER), Column("l", "varchar", length=-1, collation=SERVER),
        Column("m", "nchar", length=4, collation=SERVER), Column("n", "nvarchar", length=50, collation=SERVER),
        Column("o", "ntext", length=-1, collation=SERVER), Column("p", "xml", length=-1),
        Column("q", "binary", length=8), Column("r", "varbinary", length=-1), Column("s", "image", length=-1),
        Column("t", "rowversion", nullable=False), Column("u", "uniqueidentifier"),
        Column("w", "int", nullable=False, identity=True), Column("x", "smalldatetime"), Column("y", "datetime"),
        Column("z", "date"), Column("aa", "text", length=-1, collation=SERVER), Column("bb", "smallmoney"),
    ]


def test_expression_types(sess):
    list(sess.execute("CREATE TABLE ex (id int, d2 datetime2(3), m money, v varchar(20), n nvarchar(10))"))
    list(sess.execute("INSERT INTO ex VALUES (5, '2024-01-01 10:00:00.123', 1.5, 'abc  ', N'日本')"))
    agg = one(sess, "SELECT COUNT(*), COUNT_BIG(*), MIN(d2), MAX(m), SUM(id), AVG(id) FROM ex")
    assert [(c.type, c.scale) for c in agg.columns] == [
        ("int", None), ("bigint", None), ("datetime2", 3), ("money", None), ("int", None), ("int", None)]
    assert agg.rows == [(1, 1, 638397000001230000, Decimal("1.5000"), 5, 5)]
    rs = one(sess, "SELECT CAST(id AS bigint), CONVERT(nvarchar(7), v), N'abc', 'abcd', 1, 1.50, 3000000000, @@SPID,"
                   " DB_NAME(), v + n, LEN(v), DATALENGTH(v), DATALENGTH(n), @@TRANCOUNT, id / 2, ISNULL(v, 1) FROM ex")
    got = [(c.name, c.type, c.length, c.precision, c.scale) for c in rs.columns]
    assert got == [
        ("", "bigint", None, None, None), ("", "nvarchar", 7, None, None), ("", "nvarchar", 3, None, None),
        ("", "varchar", 4, None, None), ("", "int", None, None, None), ("", "numeric", None, 3, 2),
        ("", "numeric", None, 10, 0), ("", "smallint", None, None, None), ("", "nvarchar", 128, None, None),
        ("", "nvarchar", 30, None, None), ("", "int", None, None, None), ("", "int", None, None, None),
        ("", "int", None, None, None), ("", "int", None, None, None), ("", "int", None, None, None),
        ("", "varchar", 20, None, None),
    ]
    assert rs.rows == [(5, "abc  ", "abc", "abcd", 1, Decimal("1.50"), Decimal(3000000000), 52, "master",
                        "abc  日本", 3, 5, 4, 0, 2, "abc  ")]
    other = one(sess, "SELECT GETDATE(), SYSDATETIME(), NEWID(), @@VERSION")
    assert [c.type for c in other.columns] == ["datetime", "datetime2", "uniqueidentifier", "nvarchar"]
    assert other.rows[0][3].startswith("Microsoft SQL Server 2022")
    named = one(sess, "SELECT id AS [Alias], v, total = id + 1 FROM ex")
    assert [c.name for c in named.columns] == ["Alias", "v", "total"]
    assert named.rows == [(5, "abc  ", 6)]


def test_rowversion_increases_on_insert_and_update(sess):
    list(sess.execute("CREATE TABLE rv (id int PRIMARY KEY, v int, ts rowversion)"))
    list(sess.execute("INSERT INTO rv (id, v) VALUES (1, 1), (2, 2)"))
    before = dict(one(sess, "SELECT id, ts FROM rv").rows)
    assert all(isinstance(b, bytes) and len(b) == 8 for b in before.values())
    list(sess.execute("UPDATE rv SET v = 5 WHERE id = 1"))
    after = dict(one(sess, "SELECT id, ts FROM rv").rows)
    assert after[2] == before[2]
    assert after[1] > max(before.values())


def test_parameters_in_contract_representations(sess):
    list(sess.execute("CREATE TABLE pr (id bigint PRIMARY KEY, d2 datetime2(7), dto datetimeoffset(7), t time(7),"
                      " dtm datetime, dt date, g uniqueidentifier, b varbinary(max), s nvarchar(max), m money)"))
    params = {"id": 7, "d2": DateTime2Ticks(638400000001234567, 7), "dto": DateTimeOffsetTicks(638400000001234567, -300, 7),
              "t": TimeTicks(123456789, 7),
              "dtm": dt.datetime(2024, 1, 2, 3, 4, 5, 3000), "dt": dt.date(2024, 2, 29), "g": uuid.UUID(int=9),
              "b": b"\x00" * 1000, "s": "日本" * 300, "m": Decimal("12.3400")}
    out = list(sess.execute("INSERT INTO pr VALUES (@id, @d2, @dto, @t, @dtm, @dt, @g, @b, @s, @m)", params))
    assert out == [RowCount(1)]
    rs = one(sess, "SELECT * FROM pr WHERE d2 = @d2 AND dto >= @dto AND id = @id",
             {"d2": DateTime2Ticks(638400000001234567, 7), "dto": DateTimeOffsetTicks(638400000001234567, 60, 7), "id": 7})
    assert rs.rows == [(7, 638400000001234567, (638400000001234567, -300), 123456789,
                        dt.datetime(2024, 1, 2, 3, 4, 5, 3000), dt.date(2024, 2, 29), uuid.UUID(int=9),
                        b"\x00" * 1000, "日本" * 300, Decimal("12.3400"))]
    # a string parameter compared with a datetime2 column is converted exactly
    rs = one(sess, "SELECT id FROM pr WHERE d2 = @s", {"s": "2024-01-04 21:20:00.1234567"})
    assert rs.rows == [(7,)]


def test_literal_comparisons_on_tick_columns(sess):
    list(sess.execute("CREATE TABLE tc (id int, d2 datetime2(7), t time(7), dto datetimeoffset(7))"))
    list(sess.execute("INSERT INTO tc VALUES (1, '2024-01-01 00:00:00.0000001', '10:00:00.0000001', "
                      "'2024-01-01 09:00:00 +09:00'), (2, '2024-01-01 00:00:00', '10:00:00', '2024-01-01 01:00:00 +00:00')"))
    assert one(sess, "SELECT id FROM tc WHERE d2 > '2024-01-01'").rows == [(1,)]
    assert one(sess, "SELECT id FROM tc WHERE t BETWEEN '10:00' AND '10:00:00.0000001' ORDER BY id").rows == [(1,), (2,)]
    assert one(sess, "SELECT id FROM tc WHERE dto < '2024-01-01 00:30:00 +00:00'").rows == [(1,)]
    assert one(sess, "SELECT MAX(d2), MIN(dto) FROM tc").rows == [(638396640000000001, (638396640000000000, 540))]
    # datetimeoffset compares by the UTC instant, whatever the offsets
    assert one(sess, "SELECT id FROM tc WHERE dto = '2024-01-01 03:00:00 +03:00'").rows == [(1,)]
    assert one(sess, "SELECT id FROM tc ORDER BY dto DESC").rows == [(2,), (1,)]


def test_conversions_and_styles(sess):
    rs = one(sess, "SELECT CONVERT(varchar(23), CAST('2024-01-02 03:04:05.123' AS datetime), 121),"
                   " CONVERT(varchar(30), CAST('2024-01-02 03:04:05.1234567' AS datetime2), 126),"
                   " CONVERT(varchar(8), CAST('2024-01-02' AS date), 112), CAST(1.9 AS int), CAST(-1.9 AS int),"
                   " CAST('abcdef' AS varchar(3)), CAST(12.5 AS varchar(10)), CAST(' 42 ' AS int),"
                   " CAST(CAST('2024-01-02 03:04:05.1234567' AS datetime2) AS datetime)")
    assert rs.rows == [("2024-01-02 03:04:05.123", "2024-01-02T03:04:05.1234567", "20240102", 1, -1, "abc", "12.5", 42,
                        dt.datetime(2024, 1, 2, 3, 4, 5, 123000))]


def test_large_binary_and_text(sess):
    list(sess.execute("CREATE TABLE big (id int, b varbinary(max), s nvarchar(max))"))
    blob = bytes(range(256)) * 40960  # 10 MB
    list(sess.execute("INSERT INTO big VALUES (1, @b, @s)", {"b": blob, "s": "𠮷" * 100000}))
    rs = one(sess, "SELECT b, s, DATALENGTH(b), DATALENGTH(s), LEN(s) FROM big")
    # LEN counts UTF-16 code units: each character outside the BMP is two (non-SC collation)
    assert rs.rows == [(blob, "𠮷" * 100000, 10485760, 400000, 200000)]


def test_xml_is_stored_parsed(sess):
    rs = one(sess, "SELECT CAST(N'<?xml version=\"1.0\"?><a> <b/><c x=''1''></c><d>t &amp; u</d></a>' AS xml)")
    assert rs.rows == [('<a><b /><c x="1" /><d>t &amp; u</d></a>',)]


def test_packed_columns_keep_order_and_values_across_batches(sess):
    """Packed columns come from a wrapping SELECT: ORDER BY must survive it, in every batch."""
    list(sess.execute("CREATE TABLE pk (id int NOT NULL, m money, d decimal(18,4), g uniqueidentifier,"
                      " dto datetimeoffset(3), d2 datetime2(7))"))
    list(sess.execute("CREATE TABLE pkn (n int NOT NULL)"))
    list(sess.execute("INSERT INTO pkn VALUES " + ", ".join(f"({i})" for i in range(100))))
    list(sess.execute("INSERT INTO pk SELECT a.n * 100 + b.n, CAST(a.n * 100 + b.n AS money) / 4,"
                      " CAST(-(a.n * 100 + b.n) AS decimal(18,4)) / 8,"
                      " CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS uniqueidentifier),"
                      " CAST('2024-06-01 12:00:00.123 +09:00' AS datetimeoffset(3)),"
                      " CAST('2020-01-01T00:00:00.1234567' AS datetime2(7))"
                      " FROM pkn AS a CROSS JOIN pkn AS b WHERE a.n < 50"))
    results = list(sess.execute("SELECT id, m, d, g, dto, d2 FROM pk ORDER BY id DESC"))
    rs = results[-1]
    assert rs.packed == frozenset({1, 2, 3, 4, 5})
    batches = list(rs.value_batches())
    assert len(batches) > 1
    got = [r for b in batches for r in b]
    assert [r[0] for r in got] == list(range(4999, -1, -1))
    assert got[0][1:] == (Decimal("1249.7500"), Decimal("-624.8750"), uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
                          (638528076001230000, 540), 637134336001234567)  # UTC 03:00:00.123
