"""Engine API (no network): SQL Server's error numbers and messages, and batch semantics."""

from __future__ import annotations

import pytest

from mctm_replica.standin.contract import Done, ResultSet, RowCount, SqlError
from mctm_replica.standin.engine import DuckEngine


@pytest.fixture(scope="module")
def sess():
    engine = DuckEngine()
    s = engine.connect("master", spid=54, login="sa")
    list(s.execute("CREATE DATABASE err; USE err"))
    list(s.execute("CREATE TABLE dbo.t (id int NOT NULL, v varchar(5), n decimal(5,2), d datetime, g uniqueidentifier,"
                   " CONSTRAINT PK_t PRIMARY KEY (id), CONSTRAINT UQ_t_v UNIQUE (v))"))
    list(s.execute("CREATE TABLE dbo.ident (id int IDENTITY(1,1) PRIMARY KEY, v int)"))
    list(s.execute("INSERT INTO dbo.t (id, v) VALUES (1, 'a')"))
    yield s
    s.close()
    engine.close()


def error_of(s, sql) -> SqlError:
    with pytest.raises(SqlError) as info:
        for r in s.execute(sql):
            if isinstance(r, ResultSet):
                for _ in r.rows:
                    pass
    return info.value


@pytest.mark.parametrize(("sql", "number", "message"), [
    ("SELECT * FROM dbo.x", 208, "Invalid object name 'dbo.x'."),
    ("SELECT * FROM nope.dbo.x", 208, "Invalid object name 'nope.dbo.x'."),
    ("SELECT nope FROM dbo.t", 207, "Invalid column name 'nope'."),
    ("SELECT q.id FROM dbo.t", 4104, 'The multi-part identifier "q.id" could not be bound.'),
    ("SELECT id FROM dbo.t a, dbo.t b", 209, "Ambiguous column name 'id'."),
    ("SELECT FROM WHERE", 156, None),
    ("SELECT 1 +", 102, None),
    ("INSERT INTO dbo.t (id, v) VALUES (1, 'b')", 2627,
     "Violation of PRIMARY KEY constraint 'PK_t'. Cannot insert duplicate key in object 'dbo.t'. The duplicate key value is (1)."),
    ("INSERT INTO dbo.t (id, v) VALUES (2, 'a')", 2627,
     "Violation of UNIQUE KEY constraint 'UQ_t_v'. Cannot insert duplicate key in object 'dbo.t'. The duplicate key value is (a)."),
    ("INSERT INTO dbo.t (v) VALUES ('z')", 515,
     "Cannot insert the value NULL into column 'id', table 'err.dbo.t'; column does not allow nulls. INSERT fails."),
    ("INSERT INTO dbo.t (id, v) VALUES (3, 'abcdef')", 2628,
     "String or binary data would be truncated in table 'err.dbo.t', column 'v'. Truncated value: 'abcde'."),
    ("SELECT CAST('x1' AS int)", 245, "Conversion failed when converting the varchar value 'x1' to data type int."),
    ("SELECT CAST(N'x1' AS bigint)", 245, "Conversion failed when converting the nvarchar value 'x1' to data type bigint."),
    ("INSERT INTO dbo.t (id, n) VALUES (4, 'abc')", 8114, "Error converting data type varchar to numeric."),
    ("INSERT INTO dbo.t (id, n) VALUES (4, 1000)", 8115, "Arithmetic overflow error converting expression to data type numeric."),
    ("SELECT CAST(300 AS tinyint)", 8115, "Arithmetic overflow error converting expression to data type tinyint."),
    ("SELECT CAST('2024-02-30' AS date)", 241, "Conversion failed when converting date and/or time from character string."),
    ("INSERT INTO dbo.t (id, d) VALUES (5, '1600-01-01')", 242,
     "The conversion of a varchar data type to a datetime data type resulted in an out-of-range value."),
    ("SELECT CAST('zz' AS uniqueidentifier)", 8169,
     "Conversion failed when converting from a character string to uniqueidentifier."),
    ("INSERT INTO dbo.ident (id, v) VALUES (9, 1)", 544,
     "Cannot insert explicit value for identity column in table 'ident' when IDENTITY_INSERT is set to OFF."),
    ("CREATE TABLE dbo.t (x int)", 2714, "There is already an object named 't' in the database."),
    ("CREATE DATABASE err", 1801, "Database 'err' already exists. Choose a different database name."),
    ("USE nowhere", 911, "Database 'nowhere' does not exist. Make sure that the name is entered correctly."),
    ("DROP TABLE dbo.nothere", 3701, "Cannot drop the table 'dbo.nothere', because it does not exist or you do not have permission."),
    ("SELECT 1 / 0", 8134, "Divide by zero error encountered."),
    ("EXEC sp_nothing", 2812, "Could not find stored procedure 'sp_nothing'."),
    ("COMMIT", 3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION."),
    ("UPDATE dbo.ident SET id = 5", 8102, "Cannot update identity column 'id'."),
    ("SELECT TOP 50 PERCENT * FROM dbo.t", 50000, "The SQL Server stand-in does not support TOP ... PERCENT."),
    ("SELECT @undeclared", 137, 'Must declare the scalar variable "@undeclared".'),
])
def test_error_numbers_and_messages(sess, sql, number, message):
    err = error_of(sess, sql)
    assert err.number == number
    if message is not None:
        assert err.message == message
    # the session stays usable
    assert [list(r.rows) for r in sess.execute("SELECT 1")] == [[[(1,)]]]


def test_syntax_error_message_names_the_token(sess):
    err = error_of(sess, "SELECT * FORM dbo.t")
    assert err.number == 102 and err.severity == 15
    assert err.message.startswith("Incorrect syntax near '")


def test_error_ends_batch_but_keeps_earlier_statements(sess):
    gen = sess.execute("INSERT INTO dbo.t (id, v) VALUES (10, 'q'); SELECT * FROM dbo.missing; INSERT INTO dbo.t (id) VALUES (11)")
    assert next(gen) == RowCount(1)
    with pytest.raises(SqlError) as info:
        next(gen)
    assert info.value.number == 208
    rs = list(sess.execute("SELECT id FROM dbo.t WHERE id >= 10"))[0]
    assert [r for b in rs.value_batches() for r in b] == [(10,)]


def test_error_after_rows_started_streaming(sess):
    list(sess.execute("CREATE TABLE dbo.digits (d int); INSERT INTO dbo.digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)"))
    list(sess.execute("CREATE TABLE dbo.late (id int, v varchar(10))"))
    list(sess.execute("INSERT INTO dbo.late SELECT n + 1, CAST(n + 1 AS varchar(10)) FROM (SELECT a.d + b.d * 10 + c.d * 100"
                      " + e.d * 1000 + f.d * 10000 + g.d * 100000 AS n FROM dbo.digits a, dbo.digits b, dbo.digits c,"
                      " dbo.digits e, dbo.digits f, dbo.digits g) x ORDER BY n"))
    assert list(sess.execute("UPDATE dbo.late SET v = 'x' WHERE id = 900000")) == [RowCount(1)]
    rs = next(sess.execute("SELECT CAST(v AS int) FROM dbo.late"))
    got = []
    with pytest.raises(SqlError) as info:
        for batch in rs.rows:
            got.extend(batch)
    assert info.value.number == 245
    assert info.value.message == "Conversion failed when converting the varchar value 'x' to data type int."
    assert len(got) >= 2000  # at least one batch left before the bad row
    assert got[:3] == [(1,), (2,), (3,)]


def test_conversion_error_in_sorted_select_comes_before_rows(sess):
    """Known difference: DuckDB evaluates the select list before sorting, so with ORDER BY the
    error arrives before the first row (SQL Server sends the rows before the bad one first)."""
    list(sess.execute("CREATE TABLE dbo.late2 (id int, v varchar(10))"))
    list(sess.execute("INSERT INTO dbo.late2 VALUES (1, '1'), (2, '2'), (3, 'x')"))
    with pytest.raises(SqlError) as info:
        next(sess.execute("SELECT CAST(v AS int) FROM dbo.late2 ORDER BY id"))
    assert info.value.number == 245


def test_nocount_turns_counts_into_done(sess):
    out = list(sess.execute("SET NOCOUNT ON; UPDATE dbo.t SET n = 1 WHERE id = 1; SET NOCOUNT OFF; UPDATE dbo.t SET n = 2 WHERE id = 1"))
    assert out == [Done(), Done(), Done(), RowCount(1)]
