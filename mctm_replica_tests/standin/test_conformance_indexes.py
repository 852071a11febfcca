"""Index DDL and its catalog views through pymssql, as mctm_replica reads them (issue 17):
CREATE [UNIQUE] [CLUSTERED|NONCLUSTERED] INDEX with ASC/DESC keys, INCLUDE and WHERE,
DROP INDEX, and sys.indexes / sys.index_columns with SQL Server's values."""

from __future__ import annotations

import pymssql
import pytest

from mctm_replica.tsql.catalog import INDEXES_SQL as _INDEXES_SQL

TABLE = ("CREATE TABLE dbo.sim (id int NOT NULL, ICCID varchar(20) NULL, IMSI varchar(15) NULL,"
         " Status tinyint NULL, IsActive bit NULL, CustomerID int NULL, Note nvarchar(40) NULL,"
         " CONSTRAINT PK_sim PRIMARY KEY CLUSTERED (id))")


def test_create_index_forms_in_sys_indexes_and_index_columns(ms):
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE UNIQUE NONCLUSTERED INDEX UX_sim_ICCID ON dbo.sim (ICCID ASC) WHERE ICCID IS NOT NULL")
    cur.execute("CREATE INDEX IX_sim_IMSI ON dbo.sim (IMSI DESC, Status) INCLUDE (Note, IsActive)")
    cur.execute("CREATE NONCLUSTERED INDEX IX_sim_Active ON sim (CustomerID) WHERE IsActive = 1 AND Status IN (1, 2)")
    cur.execute("SELECT i.name, i.index_id, i.type, i.type_desc, i.is_unique, i.is_primary_key, i.has_filter,"
                " i.filter_definition, i.is_disabled, i.is_hypothetical FROM sys.indexes AS i"
                " WHERE i.object_id = OBJECT_ID('dbo.sim') ORDER BY i.index_id")
    assert cur.fetchall() == [
        ("PK_sim", 1, 1, "CLUSTERED", True, True, False, None, False, False),
        ("UX_sim_ICCID", 2, 2, "NONCLUSTERED", True, False, True, "([ICCID] IS NOT NULL)", False, False),
        ("IX_sim_IMSI", 3, 2, "NONCLUSTERED", False, False, False, None, False, False),
        ("IX_sim_Active", 4, 2, "NONCLUSTERED", False, False, True,
         "([IsActive]=(1) AND ([Status]=(1) OR [Status]=(2)))", False, False),
    ]
    cur.execute("SELECT ic.index_column_id, c.name, ic.key_ordinal, ic.is_descending_key, ic.is_included_column"
                " FROM sys.index_columns AS ic JOIN sys.columns AS c"
                " ON c.object_id = ic.object_id AND c.column_id = ic.column_id"
                " WHERE ic.object_id = OBJECT_ID('dbo.sim') AND ic.index_id = 3 ORDER BY ic.index_column_id")
    assert cur.fetchall() == [(1, "IMSI", 1, True, False), (2, "Status", 2, False, False),
                              (3, "Note", 0, False, True), (4, "IsActive", 0, False, True)]


def test_the_replicators_index_query(ms):
    """mctm_replica's own catalog query (resources/mssql_indexes.py), with its parameter."""
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE INDEX IX_sim_IMSI ON dbo.sim (IMSI DESC, Status) INCLUDE (Note)")
    cur.execute("CREATE UNIQUE INDEX UX_sim_ICCID ON dbo.sim (ICCID) WHERE ICCID IS NOT NULL")
    cur.execute(_INDEXES_SQL, ("[dbo].[sim]",))
    assert cur.fetchall() == [
        ("IX_sim_IMSI", "NONCLUSTERED", False, False, None, False, "IMSI", 1, True, False),
        ("IX_sim_IMSI", "NONCLUSTERED", False, False, None, False, "Status", 2, False, False),
        ("IX_sim_IMSI", "NONCLUSTERED", False, False, None, False, "Note", 0, False, True),
        ("UX_sim_ICCID", "NONCLUSTERED", True, False, "([ICCID] IS NOT NULL)", False, "ICCID", 1, False, False),
    ]


def test_drop_index_and_its_errors(ms):
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE INDEX IX_a ON dbo.sim (IMSI)")
    cur.execute("CREATE INDEX IX_b ON dbo.sim (Status)")
    with pytest.raises(pymssql.Error) as e:
        cur.execute("CREATE INDEX IX_a ON dbo.sim (Note)")
    assert e.value.args[0] == 1913
    with pytest.raises(pymssql.Error) as e:
        cur.execute("CREATE INDEX IX_c ON dbo.sim (Nope)")
    assert e.value.args[0] == 1911
    cur.execute("DROP INDEX IX_a ON dbo.sim")
    cur.execute("DROP INDEX sim.IX_b")
    cur.execute("DROP INDEX IF EXISTS IX_a ON dbo.sim")
    with pytest.raises(pymssql.Error) as e:
        cur.execute("DROP INDEX IX_a ON dbo.sim")
    assert e.value.args[0] == 3701
    cur.execute("SELECT name FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.sim') ORDER BY index_id")
    assert cur.fetchall() == [("PK_sim",)]


