"""Engine API (no network): INFORMATION_SCHEMA and sys views answer from the declared catalog."""

from __future__ import annotations

import pytest

from mctm_replica_tests.standin.engine_helpers import engine_session
from mctm_replica_tests.standin.engine_helpers import result as rows  # (result set, rows)


@pytest.fixture(scope="module")
def sess():
    with engine_session([
        "CREATE DATABASE cat", "USE cat", "CREATE SCHEMA sales",
        "CREATE TABLE dbo.orders (OrderID int IDENTITY(1,1) NOT NULL, Region char(2) NOT NULL, Note nvarchar(50) NULL,"
        " Body nvarchar(max), Amount decimal(12,2) DEFAULT 0, Stamp datetime2(3), Created datetime DEFAULT GETDATE(),"
        " CONSTRAINT PK_orders PRIMARY KEY CLUSTERED (Region ASC, OrderID ASC))",
        "CREATE TABLE sales.[line items] ([Line No] int NOT NULL PRIMARY KEY, Sku varchar(20) UNIQUE, Raw varbinary(16))",
        "CREATE TABLE heap (x float, y real, z money)",
        "INSERT INTO dbo.orders (Region, Note) VALUES ('JP', N'a'), ('US', N'b'), ('JP', NULL)",
        "CREATE VIEW dbo.jp_orders AS SELECT OrderID, Note FROM dbo.orders WHERE Region = 'JP'",
    ], spid=53) as s:
        yield s



def test_information_schema_tables(sess):
    rs, got = rows(sess, "SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES"
                         " ORDER BY TABLE_SCHEMA, TABLE_NAME")
    assert got == [("cat", "dbo", "heap", "BASE TABLE"), ("cat", "dbo", "jp_orders", "VIEW"),
                   ("cat", "dbo", "orders", "BASE TABLE"), ("cat", "sales", "line items", "BASE TABLE")]
    assert [(c.type, c.length) for c in rs.columns] == [("nvarchar", 128)] * 3 + [("varchar", 10)]


def test_information_schema_columns(sess):
    rs, got = rows(sess, "SELECT COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,"
                         " CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE,"
                         " DATETIME_PRECISION, COLLATION_NAME FROM INFORMATION_SCHEMA.COLUMNS"
                         " WHERE TABLE_SCHEMA = 'dbo' AND TABLE_NAME = 'orders' ORDER BY ORDINAL_POSITION")
    ci = "SQL_Latin1_General_CP1_CI_AS"
    assert got == [
        ("OrderID", 1, None, "NO", "int", None, None, 10, 0, None, None),
        ("Region", 2, None, "NO", "char", 2, 2, None, None, None, ci),
        ("Note", 3, None, "YES", "nvarchar", 50, 100, None, None, None, ci),
        ("Body", 4, None, "YES", "nvarchar", -1, -1, None, None, None, ci),
        ("Amount", 5, "((0))", "YES", "decimal", None, None, 12, 2, None, None),
        ("Stamp", 6, None, "YES", "datetime2", None, None, None, None, 3, None),
        ("Created", 7, "(getdate())", "YES", "datetime", None, None, None, None, 3, None),
    ]
    assert [c.type for c in rs.columns] == ["nvarchar", "int", "nvarchar", "varchar", "nvarchar", "int", "int",
                                            "tinyint", "int", "smallint", "nvarchar"]


def test_constraints_and_key_columns(sess):
    _, got = rows(sess, "SELECT tc.TABLE_SCHEMA, tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME,"
                        " k.ORDINAL_POSITION FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc JOIN"
                        " INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME"
                        " AND k.TABLE_NAME = tc.TABLE_NAME WHERE tc.TABLE_NAME = 'orders' ORDER BY k.ORDINAL_POSITION")
    assert got == [("dbo", "orders", "PK_orders", "PRIMARY KEY", "Region", 1),
                   ("dbo", "orders", "PK_orders", "PRIMARY KEY", "OrderID", 2)]
    _, kinds = rows(sess, "SELECT CONSTRAINT_TYPE FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = 'sales'"
                          " ORDER BY CONSTRAINT_TYPE")
    assert kinds == [("PRIMARY KEY",), ("UNIQUE",)]


