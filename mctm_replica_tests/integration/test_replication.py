"""End to end: SQL Server stand-in over TCP (pymssql) -> Dagster job -> real PostgreSQL.

Expected values are written out: what PostgreSQL must hold after the copy, per the type
map in the README (time precision stops at microseconds, datetimeoffset keeps the
instant, NUL is stripped and counted).
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytds
import pytest
from dagster import AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica.read_check import PROBES
from mctm_replica_tests.integration.replica_helpers import (
    failure_text,
    materialization_metadata,
    run_log_text,
)
from mctm_replica_tests.integration.source_helpers import (
    replica_defs,
    run_checks_only,
    run_job,
    source_rows,
    tsql,
)

UTC = dt.timezone.utc


def pg_fetch(pg_conn, schema: str, table: str, order: str = "id") -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(order)))
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


ALL_TYPES_DDL = """
CREATE TABLE dbo.all_types (
  id int NOT NULL PRIMARY KEY,
  c_bit bit, c_tinyint tinyint, c_smallint smallint, c_int int, c_bigint bigint,
  c_dec380 decimal(38,0), c_dec3810 decimal(38,10), c_num numeric(18,4),
  c_money money, c_smallmoney smallmoney, c_float float, c_real real,
  c_date date, c_time time(7), c_time0 time(0), c_datetime datetime, c_smalldt smalldatetime,
  c_dt2 datetime2(7), c_dt2_3 datetime2(3), c_dto datetimeoffset(7),
  c_char char(10), c_varchar varchar(50), c_varcharmax varchar(max),
  c_nchar nchar(5), c_nvarchar nvarchar(50), c_nvarcharmax nvarchar(max), c_text text, c_ntext ntext,
  c_binary binary(4), c_varbinary varbinary(50), c_varbinarymax varbinary(max), c_image image,
  c_guid uniqueidentifier, c_xml xml
)"""

ALL_TYPES_ROWS = [
    """INSERT INTO dbo.all_types VALUES (1, 0, 0, -32768, -2147483648, -9223372036854775808,
      -99999999999999999999999999999999999999, -9999999999999999999999999999.9999999999,
      -99999999999999.9999, -922337203685477.5808, -214748.3648, -1.79E+308, -3.40E+38,
      '0001-01-01', '00:00:00', '00:00:00', '1753-01-01 00:00:00', '1900-01-01 00:00',
      '0001-01-01 00:00:00', '0001-01-01 00:00:00', '0001-01-01 00:00:00 -14:00',
      '', '', '', N'', N'', N'', '', N'', 0x, 0x, 0x, 0x,
      '00000000-0000-0000-0000-000000000000', N'<a/>')""",
    """INSERT INTO dbo.all_types VALUES (2, 1, 255, 32767, 2147483647, 9223372036854775807,
      99999999999999999999999999999999999999, 9999999999999999999999999999.9999999999,
      99999999999999.9999, 922337203685477.5807, 214748.3647, 1.79E+308, 3.40E+38,
      '9999-12-31', '23:59:59.9999999', '23:59:59', '9999-12-31 23:59:59.997', '2079-06-06 23:59',
      '9999-12-31 23:59:59.9999999', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.9999999 +14:00',
      'ABCDEFGHIJ', 'caf' + CHAR(233) + ' ok', 'long ' + 'text', N'日本語', N'顧客 𠮷😀 Ω',
      N'テキスト', 'legacy', N'レガシー', 0xDEADBEEF, 0x00FF10, 0x0102030405, 0x89504E47,
      '6F9619FF-8B86-D011-B42D-00C04FC964FF', N'<root><item id="1">テキスト</item></root>')""",
    """INSERT INTO dbo.all_types (id, c_varchar, c_nvarchar, c_dt2, c_dto, c_float, c_real)
      VALUES (4, 'mid', N'a' + NCHAR(0) + N'b', '2024-02-29 12:34:56.1234567',
      '2024-06-01 12:34:56.1234567 +09:00', 0.1, 0.1)""",
    "INSERT INTO dbo.all_types (id) VALUES (3)",
]

NONE_ROW_TAIL = (None,) * 34
REAL_COLUMN = 12

EXPECTED = [
    (1, False, 0, -32768, -2147483648, -9223372036854775808,
     Decimal("-99999999999999999999999999999999999999"), Decimal("-9999999999999999999999999999.9999999999"),
     Decimal("-99999999999999.9999"), Decimal("-922337203685477.5808"), Decimal("-214748.3648"),
     -1.79e308, f32(-3.40e38),
     dt.date(1, 1, 1), dt.time(0, 0), dt.time(0, 0), dt.datetime(1753, 1, 1), dt.datetime(1900, 1, 1),
     dt.datetime(1, 1, 1), dt.datetime(1, 1, 1), dt.datetime(1, 1, 1, 14, 0, tzinfo=UTC),
     " " * 10, "", "", " " * 5, "", "", "", "", b"\x00" * 4, b"", b"", b"",
     "00000000-0000-0000-0000-000000000000", "<a />"),  # SQL Server normalises xml
    (2, True, 255, 32767, 2147483647, 9223372036854775807,
     Decimal("99999999999999999999999999999999999999"), Decimal("9999999999999999999999999999.9999999999"),
     Decimal("99999999999999.9999"), Decimal("922337203685477.5807"), Decimal("214748.3647"),
     1.79e308, f32(3.40e38),
     dt.date(9999, 12, 31), dt.time(23, 59, 59, 999999), dt.time(23, 59, 59),
     dt.datetime(9999, 12, 31, 23, 59, 59, 997000), dt.datetime(2079, 6, 6, 23, 59),
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(9999, 12, 31, 23, 59, 59, 999000),
     dt.datetime(9999, 12, 31, 9, 59, 59, 999999, tzinfo=UTC),
     "ABCDEFGHIJ", "café ok", "long text", "日本語  ", "顧客 𠮷😀 Ω", "テキスト", "legacy", "レガシー",
     b"\xde\xad\xbe\xef", b"\x00\xff\x10", b"\x01\x02\x03\x04\x05", b"\x89PNG",
     "6f9619ff-8b86-d011-b42d-00c04fc964ff", '<root><item id="1">テキスト</item></root>'),
    (3,) + NONE_ROW_TAIL,
    (4, None, None, None, None, None, None, None, None, None, None, 0.1, f32(0.1),
     None, None, None, None, None,
     dt.datetime(2024, 2, 29, 12, 34, 56, 123456), None, dt.datetime(2024, 6, 1, 3, 34, 56, 123456, tzinfo=UTC),
     None, "mid", None, None, "ab", None, None, None, None, None, None, None, None, None),
]


@pytest.mark.parametrize("format_on_server", [True, False], ids=["lines-from-server", "typed-values"])
def test_every_mapped_type_round_trips_exactly(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema,
                                               format_on_server):
    tsql(mssql_server, source_db, ALL_TYPES_DDL, *ALL_TYPES_ROWS)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.all_types", "target_table": f"{pg_schema}.all_types"}],
                        format_on_server=format_on_server)
    result = run_job(defs)
    assert result.success, failure_text(result)
    got = pg_fetch(pg_conn, pg_schema, "all_types")
    for g, e in zip(got, EXPECTED, strict=True):
        for i, (gv, ev) in enumerate(zip(g, e, strict=True)):
            if i == REAL_COLUMN and gv is not None:
                gv = f32(gv)  # PostgreSQL prints real in its shortest form; compare as float32
            assert gv == ev, f"row {e[0]} column {i}: {gv!r} != {ev!r}"
    meta = materialization_metadata(result)
    assert meta["rows_copied"].value == 4
    assert meta["nul_stripped"].value == {"c_nvarchar": 1}


TRICKY_TEXT = [
    'say "hi", then leave', "＂fullwidth＂ quotes", "line\nbreak", "crlf\r\nend", "\\.", "\\x41",
    "  padded  ", "", ",", '"', "NULL", "\\N", "tab\there", "末尾の空白　",
]


@pytest.mark.parametrize("format_on_server", [True, False], ids=["lines-from-server", "typed-values"])
def test_text_that_looks_like_csv_syntax_is_copied_exactly(tmp_path, env, mssql_server, source_db, pg_conn,
                                                           pg_schema, format_on_server):
    """Quotes (ASCII and fullwidth), separators, line ends, COPY's end marker and the words
    other formats read as NULL arrive as written; NULL stays distinct from ''."""
    tsql(mssql_server, source_db, "CREATE TABLE dbo.tricky (id int PRIMARY KEY, n nvarchar(40), v varchar(40))",
         *[f"INSERT INTO dbo.tricky VALUES ({i}, N'{t.replace(chr(39), chr(39) * 2)}', "
           f"'{t.replace(chr(39), chr(39) * 2) if t.isascii() else 'x'}')" for i, t in enumerate(TRICKY_TEXT)],
         f"INSERT INTO dbo.tricky VALUES ({len(TRICKY_TEXT)}, NULL, NULL)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.tricky", "target_table": f"{pg_schema}.tricky"}],
                        format_on_server=format_on_server)
    result = run_job(defs)
    assert result.success, failure_text(result)
    expected = [(i, t, t if t.isascii() else "x") for i, t in enumerate(TRICKY_TEXT)] + [(len(TRICKY_TEXT), None, None)]
    assert pg_fetch(pg_conn, pg_schema, "tricky") == expected


@pytest.mark.parametrize("format_on_server", [True, False], ids=["lines-from-server", "typed-values"])
def test_one_column_null_and_empty_and_text_full_of_quotes(tmp_path, env, mssql_server, source_db, pg_conn,
                                                           pg_schema, format_on_server):
    """A one-column row that is NULL is an empty line, not ''; a column of 2,000 quotes
    doubled and enclosed (4,002 characters) is not cut at nvarchar's 4,000."""
    tsql(mssql_server, source_db, "CREATE TABLE dbo.one (v nvarchar(5))",
         "INSERT INTO dbo.one VALUES (NULL), (N''), (N'a')",
         "CREATE TABLE dbo.quotes (id int PRIMARY KEY, q nvarchar(2000), r nvarchar(1999))",
         "INSERT INTO dbo.quotes VALUES (1, REPLICATE(N'\"', 2000), REPLICATE(N'\"', 1999))")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.one", "target_table": f"{pg_schema}.one"},
                                   {"source_table": "dbo.quotes", "target_table": f"{pg_schema}.quotes"}],
                        format_on_server=format_on_server)
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert sorted(pg_fetch(pg_conn, pg_schema, "one", order="v"), key=str) == [("",), ("a",), (None,)]
    assert pg_fetch(pg_conn, pg_schema, "quotes") == [(1, '"' * 2000, '"' * 1999)]


