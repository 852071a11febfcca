"""Change Tracking in the stand-in, through real pymssql and python-tds connections.

The expected net effects, versions and column masks are what SQL Server 2022
returns for the same statements (SQL Server's documented CHANGETABLE rules,
and the probed cases listed in change_tracking/changetable.py's docstring).
"""

from __future__ import annotations

import uuid

import pytds
import pytest

from ct_helpers import TRACKED, _all, _changes, _one, _version


@pytest.fixture
def tracked(td):
    cur = td.cursor()
    cur.execute(TRACKED)
    return cur


# ------------------------------------------------------------------ enabling and its errors
ENABLE_ERRORS = [
    ("ALTER TABLE dbo.u ENABLE CHANGE_TRACKING", "off", 1718,
     "Change tracking must be enabled on database '{db}' before it can be enabled on table 'u'."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = OFF", "off", 5089,
     "Change tracking is disabled for database '{db}'. Change tracking must be enabled on a database to modify "
     "change tracking settings."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON", "on", 5088,
     "Change tracking is already enabled for database '{db}'."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = OFF", "on", 22115,
     "Change tracking is enabled for one or more tables in database '{db}'. Disable change tracking on each table "
     "before disabling it for the database. Use the sys.change_tracking_tables catalog view to obtain a list of "
     "tables for which change tracking is enabled."),
    ("ALTER TABLE dbo.t ENABLE CHANGE_TRACKING", "on", 4996, "Change tracking is already enabled for table 't'."),
    ("ALTER TABLE dbo.h ENABLE CHANGE_TRACKING", "on", 4997,
     "Cannot enable change tracking on table 'h'. Change tracking requires a primary key on the table. Create a "
     "primary key on the table before enabling change tracking."),
    ("ALTER TABLE dbo.u DISABLE CHANGE_TRACKING", "on", 4998, "Change tracking is not enabled on table 'u'."),
    ("ALTER TABLE dbo.nosuch ENABLE CHANGE_TRACKING", "on", 4902,
     'Cannot find the object "nosuch" because it does not exist or you do not have permissions.'),
    ("SELECT * FROM CHANGETABLE(CHANGES dbo.u, 0) AS c", "on", 22105, "Change tracking is not enabled on table 'dbo.u'."),
    ("SELECT * FROM CHANGETABLE(CHANGES dbo.t, 0)", "on", 22104,
     "A table returned by the CHANGETABLE function must be aliased."),
    ("SELECT * FROM CHANGETABLE(CHANGES dbo.v, 0) AS c", "on", 22107,
     "Object 'dbo.v' is of a data type that is not supported by the CHANGETABLE function. The object must be a "
     "user-defined table."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 0 DAYS)", "off", 5092,
     "The value for change tracking option 'CHANGE_RETENTION' is not valid. The value must be between 1 and "
     "2147483647 minutes."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 1 WEEKS)", "off", 155,
     "'WEEKS' is not a recognized CHANGE RETENTION UNIT option."),
    ("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (AUTO_CLEANUP = ON, AUTO_CLEANUP = OFF)", "off", 5091,
     "ALTER DATABASE change tracking option 'AUTO_CLEANUP' was specified more than once. Each option can be "
     "specified only once."),
    ("ALTER DATABASE master SET CHANGE_TRACKING = ON", "off", 5090,
     "Database 'master' is a system database. Change tracking settings cannot be modified for system databases."),
]


@pytest.mark.parametrize("case", ENABLE_ERRORS, ids=lambda c: f"{c[2]}-{c[1]}")
def test_enable_disable_errors(td, fresh_db, case):
    sql, db_state, number, message = case
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.t (id int PRIMARY KEY); CREATE TABLE dbo.u (id int PRIMARY KEY);"
                " CREATE TABLE dbo.h (a int)")
    cur.execute("CREATE VIEW dbo.v AS SELECT id FROM dbo.t")
    if db_state == "on":
        cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; ALTER TABLE dbo.t ENABLE CHANGE_TRACKING")
    with pytest.raises(pytds.Error) as ei:
        cur.execute(sql)
        cur.fetchall()
    assert (ei.value.msg_no, ei.value.text) == (number, message.format(db=fresh_db))
    assert _one(cur, "SELECT COUNT(*) FROM dbo.t") == (0,)  # the connection goes on


