"""Type x NULL x extremes matrix: each declared type through pymssql and python-tds.

For every type in :data:`expected_values.TYPE_MATRIX` a table is created and
filled with T-SQL literals (min, max, rounding cases, NULL), read back with
``SELECT``, with ``SELECT CAST(literal AS type)``, and -- for python-tds -- written
again through sp_executesql parameters.  Each result must be exactly what the
client returns against real SQL Server (see expected_values for how each value
was derived).  The big-value tests (10 MiB varbinary(max)) live here too.
"""

from __future__ import annotations

import pytds
import pytest

from expected_values import (
    BINARY,
    TYPE_MATRIX,
    TypeSpec,
    canonical,
    mismatches,
    spec_id,
)

# A 10 MiB value, deterministic so a corrupted byte is noticed anywhere in it.
TEN_MIB = bytes(range(256)) * (10 * 1024 * 1024 // 256)


def _fill(cur, spec: TypeSpec) -> None:
    cur.execute(f"CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v {spec.decl} NULL)")
    rows = [f"({i}, {v.literal})" for i, v in enumerate(spec.values, 1)]
    rows.append(f"({len(spec.values) + 1}, NULL)")
    cur.execute(f"INSERT INTO dbo.t (id, v) VALUES {', '.join(rows)}")


def _labels(spec: TypeSpec) -> list[str]:
    return [v.literal[:40] for v in spec.values] + ["NULL"]


def _cast_sql(spec: TypeSpec) -> str:
    casts = [f"CAST({v.literal} AS {spec.decl})" for v in spec.values]
    casts.append(f"CAST(NULL AS {spec.decl})")
    return "SELECT " + ", ".join(casts)


@pytest.mark.parametrize("spec", TYPE_MATRIX, ids=spec_id)
def test_pymssql_reads_every_value_as_from_sql_server(ms, spec: TypeSpec):
    expected = [v.pymssql for v in spec.values] + [None]
    cur = ms.cursor()
    _fill(cur, spec)

    cur.execute("SELECT v FROM dbo.t ORDER BY id")
    got = [r[0] for r in cur.fetchall()]
    assert mismatches(got, expected, _labels(spec)) == []
    assert cur.description[0][0] == "v"
    assert cur.description[0][1] == spec.pymssql_type_code

    cur.execute(_cast_sql(spec))
    row = list(cur.fetchone())
    assert mismatches(row, expected, _labels(spec)) == []
    assert [d[0] for d in cur.description] == [""] * len(expected)


@pytest.mark.parametrize("spec", TYPE_MATRIX, ids=spec_id)
def test_pytds_reads_every_value_as_from_sql_server(td, spec: TypeSpec):
    expected = [v.pytds_value for v in spec.values] + [None]
    cur = td.cursor()
    _fill(cur, spec)

    cur.execute("SELECT v, id FROM dbo.t ORDER BY id")
    got = [r[0] for r in cur.fetchall()]
    assert mismatches(got, expected, _labels(spec)) == []
    name, type_id, _, size, precision, scale, nullable = cur.description[0]
    assert (name, type_id, size, precision, scale) == ("v",) + spec.pytds_desc
    assert nullable == 1
    assert cur.description[1][6] == 0  # id is NOT NULL

    cur.execute(_cast_sql(spec))
    row = list(cur.fetchone())
    assert mismatches(row, expected, _labels(spec)) == []


@pytest.mark.parametrize("spec", TYPE_MATRIX, ids=spec_id)
def test_pytds_parameters_round_trip(td, spec: TypeSpec):
    """sp_executesql with each Python type pytds infers, into each declared type."""
    expected = [v.pytds_value for v in spec.values] + [None]
    cur = td.cursor()
    cur.execute(f"CREATE TABLE dbo.p (id int NOT NULL PRIMARY KEY, v {spec.decl} NULL)")
    for i, value in enumerate(expected, 1):
        param = pytds.Binary(value) if isinstance(value, bytes) else value
        cur.execute("INSERT INTO dbo.p (id, v) VALUES (%s, %s)", (i, param))
        assert cur.rowcount == 1
    cur.execute("SELECT v FROM dbo.p ORDER BY id")
    got = [r[0] for r in cur.fetchall()]
    assert mismatches(got, expected, _labels(spec)) == []
    # A parameter in a WHERE clause finds the rows holding that value.  Skipped for
    # types SQL Server cannot compare (text/ntext/image/xml: errors 402/305) and for
    # datetime: a datetime2 parameter compares against the exact 1/300 s value
    # (.993333...), so SQL Server (and the stand-in) find no row for .993 -- pinned in
    # test_protocol_e2e.test_time_family_parameters_compare_with_columns.
    if spec.decl in ("text", "ntext", "image", "xml", "datetime"):
        return
    for value in expected[:-1]:
        want = [i for i, e in enumerate(expected[:-1], 1) if canonical(e) == canonical(value)]
        param = pytds.Binary(value) if isinstance(value, bytes) else value
        cur.execute("SELECT id FROM dbo.p WHERE v = %s ORDER BY id", (param,))
        assert [r[0] for r in cur.fetchall()] == want, f"WHERE v = {value!r}"


def test_rowversion_is_eight_increasing_bytes(ms, td):
    """rowversion: binary(8), set by the server on insert and changed by update."""
    cur = ms.cursor()
    cur.execute("CREATE TABLE dbo.rv (id int NOT NULL PRIMARY KEY, v int NULL, rv rowversion)")
    cur.execute("INSERT INTO dbo.rv (id, v) VALUES (1, 10), (2, 20)")
    cur.execute("SELECT rv FROM dbo.rv ORDER BY id")
    first = [r[0] for r in cur.fetchall()]
    assert cur.description[0][1] == BINARY
    assert [type(v) for v in first] == [bytes, bytes]
    assert [len(v) for v in first] == [8, 8]
    assert first[0] != first[1]
    cur.execute("UPDATE dbo.rv SET v = 11 WHERE id = 1")
    cur.execute("SELECT rv FROM dbo.rv ORDER BY id")
    after = [r[0] for r in cur.fetchall()]
    # big-endian counter: the updated row now has the highest value
    assert after[1] == first[1]
    assert int.from_bytes(after[0], "big") > int.from_bytes(first[1], "big")

    tcur = td.cursor()
    tcur.execute("SELECT rv FROM dbo.rv ORDER BY id")
    assert [r[0] for r in tcur.fetchall()] == after
    name, type_id, _, size, _, _, nullable = tcur.description[0]
    # BIGBINARY(8) on the wire (pytds reports 165), NOT NULL
    assert (name, type_id, size, nullable) == ("rv", 165, 8, 0)

    tcur.execute(
        "SELECT DATA_TYPE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_NAME = 'rv' AND COLUMN_NAME = 'rv'"
    )
    assert tcur.fetchall() == [("timestamp", "NO")]


def test_null_in_every_type_both_clients(ms, td):
    """One row of NULLs across all types at once (NBCROW / null bitmap paths)."""
    decls = [s.decl for s in TYPE_MATRIX]
    cols = ", ".join(f"c{i} {d} NULL" for i, d in enumerate(decls))
    cur = ms.cursor()
    cur.execute(f"CREATE TABLE dbo.n (id int NOT NULL, {cols})")
    cur.execute("INSERT INTO dbo.n (id) VALUES (1)")
    cur.execute("SELECT * FROM dbo.n")
    assert cur.fetchall() == [(1,) + (None,) * len(decls)]
    tcur = td.cursor()
    tcur.execute("SELECT * FROM dbo.n")
    assert tcur.fetchall() == [(1,) + (None,) * len(decls)]


def test_ten_mib_varbinary_max_both_clients(ms, td):
    cur = ms.cursor()
    cur.execute("CREATE TABLE dbo.big (id int NOT NULL PRIMARY KEY, b varbinary(max) NULL)")
    # pymssql interpolates bytes client-side as a 0x... literal (20 MiB of hex).
    cur.execute("INSERT INTO dbo.big (id, b) VALUES (%s, %s)", (1, TEN_MIB))
    tcur = td.cursor()
    tcur.execute("INSERT INTO dbo.big (id, b) VALUES (%s, %s)", (2, pytds.Binary(TEN_MIB[::-1])))

    cur.execute("SELECT id, b, DATALENGTH(b) FROM dbo.big ORDER BY id")
    rows = cur.fetchall()
    assert [(r[0], r[2]) for r in rows] == [(1, len(TEN_MIB)), (2, len(TEN_MIB))]
    assert rows[0][1] == TEN_MIB
    assert rows[1][1] == TEN_MIB[::-1]

    tcur.execute("SELECT b FROM dbo.big ORDER BY id")
    trows = tcur.fetchall()
    assert canonical(trows[0][0]) == canonical(TEN_MIB)
    assert canonical(trows[1][0]) == canonical(TEN_MIB[::-1])


def test_string_lengths_count_utf16_code_units(td):
    cur = td.cursor()
    cur.execute(
        "SELECT LEN(N'\U00020BB7'), DATALENGTH(N'\U00020BB7'), DATALENGTH('abc'), "
        "DATALENGTH(N'abc'), LEN('ab  '), DATALENGTH(CAST('ab' AS char(5)))"
    )
    # Non-SC collation: a surrogate pair is two characters; LEN ignores trailing blanks.
    assert cur.fetchone() == (2, 4, 3, 6, 2, 5)


def test_xml_is_returned_in_sql_server_serialization(td, ms):
    """SQL Server stores xml parsed and serializes it back its own way: no XML
    declaration, empty elements as ``<b />``, attributes in double quotes and
    whitespace-only text nodes dropped."""
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.x (id int NOT NULL, v xml NULL)")
    cur.execute(
        "INSERT INTO dbo.x (id, v) VALUES "
        "(1, N'<?xml version=\"1.0\"?><a> <b/><c x=''1''></c><d>t &amp; u</d></a>')"
    )
    expected = '<a><b /><c x="1" /><d>t &amp; u</d></a>'
    cur.execute("SELECT v FROM dbo.x")
    assert cur.fetchall() == [(expected,)]
    mcur = ms.cursor()
    mcur.execute("SELECT v FROM dbo.x")
    assert mcur.fetchall() == [(expected,)]


def test_varchar_holds_code_page_1252_text_server_side(td):
    """Text converted to varchar is stored in code page 1252 ('?' for the rest), so
    DATALENGTH, LEN and comparisons see the converted bytes, as in SQL Server."""
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.v (id int NOT NULL, v varchar(10) NULL, c char(5) NULL)")
    cur.execute(
        "INSERT INTO dbo.v (id, v, c) VALUES (1, N'日本語', N'é'), (2, 'éééééééééé', 'x')"
    )
    cur.execute("SELECT id, DATALENGTH(v), LEN(v), DATALENGTH(c) FROM dbo.v ORDER BY id")
    assert cur.fetchall() == [(1, 3, 3, 5), (2, 10, 10, 5)]
    cur.execute("SELECT id FROM dbo.v WHERE v = '???'")
    assert cur.fetchall() == [(1,)]
    cur.execute("SELECT id FROM dbo.v WHERE v = N'日本語'")
    assert cur.fetchall() == []
    cur.execute(
        "SELECT DATALENGTH(CAST(N'日本語' AS varchar(10))), DATALENGTH('é'), DATALENGTH(N'é')"
    )
    assert cur.fetchall() == [(3, 1, 2)]


def test_only_collations_the_stand_in_can_honour_are_accepted(td):
    """Japanese, Latin1 and UTF-8 _CI_AS collations are real (test_conformance_collations);
    one whose comparison the stand-in cannot match (case-sensitive) is refused by name
    rather than silently compared case-insensitively."""
    cur = td.cursor()
    for sql, name in [
        ("CREATE TABLE dbo.j (v varchar(10) COLLATE Japanese_CS_AS NULL)", "Japanese_CS_AS"),
        ("SELECT N'a' COLLATE Latin1_General_CS_AS", "Latin1_General_CS_AS"),
        ("CREATE DATABASE cs_collated COLLATE Latin1_General_100_CS_AS", "Latin1_General_100_CS_AS"),
    ]:
        with pytest.raises(pytds.OperationalError) as ei:
            cur.execute(sql)
        assert ei.value.msg_no == 50000
        prefix = f"The SQL Server stand-in does not support collation '{name}'"
        assert ei.value.text.startswith(prefix)
    cur.execute("CREATE TABLE dbo.j (v varchar(10) COLLATE Japanese_CI_AS NULL)")
    cur.execute(
        "SELECT CASE WHEN N'a' = N'A' COLLATE SQL_Latin1_General_CP1_CI_AS THEN 1 ELSE 0 END, "
        "CASE WHEN 'b' = 'B' COLLATE DATABASE_DEFAULT THEN 1 ELSE 0 END, "
        "CASE WHEN N'c' = N'C' COLLATE Japanese_CI_AS THEN 1 ELSE 0 END, N'[collate x]'"
    )
    assert cur.fetchall() == [(1, 1, 1, "[collate x]")]


def test_binary_collation_on_an_expression_compares_code_points(td):
    """``x COLLATE Latin1_General_100_BIN2`` compares by code point: 'a' <> 'A', and
    REPLACE of '"' leaves the fullwidth '＂' alone (the source-side CSV relies on it). A
    column or database declared with one is refused: columns compare case-insensitively."""
    cur = td.cursor()
    cur.execute(
        "SELECT CASE WHEN N'a' COLLATE Latin1_General_100_BIN2 = N'A' THEN 1 ELSE 0 END, "
        "CASE WHEN N'a' COLLATE Latin1_General_BIN = N'a' THEN 1 ELSE 0 END, "
        "CASE WHEN N'a' = N'A' THEN 1 ELSE 0 END, "
        "REPLACE(N'x\"＂' COLLATE Latin1_General_100_BIN2, N'\"', N'\"\"')"
    )
    assert cur.fetchall() == [(0, 1, 1, 'x""＂')]
    with pytest.raises(pytds.OperationalError) as ei:
        cur.execute("SELECT 1 COLLATE Latin1_General_100_BIN2")
    assert ei.value.msg_no == 447
    cur.execute("CREATE TABLE dbo.bin (v nvarchar(10) NULL)")
    for ddl in ["CREATE TABLE dbo.bin2 (v nvarchar(10) COLLATE Latin1_General_100_BIN2 NULL)",
                "ALTER TABLE dbo.bin ALTER COLUMN v nvarchar(10) COLLATE Latin1_General_BIN2",
                "CREATE DATABASE bin_collated COLLATE Latin1_General_BIN"]:
        with pytest.raises(pytds.OperationalError) as ei:
            cur.execute(ddl)
        assert ei.value.text.startswith("The SQL Server stand-in does not support collation 'Latin1_General_"), ddl


def test_string_results_are_cut_at_8000_bytes_unless_max(td):
    """Concatenation, REPLACE and REPLICATE of non-(max) strings stop at 4,000 nvarchar or
    8,000 varchar characters, silently; one (max) operand lifts the limit. A REPLACE result
    may outgrow its input's declared length."""
    cur = td.cursor()
    cur.execute(
        "SELECT LEN(REPLICATE(N'a', 3000) + REPLICATE(N'b', 3000)), "
        "LEN(CAST(N'' AS nvarchar(max)) + REPLICATE(N'a', 3000) + REPLICATE(N'b', 3000)), "
        "LEN(REPLICATE('a', 5000) + REPLICATE('b', 5000)), "
        "LEN(REPLACE(REPLICATE(N'\"', 3000), N'\"', N'\"\"')), "
        "LEN(REPLACE(CAST(REPLICATE(N'\"', 3000) AS nvarchar(max)), N'\"', N'\"\"')), "
        "REPLACE(CAST(N'ab' AS nvarchar(2)), N'b', N'cccc'), N'x' + REPLICATE(N'y', 3), 'a' + NULL"
    )
    assert cur.fetchall() == [(4000, 6000, 8000, 4000, 6000, "acccc", "xyyy", None)]


def test_string_cuts_where_a_declared_length_bounds_the_result(td):
    """The stand-in skips a cut when the operands' declared lengths prove the result fits
    (a REPLACE of nvarchar(n) typed nvarchar(4000)); at and over the limit it still cuts, as
    SQL Server does. Binary printed as hex and decimals printed as text fit when their
    type's longest text does, and are cut or overflow when it does not."""
    cur = td.cursor()
    cur.execute(
        "SELECT LEN(N'xy' + REPLACE(CAST(REPLICATE(N'a', 3999) AS nvarchar(3999)), NCHAR(0), N'')), "
        "LEN(REPLACE(CAST(REPLICATE(N'|', 1500) AS nvarchar(1500)), N'|', N'|||')), "
        "LEN(REPLACE(CAST(REPLICATE(N'|', 1300) AS nvarchar(1300)), N'|', N'|||')), "
        "LEN(N'T' + REPLACE(CAST(REPLICATE(N'|', 1999) AS nvarchar(1999)), N'|', N'||')), "
        "LEN(N'T' + REPLACE(CAST(REPLICATE(N'|', 2000) AS nvarchar(2000)), N'|', N'||'))"
    )
    assert cur.fetchall() == [(4000, 4000, 3900, 3999, 4000)]
    # columns, not constants: the translated conversions run in DuckDB, row by row
    cur.execute("CREATE TABLE #v (f float, b varbinary(4), d decimal(4,4), w decimal(38,10))")
    cur.execute("INSERT INTO #v VALUES (1.5E0, 0x0a0B, -0.1234, -1234567890123456789012345678.9999999999)")
    cur.execute(
        "SELECT CONVERT(nvarchar(16), CAST(f AS binary(8)), 2), CONVERT(nvarchar(10), CAST(f AS binary(8)), 2), "
        "CONVERT(nvarchar(18), CAST(f AS binary(8)), 1), CONVERT(nvarchar(17), CAST(f AS binary(8)), 1), "
        "CONVERT(nvarchar(8), b, 2), CONVERT(nvarchar(3), b, 2), "
        "CAST(d AS nvarchar(6)), CAST(w AS nvarchar(40)) FROM #v"
    )
    assert cur.fetchall() == [("3FF8000000000000", "3FF8000000", "0x3FF8000000000000", "0x3FF800000000000",
                               "0A0B", "0A0", "-.1234", "-1234567890123456789012345678.9999999999")]
    for short in ("CAST(d AS nvarchar(5))", "CAST(w AS nvarchar(39))"):
        with pytest.raises(pytds.OperationalError) as ei:
            cur.execute(f"SELECT {short} FROM #v")
        assert ei.value.msg_no == 8115, short


@pytest.mark.parametrize("unit", ["millisecond", "ms", "microsecond", "mcs", "second"])
def test_datepart_of_a_fraction_is_within_the_second(td, unit):
    """DATEPART(millisecond, ...07.123456) is 123 in SQL Server, not DuckDB's 7123."""
    cur = td.cursor()
    cur.execute(f"SELECT DATEPART({unit}, CAST('2024-01-01T10:00:07.123456' AS datetime2))")
    expected = {"millisecond": 123, "ms": 123, "microsecond": 123456, "mcs": 123456, "second": 7}[unit]
    assert cur.fetchone()[0] == expected
