"""Catalog and query-shape conformance: what the replicator asks SQL Server about tables.

INFORMATION_SCHEMA.COLUMNS for a table of every type, primary keys through
TABLE_CONSTRAINTS + KEY_COLUMN_USAGE, sys.tables/columns/types/indexes/partitions,
COUNT_BIG(*) WITH (NOLOCK), TOP / ORDER BY / OFFSET FETCH and MIN/MAX -- each with
the exact rows (and value types) real SQL Server returns.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

import pymssql
import pytest

from expected_values import canonical, tz

D = decimal.Decimal

# (column, declared type, nullable) -> INFORMATION_SCHEMA.COLUMNS
# (DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION,
#  NUMERIC_SCALE, DATETIME_PRECISION) and sys.columns
# (system_type_id, max_length in bytes, precision, scale).
EVERY_TYPE = [
    ("c_bit", "bit", True, ("bit", None, None, None, None, None), (104, 1, 1, 0)),
    ("c_tinyint", "tinyint", True, ("tinyint", None, None, 3, 0, None), (48, 1, 3, 0)),
    ("c_smallint", "smallint", True, ("smallint", None, None, 5, 0, None), (52, 2, 5, 0)),
    ("c_int", "int", False, ("int", None, None, 10, 0, None), (56, 4, 10, 0)),
    ("c_bigint", "bigint", True, ("bigint", None, None, 19, 0, None), (127, 8, 19, 0)),
    ("c_dec38", "decimal(38,0)", True, ("decimal", None, None, 38, 0, None), (106, 17, 38, 0)),
    ("c_dec18", "decimal(18,4)", True, ("decimal", None, None, 18, 4, None), (106, 9, 18, 4)),
    ("c_num", "numeric(10,5)", True, ("numeric", None, None, 10, 5, None), (108, 9, 10, 5)),
    ("c_money", "money", True, ("money", None, None, 19, 4, None), (60, 8, 19, 4)),
    ("c_smallmoney", "smallmoney", True, ("smallmoney", None, None, 10, 4, None), (122, 4, 10, 4)),
    ("c_float", "float", True, ("float", None, None, 53, None, None), (62, 8, 53, 0)),
    ("c_real", "real", True, ("real", None, None, 24, None, None), (59, 4, 24, 0)),
    ("c_date", "date", False, ("date", None, None, None, None, 0), (40, 3, 10, 0)),
    ("c_time0", "time(0)", True, ("time", None, None, None, None, 0), (41, 3, 8, 0)),
    ("c_time7", "time(7)", True, ("time", None, None, None, None, 7), (41, 5, 16, 7)),
    ("c_datetime", "datetime", True, ("datetime", None, None, None, None, 3), (61, 8, 23, 3)),
    ("c_smalldt", "smalldatetime", True, ("smalldatetime", None, None, None, None, 0),
      (58, 4, 16, 0)),
    ("c_dt2_0", "datetime2(0)", True, ("datetime2", None, None, None, None, 0), (42, 6, 19, 0)),
    ("c_dt2_3", "datetime2(3)", True, ("datetime2", None, None, None, None, 3), (42, 7, 23, 3)),
    ("c_dt2_7", "datetime2(7)", True, ("datetime2", None, None, None, None, 7), (42, 8, 27, 7)),
    ("c_dto0", "datetimeoffset(0)", True, ("datetimeoffset", None, None, None, None, 0),
      (43, 8, 26, 0)),
    ("c_dto7", "datetimeoffset(7)", True, ("datetimeoffset", None, None, None, None, 7),
      (43, 10, 34, 7)),
    ("c_char", "char(5)", True, ("char", 5, 5, None, None, None), (175, 5, 0, 0)),
    ("c_varchar", "varchar(10)", True, ("varchar", 10, 10, None, None, None), (167, 10, 0, 0)),
    ("c_varcharmax", "varchar(max)", True, ("varchar", -1, -1, None, None, None), (167, -1, 0, 0)),
    ("c_nchar", "nchar(5)", True, ("nchar", 5, 10, None, None, None), (239, 10, 0, 0)),
    ("c_nvarchar", "nvarchar(20)", False, ("nvarchar", 20, 40, None, None, None), (231, 40, 0, 0)),
    ("c_nvarcharmax", "nvarchar(max)", True, ("nvarchar", -1, -1, None, None, None),
      (231, -1, 0, 0)),
    ("c_text", "text", True, ("text", 2147483647, 2147483647, None, None, None), (35, 16, 0, 0)),
    ("c_ntext", "ntext", True, ("ntext", 1073741823, 2147483646, None, None, None), (99, 16, 0, 0)),
    ("c_xml", "xml", True, ("xml", -1, -1, None, None, None), (241, -1, 0, 0)),
    ("c_binary", "binary(4)", True, ("binary", 4, 4, None, None, None), (173, 4, 0, 0)),
    ("c_varbinary", "varbinary(10)", True, ("varbinary", 10, 10, None, None, None),
      (165, 10, 0, 0)),
    ("c_varbinarymax", "varbinary(max)", True, ("varbinary", -1, -1, None, None, None),
      (165, -1, 0, 0)),
    ("c_image", "image", True, ("image", 2147483647, 2147483647, None, None, None), (34, 16, 0, 0)),
    ("c_guid", "uniqueidentifier", True, ("uniqueidentifier", None, None, None, None, None),
      (36, 16, 0, 0)),
]


def _canon_rows(rows) -> list[tuple]:
    return [tuple(canonical(v) for v in r) for r in rows]


def _create_every(cur) -> None:
    cols = ", ".join(
        f"{n} {d} {'NULL' if nullable else 'NOT NULL'}" for n, d, nullable, _, _ in EVERY_TYPE
    )
    cur.execute(f"CREATE TABLE dbo.every (id int IDENTITY(1,1) NOT NULL PRIMARY KEY, {cols})")


def test_information_schema_columns_for_every_type(td):
    cur = td.cursor()
    _create_every(cur)
    cur.execute(
        "SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, "
        "CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE "
        "FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'dbo' AND TABLE_NAME = 'every' "
        "ORDER BY ORDINAL_POSITION"
    )
    got = cur.fetchall()
    expected = [("id", 1, "int", None, None, 10, 0, None, "NO")] + [
        (name, pos, *info, "YES" if nullable else "NO")
        for pos, (name, _decl, nullable, info, _sys) in enumerate(EVERY_TYPE, 2)
    ]
    diffs = [(e[0], g, e) for g, e in zip(_canon_rows(got), _canon_rows(expected)) if g != e]
    assert len(got) == len(expected)
    assert diffs == []
    # The view's declared column types: ORDINAL_POSITION int, CHARACTER_MAXIMUM_LENGTH int,
    # NUMERIC_PRECISION tinyint, NUMERIC_SCALE int, DATETIME_PRECISION smallint.
    assert [d[1] for d in cur.description[1:8]] == [56, 231, 56, 56, 48, 56, 52]


def test_sys_columns_for_every_type(td):
    cur = td.cursor()
    _create_every(cur)
    cur.execute(
        "SELECT c.name, c.column_id, c.system_type_id, c.user_type_id, c.max_length, c.precision, "
        "c.scale, c.is_nullable, c.is_identity FROM sys.columns AS c "
        "WHERE c.object_id = OBJECT_ID(N'dbo.every') ORDER BY c.column_id"
    )
    got = cur.fetchall()
    expected = [("id", 1, 56, 56, 4, 10, 0, False, True)] + [
        (name, cid, sys_[0], sys_[0], sys_[1], sys_[2], sys_[3], nullable, False)
        for cid, (name, _decl, nullable, _info, sys_) in enumerate(EVERY_TYPE, 2)
    ]
    diffs = [(e[0], g, e) for g, e in zip(_canon_rows(got), _canon_rows(expected)) if g != e]
    assert len(got) == len(expected)
    assert diffs == []


def test_composite_primary_key_through_information_schema(td, fresh_db):
    cur = td.cursor()
    cur.execute(
        "CREATE TABLE dbo.ck (a int NOT NULL, b nvarchar(10) NOT NULL, c int NULL, "
        "CONSTRAINT PK_ck PRIMARY KEY (b, a))"
    )
    cur.execute(
        "SELECT CONSTRAINT_CATALOG, TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE "
        "FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE TABLE_NAME = 'ck'"
    )
    assert cur.fetchall() == [(fresh_db, "dbo", "ck", "PK_ck", "PRIMARY KEY")]
    cur.execute(
        "SELECT kcu.COLUMN_NAME, kcu.ORDINAL_POSITION "
        "FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS tc "
        "JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS kcu "
        "  ON kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND kcu.TABLE_SCHEMA = tc.TABLE_SCHEMA "
        "  AND kcu.TABLE_NAME = tc.TABLE_NAME "
        "WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY' AND tc.TABLE_SCHEMA = 'dbo' "
        "AND tc.TABLE_NAME = 'ck' "
        "ORDER BY kcu.ORDINAL_POSITION"
    )
    assert cur.fetchall() == [("b", 1), ("a", 2)]
    cur.execute(
        "SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES "
        "ORDER BY TABLE_NAME"
    )
    assert cur.fetchall() == [(fresh_db, "dbo", "ck", "BASE TABLE")]


def test_sys_tables_indexes_partitions_and_counts(td):
    cur = td.cursor()
    cur.execute(
        "CREATE TABLE dbo.keyed (id int NOT NULL, v nvarchar(10) NULL, "
        "CONSTRAINT PK_keyed PRIMARY KEY (id))"
    )
    cur.execute("CREATE TABLE dbo.heap (v int NULL)")
    cur.execute("INSERT INTO dbo.keyed (id, v) VALUES (1, N'a'), (2, N'b'), (3, NULL)")
    cur.execute("INSERT INTO dbo.heap (v) VALUES (1), (2), (3), (4), (5)")

    cur.execute(
        "SELECT name, SCHEMA_NAME(schema_id), type, type_desc FROM sys.tables ORDER BY name"
    )
    # sys.objects.type is char(2): 'U' comes back padded.
    assert cur.fetchall() == [
        ("heap", "dbo", "U ", "USER_TABLE"),
        ("keyed", "dbo", "U ", "USER_TABLE"),
    ]

    cur.execute(
        "SELECT t.name, i.name, i.index_id, i.type, i.type_desc, i.is_primary_key, i.is_unique "
        "FROM sys.indexes AS i JOIN sys.tables AS t ON t.object_id = i.object_id ORDER BY t.name"
    )
    assert _canon_rows(cur.fetchall()) == _canon_rows([
        ("heap", None, 0, 0, "HEAP", False, False),
        ("keyed", "PK_keyed", 1, 1, "CLUSTERED", True, True),
    ])

    cur.execute(
        "SELECT SUM(p.rows) FROM sys.partitions AS p "
        "WHERE p.object_id = OBJECT_ID(N'dbo.keyed') AND p.index_id IN (0, 1)"
    )
    assert cur.fetchall() == [(3,)]
    cur.execute(
        "SELECT SUM(p.rows) FROM sys.partitions AS p "
        "WHERE p.object_id = OBJECT_ID('dbo.heap') AND p.index_id IN (0, 1)"
    )
    assert cur.fetchall() == [(5,)]

    cur.execute("SELECT COUNT_BIG(*) FROM dbo.keyed WITH (NOLOCK)")
    assert cur.fetchall() == [(3,)]
    assert cur.description[0][:2] == ("", 127)  # bigint
    cur.execute("SELECT COUNT(*) AS n FROM dbo.heap")
    assert cur.fetchall() == [(5,)]
    assert cur.description[0][:2] == ("n", 56)  # int


def test_sys_types_rows(td):
    cur = td.cursor()
    cur.execute(
        "SELECT name, system_type_id, user_type_id, max_length, precision, scale FROM sys.types "
        "WHERE name IN ('int', 'nvarchar', 'decimal', 'datetime2', 'timestamp', 'bit') "
        "ORDER BY name"
    )
    assert _canon_rows(cur.fetchall()) == _canon_rows([
        ("bit", 104, 104, 1, 1, 0),
        ("datetime2", 42, 42, 8, 27, 7),
        ("decimal", 106, 106, 17, 38, 38),
        ("int", 56, 56, 4, 10, 0),
        ("nvarchar", 231, 231, 8000, 0, 0),
        ("timestamp", 189, 189, 8, 0, 0),
    ])


@pytest.fixture
def ten(td):
    cur = td.cursor()
    cur.execute(
        "CREATE TABLE dbo.ten (id int NOT NULL PRIMARY KEY, name nvarchar(10) NULL, "
        "amount money NULL, "
        "d2 datetime2(7) NULL, dto datetimeoffset(7) NULL, q decimal(18,4) NULL)"
    )
    cur.execute(
        "INSERT INTO dbo.ten (id, name, amount, d2, dto, q) VALUES "
        "(1, N'b', 10.5, '2024-01-01 00:00:00.0000001', '2024-01-01 10:00:00 +09:00', 1.5), "
        "(2, N'A', -3, '2024-06-30 23:59:59.9999999', '2024-01-01 02:00:00 +00:00', -2.25), "
        "(3, N'C', 0, '2023-12-31 12:00:00', '2024-01-01 01:30:00 +00:00', 0), "
        "(4, NULL, NULL, NULL, NULL, NULL), "
        "(5, N'e', 1, '2024-02-02', '2024-01-01 00:00:00 -05:00', 3), "
        "(6, N'f', 2, '2024-02-03', '2024-01-01 00:00:00 +05:00', 4), "
        "(7, N'g', 3, '2024-02-04', '2024-01-01 00:00:00 +00:00', 5), "
        "(8, N'h', 4, '2024-02-05', '2024-01-02 00:00:00 +00:00', 6), "
        "(9, N'i', 5, '2024-02-06', '2024-01-03 00:00:00 +00:00', 7), "
        "(10, N'j', 6, '2024-02-07', '2024-01-04 00:00:00 +00:00', 8)"
    )
    return td


def test_top_order_by_offset_fetch(ten):
    cur = ten.cursor()
    cur.execute("SELECT TOP (3) id FROM dbo.ten ORDER BY id DESC")
    assert cur.fetchall() == [(10,), (9,), (8,)]
    cur.execute("SELECT TOP 2 id FROM dbo.ten ORDER BY id")
    assert cur.fetchall() == [(1,), (2,)]
    cur.execute("SELECT id FROM dbo.ten ORDER BY id OFFSET 2 ROWS FETCH NEXT 3 ROWS ONLY")
    assert cur.fetchall() == [(3,), (4,), (5,)]
    cur.execute(
        "SELECT id FROM dbo.ten WHERE id > 5 ORDER BY id OFFSET 0 ROWS FETCH FIRST 2 ROWS ONLY"
    )
    assert cur.fetchall() == [(6,), (7,)]
    # Case-insensitive collation orders 'A' < 'b' < 'C'; NULL sorts first ascending.
    cur.execute("SELECT TOP (4) name FROM dbo.ten ORDER BY name")
    assert cur.fetchall() == [(None,), ("A",), ("b",), ("C",)]
    # datetimeoffset sorts by instant, not by wall-clock text.
    cur.execute("SELECT TOP (3) id FROM dbo.ten WHERE dto IS NOT NULL ORDER BY dto")
    assert cur.fetchall() == [(6,), (7,), (1,)]


def test_table_value_constructor_and_derived_tables(td):
    cur = td.cursor()
    cur.execute(
        "SELECT a.n * 10 + b.n AS v FROM (VALUES (0), (1)) AS a(n) "
        "CROSS JOIN (VALUES (1), (2)) AS b(n) ORDER BY v DESC"
    )
    assert cur.fetchall() == [(12,), (11,), (2,), (1,)]
    cur.execute("SELECT x.k, x.s FROM (VALUES (1, N'一'), (2, N'二')) AS x(k, s) WHERE x.k > 1")
    assert cur.fetchall() == [(2, "二")]
    assert [d[1] for d in cur.description] == [56, 231]


def test_min_max_keep_type_and_precision(ten, ms):
    cur = ten.cursor()
    cur.execute(
        "SELECT MIN(id), MAX(id), MIN(name), MAX(name), MIN(amount), MAX(amount), "
        "MIN(d2), MAX(d2), "
        "MIN(dto), MAX(dto), MIN(q), MAX(q) FROM dbo.ten"
    )
    row = cur.fetchone()
    expected_pytds = (
        1, 10, "A", "j", D("-3"), D("10.5"),
        dt.datetime(2023, 12, 31, 12), dt.datetime(2024, 6, 30, 23, 59, 59, 999999),
        dt.datetime(2024, 1, 1, 0, 0, tzinfo=tz(300)), dt.datetime(2024, 1, 4, tzinfo=tz(0)),
        D("-2.25"), D("8"),
    )
    assert [canonical(v) for v in row] == [canonical(v) for v in expected_pytds]
    # MAX keeps the declared type: money -> MONEYN, datetime2(7) -> precision 7.
    assert [d[1] for d in cur.description] == [56, 56, 231, 231, 60, 60, 42, 42, 43, 43, 106, 106]

    mcur = ms.cursor()
    mcur.execute("SELECT MIN(amount), MAX(amount), MAX(d2), MIN(q) FROM dbo.ten")
    assert [canonical(v) for v in mcur.fetchone()] == [
        canonical(D("-3.0000")), canonical(D("10.5000")),
        canonical(dt.datetime(2024, 6, 30, 23, 59, 59, 999999)), canonical(D("-2.2500")),
    ]


def test_where_comparisons_follow_sql_server_semantics(td, ms):
    """Filters the replicator uses for watermarks and keys compare as SQL Server does."""
    cur = td.cursor()
    cur.execute(
        "CREATE TABLE dbo.w (id int NOT NULL PRIMARY KEY, name nvarchar(10) NULL, "
        "code varchar(10) NULL, d2 datetime2(7) NULL, dtm datetime NULL, "
        "dto datetimeoffset(7) NULL, g uniqueidentifier NULL)"
    )
    cur.execute(
        "INSERT INTO dbo.w (id, name, code, d2, dtm, dto, g) VALUES "
        "(1, N'Tokyo', 'abc', '2024-06-30 23:59:59.9999998', '2024-01-01 23:59:59.993', "
        " '2024-01-01 09:00:00 +09:00', '6F9619FF-8B86-D011-B42D-00C04FC964FF'), "
        "(2, N'osaka', 'ABC ', '2024-06-30 23:59:59.9999999', '2024-01-01 23:59:59.997', "
        " '2024-01-01 01:00:00 +00:00', NULL)"
    )
    queries = [
        # case-insensitive, trailing blanks ignored in = (not in LIKE)
        ("SELECT id FROM dbo.w WHERE name = N'TOKYO'", [(1,)]),
        ("SELECT id FROM dbo.w WHERE code = 'abc' ORDER BY id", [(1,), (2,)]),
        ("SELECT id FROM dbo.w WHERE code LIKE 'abc' ORDER BY id", [(1,)]),
        ("SELECT id FROM dbo.w WHERE name LIKE N'os%'", [(2,)]),
        # datetime2(7) keeps 100 ns in comparisons
        ("SELECT id FROM dbo.w WHERE d2 > '2024-06-30 23:59:59.9999998'", [(2,)]),
        ("SELECT id FROM dbo.w WHERE d2 >= '2024-06-30 23:59:59.9999998' ORDER BY id",
         [(1,), (2,)]),
        # a string literal is converted to the datetime column's type (.993 -> 1/300 s tick)
        ("SELECT id FROM dbo.w WHERE dtm > '2024-01-01 23:59:59.993'", [(2,)]),
        ("SELECT id FROM dbo.w WHERE dtm = '2024-01-01 23:59:59.993'", [(1,)]),
        # datetimeoffset compares instants: 09:00 +09:00 is 00:00 UTC
        ("SELECT id FROM dbo.w WHERE dto = '2024-01-01 00:00:00 +00:00'", [(1,)]),
        ("SELECT id FROM dbo.w WHERE dto > '2024-01-01 09:30:00 +09:00'", [(2,)]),
        # uniqueidentifier literal in any case
        ("SELECT id FROM dbo.w WHERE g = '6f9619ff-8b86-d011-b42d-00c04fc964ff'", [(1,)]),
        ("SELECT COUNT(*), COUNT(g) FROM dbo.w", [(2, 1)]),
    ]
    for sql, expected in queries:
        cur.execute(sql)
        assert cur.fetchall() == expected, sql
    # pymssql interpolates a datetime as a millisecond string literal: same watermark semantics.
    mcur = ms.cursor()
    mark = dt.datetime(2024, 1, 1, 23, 59, 59, 993000)
    mcur.execute("SELECT id FROM dbo.w WHERE dtm > %s", (mark,))
    assert mcur.fetchall() == [(2,)]
    mark = dt.datetime(2024, 6, 30, 23, 59, 59)
    mcur.execute("SELECT id FROM dbo.w WHERE d2 > %s ORDER BY id", (mark,))
    assert mcur.fetchall() == [(1,), (2,)]


def test_the_replicators_own_queries_through_pymssql(standin, fresh_db, td):
    """The exact SQL mctm_replica.resources.mssql sends (built in mctm_replica.tsql), on a connection opened the way
    it opens one (pymssql, TDS 7.4, autocommit, pymssql's default post-login SET batch)."""
    from mctm_replica.tsql import catalog, quoting, reads

    cur = td.cursor()
    _create_every(cur)
    cur.execute(
        "CREATE TABLE dbo.[odd table] ([SIM No] int NOT NULL, [we]]ird] nvarchar(5) NULL, "
        "[Key2] int NOT NULL, CONSTRAINT PK_odd PRIMARY KEY ([Key2], [SIM No]))"
    )
    cur.execute("INSERT INTO dbo.[odd table] VALUES (1, N'一', 7), (2, NULL, 7)")
    conn = pymssql.connect(
        server=standin.host, port=str(standin.port), user=standin.user, password=standin.password,
        database=fresh_db, tds_version="7.4", appname="mctm_replica", autocommit=True,
        login_timeout=10, timeout=60,
    )
    try:
        mcur = conn.cursor()
        mcur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))")
        version = mcur.fetchone()[0]
        assert isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", version), version
        mcur.execute(catalog.COLUMNS_SQL, ("dbo", "every"))
        rows = mcur.fetchall()
        expected = [("id", "int", None, 10, 0, None, "NO", 1)] + [
            (name, info[0], info[1], info[3], info[4], info[5], "YES" if nullable else "NO", pos)
            for pos, (name, _decl, nullable, info, _sys) in enumerate(EVERY_TYPE, 2)
        ]
        assert _canon_rows(rows) == _canon_rows(expected)
        mcur.execute(catalog.PRIMARY_KEY_SQL, ("dbo", "odd table"))
        assert mcur.fetchall() == [("Key2",), ("SIM No",)]
        mcur.execute(catalog.PRIMARY_KEY_SQL, ("dbo", "every"))
        assert mcur.fetchall() == [("id",)]
        odd = quoting.qualified("dbo", "odd table")
        mcur.execute(f"SELECT COUNT_BIG(*) FROM {odd} WITH (NOLOCK)")
        assert mcur.fetchall() == [(2,)]
        mcur.execute(reads.select_sql("dbo", "odd table", ["SIM No", "we]ird"], nolock=True))
        assert sorted(mcur.fetchmany(10_000), key=str) == [(1, "一"), (2, None)]
    finally:
        conn.close()