def test_enable_disable_and_the_catalog(tracked, fresh_db):
    cur = tracked
    assert _all(cur, "SELECT d.is_auto_cleanup_on, d.retention_period, d.retention_period_units, "
                     "d.retention_period_units_desc FROM sys.change_tracking_databases AS d "
                     "WHERE d.database_id = (SELECT database_id FROM sys.databases WHERE name = DB_NAME())") == [(True, 2, 3, "DAYS")]
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING (CHANGE_RETENTION = 30 MINUTES, AUTO_CLEANUP = OFF)")
    assert _all(cur, "SELECT is_auto_cleanup_on, retention_period, retention_period_units_desc "
                     "FROM sys.change_tracking_databases WHERE database_id = (SELECT database_id FROM sys.databases WHERE name = DB_NAME())") == [(False, 30, "MINUTES")]
    assert _all(cur, "SELECT object_id - OBJECT_ID(N'dbo.t'), is_track_columns_updated_on, min_valid_version, "
                     "begin_version, cleanup_version FROM sys.change_tracking_tables") == [(0, True, 0, 0, 0)]
    cur.execute("INSERT INTO dbo.t VALUES (1, 1, 1, 1)")
    cur.execute("INSERT INTO dbo.t VALUES (2, 2, 2, 2)")
    cur.execute("ALTER TABLE dbo.t DISABLE CHANGE_TRACKING")
    assert _all(cur, "SELECT object_id FROM sys.change_tracking_tables") == []
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = OFF")
    assert _version(cur) is None
    assert _all(cur, "SELECT database_id FROM sys.change_tracking_databases WHERE database_id = (SELECT database_id FROM sys.databases WHERE name = DB_NAME())") == []
    # the version outlives an OFF/ON cycle; a re-enabled table starts at it
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; ALTER TABLE dbo.t ENABLE CHANGE_TRACKING")
    assert _one(cur, "SELECT CHANGE_TRACKING_CURRENT_VERSION(), "
                     "CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'dbo.t'))") == (2, 2)
    assert _changes(cur, 0) == ""


def test_enable_rolls_back_with_its_transaction(tracked):
    cur = tracked
    cur.execute("CREATE TABLE dbo.u (id int PRIMARY KEY)")
    cur.execute("BEGIN TRAN; ALTER TABLE dbo.u ENABLE CHANGE_TRACKING; ROLLBACK")
    assert _one(cur, "SELECT COUNT(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(N'dbo.u')") == (0,)
    with pytest.raises(pytds.Error) as ei:
        cur.execute("BEGIN TRAN; ALTER DATABASE CURRENT SET CHANGE_TRACKING (AUTO_CLEANUP = OFF)")
    assert ei.value.msg_no == 226
    cur.execute("ROLLBACK")