def test_rowversion_copies_as_its_8_bytes(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.rv (id int PRIMARY KEY, v rowversion)",
         "INSERT INTO dbo.rv (id) VALUES (1), (2)")
    source = source_rows(mssql_server, source_db, "SELECT id, v FROM dbo.rv ORDER BY id")
    assert all(len(v) == 8 for _, v in source)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.rv", "target_table": f"{pg_schema}.rv"}])
    assert run_job(defs).success
    assert pg_fetch(pg_conn, pg_schema, "rv") == [(i, bytes(v)) for i, v in source]


def test_ten_megabyte_values(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    text = "あいうえお𠮷" * (10 * 1024 * 1024 // 14)  # ~10 MB as UTF-16
    blob = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    tsql(mssql_server, source_db, "CREATE TABLE dbo.big (id int PRIMARY KEY, t nvarchar(max), b varbinary(max))")
    conn = mssql_server.connect_pytds(database=source_db, autocommit=True)
    try:
        with conn.cursor() as cur:
            # pytds sends plain bytes as text (bytes_to_unicode); Binary marks varbinary.
            cur.execute("INSERT INTO dbo.big VALUES (1, %s, %s)", (text, pytds.Binary(blob)))
    finally:
        conn.close()
    defs = replica_defs(tmp_path, [{"source_table": "dbo.big", "target_table": f"{pg_schema}.big"}])
    assert run_job(defs).success
    [(key, got_text, got_blob)] = pg_fetch(pg_conn, pg_schema, "big")
    assert key == 1
    assert len(got_text) == len(text) and got_text == text
    assert len(got_blob) == len(blob) and got_blob == blob


def test_empty_table_and_table_without_primary_key(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.empty (id int PRIMARY KEY, v nvarchar(10))",
         "CREATE TABLE dbo.heap (v int, w nvarchar(5))",
         "INSERT INTO dbo.heap VALUES (1, N'x'), (1, N'x'), (NULL, NULL)")
    defs = replica_defs(tmp_path, [
        {"source_table": "dbo.empty", "target_table": f"{pg_schema}.empty"},
        {"source_table": "dbo.heap", "target_table": f"{pg_schema}.heap"},
    ])
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert pg_fetch(pg_conn, pg_schema, "empty") == []
    assert pg_fetch(pg_conn, pg_schema, "heap", order="v") == [(1, "x"), (1, "x"), (None, None)]
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
                    (f'"{pg_schema}"."heap"',))
        assert cur.fetchone() == (0,)


def test_odd_identifiers_on_both_sides(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "CREATE SCHEMA [odd schema]",
         'CREATE TABLE [odd schema].[we]]ird "table" select] ([SIM No] int NOT NULL PRIMARY KEY, '
         "[select] nvarchar(10), [it's] int, [a]]b] int, [CustomerID] int)",
         'INSERT INTO [odd schema].[we]]ird "table" select] VALUES (1, N\'s\', 2, 3, 4)')
    defs = replica_defs(tmp_path, [
        {"source_table": '[odd schema].[we]]ird "table" select]', "target_table": f"{pg_schema}.snake",
         "primary_key": ["SIM No"]},
        {"source_table": '[odd schema].[we]]ird "table" select]', "target_table": f"{pg_schema}.select",
         "column_naming": "preserve"},
    ])
    result = run_job(defs)
    assert result.success, failure_text(result)
    with pg_conn.cursor() as cur:
        for table, names in (("snake", ["sim_no", "select", "it_s", "a_b", "customer_id"]),
                             ("select", ["SIM No", "select", "it's", "a]b", "CustomerID"])):
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s ORDER BY ordinal_position", (pg_schema, table))
            assert [r[0] for r in cur.fetchall()] == names
    assert pg_fetch(pg_conn, pg_schema, "select", order="SIM No") == [(1, "s", 2, 3, 4)]


def test_include_and_exclude_columns(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.c (Id int PRIMARY KEY, Keep int, Secret nvarchar(9))",
         "INSERT INTO dbo.c VALUES (1, 2, N'hidden')")
    defs = replica_defs(tmp_path, [
        {"source_table": "dbo.c", "target_table": f"{pg_schema}.ex", "columns": {"exclude": ["secret"]}},
        {"source_table": "dbo.c", "target_table": f"{pg_schema}.inc", "columns": {"include": ["Id"]}},
    ])
    assert run_job(defs).success
    assert pg_fetch(pg_conn, pg_schema, "ex") == [(1, 2)]
    assert pg_fetch(pg_conn, pg_schema, "inc") == [(1,)]


def test_refresh_twice_is_idempotent(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY, v nvarchar(10))",
         "INSERT INTO dbo.t VALUES (1, N'a'), (2, N'b')")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    assert run_job(defs).success
    assert run_job(defs).success
    assert pg_fetch(pg_conn, pg_schema, "t") == [(1, "a"), (2, "b")]
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 1", "INSERT INTO dbo.t VALUES (3, N'c')")
    assert run_job(defs).success
    assert pg_fetch(pg_conn, pg_schema, "t") == [(2, "b"), (3, "c")]


