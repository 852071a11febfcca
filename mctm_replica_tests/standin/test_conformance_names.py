"""Databases, logins, identifiers and schemas as both clients see them.

Several databases in one server (USE, database at login, three-part names), login
failures, case-insensitive and bracket-quoted identifiers, non-dbo schemas -- each
with the results and errors real SQL Server gives.
"""

from __future__ import annotations

import pymssql
import pytds
import pytest


# --------------------------------------------------------------------------- databases


def test_several_databases_use_login_database_and_three_part_names(standin, fresh_db, td):
    other = fresh_db + "_other"
    cur = td.cursor()
    cur.execute(f"CREATE DATABASE [{other}]")
    try:
        cur.execute("CREATE TABLE dbo.t (v nvarchar(10) NULL)")
        cur.execute("INSERT INTO dbo.t (v) VALUES (N'first')")
        cur.execute(f"USE [{other}]")
        cur.execute("SELECT DB_NAME()")
        assert cur.fetchall() == [(other,)]
        cur.execute("CREATE TABLE dbo.t (v nvarchar(10) NULL)")
        cur.execute("INSERT INTO dbo.t (v) VALUES (N'second')")
        cur.execute(f"SELECT a.v, b.v FROM [{fresh_db}].dbo.t AS a CROSS JOIN {other}.dbo.t AS b")
        assert cur.fetchall() == [("first", "second")]
        cur.execute(f"USE [{fresh_db}]")

        m = standin.connect_pymssql(database=other, autocommit=True)
        try:
            mcur = m.cursor()
            mcur.execute("SELECT DB_NAME(), v FROM dbo.t")
            assert mcur.fetchall() == [(other, "second")]
            mcur.execute(f"USE {fresh_db}")
            mcur.execute("SELECT DB_NAME(), v FROM dbo.t")
            assert mcur.fetchall() == [(fresh_db, "first")]
            # default schema (db..table), database name in another case
            mcur.execute(f"SELECT v FROM {other.upper()}..t")
            assert mcur.fetchall() == [("second",)]
        finally:
            m.close()
    finally:
        cur.execute("USE master")
        cur.execute(f"DROP DATABASE [{other}]")


def test_login_to_unknown_database_fails_with_4060_then_18456(standin):
    # SQL Server sends 4060 then 18456; pytds raises on the last and joins the texts.
    with pytest.raises(pytds.OperationalError) as ei:
        standin.connect_pytds(database="no_such_database_x")
    assert ei.value.msg_no == 18456
    assert ei.value.args[0] == (
        'Cannot open database "no_such_database_x" requested by the login. The login failed. '
        f"Login failed for user '{standin.user}'."
    )
    # pymssql keeps the most severe message: 18456 (severity 14) over 4060 (11).
    with pytest.raises(pymssql.exceptions.OperationalError) as mi:
        standin.connect_pymssql(database="no_such_database_x")
    assert mi.value.args[0][0] == 18456


def test_wrong_password_fails_with_18456(standin):
    with pytest.raises(pytds.OperationalError) as ei:
        pytds.connect(server=standin.host, port=standin.port, user=standin.user, password="wrong")
    assert (ei.value.msg_no, ei.value.severity) == (18456, 14)
    assert ei.value.text == f"Login failed for user '{standin.user}'."
    with pytest.raises(pymssql.exceptions.OperationalError) as mi:
        pymssql.connect(server=standin.host, port=standin.port, user=standin.user, password="wrong",
                        tds_version="7.4")
    # args[0] = (18456, text); pymssql keeps error state in a process-global after a
    # failed login, so the text is only reliable for the first failure: not pinned.
    assert mi.value.args[0][0] == 18456


# --------------------------------------------------------------------------- identifiers


