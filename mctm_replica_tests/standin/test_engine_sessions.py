"""Engine API (no network): sessions, transactions, databases, names, persistence, streaming."""

from __future__ import annotations

import threading

import pytest

from mctm_replica.standin.contract import DatabaseChanged, Done, ResultSet, RowCount, SqlError
from mctm_replica.standin.engine import DuckEngine


def rows(s, sql, params=None):
    out = list(s.execute(sql, params))
    rs = out[-1]
    assert isinstance(rs, ResultSet)
    return [r for b in rs.value_batches() for r in b]


@pytest.fixture
def engine():
    e = DuckEngine()
    yield e
    e.close()


PYMSSQL_LOGIN_BATCH = (
    "SET TEXTSIZE 2147483647; SET ANSI_WARNINGS ON; SET ANSI_PADDING ON; SET ANSI_NULLS ON; SET ARITHABORT ON;"
    " SET CONCAT_NULL_YIELDS_NULL ON; SET QUOTED_IDENTIFIER ON; SET ANSI_NULL_DFLT_ON ON; SET CURSOR_CLOSE_ON_COMMIT OFF;"
    " SET IMPLICIT_TRANSACTIONS OFF; SET DATEFORMAT ymd; SET XACT_ABORT OFF; SET NOCOUNT OFF; SET LANGUAGE us_english;"
    " SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"
)


def test_client_session_statements(engine):
    s = engine.connect("master", spid=61, login="replicator")
    assert list(s.execute(PYMSSQL_LOGIN_BATCH)) == [Done()] * 16
    assert rows(s, "select @@spid") == [(61,)]
    assert rows(s, "SELECT DB_NAME(), SCHEMA_NAME(), SUSER_NAME(), @@TRANCOUNT") == [("master", "dbo", "replicator", 0)]
    version = rows(s, "SELECT @@VERSION")[0][0]
    assert version.startswith("Microsoft SQL Server 2022") and "stand-in" in version
    assert rows(s, "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductLevel'), SERVERPROPERTY('Edition'),"
                   " SERVERPROPERTY('EngineEdition')") == [("16.0.4135.4", "RTM", "Developer Edition (64-bit)", "3")]
    list(s.execute("CREATE DATABASE Other"))
    assert list(s.execute("use [other]")) == [DatabaseChanged("master", "Other")]
    assert s.database == "Other"
    assert rows(s, "SELECT DB_NAME()") == [("Other",)]
    with pytest.raises(SqlError) as info:
        list(s.execute("USE missing"))
    assert info.value.number == 911
    s.close()


def test_transactions_rollback_and_isolation(engine):
    a = engine.connect("master", spid=62, login="sa")
    b = engine.connect("master", spid=63, login="sa")
    list(a.execute("CREATE TABLE tx (id int PRIMARY KEY, v varchar(10))"))
    list(a.execute("INSERT INTO tx VALUES (1, 'one')"))
    assert list(a.execute("BEGIN TRAN")) == [Done()]
    assert a.trancount == 1
    list(a.execute("INSERT INTO tx VALUES (2, 'two'); UPDATE tx SET v = 'uno' WHERE id = 1"))
    assert rows(a, "SELECT COUNT(*), @@TRANCOUNT FROM tx") == [(2, 1)]
    assert rows(b, "SELECT COUNT(*) FROM tx WITH (NOLOCK)") == [(1,)]  # b sees committed data only
    list(a.execute("BEGIN TRANSACTION"))
    assert a.trancount == 2
    list(a.execute("COMMIT"))
    assert a.trancount == 1
    list(a.execute("ROLLBACK TRAN"))
    assert a.trancount == 0
    assert rows(a, "SELECT id, v FROM tx") == [(1, "one")]
    # the TDS transaction manager path
    a.begin()
    list(a.execute("DELETE FROM tx"))
    a.commit()
    assert rows(b, "SELECT COUNT(*) FROM tx") == [(0,)]
    a.begin()
    list(a.execute("INSERT INTO tx VALUES (5, 'five')"))
    a.rollback()
    assert rows(b, "SELECT COUNT(*) FROM tx") == [(0,)]
    a.close()
    b.close()


def test_ddl_rolls_back_with_its_transaction(engine):
    s = engine.connect("master", spid=64, login="sa")
    list(s.execute("BEGIN TRAN; CREATE TABLE gone (id int); INSERT INTO gone VALUES (1)"))
    assert rows(s, "SELECT COUNT(*) FROM gone") == [(1,)]
    list(s.execute("ROLLBACK"))
    with pytest.raises(SqlError) as info:
        rows(s, "SELECT * FROM gone")
    assert info.value.number == 208
    s.close()