def test_connection_dropped_mid_transfer_keeps_previous_replica(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema
):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.drop_me (id int PRIMARY KEY, v int)",
         *(f"INSERT INTO dbo.drop_me VALUES {', '.join(f'({i}, 1)' for i in range(k, k + 1000))}"
           for k in (1, 1001)))
    defs = replica_defs(tmp_path, [{"source_table": "dbo.drop_me", "target_table": f"{pg_schema}.d"}])
    assert run_job(defs).success
    before = pg_fetch(pg_conn, pg_schema, "d")
    assert len(before) == 2000
    tsql(mssql_server, source_db, "UPDATE dbo.drop_me SET v = 2")
    mssql_server.inject_fault("drop_after_rows", rows=700, match="drop_me", times=0)  # until cleared
    try:
        result = run_job(defs)
    finally:
        mssql_server.clear_faults()
    assert not result.success
    assert "dbo.drop_me" in failure_text(result)
    assert pg_fetch(pg_conn, pg_schema, "d") == before
    assert run_job(defs).success  # the fault is cleared: the next run converges
    assert {v for _, v in pg_fetch(pg_conn, pg_schema, "d")} == {2}


def test_a_server_without_lossless_float_text_fails_before_reading_and_names_the_fix(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    """A server before SQL Server 2016 has no CONVERT style 3: the run's probe fails, the
    replica keeps its rows, and the typed path (format_on_server: false) does not need it."""
    tsql(mssql_server, source_db, "CREATE TABLE dbo.fl (id int PRIMARY KEY, f float)",
         "INSERT INTO dbo.fl VALUES (1, 0.1), (2, NULL)")
    tables = [{"source_table": "dbo.fl", "target_table": f"{pg_schema}.fl"}]
    assert run_job(replica_defs(tmp_path, tables)).success
    tsql(mssql_server, source_db, "UPDATE dbo.fl SET f = 1e300")
    mssql_server.inject_fault("error", match="CAST(1 AS float) / 3", number=281, times=0,
                              message="3 is not a valid style number when converting from float to a character string.")
    try:
        result = run_job(replica_defs(tmp_path, tables))
        assert not result.success
        text = failure_text(result)
        assert "table `src:dbo.fl`" in text and "not a valid style number" in text
        assert "set `format_on_server: false` for source `src`" in text
        assert pg_fetch(pg_conn, pg_schema, "fl") == [(1, 0.1), (2, None)]
        result = run_job(replica_defs(tmp_path, tables, format_on_server=False))
        assert result.success, failure_text(result)
        assert pg_fetch(pg_conn, pg_schema, "fl") == [(1, 1e300), (2, 1e300)]
    finally:
        mssql_server.clear_faults()


def test_a_server_whose_text_for_one_type_differs_fails_before_reading_and_names_the_fix(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    """The read-path self-check: the stand-in answers datetime's CONVERT style 121 as style
    120 (seconds only) for the check's probe, as a server with other formatting would. The
    run fails before the table is read, naming the type, both texts and the fix; the replica
    keeps its rows; the typed path (format_on_server: false) succeeds on the same server."""
    tsql(mssql_server, source_db, "CREATE TABLE dbo.dtm (id int PRIMARY KEY, at datetime)",
         "INSERT INTO dbo.dtm VALUES (1, '2024-01-01T10:00:00.123')")
    tables = [{"source_table": "dbo.dtm", "target_table": f"{pg_schema}.dtm"}]
    assert run_job(replica_defs(tmp_path, tables)).success
    before = pg_fetch(pg_conn, pg_schema, "dtm")
    tsql(mssql_server, source_db, "UPDATE dbo.dtm SET at = '2030-01-01T00:00:00.500'")
    probe = next(i for i, p in enumerate(PROBES) if p.label == "datetime max")
    mssql_server.inject_fault("rewrite", match=f"CONVERT(nvarchar(64), [c{probe}], 121)",
                              replace=f"CONVERT(nvarchar(64), [c{probe}], 120)", times=0)
    # Reading the table itself would fail with this text: the run must stop before that.
    mssql_server.inject_fault("error", match="[dbo].[dtm]", message="the table was read", times=0)
    try:
        result = run_job(replica_defs(tmp_path, tables))
        assert not result.success
        text = failure_text(result)
        assert "table `src:dbo.dtm`" in text and "datetime max (`datetime`, value)" in text
        assert "'9999-12-31 23:59:59'" in text and "'9999-12-31 23:59:59.997000'" in text
        assert "Set `format_on_server: false` for source `src`" in text
        assert "the table was read" not in text
        assert pg_fetch(pg_conn, pg_schema, "dtm") == before
        mssql_server.clear_faults()
        mssql_server.inject_fault("rewrite", match=f"CONVERT(nvarchar(64), [c{probe}], 121)",
                                  replace=f"CONVERT(nvarchar(64), [c{probe}], 120)", times=0)
        result = run_job(replica_defs(tmp_path, tables, format_on_server=False))
        assert result.success, failure_text(result)
        assert pg_fetch(pg_conn, pg_schema, "dtm") == [(1, dt.datetime(2030, 1, 1, 0, 0, 0, 500000))]
    finally:
        mssql_server.clear_faults()


@pytest.mark.parametrize(
    ("side", "statement"),
    [
        ("source", "INSERT INTO dbo.cnt VALUES (99, N'new')"),
        ("source", "DELETE FROM dbo.cnt WHERE id = 1"),
        ("target", "INSERT INTO {t} VALUES (99, 'new')"),
        ("target", "DELETE FROM {t} WHERE id = 1"),
    ],
)
def test_row_count_check_fails_the_run_when_either_side_changes(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema, side, statement
):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.cnt (id int PRIMARY KEY, v nvarchar(10))",
         "INSERT INTO dbo.cnt VALUES (1, N'a'), (2, N'b'), (3, N'c')")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.cnt", "target_table": f"{pg_schema}.cnt"}])
    result = run_job(defs)
    assert result.success
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "row_count_matches")
    assert evaluation.passed
    assert evaluation.metadata["source_rows"].value == 3 and evaluation.metadata["target_rows"].value == 3

    if side == "source":
        tsql(mssql_server, source_db, statement)
    else:
        with pg_conn.cursor() as cur:
            cur.execute(sql.SQL(statement).format(t=sql.SQL("{}.{}").format(
                sql.Identifier(pg_schema), sql.Identifier("cnt"))))
    key = AssetKey([pg_schema, "cnt"])
    result = run_checks_only(defs, key, raise_on_error=False)
    assert not result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert abs(evaluation.metadata["difference"].value) == 1
    assert "row_count_matches" in failure_text(result)


