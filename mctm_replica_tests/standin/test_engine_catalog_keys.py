"""Engine API (no network): foreign keys, defaults, identity and CREATE INDEX in the catalog views,
and the metadata functions catalog queries call per row (OBJECT_ID, COLUMNPROPERTY, SCHEMA_NAME)."""

from __future__ import annotations

import pytest

from mctm_replica.standin.contract import SqlError
from mctm_replica_tests.standin.engine_helpers import engine_session, rows


@pytest.fixture(scope="module")
def sess():
    with engine_session([
        "CREATE DATABASE keys", "USE keys", "CREATE SCHEMA inv",
        "CREATE TABLE dbo.region (code char(2) NOT NULL PRIMARY KEY, name nvarchar(30) NOT NULL)",
        "CREATE TABLE inv.item (sku varchar(10) NOT NULL, rev int NOT NULL, CONSTRAINT PK_item PRIMARY KEY (sku, rev))",
        "CREATE TABLE dbo.orders (id int IDENTITY(100,10) NOT NULL PRIMARY KEY,"
        " region char(2) NULL REFERENCES region, qty int CONSTRAINT DF_orders_qty DEFAULT 1,"
        " sku varchar(10), rev int, note nvarchar(20) DEFAULT N'-',"
        " CONSTRAINT FK_orders_item FOREIGN KEY (sku, rev) REFERENCES inv.item (sku, rev) ON UPDATE CASCADE ON DELETE SET NULL)",
        "CREATE NONCLUSTERED INDEX ix_orders_sku ON dbo.orders (sku ASC, rev DESC) INCLUDE (qty) WHERE qty > 0",
        "CREATE UNIQUE INDEX ux_orders_note ON orders (note)",
        "INSERT INTO dbo.region VALUES ('JP', N'Japan')",
        "INSERT INTO dbo.orders (region, qty) VALUES ('JP', 2), ('JP', 3)",
    ], spid=54) as s:
        yield s



def test_foreign_keys_in_sys_views(sess):
    got = rows(sess, "SELECT fk.name, OBJECT_NAME_PARENT = p.name, r.name, fk.delete_referential_action_desc,"
                     " fk.update_referential_action_desc, fk.is_system_named, fkc.constraint_column_id, pc.name, rc.name"
                     " FROM sys.foreign_keys fk JOIN sys.tables p ON p.object_id = fk.parent_object_id"
                     " JOIN sys.tables r ON r.object_id = fk.referenced_object_id"
                     " JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id"
                     " JOIN sys.columns pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id"
                     " JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id"
                     " AND rc.column_id = fkc.referenced_column_id ORDER BY fk.name, fkc.constraint_column_id")
    auto = got[0][0]
    assert auto.startswith("FK__orders__region__")
    assert got == [
        (auto, "orders", "region", "NO_ACTION", "NO_ACTION", True, 1, "region", "code"),
        ("FK_orders_item", "orders", "item", "SET_NULL", "CASCADE", False, 1, "sku", "sku"),
        ("FK_orders_item", "orders", "item", "SET_NULL", "CASCADE", False, 2, "rev", "rev"),
    ]
    assert rows(sess, "SELECT type, parent_object_id FROM sys.objects WHERE name = 'FK_orders_item'") == [
        ("F ", rows(sess, "SELECT OBJECT_ID('dbo.orders')")[0][0])]