# ------------------------------------------------------------------ versions
def test_versions_advance_once_per_committed_transaction(standin, tracked, fresh_db):
    cur = tracked
    assert _version(cur) == 0
    cur.execute("INSERT INTO dbo.t VALUES (1, 1, 1, 1), (2, 2, 2, 2)")
    assert _version(cur) == 1
    cur.execute("BEGIN TRAN; INSERT INTO dbo.t VALUES (3, 3, 3, 3); UPDATE dbo.t SET a = 9 WHERE id = 1")
    # inside the transaction: the version has not moved and its own changes are not in CHANGETABLE
    assert _version(cur) == 1
    assert _changes(cur, 1) == ""
    cur.execute("COMMIT")
    assert _version(cur) == 2
    assert _changes(cur, 1) == "1U2/ 3I2/2"
    cur.execute("BEGIN TRAN; DELETE FROM dbo.t WHERE id = 2; ROLLBACK")
    cur.execute("UPDATE dbo.t SET a = 1 WHERE 1 = 0")  # no row: no version
    cur.execute("CREATE TABLE dbo.plain (id int PRIMARY KEY); INSERT INTO dbo.plain VALUES (1)")
    assert _version(cur) == 2
    assert _changes(cur, 2) == ""
    # a failed statement records nothing either
    with pytest.raises(pytds.IntegrityError):
        cur.execute("INSERT INTO dbo.t VALUES (1, 0, 0, 0)")
    assert _version(cur) == 2
    # pymssql's own transactions (autocommit off): one version per commit, nothing for a rollback
    ms = standin.connect_pymssql(database=fresh_db)
    try:
        mc = ms.cursor()
        mc.execute("INSERT INTO dbo.t VALUES (%s, %s, %s, %s)", (10, 1, 1, 1))
        mc.execute("INSERT INTO dbo.t VALUES (%s, %s, %s, %s)", (11, 1, 1, 1))
        ms.commit()
        mc.execute("DELETE FROM dbo.t WHERE id = %s", (10,))
        ms.rollback()
    finally:
        ms.close()
    assert _version(cur) == 3
    assert _changes(cur, 2) == "10I3/3 11I3/3"


NET_EFFECTS = [  # (statements after rows 1-3 were inserted at version 1, last_sync_version, SQL Server's answer)
    ("", "0", "1I1/1 2I1/1 3I1/1"),
    ("UPDATE dbo.t SET a = 9 WHERE id = 1", "0", "1I2/1 2I1/1 3I1/1"),
    ("UPDATE dbo.t SET a = 9 WHERE id = 1", "1", "1U2/"),
    ("DELETE FROM dbo.t WHERE id = 2", "0", "1I1/1 2D2/1 3I1/1"),
    ("DELETE FROM dbo.t WHERE id = 2", "1", "2D2/"),
    ("INSERT INTO dbo.t VALUES (4, 0, 0, 0); DELETE FROM dbo.t WHERE id = 4", "1", "4D3/2"),
    ("DELETE FROM dbo.t WHERE id = 1; INSERT INTO dbo.t VALUES (1, 0, 0, 0)", "1", "1U3/3"),
    ("DELETE FROM dbo.t WHERE id = 1; INSERT INTO dbo.t VALUES (1, 0, 0, 0); DELETE FROM dbo.t WHERE id = 1;"
     " INSERT INTO dbo.t VALUES (1, 0, 0, 0)", "3", "1U5/5"),
    ("UPDATE dbo.t SET id = id + 10 WHERE id < 3", "1", "1D2/ 2D2/ 11I2/2 12I2/2"),
    ("UPDATE dbo.t SET id = id + 1", "1", "1D2/ 2U2/2 3U2/2 4I2/2"),
    ("UPDATE dbo.t SET id = id WHERE id = 1", "1", "1U2/2"),
    ("", "NULL", "1I1/1 2I1/1 3I1/1"),
    ("", "-1", ""),
    ("UPDATE dbo.t SET a = 1", "99", ""),
    ("BEGIN TRAN; INSERT INTO dbo.t VALUES (5, 1, 1, 1); DELETE FROM dbo.t WHERE id = 5;"
     " DELETE FROM dbo.t WHERE id = 3; INSERT INTO dbo.t VALUES (3, 3, 3, 3); UPDATE dbo.t SET a = 4 WHERE id = 3;"
     " COMMIT", "1", "3U2/2 5D2/2"),
]


@pytest.mark.parametrize("writes,last,expected", NET_EFFECTS)
def test_net_effect_of_each_key(tracked, writes, last, expected):
    cur = tracked
    cur.execute("INSERT INTO dbo.t VALUES (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3)")
    for stmt in [s for s in writes.split(";") if s.strip()] if "BEGIN" not in writes else [writes]:
        cur.execute(stmt)
    assert _changes(cur, last) == expected


