"""Batches as SQL Server runs them, through pymssql and python-tds.

A batch is a sequence of statements with or without ``;`` between them; every SET in
it applies (tedious's login batch is one SET per line); ``SET FMTONLY ON`` answers with
metadata only (freebcp); ``IF ... ELSE`` with ``BEGIN ... END`` (installers, ORMs);
``OBJECT_ID`` of an expression (pgloader); ``EXEC sp_executesql`` written as batch
text; and the prepared-statement procedures called by RPC.
"""

from __future__ import annotations

from decimal import Decimal

import pymssql
import pytds
import pytest

# tedious 19's login batch with its default options (Connection.getInitialSql): one SET
# per line, no ';'. Real SQL Server applies every line.
TEDIOUS_LOGIN_BATCH = "\n".join([
    "set ansi_nulls on", "set ansi_null_dflt_on on", "set ansi_padding on", "set ansi_warnings on",
    "set arithabort on", "set concat_null_yields_null on", "set datefirst 7", "set dateformat mdy",
    "set implicit_transactions off", "set language us_english", "set numeric_roundabort off",
    "set quoted_identifier on", "set textsize 2147483647",
    "set transaction isolation level read committed", "set xact_abort off",
])


@pytest.fixture(params=["pymssql", "pytds"])
def either(request, standin, fresh_db):
    """An autocommit connection of each client to the test's database."""
    connect = standin.connect_pymssql if request.param == "pymssql" else standin.connect_pytds
    conn = connect(database=fresh_db, autocommit=True)
    yield conn
    conn.close()


def _results(cur) -> list[list[tuple]]:
    out = []
    while True:
        if cur.description:
            out.append([tuple(r) for r in cur.fetchall()])
        if not cur.nextset():
            return out