def test_foreign_keys_in_information_schema(sess):
    got = rows(sess, "SELECT rc.CONSTRAINT_NAME, rc.UNIQUE_CONSTRAINT_SCHEMA, rc.UNIQUE_CONSTRAINT_NAME, rc.MATCH_OPTION,"
                     " rc.UPDATE_RULE, rc.DELETE_RULE, k.COLUMN_NAME, k.ORDINAL_POSITION, u.TABLE_NAME, u.COLUMN_NAME"
                     " FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc"
                     " JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME"
                     " JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE u ON u.CONSTRAINT_NAME = rc.UNIQUE_CONSTRAINT_NAME"
                     " AND u.ORDINAL_POSITION = k.ORDINAL_POSITION"
                     " WHERE rc.CONSTRAINT_NAME = 'FK_orders_item' ORDER BY k.ORDINAL_POSITION")
    assert got == [("FK_orders_item", "inv", "PK_item", "SIMPLE", "CASCADE", "SET NULL", "sku", 1, "item", "sku"),
                   ("FK_orders_item", "inv", "PK_item", "SIMPLE", "CASCADE", "SET NULL", "rev", 2, "item", "rev")]
    kinds = rows(sess, "SELECT CONSTRAINT_TYPE, COUNT(*) FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS"
                       " WHERE TABLE_NAME = 'orders' GROUP BY CONSTRAINT_TYPE ORDER BY 1")
    assert kinds == [("FOREIGN KEY", 2), ("PRIMARY KEY", 1)]
    usage = rows(sess, "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.CONSTRAINT_COLUMN_USAGE"
                       " WHERE CONSTRAINT_NAME = 'FK_orders_item' ORDER BY COLUMN_NAME")
    assert usage == [("rev",), ("sku",)]


def test_default_constraints_join_sys_columns(sess):
    got = rows(sess, "SELECT c.name, d.name, d.definition, d.is_system_named, d.type FROM sys.columns c"
                     " JOIN sys.default_constraints d ON d.object_id = c.default_object_id"
                     " AND d.parent_column_id = c.column_id WHERE c.object_id = OBJECT_ID('orders') ORDER BY c.column_id")
    assert [(r[0], r[2], r[3], r[4]) for r in got] == [("qty", "((1))", False, "D "), ("note", "(N'-')", True, "D ")]
    assert got[0][1] == "DF_orders_qty" and got[1][1].startswith("DF__orders__note__")
    assert rows(sess, "SELECT COUNT(*) FROM sys.columns WHERE object_id = OBJECT_ID('orders') AND default_object_id = 0"
                ) == [(4,)]