def test_identifiers_are_case_insensitive_and_keep_declared_case(td):
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.MixedCase (CustomerID int NOT NULL, UserAgent nvarchar(20) NULL)")
    cur.execute("INSERT INTO DBO.MIXEDCASE (customerid, USERAGENT) VALUES (1, N'SIP/2.0')")
    cur.execute("SELECT * FROM dbo.mixedcase WHERE customerID = 1")
    assert cur.fetchall() == [(1, "SIP/2.0")]
    assert [d[0] for d in cur.description] == ["CustomerID", "UserAgent"]
    cur.execute("SELECT [CustomerID], [UserAgent] FROM [dbo].[MixedCase]")
    assert [d[0] for d in cur.description] == ["CustomerID", "UserAgent"]
    cur.execute(
        "SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_NAME = 'mixedcase' ORDER BY ORDINAL_POSITION"
    )
    assert cur.fetchall() == [("MixedCase", "CustomerID"), ("MixedCase", "UserAgent")]
    with pytest.raises(pytds.OperationalError) as ei:
        cur.execute("CREATE TABLE dbo.MIXEDCASE (x int)")
    assert ei.value.msg_no == 2714
    assert ei.value.text == "There is already an object named 'MIXEDCASE' in the database."


def test_bracket_identifiers_with_spaces_brackets_quotes_and_keywords(td, ms):
    cur = td.cursor()
    cur.execute(
        "CREATE TABLE [dbo].[odd table] ([SIM No] int NOT NULL, [we]]ird] int NULL, "
        "[it's] int NULL, "
        "[select] int NULL, [\"q\"] int NULL, [日本] nvarchar(5) NULL, [order by] int NULL)"
    )
    cur.execute(
        "INSERT INTO [odd table] "
        "([SIM No], [we]]ird], [it's], [select], [\"q\"], [日本], [order by]) "
        "VALUES (1, 2, 3, 4, 5, N'六', 7)"
    )
    cur.execute("SELECT * FROM [dbo].[odd table]")
    assert cur.fetchall() == [(1, 2, 3, 4, 5, "六", 7)]
    names = ["SIM No", "we]ird", "it's", "select", '"q"', "日本", "order by"]
    assert [d[0] for d in cur.description] == names
    mcur = ms.cursor()
    # pymssql turns QUOTED_IDENTIFIER on at login: double quotes delimit identifiers.
    mcur.execute('SELECT "SIM No", [we]]ird] AS "x y" FROM "odd table" WHERE [select] = 4')
    assert mcur.fetchall() == [(1, 2)]
    assert [d[0] for d in mcur.description] == ["SIM No", "x y"]
    cur.execute(
        "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'odd table' "
        "ORDER BY ORDINAL_POSITION"
    )
    assert [r[0] for r in cur.fetchall()] == names


def test_non_dbo_schema(td, fresh_db):
    cur = td.cursor()
    cur.execute("CREATE SCHEMA sales")
    cur.execute(
        "CREATE TABLE sales.orders (id int NOT NULL, v nvarchar(10) NULL, "
        "CONSTRAINT PK_orders PRIMARY KEY (id))"
    )
    cur.execute("CREATE TABLE dbo.orders (id int NOT NULL, v nvarchar(10) NULL)")
    cur.execute("INSERT INTO sales.orders (id, v) VALUES (1, N'sales')")
    cur.execute("INSERT INTO dbo.orders (id, v) VALUES (1, N'dbo')")
    cur.execute("SELECT v FROM sales.orders")
    assert cur.fetchall() == [("sales",)]
    cur.execute("SELECT v FROM orders")  # default schema dbo
    assert cur.fetchall() == [("dbo",)]
    cur.execute(f"SELECT v FROM [{fresh_db}].[sales].[orders]")
    assert cur.fetchall() == [("sales",)]
    cur.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_SCHEMA"
    )
    assert cur.fetchall() == [("dbo", "orders"), ("sales", "orders")]
    cur.execute(
        "SELECT kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS kcu "
        "WHERE kcu.TABLE_SCHEMA = 'sales' AND kcu.TABLE_NAME = 'orders'"
    )
    assert cur.fetchall() == [("id",)]
    cur.execute(
        "SELECT s.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id "
        "ORDER BY s.name"
    )
    assert cur.fetchall() == [("dbo",), ("sales",)]
    cur.execute("SELECT SCHEMA_NAME()")
    assert cur.fetchall() == [("dbo",)]