def test_concurrent_sessions_in_threads(engine):
    s = engine.connect("master", spid=65, login="sa")
    list(s.execute("CREATE TABLE conc (worker int, n int)"))
    errors = []

    def work(k: int) -> None:
        try:
            sess = engine.connect("master", spid=70 + k, login="sa")
            for n in range(20):
                list(sess.execute(f"INSERT INTO conc VALUES ({k}, {n})"))
                rows(sess, "SELECT COUNT(*) FROM conc")
            sess.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rows(s, "SELECT worker, COUNT(*) FROM conc GROUP BY worker ORDER BY worker") == [(k, 20) for k in range(4)]
    s.close()


def test_databases_create_drop_and_case(engine):
    s = engine.connect("master", spid=66, login="sa")
    list(s.execute("CREATE DATABASE [Sales DB]"))
    assert engine.has_database("sales db") and engine.has_database("SALES DB")
    other = engine.connect("SALES db", spid=67, login="sa")
    assert other.database == "Sales DB"
    with pytest.raises(SqlError) as info:
        list(s.execute("DROP DATABASE [Sales DB]"))
    assert info.value.number == 3702
    other.close()
    list(s.execute("DROP DATABASE [sales db]"))
    assert not engine.has_database("Sales DB")
    with pytest.raises(SqlError) as info:
        engine.connect("Sales DB", spid=68, login="sa")
    assert info.value.number == 4060
    s.close()


def test_identifiers_case_brackets_quotes_schemas(engine):
    s = engine.connect("master", spid=69, login="sa")
    list(s.execute("CREATE SCHEMA [Ops Team]"))
    list(s.execute('CREATE TABLE [Ops Team].[Order]] Lines] ([Select] int, "Quote""d" nvarchar(5), [SIM No] varchar(20),'
                   " CustomerID int)"))
    list(s.execute("INSERT INTO [ops team].[ORDER]] LINES] ([SELECT], [quote\"d], [sim no], customerid) VALUES (1, N'a', 'S1', 7)"))
    rs = list(s.execute('SELECT [select], "QUOTE""D", [Sim No], CUSTOMERID FROM [OPS TEAM].[order]] lines] AS [o]'))[0]
    assert [c.name for c in rs.columns] == ["select", 'QUOTE"D', "Sim No", "CUSTOMERID"]
    assert [r for b in rs.value_batches() for r in b] == [(1, "a", "S1", 7)]
    # string comparison is case-insensitive, as with SQL Server's default collation
    assert rows(s, "SELECT COUNT(*) FROM [Ops Team].[Order]] Lines] WHERE [SIM No] = 's1'") == [(1,)]
    s.close()


def test_identity_insert_and_scope_identity(engine):
    s = engine.connect("master", spid=70, login="sa")
    list(s.execute("CREATE TABLE idt (id int IDENTITY(100, 10) PRIMARY KEY, v int)"))
    assert list(s.execute("INSERT INTO idt (v) VALUES (1), (2)")) == [RowCount(2)]
    assert rows(s, "SELECT SCOPE_IDENTITY()")[0][0] == 110
    list(s.execute("SET IDENTITY_INSERT dbo.idt ON; INSERT INTO idt (id, v) VALUES (500, 3); SET IDENTITY_INSERT dbo.idt OFF"))
    list(s.execute("INSERT INTO idt (v) VALUES (4)"))
    assert rows(s, "SELECT id, v FROM idt ORDER BY id") == [(100, 1), (110, 2), (500, 3), (510, 4)]
    s.close()


def test_select_shapes(engine):
    s = engine.connect("master", spid=71, login="sa")
    list(s.execute("CREATE TABLE sh (id int PRIMARY KEY, grp varchar(5), amt money)"))
    list(s.execute("INSERT INTO sh VALUES (1, 'a', 1.5), (2, 'a', 2.5), (3, 'b', NULL), (4, NULL, 4)"))
    assert rows(s, "SELECT TOP (2) id FROM sh ORDER BY id DESC") == [(4,), (3,)]
    assert rows(s, "SELECT id FROM sh ORDER BY id OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY") == [(2,), (3,)]
    assert rows(s, "SELECT grp, COUNT(*), SUM(amt) FROM sh GROUP BY grp ORDER BY grp") == [
        (None, 1, 4), ("a", 2, 4), ("b", 1, None)]
    assert rows(s, "SELECT MIN(amt), MAX(amt), COUNT(amt), COUNT_BIG(*) FROM sh") == [(1.5, 4, 3, 4)]
    assert rows(s, "SELECT id FROM sh WHERE grp IS NULL OR id IN (SELECT id FROM sh WHERE amt > 2) ORDER BY 1") == [
        (2,), (4,)]
    assert rows(s, "SELECT a.id, b.id FROM sh a LEFT JOIN sh b ON b.id = a.id + 10 WHERE a.id = 1") == [(1, None)]
    assert rows(s, "SELECT ISNULL(grp, '-') + '!' FROM sh ORDER BY id") == [("a!",), ("a!",), ("b!",), ("-!",)]
    s.close()