def test_identity_computed_and_extended_properties(sess):
    assert rows(sess, "SELECT name, seed_value, increment_value, last_value, is_identity FROM sys.identity_columns"
                ) == [("id", 100, 10, 110, True)]
    assert rows(sess, "SELECT COUNT(*) FROM sys.computed_columns") == [(0,)]
    assert rows(sess, "SELECT COUNT(*) FROM sys.extended_properties WHERE class = 1") == [(0,)]
    assert rows(sess, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.SEQUENCES") == [(0,)]
    assert rows(sess, "SELECT 1 FROM fn_listextendedproperty(default, default, default, default, default, default,"
                      " default)") == []
    assert rows(sess, "SELECT x.objname FROM sys.fn_listextendedproperty(N'MS_Description', 'schema', 'dbo',"
                      " 'table', 'orders', NULL, NULL) AS x") == []
    with pytest.raises(SqlError) as e:
        rows(sess, "SELECT 1 FROM fn_listextendedproperty(default)")
    assert e.value.number == 313


def test_created_indexes(sess):
    got = rows(sess, "SELECT i.name, i.index_id, i.type_desc, i.is_unique, i.has_filter, i.filter_definition,"
                     " c.name, ic.key_ordinal, ic.is_descending_key, ic.is_included_column FROM sys.indexes i"
                     " JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id"
                     " JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id"
                     " WHERE i.object_id = OBJECT_ID('dbo.orders') ORDER BY i.index_id, ic.index_column_id")
    pk = got[0][0]
    assert got == [
        (pk, 1, "CLUSTERED", True, False, None, "id", 1, False, False),
        ("ix_orders_sku", 2, "NONCLUSTERED", False, True, "([qty]>(0))", "sku", 1, False, False),
        ("ix_orders_sku", 2, "NONCLUSTERED", False, True, "([qty]>(0))", "rev", 2, True, False),
        ("ix_orders_sku", 2, "NONCLUSTERED", False, True, "([qty]>(0))", "qty", 0, False, True),
        ("ux_orders_note", 3, "NONCLUSTERED", True, False, None, "note", 1, False, False),
    ]


def test_index_ddl_errors_and_drop(sess):
    list(sess.execute("CREATE TABLE dbo.tmp_ix (a int, b int)"))
    list(sess.execute("CREATE CLUSTERED INDEX cx ON tmp_ix (a)"))
    for stmt, number in [("CREATE INDEX cx ON tmp_ix (b)", 1913), ("CREATE CLUSTERED INDEX cx2 ON tmp_ix (b)", 1902),
                         ("CREATE INDEX ix_c ON tmp_ix (c)", 1911), ("CREATE INDEX ix_n ON nope (a)", 1088),
                         ("DROP INDEX nope ON tmp_ix", 3701)]:
        with pytest.raises(SqlError) as e:
            list(sess.execute(stmt))
        assert e.value.number == number, stmt
    assert rows(sess, "SELECT name, index_id, type FROM sys.indexes WHERE object_id = OBJECT_ID('tmp_ix')") == [
        ("cx", 1, 1)]
    list(sess.execute("CREATE INDEX ix_b ON tmp_ix (b)"))
    list(sess.execute("DROP INDEX cx ON dbo.tmp_ix"))
    list(sess.execute("DROP INDEX tmp_ix.ix_b"))
    list(sess.execute("DROP INDEX IF EXISTS ix_b ON tmp_ix"))
    assert rows(sess, "SELECT name, index_id, type FROM sys.indexes WHERE object_id = OBJECT_ID('tmp_ix')") == [
        (None, 0, 0)]
    list(sess.execute("DROP TABLE tmp_ix"))


def test_foreign_key_ddl_errors(sess):
    for stmt, number in [("CREATE TABLE bad1 (x int REFERENCES nope(id))", 1767),
                         ("CREATE TABLE bad2 (x int REFERENCES orders_without_pk)", 1767),
                         ("CREATE TABLE bad3 (x int, y int, FOREIGN KEY (x, y) REFERENCES region (code))", 8139),
                         ("CREATE TABLE bad4 (x int, FOREIGN KEY (z) REFERENCES region (code))", 1769),
                         ("CREATE TABLE bad6 (x char(2) REFERENCES region (nope))", 1770),
                         ("CREATE TABLE bad7 (x nvarchar(30) REFERENCES region (name))", 1776),
                         ("CREATE TABLE bad8 (x int REFERENCES inv.item (rev))", 1776)]:
        with pytest.raises(SqlError) as e:
            list(sess.execute(stmt))
        assert e.value.number == number, stmt
    list(sess.execute("CREATE TABLE dbo.nopk (a int)"))
    with pytest.raises(SqlError) as e:
        list(sess.execute("CREATE TABLE bad5 (x int REFERENCES nopk)"))
    assert e.value.number == 1773
    list(sess.execute("CREATE TABLE dbo.tree (id int PRIMARY KEY, parent int REFERENCES tree)"))
    assert rows(sess, "SELECT fk.name FROM sys.foreign_keys fk WHERE fk.parent_object_id = fk.referenced_object_id")[0][
        0].startswith("FK__tree__tree__")
    list(sess.execute("DROP TABLE tree"))
    list(sess.execute("DROP TABLE nopk"))


def test_metadata_functions_of_expressions(sess):
    # the shape of pgloader's column query: COLUMNPROPERTY(object_id(<column>), <column>, 'IsIdentity')
    got = rows(sess, "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME,"
                     " COLUMNPROPERTY(object_id(c.TABLE_SCHEMA + '.' + c.TABLE_NAME), c.COLUMN_NAME, 'IsIdentity'),"
                     " COLUMNPROPERTY(object_id(c.TABLE_NAME), c.COLUMN_NAME, 'AllowsNull')"
                     " FROM INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_NAME IN ('orders', 'item')"
                     " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION")
    assert got[:3] == [("inv", "item", "sku", 0, None), ("inv", "item", "rev", 0, None), ("dbo", "orders", "id", 1, 0)]
    assert got[3] == ("dbo", "orders", "region", 0, 1)
    assert rows(sess, "SELECT COLUMNPROPERTY(OBJECT_ID('orders'), 'qty', 'NoSuchProperty'),"
                      " COLUMNPROPERTY(OBJECT_ID('orders'), 'nope', 'IsIdentity')") == [(None, None)]
    names = rows(sess, "SELECT DISTINCT schema_name(o.schema_id), o.name FROM sys.objects o WHERE o.type = 'U'"
                       " AND o.name IN ('item', 'orders') ORDER BY 2")
    assert names == [("inv", "item"), ("dbo", "orders")]
    assert rows(sess, "SELECT OBJECT_ID(t.TABLE_NAME, 'V'), OBJECT_ID('[inv].[item]') - OBJECT_ID(N'keys.inv.item')"
                      " FROM INFORMATION_SCHEMA.TABLES t WHERE t.TABLE_NAME = 'region'") == [(None, 0)]


def test_union_order_by_a_qualified_first_query_column(sess):
    got = rows(sess, "SELECT r.code, r.name FROM dbo.region r UNION SELECT i.sku, N'item' FROM inv.item i"
                     " ORDER BY r.code DESC")
    assert got == [("JP", "Japan")]


# ---------------------------------------------------------------- known differences (README)

def test_dropping_a_referenced_table_fails(sess):
    list(sess.execute("CREATE TABLE dbo.p1 (id int PRIMARY KEY, up int REFERENCES p1)"))
    list(sess.execute("CREATE TABLE dbo.c1 (pid int REFERENCES p1)"))
    try:
        with pytest.raises(SqlError) as e:
            list(sess.execute("DROP TABLE p1"))
        assert e.value.number == 3726
        with pytest.raises(SqlError) as e:
            list(sess.execute("DROP TABLE p1, c1"))
        assert e.value.number == 3726
        assert rows(sess, "SELECT COUNT(*) FROM sys.tables WHERE name IN ('p1', 'c1')") == [(2,)]
        list(sess.execute("DROP TABLE c1, p1"))  # the referencing table first: allowed, as in SQL Server
        assert rows(sess, "SELECT COUNT(*) FROM sys.tables WHERE name IN ('p1', 'c1')") == [(0,)]
    finally:
        list(sess.execute("DROP TABLE IF EXISTS c1"))
        list(sess.execute("DROP TABLE IF EXISTS p1"))


def test_filter_definitions(sess):
    list(sess.execute("CREATE TABLE dbo.f1 (a int, b nvarchar(5), c int)"))
    try:
        list(sess.execute("CREATE INDEX ix_f1 ON f1 (a) WHERE a IN (1, 2)"))
        list(sess.execute("CREATE INDEX ix_f2 ON f1 (b) WHERE b = N'x' AND c IS NULL"))
        assert rows(sess, "SELECT name, filter_definition FROM sys.indexes WHERE object_id = OBJECT_ID('f1')"
                          " AND name IS NOT NULL ORDER BY name") == [
            ("ix_f1", "([a]=(1) OR [a]=(2))"), ("ix_f2", "([b]=N'x' AND [c] IS NULL)")]
    finally:
        list(sess.execute("DROP TABLE f1"))


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="stand-in difference: filters beyond columns, constants, comparisons, IS [NOT] NULL, "
                          "AND/OR and IN keep sqlglot's text")