@pytest.mark.parametrize("client", ["pymssql", "pytds"])
def test_every_set_of_a_multiline_batch_applies(standin, fresh_db, client):
    connect = standin.connect_pymssql if client == "pymssql" else standin.connect_pytds
    conn = connect(database=fresh_db, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("set textsize 100\n" + TEDIOUS_LOGIN_BATCH.replace("set textsize 2147483647\n", "")
                    + "\nset implicit_transactions on")
        # textsize from the first line, implicit_transactions from the last: both applied.
        cur.execute("select @@textsize")
        assert cur.fetchone()[0] == 100
        cur.execute("select @@trancount")
        assert cur.fetchone()[0] == 1  # the select opened an implicit transaction
        cur.execute("rollback\nset implicit_transactions off\nset textsize 2147483647")
        cur.execute("select @@textsize, @@trancount")
        assert tuple(cur.fetchone()) == (2147483647, 0)
    finally:
        conn.close()


def test_textsize_then_xact_abort_on_the_next_line_is_no_syntax_error(td):
    cur = td.cursor()
    cur.execute("set textsize 5000\nset xact_abort off")
    cur.execute("select @@textsize")
    assert cur.fetchone() == (5000,)


def test_tedious_login_batch_then_a_long_nvarchar_max_comes_back_whole(td):
    cur = td.cursor()
    cur.execute("set textsize 2048")
    cur.execute(TEDIOUS_LOGIN_BATCH)
    cur.execute("select replicate(cast(N'ab' as nvarchar(max)), 2500)")
    assert cur.fetchone()[0] == "ab" * 2500


@pytest.mark.parametrize("sql, number, text", [
    ("set dateformat dmy", 50000, "SET DATEFORMAT DMY"),
    ("set ansi_nulls off\nselect 1", 50000, "SET ANSI_NULLS OFF"),
    ("set no_such_option on", 195, "'NO_SUCH_OPTION' is not a recognized SET option."),
])
def test_set_values_the_stand_in_cannot_honour_are_refused(td, sql, number, text):
    cur = td.cursor()
    with pytest.raises(pytds.Error) as ei:
        cur.execute(sql)
    assert ei.value.msg_no == number
    assert text in str(ei.value)


def test_a_syntax_error_anywhere_rejects_the_whole_batch(ms):
    cur = ms.cursor()
    cur.execute("create table dbo.t (id int)")
    with pytest.raises(pymssql.exceptions.ProgrammingError) as ei:
        cur.execute("insert into dbo.t values (1)\nselect * from dbo.t where id = = 1")
    assert ei.value.args[0] == 102
    cur.execute("select count(*) from dbo.t")
    assert cur.fetchone()[0] == 0


@pytest.mark.parametrize("sql, number, near", [
    ("select 1\n\n  select 2 +", 102, "'+'"),
    ("select 1; select id from dbo.t where id = = 1", 102, "'='"),
    ("select 1 select * from where", 156, "the keyword 'where'"),
])
def test_a_syntax_error_in_a_later_statement_names_the_right_token(td, sql, number, near):
    with pytest.raises(pytds.Error) as ei:
        td.cursor().execute(sql)
    assert ei.value.msg_no == number
    assert str(ei.value.args[0]) == f"Incorrect syntax near {near}."


def test_statements_without_separators(td):
    cur = td.cursor()
    cur.execute("create table dbo.t (id int primary key, v varchar(10))\n"
                "insert into dbo.t values (1, 'a') insert into dbo.t select 2, 'b' union all select 3, 'c'\n"
                "update dbo.t set v = 'B' where id = 2 delete from dbo.t where id = 3\n"
                "select id, case when v = 'a' then 'x' else v end from dbo.t order by id select count(*) from dbo.t")
    assert _results(cur) == [[(1, "x"), (2, "B")], [(2,)]]


# ---------------------------------------------------------------- SET FMTONLY
@pytest.mark.parametrize("client", ["pymssql", "pytds"])
def test_fmtonly_answers_with_metadata_only_as_freebcp_asks(standin, fresh_db, client):
    connect = standin.connect_pymssql if client == "pymssql" else standin.connect_pytds
    conn = connect(database=fresh_db, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("create table dbo.t (id int not null, d decimal(18,4), s nvarchar(30))")
        cur.execute("insert into dbo.t values (1, 1.5, N'x')")
        cur.execute("SET FMTONLY ON select * from dbo.t SET FMTONLY OFF")
        assert [d[0] for d in cur.description] == ["id", "d", "s"]
        assert cur.fetchall() == []
        cur.execute("SET FMTONLY ON insert into dbo.t values (2, 2, N'y') SET FMTONLY OFF")
        cur.execute("select count(*) from dbo.t")  # FMTONLY OFF applied; the insert did not run
        assert cur.fetchone()[0] == 1
    finally:
        conn.close()


def test_fmtonly_keeps_declared_types(td):
    cur = td.cursor()
    cur.execute("create table dbo.t (d decimal(18,4))")
    cur.execute("SET FMTONLY ON; select d from dbo.t; SET FMTONLY OFF")
    assert cur.description[0][4:6] == (18, 4)


# ---------------------------------------------------------------- IF / BEGIN / END
def test_if_object_id_drop_table_as_installers_write_it(either):
    cur = either.cursor()
    script = ("IF OBJECT_ID('dbo.t') IS NOT NULL DROP TABLE dbo.t\n"
              "CREATE TABLE dbo.t (id int)\nINSERT INTO dbo.t VALUES (1)")
    cur.execute(script)  # table absent: the DROP is skipped
    cur.execute(script)  # table present: dropped and created again
    cur.execute("select count(*) from dbo.t")
    assert tuple(cur.fetchone()) == (1,)


def test_if_else_with_blocks_and_nesting(td):
    cur = td.cursor()
    cur.execute("""
        IF NOT EXISTS (SELECT 1 FROM sys.tables WHERE name = 't')
        BEGIN
            CREATE TABLE dbo.t (id int, v varchar(5));
            INSERT INTO dbo.t VALUES (1, 'new')
        END
        ELSE
        BEGIN
            UPDATE dbo.t SET v = 'again'
        END
        IF (SELECT COUNT(*) FROM dbo.t) > 5 SELECT 'many' ELSE IF 1 = 1 SELECT 'few' ELSE SELECT 'none'
    """)
    assert _results(cur) == [[("few",)]]
    cur.execute("IF OBJECT_ID(N'dbo.t', N'U') IS NULL BEGIN CREATE TABLE dbo.t (id int) END "
                "ELSE BEGIN UPDATE dbo.t SET v = 'again' END select v from dbo.t")
    assert _results(cur) == [[("again",)]]


@pytest.mark.parametrize("sql, number", [
    ("IF 1 = 1", 102),
    ("IF 1 = 1 SELECT 1 ELSE", 156),
    ("BEGIN SELECT 1", 102),
    ("END", 156),
])
def test_incomplete_control_flow_is_a_syntax_error(td, sql, number):
    with pytest.raises(pytds.Error) as ei:
        td.cursor().execute(sql)
    assert ei.value.msg_no == number


# ---------------------------------------------------------------- OBJECT_ID(expression)
def test_object_id_of_an_expression_as_pgloader_asks(either):
    cur = either.cursor()
    cur.execute("create table dbo.t (id int); create table dbo.[odd ]]name] (id int)")
    cur.execute("select TABLE_NAME, OBJECT_ID(QUOTENAME(TABLE_SCHEMA) + '.' + QUOTENAME(TABLE_NAME)),"
                " OBJECT_ID(TABLE_SCHEMA + '.' + TABLE_NAME), OBJECT_ID(DB_NAME() + '..' + TABLE_NAME)"
                " from INFORMATION_SCHEMA.TABLES where TABLE_NAME = 't'")
    name, a, b, c = tuple(cur.fetchone())
    cur.execute("select OBJECT_ID('dbo.t'), OBJECT_ID(N'dbo.' + 'missing')")
    expected, missing = tuple(cur.fetchone())
    assert (name, a, b, c) == ("t", expected, expected, expected)
    assert expected is not None and missing is None


# ---------------------------------------------------------------- sp_executesql as batch text
def test_exec_sp_executesql_in_batch_text(either):
    cur = either.cursor()
    cur.execute("EXEC sp_executesql N'select @a + @b', N'@a int, @b int', @a = 40, @b = 2")
    assert tuple(cur.fetchone()) == (42,)
    cur.execute("EXECUTE sp_executesql N'select @p', N'@p decimal(18,4)', 1.5")
    (value,) = tuple(cur.fetchone())
    assert value in (Decimal("1.5000"), Decimal("1.5"))  # pymssql keeps the scale, pytds drops zeros
    assert str(value) == ("1.5000" if isinstance(either, pymssql.Connection) else "1.5")
    cur.execute("exec sp_executesql N'select 1'")
    assert tuple(cur.fetchone()) == (1,)
    with pytest.raises((pytds.Error, pymssql.Error)) as ei:
        cur.execute("EXEC sp_executesql N'select @a', N'@a int'")
    assert 8178 in (getattr(ei.value, "msg_no", None), ei.value.args[0])


def test_exec_sp_executesql_keeps_the_declared_type(td):
    cur = td.cursor()
    cur.execute("EXECUTE sp_executesql N'select @p', N'@p decimal(18,4)', 1.5")
    assert cur.description[0][4:6] == (18, 4)  # the declared type, not decimal(2,1)


# ---------------------------------------------------------------- RPC
def test_rpc_parameter_keeps_its_declared_type(td):
    cur = td.cursor()
    cur.execute("select %s as d", (Decimal("1.5"),))
    assert cur.description[0][4:6] == (2, 1)  # pytds declares @P1 decimal(2,1) for 1.5
    cur.execute("select %s as v", ("abc",))
    assert cur.description[0][1] in (231, 99)  # nvarchar as declared by the client


def test_prepared_statement_procedures_by_rpc(td):
    cur = td.cursor()
    cur.execute("create table dbo.t (id int, d decimal(18,4))")
    handle = pytds.output(param_type=int)
    out = cur.callproc("sp_prepare", (handle, "@id int, @d decimal(18,4)",
                                      "insert into dbo.t values (@id, @d)", 1))
    h = out[0]
    assert isinstance(h, int) and h > 0
    cur.callproc("sp_execute", (h, 1, Decimal("1.25")))
    cur.callproc("sp_execute", (h, 2, Decimal("-3")))
    cur.callproc("sp_unprepare", (h,))
    with pytest.raises(pytds.Error) as ei:
        cur.callproc("sp_execute", (h, 3, Decimal("0")))
    assert ei.value.msg_no == 8179
    cur.execute("select id, d from dbo.t order by id")
    assert cur.fetchall() == [(1, Decimal("1.25")), (2, Decimal("-3"))]

    cur.callproc("sp_prepexec", (pytds.output(param_type=int), "@x decimal(18,4)", "select @x as x",
                                 Decimal("2.5")))
    assert cur.fetchall() == [(Decimal("2.5"),)]
    assert cur.description[0][4:6] == (18, 4)
    while cur.nextset():
        pass
    assert cur.get_proc_outputs()[0] > h  # handles count up per connection


@pytest.mark.parametrize("sql, word", [
    ("create table dbo.t (id int)\nWHILE 1 = 1 SELECT 1", "WHILE"),
    ("create table dbo.t (id int)\nRETURN", "RETURN"),
])
def test_other_control_flow_is_refused_before_anything_runs(td, sql, word):
    cur = td.cursor()
    with pytest.raises(pytds.Error) as ei:
        cur.execute(sql)
    assert ei.value.msg_no == 50000 and word in str(ei.value)
    cur.execute("select OBJECT_ID('dbo.t')")
    assert cur.fetchone() == (None,)  # the CREATE before it did not run


def test_sp_prepare_reports_a_syntax_error_at_once(td):
    cur = td.cursor()
    with pytest.raises(pytds.Error) as ei:
        cur.callproc("sp_prepare", (pytds.output(param_type=int), "@a int", "select from where @a", 1))
    assert ei.value.msg_no == 156
    cur.execute("select 1")  # the connection goes on
    assert cur.fetchone() == (1,)


def test_output_parameters_of_sp_executesql_come_back_as_declared(td):
    cur = td.cursor()
    out = cur.callproc("sp_executesql", (
        "create table dbo.o (a int)", "@d decimal(18,4) OUTPUT, @s nvarchar(10) OUTPUT, @i int",
        pytds.output(value=Decimal("2"), param_type=Decimal), pytds.output(value="hé", param_type=str), 3))
    # The statement does not assign them (assignment is refused), so SQL Server sends the values back.
    assert out[2:] == [Decimal("2"), "hé", 3]


def test_object_id_of_an_expression_naming_another_database(td, fresh_db):
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.t (id int)")
    cur.execute("SELECT OBJECT_ID(DB_NAME() + '.dbo.t')")
    expected = cur.fetchone()[0]
    cur.execute("USE master")
    cur.execute("SELECT OBJECT_ID(%s + '.dbo.t'), OBJECT_ID(%s + '..t'), OBJECT_ID(%s)",
                (fresh_db, fresh_db, f"[{fresh_db}].[dbo].[t]"))
    assert expected is not None and tuple(cur.fetchone()) == (expected, expected, expected)