COLUMN_MASKS = [  # (updates after row 1 was inserted at version 1, SQL Server's SYS_CHANGE_COLUMNS)
    ("UPDATE dbo.t SET b = 5 WHERE id = 1", "0x0000000003000000"),
    ("UPDATE dbo.t SET c = 5, a = 3 WHERE id = 1", "0x000000000400000002000000"),
    ("UPDATE dbo.t SET b = 5 WHERE id = 1; UPDATE dbo.t SET c = 5, a = 3, b = 1 WHERE id = 1", None),
    ("UPDATE dbo.t SET b = 5 WHERE id = 1; UPDATE dbo.t SET c = 5, a = 3 WHERE id = 1",
     "0x00000000030000000400000002000000"),
    ("UPDATE dbo.t SET a = 1, b = 1, c = 1 WHERE id = 1", None),
    ("UPDATE dbo.t SET id = id WHERE id = 1", None),
]


@pytest.mark.parametrize("writes,expected", COLUMN_MASKS)
def test_change_columns_mask(tracked, writes, expected):
    cur = tracked
    cur.execute("INSERT INTO dbo.t VALUES (1, 1, 1, 1)")
    for stmt in writes.split(";"):
        cur.execute(stmt)
    mask = _one(cur, "SELECT SYS_CHANGE_COLUMNS FROM CHANGETABLE(CHANGES dbo.t, 1) AS ct")[0]
    assert (None if mask is None else "0x" + bytes(mask).hex()) == expected
    if expected is not None:
        b_in = _one(cur, "SELECT CHANGE_TRACKING_IS_COLUMN_IN_MASK(3, ct.SYS_CHANGE_COLUMNS) "
                         "FROM CHANGETABLE(CHANGES dbo.t, 1) AS ct")  # column b is column_id 3
        assert b_in == (1 if "03000000" in expected else 0,)


def test_columns_are_null_without_column_tracking(td):
    cur = td.cursor()
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; CREATE TABLE dbo.n (id int PRIMARY KEY, a int, b int);"
                " ALTER TABLE dbo.n ENABLE CHANGE_TRACKING; INSERT INTO dbo.n VALUES (1, 1, 1)")
    cur.execute("UPDATE dbo.n SET a = 5")
    assert _all(cur, "SELECT SYS_CHANGE_OPERATION, SYS_CHANGE_COLUMNS, SYS_CHANGE_CONTEXT "
                     "FROM CHANGETABLE(CHANGES dbo.n, 1) AS c") == [("U", None, None)]


# ------------------------------------------------------------------ key types, joins, parameters
KEYS = {
    "int": ("id int", [1, 2, 3]),
    "bigint": ("id bigint", [10_000_000_001, 10_000_000_002, 10_000_000_003]),
    "nvarchar": ("id nvarchar(40)", ["東京-1", "Osaka 2", "x'3"]),
    "uniqueidentifier": ("id uniqueidentifier", [uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)]),
}


