"""The TDS front end on the real DuckDB engine, with both clients, end to end."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D

import pymssql
import pytds
import pytest


@pytest.fixture
def table(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)")
    cur.execute("INSERT INTO dbo.t VALUES (1, N'a'), (2, N'b'), (3, N'x')")
    conn.close()
    return fresh_db


def _count(standin, db) -> int:
    conn = standin.connect_pytds(database=db, autocommit=True)
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM dbo.t")
    n = cur.fetchall()[0][0]
    conn.close()
    return n


def test_pymssql_dml_rowcounts_and_select(standin, table):
    conn = standin.connect_pymssql(database=table)
    cur = conn.cursor()
    cur.execute("INSERT INTO dbo.t VALUES (4, N'日本'), (5, NULL)")
    assert cur.rowcount == 2
    cur.execute("UPDATE dbo.t SET v = N'z' WHERE id >= 4")
    assert cur.rowcount == 2
    cur.execute("DELETE FROM dbo.t WHERE id = 5")
    assert cur.rowcount == 1
    conn.commit()
    cur.execute("SELECT id, v FROM dbo.t ORDER BY id")
    assert cur.fetchall() == [(1, "a"), (2, "b"), (3, "x"), (4, "z")]
    conn.close()


def test_pymssql_rollback_undoes(standin, table):
    conn = standin.connect_pymssql(database=table)  # autocommit off: pymssql sends BEGIN TRAN
    cur = conn.cursor()
    cur.execute("INSERT INTO dbo.t VALUES (10, N'gone')")
    conn.rollback()
    conn.close()
    assert _count(standin, table) == 3


def test_pytds_transaction_manager_rollback_and_commit(standin, table):
    conn = standin.connect_pytds(database=table, autocommit=False)
    cur = conn.cursor()
    cur.execute("INSERT INTO dbo.t VALUES (10, N'gone')")
    conn.rollback()
    assert _count(standin, table) == 3
    cur.execute("INSERT INTO dbo.t VALUES (11, N'kept')")
    conn.commit()
    conn.close()
    assert _count(standin, table) == 4


def test_sp_executesql_parameters(standin, table):
    conn = standin.connect_pytds(database=table, autocommit=True)
    cur = conn.cursor()
    cur.execute("INSERT INTO dbo.t (id, v) VALUES (%s, %s)", (7, "𠮷野家"))
    assert cur.rowcount == 1
    cur.execute("SELECT id, v FROM dbo.t WHERE id >= %(lo)s AND v = %(v)s", {"lo": 5, "v": "𠮷野家"})
    assert cur.fetchall() == [(7, "𠮷野家")]
    conn.close()


def test_typed_parameters_round_trip(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE dbo.p (d2 datetime2(7) NULL, dto datetimeoffset(7) NULL, g uniqueidentifier NULL, "
        "m money NULL, b varbinary(max) NULL, dec decimal(38,10) NULL, d date NULL)"
    )
    values = (
        dt.datetime(2024, 2, 29, 1, 2, 3, 456789),
        dt.datetime(2024, 2, 29, 1, 2, 3, 456789, tzinfo=dt.timezone(dt.timedelta(hours=9))),
        uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"), D("-922337203685477.5808"),
        pytds.Binary(b"\x00\xff" * 5000), D("1234567890123456789012345678.0123456789"), dt.date(1, 1, 1),
    )
    cur.execute("INSERT INTO dbo.p VALUES (%s, %s, %s, %s, %s, %s, %s)", values)
    cur.execute("SELECT d2, dto, g, m, b, dec, d FROM dbo.p")
    (row,) = cur.fetchall()
    assert row[0] == values[0]
    assert row[1] == values[1] and row[1].utcoffset() == dt.timedelta(hours=9)
    assert list(row[2:]) == [values[2], values[3], b"\x00\xff" * 5000, values[5], values[6]]
    conn.close()


def test_several_result_sets_and_use(standin, table):
    conn = standin.connect_pymssql(database="master")
    cur = conn.cursor()
    cur.execute(f"USE [{table}]; SELECT id FROM dbo.t WHERE id = 1; SELECT v FROM dbo.t WHERE id = 2")
    assert cur.fetchall() == [(1,)]
    assert cur.nextset() == 1
    assert cur.fetchall() == [("b",)]
    cur.execute("SELECT DB_NAME()")
    assert cur.fetchall() == [(table,)]
    conn.close()


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_errors_keep_connection_usable(standin, table, client):
    conn = getattr(standin, f"connect_{client}")(database=table)
    cur = conn.cursor()
    error = pytds.Error if client == "pytds" else pymssql.Error
    with pytest.raises(error) as ei:
        cur.execute("SELECT * FROM dbo.missing")
    number = ei.value.msg_no if client == "pytds" else ei.value.args[0]
    assert number == 208
    with pytest.raises(error):
        cur.execute("SELECT CAST(v AS int) FROM dbo.t ORDER BY id")  # 'a' fails on the first row
        cur.fetchall()
    cur.execute("SELECT COUNT(*) FROM dbo.t")
    assert cur.fetchall() == [(3,)]
    conn.close()


def test_cancel_large_result_pytds(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.n (i int NOT NULL)")
    cur.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000)))
    cur.execute("SELECT a.i, b.i, c.i FROM dbo.n a CROSS JOIN dbo.n b CROSS JOIN dbo.n c")
    assert len(cur.fetchmany(100)) == 100
    cur.cancel()  # the 1,000,000,000-row result is abandoned; the connection stays usable
    cur.execute("SELECT COUNT(*) FROM dbo.n")
    assert cur.fetchall() == [(1000,)]
    conn.close()


def test_pymssql_autocommit_switch(standin, table):
    conn = standin.connect_pymssql(database=table)
    conn.autocommit(True)  # pymssql rolls back its implicit transaction (ROLLBACK TRAN)
    cur = conn.cursor()
    cur.execute("INSERT INTO dbo.t VALUES (20, N'auto')")
    assert _count(standin, table) == 4  # visible at once, no commit needed
    conn.autocommit(False)  # BEGIN TRAN again
    cur.execute("INSERT INTO dbo.t VALUES (21, N'tx')")
    conn.rollback()
    conn.close()
    assert _count(standin, table) == 4


# pytds description fields (type id, size, precision, scale) of time(6), datetime2(6)
# and datetimeoffset(6): the scale python-tds declares for its parameters.
TIMEN, DATETIME2N, DATETIMEOFFSETN = 41, 42, 43
SCALE6_DESCRIPTIONS = [(TIMEN, 5, 6, None), (DATETIME2N, 8, 6, None), (DATETIMEOFFSETN, 10, 6, None)]
D2 = dt.datetime(2024, 1, 1, 1, 2, 3, 456789)
TM = dt.time(1, 2, 3, 456789)


def test_time_family_parameters_selected_back_as_declared(standin):
    """python-tds sends time/datetime/aware datetime as time(6)/datetime2(6)/
    datetimeoffset(6); SQL Server returns ``SELECT @p`` in those types, exactly."""
    conn = standin.connect_pytds(autocommit=True)
    cur = conn.cursor()
    dto = dt.datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    cur.execute("SELECT %s, %s, %s", (TM, D2, dto))
    row = cur.fetchone()
    assert row == (TM, D2, dto)
    assert row[2].utcoffset() == dt.timedelta(hours=9)
    assert [d[1:2] + d[3:6] for d in cur.description] == SCALE6_DESCRIPTIONS
    cur.execute("SELECT CAST(%s AS datetime), CAST(%s AS time(2)), CAST(%s AS date)", (D2, D2, dto))
    assert cur.fetchall() == [(dt.datetime(2024, 1, 1, 1, 2, 3, 457000), dt.time(1, 2, 3, 460000),
                               dt.date(2024, 1, 1))]
    conn.close()


def test_datetime2_parameter_into_every_temporal_column(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.tt (dtm datetime, sdt smalldatetime, d2 datetime2(2), d date, t time(7),"
                " dto datetimeoffset(3))")
    cur.execute("INSERT INTO dbo.tt VALUES (%s, %s, %s, %s, %s, %s)", (D2,) * 6)
    cur.execute("SELECT * FROM dbo.tt")
    assert cur.fetchall() == [(
        dt.datetime(2024, 1, 1, 1, 2, 3, 457000), dt.datetime(2024, 1, 1, 1, 2), dt.datetime(2024, 1, 1, 1, 2, 3, 460000),
        dt.date(2024, 1, 1), TM, dt.datetime(2024, 1, 1, 1, 2, 3, 457000, tzinfo=dt.timezone.utc),
    )]
    # a time parameter into datetime: 1900-01-01 plus the time, rounded to 1/300 s
    cur.execute("UPDATE dbo.tt SET dtm = %s", (TM,))
    cur.execute("SELECT dtm FROM dbo.tt")
    assert cur.fetchall() == [(dt.datetime(1900, 1, 1, 1, 2, 3, 457000),)]
    conn.close()


def test_int_parameter_into_datetime2_column_is_a_type_clash(standin, fresh_db):
    """An int parameter is not ticks: SQL Server refuses it for datetime2 (206)."""
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE dbo.ic (d2 datetime2 NULL)")
        with pytest.raises(pytds.OperationalError) as ei:
            cur.execute("INSERT INTO dbo.ic VALUES (%s)", (638396640000000000,))
        assert (ei.value.msg_no, ei.value.text) == (206, "Operand type clash: bigint is incompatible with datetime2")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("where", "param", "found"),
    [
        # datetime .457 widens to its exact 1/300 s (.4566667) and is not .456789
        ("dtm = %s", D2, False),
        ("dtm < %s", D2, True),
        ("dtm = %s", dt.datetime(2024, 1, 1, 1, 2, 3, 456667), False),  # .4566670 vs .4566667
        ("sdt = %s", dt.datetime(2024, 1, 1, 1, 2), True),
        ("sdt < %s", dt.datetime(2024, 1, 1, 1, 2, 0, 1), True),
        # datetime2(2) .46: the parameter is not rounded to the column's scale
        ("d2 = %s", D2, False),
        ("d2 > %s", D2, True),
        ("d2 = %s", dt.datetime(2024, 1, 1, 1, 2, 3, 460000), True),
        # date widens to midnight
        ("d = %s", dt.datetime(2024, 1, 1), True),
        ("d = %s", dt.datetime(2024, 1, 1, 0, 0, 0, 1), False),
        ("t = %s", TM, True),
        ("t > %s", dt.time(1, 2, 3, 456788), True),
        # datetimeoffset compares its UTC instant with the datetime2 taken as UTC
        ("dto = %s", dt.datetime(2024, 1, 1, 1, 2, 3, 457000), True),
        ("dto = %s", dt.datetime(2024, 1, 1, 10, 2, 3, 457000, tzinfo=dt.timezone(dt.timedelta(hours=9))), True),
        ("dto > %s", D2, True),
    ],
)
def test_time_family_parameters_compare_with_columns(standin, fresh_db, where, param, found):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.tc (dtm datetime, sdt smalldatetime, d2 datetime2(2), d date, t time(7),"
                " dto datetimeoffset(3))")
    cur.execute("INSERT INTO dbo.tc VALUES ('2024-01-01 01:02:03.457', '2024-01-01 01:02', "
                "'2024-01-01 01:02:03.46', '2024-01-01', '01:02:03.456789', '2024-01-01 01:02:03.457 +00:00')")
    cur.execute("SELECT COUNT(*) FROM dbo.tc WHERE " + where, (param,))
    assert cur.fetchall() == [(1 if found else 0,)]
    conn.close()


def test_time_parameter_into_time_column(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.tm (t time(7) NULL, d datetime NULL)")
    cur.execute("INSERT INTO dbo.tm VALUES (%s, %s)", (dt.time(1, 2, 3, 456789), dt.datetime(2024, 1, 1, 1, 2, 3, 456789)))
    cur.execute("SELECT t, d FROM dbo.tm WHERE t = %s", (dt.time(1, 2, 3, 456789),))
    assert cur.fetchall() == [(dt.time(1, 2, 3, 456789), dt.datetime(2024, 1, 1, 1, 2, 3, 457000))]
    conn.close()
