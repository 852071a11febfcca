"""Engine API (no network): the demo databases' shape and determinism."""

from __future__ import annotations


import pytest

from mctm_replica.standin.demo_data import load_demo_data
from mctm_replica.standin.engine import DuckEngine


def rows(s, sql):
    rs = list(s.execute(sql))[-1]
    return rs, [r for b in rs.value_batches() for r in b]


@pytest.fixture(scope="module")
def demo():
    e = DuckEngine()
    load_demo_data(e)
    s = e.connect("McTM", spid=80, login="sa")
    yield e, s
    s.close()
    e.close()


def test_tables_and_counts(demo):
    _, s = demo
    _, counts = rows(s, "SELECT (SELECT COUNT(*) FROM McTM.dbo.customer), (SELECT COUNT(*) FROM McTM.dbo.mctm_module),"
                        " (SELECT COUNT(*) FROM VoipDB.dbo.voipdb_customer), (SELECT COUNT(*) FROM VoipDB.dbo.voipdb_useragent)")
    assert counts == [(2000, 3000, 800, 2500)]


def test_declared_columns(demo):
    _, s = demo
    _, cols = rows(s, "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS"
                      " WHERE TABLE_NAME = 'mctm_module' ORDER BY ORDINAL_POSITION")
    assert cols == [("ModuleID", "bigint", None, "NO"), ("CustomerID", "int", None, "YES"),
                    ("ICCID", "varchar", 20, "YES"), ("IMSI", "varchar", 15, "YES"), ("MSISDN", "varchar", 15, "YES"),
                    ("ModuleType", "nvarchar", 20, "YES"), ("Status", "tinyint", None, "YES"),
                    ("ActivatedOn", "date", None, "YES"), ("LastSeen", "datetimeoffset", None, "YES"),
                    ("DataUsageMB", "decimal", None, "YES"), ("Rowguid", "uniqueidentifier", None, "YES"),
                    ("SIM No", "varchar", 20, "YES")]
    _, pk = rows(s, "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE WHERE TABLE_NAME = 'customer'")
    assert pk == [("CustomerID",)]


def test_every_nullable_column_has_some_nulls(demo):
    _, s = demo
    for db, table in [("McTM", "customer"), ("McTM", "mctm_module"), ("VoipDB", "voipdb_customer"),
                      ("VoipDB", "voipdb_useragent")]:
        _, cols = rows(s, f"SELECT COLUMN_NAME FROM {db}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = '{table}'"
                          " AND IS_NULLABLE = 'YES'")
        assert cols
        _, total = rows(s, f"SELECT COUNT(*) FROM {db}.dbo.{table}")
        for (col,) in cols:
            _, n = rows(s, f"SELECT COUNT(*) FROM {db}.dbo.{table} WHERE [{col}] IS NULL")
            assert 0 < n[0][0] < total[0][0], (table, col)


def test_deterministic_values(demo):
    _, s = demo
    _, first = rows(s, "SELECT TOP 1 CustomerID, CustomerCode, CustomerName FROM dbo.customer ORDER BY CustomerID")
    assert first == [(1, "C000001", "合同会社中村モビリティ")]
    e2 = DuckEngine()
    load_demo_data(e2)
    s2 = e2.connect("VoipDB", spid=81, login="sa")
    q = "SELECT TOP 5 * FROM dbo.voipdb_useragent ORDER BY UserAgentID"
    assert rows(s2, q)[1] == rows(s, "SELECT TOP 5 * FROM VoipDB.dbo.voipdb_useragent ORDER BY UserAgentID")[1]
    s2.close()
    e2.close()


def test_mctm_is_japanese_and_its_varchar_holds_code_page_932(demo):
    """Production's McTM is Japanese_CI_AS: varchar columns hold Shift-JIS bytes, half-width
    katakana one byte each, and a character outside code page 932 is stored as '?' -- also
    through the bulk path the demo loads with (CAST to nvarchar shows what is stored)."""
    _, s = demo[:2]
    _, got = rows(s, "SELECT DATABASEPROPERTYEX('McTM', 'Collation')")
    assert got == [("Japanese_CI_AS",)]
    _, got = rows(s, "SELECT CustomerName, CAST(CustomerNameSjis AS nvarchar(100)), CustomerNameKanaHalf, "
                     "DATALENGTH(CustomerNameKanaHalf) FROM McTM.dbo.customer WHERE CustomerID = 13")
    [(name, sjis, half, half_bytes)] = got
    assert name == "渡辺 𠮷男" and sjis == "渡辺 ?男"
    assert half == "ﾜﾀﾅﾍﾞ ﾖｼｵ" and half_bytes == len(half)