def test_row_count_tolerance_allows_small_drift(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.tol (id int PRIMARY KEY)", "INSERT INTO dbo.tol VALUES (1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.tol", "target_table": f"{pg_schema}.tol",
                                    "row_count_tolerance": 1}])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "INSERT INTO dbo.tol VALUES (2)")
    result = run_checks_only(defs, AssetKey([pg_schema, "tol"]))
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["difference"].value == -1


def test_no_secret_in_logs_or_metadata(tmp_path, env, monkeypatch, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.s (id int PRIMARY KEY)", "INSERT INTO dbo.s VALUES (1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.s", "target_table": f"{pg_schema}.s"}])
    instance = DagsterInstance.ephemeral()
    ok = run_job(defs, instance=instance)
    assert ok.success
    # A failing login must not leak the (wrong) password either.
    monkeypatch.setenv("SRC_PASSWORD", "wrong-secret-pw-1234")
    failed = run_job(replica_defs(tmp_path, [{"source_table": "dbo.s", "target_table": f"{pg_schema}.s"}]),
                     instance=instance)
    assert not failed.success
    logs = run_log_text(instance, ok.run_id) + run_log_text(instance, failed.run_id)
    assert "Login failed" in failure_text(failed) or "cannot connect" in failure_text(failed)
    for secret in (env["SRC_PASSWORD"], env["PG_PASSWORD"], "wrong-secret-pw-1234"):
        assert secret not in logs
        assert secret not in failure_text(failed)


def test_check_before_any_materialization_fails_clearly(tmp_path, env, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.fresh (id int PRIMARY KEY)", "INSERT INTO dbo.fresh VALUES (1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.fresh", "target_table": f"{pg_schema}.fresh"}])
    result = run_checks_only(defs, AssetKey([pg_schema, "fresh"]), raise_on_error=False)
    assert not result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "does not exist yet" in evaluation.description
    assert evaluation.metadata["source_rows"].value == 1


def test_progress_shows_percent_of_the_catalog_row_count(tmp_path, env, monkeypatch, mssql_server,
                                                          source_db, pg_schema):
    import mctm_replica.io_managers.copy_stream as copy_stream

    monkeypatch.setattr(copy_stream, "PROGRESS_EVERY_S", 0.0)  # log on every batch
    tsql(mssql_server, source_db, "CREATE TABLE dbo.prog (id int PRIMARY KEY)",
         "INSERT INTO dbo.prog VALUES " + ", ".join(f"({i})" for i in range(1, 1201)))
    defs = replica_defs(tmp_path, [{"source_table": "dbo.prog", "target_table": f"{pg_schema}.prog"}])
    instance = DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert result.success
    assert f"{pg_schema}.prog: 1,200 rows" in run_log_text(instance, result.run_id)
    assert "100% of 1,200, ETA 0s" in run_log_text(instance, result.run_id)