def test_filter_definition_of_between(sess):
    list(sess.execute("CREATE TABLE dbo.f2 (a int)"))
    try:
        list(sess.execute("CREATE INDEX ix_f3 ON f2 (a) WHERE a BETWEEN 1 AND 5"))
        assert rows(sess, "SELECT filter_definition FROM sys.indexes WHERE name = 'ix_f3'") == [
            ("([a]>=(1) AND [a]<=(5))",)]
    finally:
        list(sess.execute("DROP TABLE f2"))


def test_alter_table_add_and_drop_constraints(sess):
    list(sess.execute("CREATE TABLE dbo.a2 (pid char(2), qty int CONSTRAINT DF_a2_qty DEFAULT 0, n int DEFAULT 1)"))
    try:
        list(sess.execute("ALTER TABLE a2 ADD CONSTRAINT FK_a2 FOREIGN KEY (pid) REFERENCES region (code)"
                          " ON DELETE CASCADE"))
        assert rows(sess, "SELECT name, delete_referential_action_desc FROM sys.foreign_keys"
                          " WHERE parent_object_id = OBJECT_ID('a2')") == [("FK_a2", "CASCADE")]
        for stmt, number in [("ALTER TABLE a2 ADD CONSTRAINT FK_a2 FOREIGN KEY (pid) REFERENCES region", 2714),
                             ("ALTER TABLE a2 DROP CONSTRAINT nope", 3728),
                             # a failed ALTER changes nothing: FK_b is not kept either
                             ("ALTER TABLE a2 ADD CONSTRAINT FK_b FOREIGN KEY (pid) REFERENCES region,"
                              " CONSTRAINT FK_c FOREIGN KEY (qty) REFERENCES nope", 1767)]:
            with pytest.raises(SqlError) as e:
                list(sess.execute(stmt))
            assert e.value.number == number, stmt
        assert rows(sess, "SELECT name FROM sys.foreign_keys WHERE parent_object_id = OBJECT_ID('a2')") == [("FK_a2",)]
        list(sess.execute("ALTER TABLE a2 DROP CONSTRAINT FK_a2"))
        list(sess.execute("ALTER TABLE a2 DROP CONSTRAINT DF_a2_qty"))
        assert rows(sess, "SELECT COUNT(*) FROM sys.foreign_keys WHERE parent_object_id = OBJECT_ID('a2')") == [(0,)]
        assert rows(sess, "SELECT c.name FROM sys.default_constraints d JOIN sys.columns c"
                          " ON c.default_object_id = d.object_id WHERE d.parent_object_id = OBJECT_ID('a2')") == [("n",)]
        list(sess.execute("INSERT INTO a2 (pid) VALUES ('JP')"))
        assert rows(sess, "SELECT qty, n FROM a2") == [(None, 1)]
    finally:
        list(sess.execute("DROP TABLE a2"))


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="stand-in difference: sys.dm_exec_sessions has no system sessions (spid < 51)")
def test_dm_exec_sessions_has_system_sessions(sess):
    assert rows(sess, "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 0")[0][0] > 0


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="stand-in difference: create_date/modify_date have whole seconds")
def test_create_date_has_milliseconds(sess):
    for i in range(3):
        list(sess.execute(f"CREATE TABLE dbo.ms{i} (a int)"))
    try:
        got = rows(sess, "SELECT create_date FROM sys.tables WHERE name LIKE 'ms_'")
        assert any(d.microsecond for d, in got)  # 1/300 s ticks: all three on a whole second is 1 in 27,000,000
    finally:
        for i in range(3):
            list(sess.execute(f"DROP TABLE dbo.ms{i}"))