def test_result_streams_lazily_in_batches(engine):
    s = engine.connect("master", spid=72, login="sa")
    list(s.execute("CREATE TABLE d (x int); INSERT INTO d VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)"))
    list(s.execute("CREATE TABLE million (n int, s varchar(20))"))
    list(s.execute("INSERT INTO million SELECT a.x + b.x * 10 + c.x * 100 + e.x * 1000 + f.x * 10000 + g.x * 100000,"
                   " 'row' FROM d a, d b, d c, d e, d f, d g"))
    rs = next(s.execute("SELECT n, s FROM million"))
    first = next(rs.rows)
    assert 0 < len(first) <= 10_000  # one batch, not all 1,000,000 rows at once
    rest = sum(len(b) for b in rs.rows)
    assert len(first) + rest == 1_000_000
    s.close()


def test_persistence_across_restart(tmp_path):
    e = DuckEngine(tmp_path)
    s = e.connect("master", spid=73, login="sa")
    list(s.execute("CREATE DATABASE Keep; USE Keep; CREATE TABLE dbo.k (id int IDENTITY(1,1) PRIMARY KEY,"
                   " v nvarchar(10), t datetime2(7), m money); INSERT INTO dbo.k (v, t, m) VALUES"
                   " (N'日本', '2024-01-01 00:00:00.1234567', 1.25)"))
    s.close()
    e.close()
    e2 = DuckEngine(tmp_path)
    assert e2.has_database("KEEP")
    s2 = e2.connect("keep", spid=74, login="sa")
    rs = list(s2.execute("SELECT * FROM dbo.k"))[0]
    assert [(c.name, c.type, c.length, c.identity) for c in rs.columns] == [
        ("id", "int", None, True), ("v", "nvarchar", 10, False), ("t", "datetime2", None, False), ("m", "money", None, False)]
    from decimal import Decimal

    assert [r for b in rs.value_batches() for r in b] == [(1, "日本", 638396640001234567, Decimal("1.2500"))]
    list(s2.execute("INSERT INTO dbo.k (v) VALUES (N'x')"))
    assert rows(s2, "SELECT MAX(id) FROM dbo.k") == [(2,)]
    s2.close()
    e2.close()


def test_textsize_truncates_large_values(engine):
    s = engine.connect("master", spid=75, login="sa")
    assert rows(s, "SELECT @@TEXTSIZE") == [(2147483647,)]
    list(s.execute("CREATE TABLE lob (nv nvarchar(max), v varchar(max), b varbinary(max), t text, small nvarchar(50))"))
    list(s.execute("INSERT INTO lob VALUES (N'日本語𠮷x', 'abcdefgh', 0x0102030405, 'text body', N'kept whole')"))
    list(s.execute("SET TEXTSIZE 6"))
    assert rows(s, "SELECT @@TEXTSIZE") == [(6,)]
    assert rows(s, "SELECT * FROM lob") == [("日本語", "abcdef", b"\x01\x02\x03\x04\x05", "text b", "kept whole")]
    list(s.execute("SET TEXTSIZE 0"))
    assert rows(s, "SELECT @@TEXTSIZE") == [(4096,)]
    s.close()


def test_min_active_rowversion_stays_below_open_transactions(engine):
    a = engine.connect("master", spid=61, login="sa")
    list(a.execute("CREATE DATABASE rv; USE rv; CREATE TABLE dbo.t (id int PRIMARY KEY, v int, rv rowversion)"))
    list(a.execute("INSERT INTO dbo.t (id, v) VALUES (1, 1), (2, 2)"))

    def rv(s, sql):
        return int.from_bytes(rows(s, sql)[0][0], "big")

    top = rv(a, "SELECT MAX(rv) FROM dbo.t")
    assert rv(a, "SELECT MIN_ACTIVE_ROWVERSION()") > top  # nothing open: @@DBTS + 1
    b = engine.connect("rv", spid=62, login="sa")
    list(b.execute("BEGIN TRANSACTION; UPDATE dbo.t SET v = 10 WHERE id = 1"))
    list(a.execute("UPDATE dbo.t SET v = 20 WHERE id = 2"))
    committed = rv(a, "SELECT rv FROM dbo.t WHERE id = 2")
    floor = rv(a, "SELECT MIN_ACTIVE_ROWVERSION()")
    assert floor < committed  # b's uncommitted row version is below a's committed one
    list(b.execute("COMMIT"))
    assert rv(a, "SELECT rv FROM dbo.t WHERE id = 1") >= floor
    assert rv(a, "SELECT MIN_ACTIVE_ROWVERSION()") > committed