def test_a_clustered_index_on_a_heap(ms):
    cur = ms.cursor()
    cur.execute("CREATE TABLE dbo.h (a int NOT NULL, b int NULL)")
    cur.execute("CREATE CLUSTERED INDEX CX_h ON dbo.h (b DESC)")
    cur.execute("CREATE INDEX IX_h ON dbo.h (a)")
    cur.execute("SELECT name, index_id, type_desc FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.h') ORDER BY 2")
    assert cur.fetchall() == [("CX_h", 1, "CLUSTERED"), ("IX_h", 2, "NONCLUSTERED")]
    with pytest.raises(pymssql.Error) as e:
        cur.execute("CREATE CLUSTERED INDEX CX_h2 ON dbo.h (a)")
    assert e.value.args[0] == 1902


@pytest.mark.xfail(strict=True, raises=pymssql.Error,
                   reason="stand-in difference: PRIMARY KEY NONCLUSTERED is kept as a clustered key, so a "
                          "clustered index beside it is refused (1902) (README Known differences)")
def test_a_nonclustered_primary_key_beside_a_clustered_index(ms):
    cur = ms.cursor()
    cur.execute("CREATE TABLE dbo.n (id int NOT NULL, d date NULL, CONSTRAINT PK_n PRIMARY KEY NONCLUSTERED (id))")
    cur.execute("CREATE CLUSTERED INDEX CX_n_d ON dbo.n (d)")
    cur.execute("SELECT name, index_id, type_desc FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.n') ORDER BY 2")
    assert cur.fetchall() == [("CX_n_d", 1, "CLUSTERED"), ("PK_n", 2, "NONCLUSTERED")]


def test_scripted_index_ddl_with_options_after_the_filter(ms):
    """What SSMS's "Script Index as CREATE" writes: the stored filter text, WITH options after
    WHERE, a filegroup. The filter reads back as it was scripted."""
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE UNIQUE NONCLUSTERED INDEX [UX_sim_ICCID] ON [dbo].[sim] ([ICCID] ASC)"
                " INCLUDE ([Note]) WHERE ([ICCID] IS NOT NULL AND [Status]>(0))"
                " WITH (PAD_INDEX = OFF, STATISTICS_NORECOMPUTE = OFF, SORT_IN_TEMPDB = OFF, IGNORE_DUP_KEY = OFF,"
                " DROP_EXISTING = OFF, ONLINE = OFF, ALLOW_ROW_LOCKS = ON, ALLOW_PAGE_LOCKS = ON) ON [PRIMARY]")
    cur.execute("CREATE INDEX IX_sim_Active ON dbo.sim (IMSI) WHERE ([IsActive]=(1) AND ([Status]=(1) OR [Status]=(2)))"
                " WITH (ONLINE = ON)")
    cur.execute("SELECT name, is_unique, filter_definition FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.sim')"
                " AND index_id > 1 ORDER BY index_id")
    assert cur.fetchall() == [("UX_sim_ICCID", True, "([ICCID] IS NOT NULL AND [Status]>(0))"),
                              ("IX_sim_Active", False, "([IsActive]=(1) AND ([Status]=(1) OR [Status]=(2)))")]


def test_drop_index_of_a_key_constraint_is_refused(ms):
    cur = ms.cursor()
    cur.execute(TABLE)
    with pytest.raises(pymssql.Error) as e:
        cur.execute("DROP INDEX PK_sim ON dbo.sim")
    assert e.value.args[0] == 3723


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="stand-in difference: index options (FILLFACTOR...) are accepted, not recorded")
def test_fill_factor_is_recorded(ms):
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE INDEX IX_sim_IMSI ON dbo.sim (IMSI) WITH (FILLFACTOR = 90)")
    cur.execute("SELECT fill_factor FROM sys.indexes WHERE name = 'IX_sim_IMSI'")
    assert cur.fetchall() == [(90,)]


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="stand-in difference: a UNIQUE index is recorded, not enforced (README Known differences)")
def test_a_unique_index_refuses_a_duplicate(ms):
    cur = ms.cursor()
    cur.execute(TABLE)
    cur.execute("CREATE UNIQUE INDEX UX_sim_ICCID ON dbo.sim (ICCID)")
    cur.execute("INSERT INTO dbo.sim (id, ICCID) VALUES (1, '8981')")
    try:
        cur.execute("INSERT INTO dbo.sim (id, ICCID) VALUES (2, '8981')")
    except pymssql.Error as e:
        assert e.args[0] == 2601  # Cannot insert duplicate key row ... with unique index
        return
    raise AssertionError("the duplicate was inserted")