@pytest.mark.parametrize("client", ["pymssql", "pytds"])
@pytest.mark.parametrize("kind", list(KEYS))
def test_changes_joined_with_the_table_for_each_key_type(standin, fresh_db, kind, client):
    decl, (k1, k2, k3) = KEYS[kind]
    conn = standin.connect_pymssql(database=fresh_db, autocommit=True) if client == "pymssql" \
        else standin.connect_pytds(database=fresh_db, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(f"ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; CREATE TABLE dbo.k ({decl} PRIMARY KEY, "
                    "v nvarchar(20) NOT NULL); ALTER TABLE dbo.k ENABLE CHANGE_TRACKING")
        for k in (k1, k2, k3):
            cur.execute("INSERT INTO dbo.k (id, v) VALUES (%s, %s)", (k, "one"))
        base = _version(cur)
        cur.execute("UPDATE dbo.k SET v = %s WHERE id = %s", ("two", k2))
        cur.execute("DELETE FROM dbo.k WHERE id = %s", (k3,))
        cur.execute("INSERT INTO dbo.k (id, v) VALUES (%s, %s)", (k3 if kind != "int" else 4, "new"))
        rows = _all(cur, "SELECT c.id, c.SYS_CHANGE_OPERATION, k.v FROM CHANGETABLE(CHANGES dbo.k, %s) AS c "
                         "LEFT OUTER JOIN dbo.k ON k.id = c.id ORDER BY c.SYS_CHANGE_VERSION", (base,))
        expected = [(k2, "U", "two")] + ([(k3, "D", None), (4, "I", "new")] if kind == "int" else [(k3, "U", "new")])
        norm = (lambda v: uuid.UUID(str(v))) if kind == "uniqueidentifier" else (lambda v: v)
        assert [(norm(i), op, v) for i, op, v in rows] == [(norm(i), op, v) for i, op, v in expected]
        assert _one(cur, "SELECT SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.k, (id), (%s)) AS c", (k2,)) \
            == (base + 1,)
    finally:
        conn.close()


def test_composite_key_and_deletes_never_come_back_as_rows(td):
    cur = td.cursor()
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON;"
                " CREATE TABLE dbo.ck (region nvarchar(10) NOT NULL, n bigint NOT NULL, v int NULL,"
                " CONSTRAINT PK_ck PRIMARY KEY (n, region)); ALTER TABLE dbo.ck ENABLE CHANGE_TRACKING")
    cur.execute("INSERT INTO dbo.ck VALUES (N'east', 1, 10), (N'west', 1, 20), (N'east', 2, 30)")
    cur.execute("UPDATE dbo.ck SET v = 11 WHERE region = N'east' AND n = 1")
    cur.execute("DELETE FROM dbo.ck WHERE region = N'west'")
    cur.execute("INSERT INTO dbo.ck VALUES (N'x', 9, 1); DELETE FROM dbo.ck WHERE n = 9")
    # the key columns follow in primary key order; a deleted key joins to NULLs, never to a row
    cur.execute("SELECT c.*, t.v FROM CHANGETABLE(CHANGES dbo.ck, %(v)s) AS c LEFT OUTER JOIN dbo.ck AS t "
                "ON t.n = c.n AND t.region = c.region ORDER BY c.n, c.region", {"v": 1})
    names = [d[0] for d in cur.description]
    assert names == ["SYS_CHANGE_VERSION", "SYS_CHANGE_CREATION_VERSION", "SYS_CHANGE_OPERATION",
                     "SYS_CHANGE_COLUMNS", "SYS_CHANGE_CONTEXT", "n", "region", "v"]
    assert [tuple(r) for r in cur.fetchall()] == [
        (2, None, "U", None, None, 1, "east", 11),
        (3, None, "D", None, None, 1, "west", None),
        (5, 4, "D", None, None, 9, "x", None),
    ]


# ------------------------------------------------------------------ CHANGETABLE(VERSION ...)
def test_changetable_version(tracked):
    cur = tracked
    cur.execute("INSERT INTO dbo.t VALUES (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3)")
    cur.execute("UPDATE dbo.t SET a = 5 WHERE id = 2")
    cur.execute("DELETE FROM dbo.t WHERE id = 3")
    # the documented conflict check: a correlated subquery per row of the table
    assert _all(cur, "SELECT p.id, (SELECT c.SYS_CHANGE_VERSION FROM CHANGETABLE(VERSION dbo.t, (id), (p.id)) AS c) "
                     "FROM dbo.t AS p ORDER BY p.id") == [(1, 1), (2, 2)]
    assert _all(cur, "SELECT * FROM CHANGETABLE(VERSION dbo.t, (id), (3)) AS c") == []  # no such row
    assert _all(cur, "SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT, id "
                     "FROM CHANGETABLE(VERSION dbo.t, (id), (%s)) AS c", (1,)) == [(1, None, 1)]
    assert _one(cur, "SELECT CHANGE_TRACKING_IS_COLUMN_IN_MASK(2, NULL)") == (1,)