def test_sys_views(sess):
    _, schemas = rows(sess, "SELECT name, schema_id FROM sys.schemas ORDER BY schema_id")
    assert schemas == [("dbo", 1), ("sales", 5)]
    rs, cols = rows(sess, "SELECT c.name, c.column_id, c.system_type_id, c.user_type_id, c.max_length, c.precision,"
                          " c.scale, c.is_nullable, c.is_identity FROM sys.columns c JOIN sys.tables t"
                          " ON t.object_id = c.object_id WHERE t.name = 'orders' ORDER BY c.column_id")
    assert cols == [("OrderID", 1, 56, 56, 4, 10, 0, False, True), ("Region", 2, 175, 175, 2, 0, 0, False, False),
                    ("Note", 3, 231, 231, 100, 0, 0, True, False), ("Body", 4, 231, 231, -1, 0, 0, True, False),
                    ("Amount", 5, 106, 106, 9, 12, 2, True, False), ("Stamp", 6, 42, 42, 7, 23, 3, True, False),
                    ("Created", 7, 61, 61, 8, 23, 3, True, False)]
    assert [c.type for c in rs.columns] == ["nvarchar", "int", "tinyint", "int", "smallint", "tinyint", "tinyint",
                                            "bit", "bit"]
    _, idx = rows(sess, "SELECT t.name, i.name, i.index_id, i.is_primary_key, ic.key_ordinal, ic.column_id FROM sys.indexes i"
                        " JOIN sys.tables t ON t.object_id = i.object_id LEFT JOIN sys.index_columns ic"
                        " ON ic.object_id = i.object_id AND ic.index_id = i.index_id ORDER BY t.name, i.index_id, ic.key_ordinal")
    assert [r for r in idx if r[0] != "line items"] == [
        ("heap", None, 0, False, None, None), ("orders", "PK_orders", 1, True, 1, 2), ("orders", "PK_orders", 1, True, 2, 1)]
    _, parts = rows(sess, "SELECT p.index_id, p.rows FROM sys.partitions p WHERE p.object_id = OBJECT_ID('dbo.orders')")
    assert parts == [(1, 3)]
    _, types = rows(sess, "SELECT name, system_type_id, user_type_id, max_length FROM sys.types"
                          " WHERE name IN ('nvarchar', 'sysname', 'timestamp', 'money') ORDER BY user_type_id")
    assert types == [("money", 60, 60, 8), ("timestamp", 189, 189, 8), ("nvarchar", 231, 231, 8000),
                     ("sysname", 231, 256, 256)]
    _, dbs = rows(sess, "SELECT name, database_id FROM sys.databases ORDER BY database_id")
    assert dbs[0] == ("master", 1) and ("cat", 5) in dbs
    _, oid = rows(sess, "SELECT OBJECT_ID('dbo.orders'), OBJECT_ID('dbo.nope'), OBJECT_ID('cat.sales.[line items]')")
    _, tids = rows(sess, "SELECT object_id FROM sys.tables WHERE name IN ('orders', 'line items') ORDER BY name")
    assert oid == [(tids[1][0], None, tids[0][0])]


def test_view_is_typed_and_queryable(sess):
    rs, got = rows(sess, "SELECT * FROM dbo.jp_orders ORDER BY OrderID")
    assert got == [(1, "a"), (3, None)]
    assert [(c.name, c.type, c.length) for c in rs.columns] == [("OrderID", "int", None), ("Note", "nvarchar", 50)]


def test_three_part_names_and_other_database(sess):
    list(sess.execute("USE master"))
    try:
        _, got = rows(sess, "SELECT COUNT_BIG(*) FROM cat.dbo.orders WITH (NOLOCK)")
        assert got == [(3,)]
        _, cols = rows(sess, "SELECT COUNT(*) FROM cat.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'heap'")
        assert cols == [(3,)]
    finally:
        list(sess.execute("USE cat"))


def test_alter_table_changes_the_catalog(sess):
    list(sess.execute("CREATE TABLE alt (id int NOT NULL, v varchar(10))"))
    list(sess.execute("INSERT INTO alt VALUES (1, 'x')"))
    list(sess.execute("ALTER TABLE alt ADD flag bit NOT NULL DEFAULT 1"))
    list(sess.execute("ALTER TABLE alt ALTER COLUMN v varchar(40)"))
    list(sess.execute("ALTER TABLE alt DROP COLUMN id"))
    _, got = rows(sess, "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLUMN_DEFAULT"
                        " FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'alt' ORDER BY ORDINAL_POSITION")
    assert got == [("v", "varchar", 40, "YES", None), ("flag", "bit", None, "NO", "((1))")]
    _, data = rows(sess, "SELECT * FROM alt")
    assert data == [("x", True)]
