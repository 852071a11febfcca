"""Microsoft's mssql-python (bundled ODBC Driver 18) against the stand-in.

Types: mssql-python decodes through ODBC's C types (SQL_C_NUMERIC text with the
column's scale, SQL_TIMESTAMP_STRUCT nanoseconds truncated to microseconds,
datetimeoffset in its own offset), which gives the same Python values as pymssql's
column of :mod:`expected_values` for every type of the matrix. Parameters: ODBC sends
a parameterized ``execute`` as ``sp_prepexec`` and ``executemany`` as ``sp_prepare``
then one ``sp_execute`` per row, each parameter declared with its SQL type.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from expected_values import TYPE_MATRIX, TypeSpec, mismatches, spec_id
from mctm_replica_tests.clients import mssql_python_client

# Precision ODBC reports for integer types (cursor.description[4]).
_INT_PRECISION = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}


@pytest.fixture
def mp(standin, fresh_db):
    conn = mssql_python_client.connect(standin.host, standin.port, standin.user, standin.password, fresh_db,
                                       encrypt="no")
    yield conn
    conn.close()


def _error(excinfo) -> str:
    return str(excinfo.value)


@pytest.mark.parametrize("spec", TYPE_MATRIX, ids=spec_id)
def test_reads_every_value_as_from_sql_server(mp, spec: TypeSpec):
    cur = mp.cursor()
    cur.execute(f"CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v {spec.decl} NULL)")
    rows = [f"({i}, {v.literal})" for i, v in enumerate(spec.values, 1)]
    rows.append(f"({len(spec.values) + 1}, NULL)")
    cur.execute(f"INSERT INTO dbo.t (id, v) VALUES {', '.join(rows)}")
    cur.execute("SELECT v FROM dbo.t ORDER BY id")
    got = [r[0] for r in cur.fetchall()]
    expected = [v.pymssql for v in spec.values] + [None]
    labels = [v.literal[:40] for v in spec.values] + ["NULL"]
    assert mismatches(got, expected, labels) == []
    name, type_code, _display, _size, precision, scale, nullable = cur.description[0]
    assert name == "v" and nullable
    assert type_code is type(spec.values[0].pymssql)
    base = spec.decl.split("(")[0]
    if base in ("decimal", "numeric"):
        p, s = spec.decl[len(base) + 1:-1].split(",")
        assert (precision, scale) == (int(p), int(s))
    elif base in _INT_PRECISION:
        assert precision == _INT_PRECISION[base]


def test_errors_carry_sql_servers_number_and_text(mp):
    import mssql_python

    cur = mp.cursor()
    with pytest.raises(mssql_python.ProgrammingError) as ei:
        cur.execute("SELECT * FROM dbo.nosuch")
    assert "Invalid object name 'dbo.nosuch'." in _error(ei)
    with pytest.raises(mssql_python.Error) as ei:
        cur.execute("SELECT 1/0")
    assert "Divide by zero error encountered." in _error(ei)
    cur.execute("SELECT 1")  # the connection goes on
    assert cur.fetchone()[0] == 1


def test_parameterized_queries_keep_declared_types(mp):
    cur = mp.cursor()
    cur.execute("CREATE TABLE dbo.t (id int PRIMARY KEY, d decimal(18,4), s nvarchar(50), ts datetime2)")
    cur.execute("INSERT INTO dbo.t VALUES (?, ?, ?, ?)", 1, Decimal("12.3400"), "日本語", dt.datetime(2024, 2, 29, 1, 2, 3))
    cur.execute("SELECT d, s, ts FROM dbo.t WHERE id = ?", 1)
    assert [tuple(r) for r in cur.fetchall()] == [(Decimal("12.3400"), "日本語", dt.datetime(2024, 2, 29, 1, 2, 3))]
    cur.execute("SELECT ? AS p", Decimal("1.5000"))
    assert cur.fetchone()[0] == Decimal("1.5000")
    cur.execute("SELECT ? AS g, ? AS n", uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"), None)
    assert tuple(cur.fetchone()) == (uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"), None)


def test_executemany_sends_a_prepared_statement_per_row(mp):
    cur = mp.cursor()
    cur.execute("CREATE TABLE dbo.t (id int PRIMARY KEY, d decimal(18,4), s nvarchar(20))")
    rows = [(i, Decimal(i) / 4, f"r{i}" if i % 3 else None) for i in range(1, 51)]
    cur.executemany("INSERT INTO dbo.t VALUES (?, ?, ?)", rows)
    cur.execute("SELECT id, d, s FROM dbo.t ORDER BY id")
    assert [tuple(r) for r in cur.fetchall()] == [(i, Decimal(i) / 4 + Decimal("0.0000"), s) for i, _, s in rows]


def test_a_failing_row_of_executemany_is_reported(mp):
    import mssql_python

    cur = mp.cursor()
    cur.execute("CREATE TABLE dbo.t (id int PRIMARY KEY)")
    with pytest.raises(mssql_python.IntegrityError) as ei:
        cur.executemany("INSERT INTO dbo.t VALUES (?)", [(1,), (1,)])
    assert "Violation of PRIMARY KEY constraint" in _error(ei)


def test_multi_statement_batch_and_control_flow(mp):
    cur = mp.cursor()
    cur.execute("SET TEXTSIZE 100\nSET NOCOUNT ON\nIF OBJECT_ID('dbo.t') IS NULL CREATE TABLE dbo.t (v nvarchar(max))")
    cur.execute("INSERT INTO dbo.t VALUES (REPLICATE(CAST(N'x' AS nvarchar(max)), 300))")
    cur.execute("SELECT @@TEXTSIZE, v FROM dbo.t")
    textsize, v = cur.fetchone()
    assert textsize == 100
    assert v == "x" * 50  # TEXTSIZE counts bytes: 100 bytes are 50 UTF-16 characters