VERSION_ERRORS = [
    ("SELECT * FROM CHANGETABLE(VERSION dbo.t, (id, a), (1, 1)) AS c", 22111,
     "The column 'a' specified in the CHANGETABLE(VERSION ...) function is not part of the primary key for table 't'."),
    ("SELECT * FROM CHANGETABLE(VERSION dbo.t, (id, id), (1, 1)) AS c", 22110,
     "The number of columns specified in the CHANGETABLE(VERSION ...) function does not match the number of primary "
     "key columns for table 't'."),
    ("SELECT * FROM CHANGETABLE(VERSION dbo.t, (id), (1, 2)) AS c", 22103,
     "The arguments supplied are not valid for the VERSION option of the CHANGETABLE function."),
    ("SELECT * FROM CHANGETABLE(CHANGES dbo.t, 1 + 2) AS c", 102, "Incorrect syntax near '+'."),
]


@pytest.mark.parametrize("sql,number,message", VERSION_ERRORS, ids=[str(c[1]) for c in VERSION_ERRORS])
def test_changetable_refuses_what_sql_server_refuses(tracked, sql, number, message):
    with pytest.raises(pytds.Error) as ei:
        _all(tracked, sql)
    assert (ei.value.msg_no, ei.value.text) == (number, message)


def test_key_update_with_a_long_bound_value(td):
    cur = td.cursor()
    cur.execute("ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; CREATE TABLE dbo.w (id int PRIMARY KEY,"
                " v nvarchar(max)); ALTER TABLE dbo.w ENABLE CHANGE_TRACKING; INSERT INTO dbo.w VALUES (1, N'a')")
    cur.execute("UPDATE dbo.w SET id = %s, v = %s WHERE id = %s", (2, "長" * 3000, 1))
    assert _all(cur, "SELECT c.id, c.SYS_CHANGE_OPERATION, LEN(w.v) FROM CHANGETABLE(CHANGES dbo.w, 1) AS c "
                     "LEFT JOIN dbo.w ON w.id = c.id ORDER BY c.id") == [(1, "D", None), (2, "I", 3000)]


@pytest.mark.parametrize("decl,value", [
    ("varbinary(16)", b"\\x41\x00\xff"),
    ("datetime2(7)", "2024-05-06 07:08:09.1234567"),
    ("decimal(18,4)", "12345678901234.5678"),
    ("int IDENTITY(1,1)", None),
])
def test_other_key_types_round_trip(td, decl, value):
    cur = td.cursor()
    cur.execute(f"ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON; CREATE TABLE dbo.o (id {decl} PRIMARY KEY, v int);"
                " ALTER TABLE dbo.o ENABLE CHANGE_TRACKING")
    if value is None:
        cur.execute("INSERT INTO dbo.o (v) VALUES (1)")
    else:
        cur.execute("INSERT INTO dbo.o (id, v) VALUES (%s, 1)",
                    (pytds.Binary(value) if isinstance(value, bytes) else value,))
    cur.execute("UPDATE dbo.o SET v = 2")
    # the key CHANGETABLE gives back finds the row again
    assert _all(cur, "SELECT c.SYS_CHANGE_OPERATION, o.v FROM CHANGETABLE(CHANGES dbo.o, 1) AS c "
                     "JOIN dbo.o ON o.id = c.id") == [("U", 2)]


def test_tracked_tables_by_name_from_the_catalog(tracked):
    tracked.execute("CREATE TABLE dbo.u (id int PRIMARY KEY)")
    assert _all(tracked, "SELECT s.name, t.name, ct.is_track_columns_updated_on FROM sys.change_tracking_tables AS ct "
                         "JOIN sys.tables AS t ON t.object_id = ct.object_id "
                         "JOIN sys.schemas AS s ON s.schema_id = t.schema_id") == [("dbo", "t", True)]
    assert _one(tracked, "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'[dbo].[t]')), "
                         "CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'dbo.u'))") == (0, None)