@pytest.mark.xfail(strict=True, raises=SqlError, reason="stand-in difference: no sp_addextendedproperty, so "
                                                        "sys.extended_properties is always empty")
def test_extended_property_is_listed(sess):
    list(sess.execute("EXEC sp_addextendedproperty @name = N'MS_Description', @value = N'orders',"
                      " @level0type = N'SCHEMA', @level0name = N'dbo', @level1type = N'TABLE', @level1name = N'orders'"))
    assert rows(sess, "SELECT CAST(value AS nvarchar(100)) FROM sys.extended_properties") == [("orders",)]


@pytest.mark.xfail(strict=True, raises=SqlError, reason="stand-in difference: no CREATE SEQUENCE, so "
                                                        "sys.sequences is always empty")
def test_sequence_is_listed(sess):
    list(sess.execute("CREATE SEQUENCE dbo.seq1 AS bigint START WITH 10"))
    assert rows(sess, "SELECT name, CAST(start_value AS bigint) FROM sys.sequences") == [("seq1", 10)]


@pytest.mark.xfail(strict=True, raises=SqlError, reason="stand-in difference: sys views have the columns clients "
                                                        "use, not every column SQL Server has")
def test_every_sys_tables_column(sess):
    rows(sess, "SELECT lob_data_space_id, max_column_id_used, temporal_type_desc FROM sys.tables")
