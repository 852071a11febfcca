"""Peers through the stand-in: dlt, Sling and pgloader each load a stand-in table into PostgreSQL.

Both are tools nobody on the project wrote, run as their users run them
(mctm_replica_tests/peers/). The rows that arrive must equal the source's, read
back through pymssql.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from psycopg2 import sql

from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.source_helpers import source_rows, tsql
from mctm_replica_tests.peers.dlt_load import load_with_dlt
from mctm_replica_tests.peers.endpoints import postgres_endpoint, standin_endpoint
from mctm_replica_tests.peers.pgloader_load import load_with_pgloader, pgloader_path
from mctm_replica_tests.peers.sling_load import load_with_sling, sling_binary

ROWS = [
    (1, "ascii", Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5, 678000), "x", True),
    (2, "日本語のテキスト", None, None, None, None),
    (3, "", Decimal("-1234.25"), dt.datetime(1900, 1, 1), "", False),
]
# Debian's pgloader (3.6.7) reads decimal through cl-mssql's parse-number, a single float: a value
# with more than ~7 significant digits arrives rounded (pgloader issue #1619, fixed upstream by
# reading CONVERT(varchar, col, 0)); it does the same with a real SQL Server.
PGLOADER_ROUNDED = (4, "wide", Decimal("-99999999.99"), None, None, None)


def _make_source(server, db: str) -> None:
    tsql(server, db,
         "CREATE TABLE dbo.parent (id int NOT NULL PRIMARY KEY, label nvarchar(20) NOT NULL)",
         "INSERT INTO dbo.parent VALUES (1, N'one')",
         "CREATE TABLE dbo.items (id int NOT NULL PRIMARY KEY, name nvarchar(40) NOT NULL, price decimal(10,2) "
         "DEFAULT 0, made datetime2(3), note varchar(20), flag bit, "
         "parent_id int NULL CONSTRAINT FK_items_parent REFERENCES dbo.parent(id))",
         "CREATE INDEX ix_items_note ON dbo.items (note)")
    conn = server.connect_pymssql(database=db, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO dbo.items (id, name, price, made, note, flag) VALUES (%d, %s, %s, %s, %s, %s)",
                            ROWS)
    finally:
        conn.close()


def _pg_rows(pg_conn, schema: str, table: str, cols: list[str]) -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.{} ORDER BY 1").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier(schema), sql.Identifier(table)))
        return cur.fetchall()


COLS = ["id", "name", "price", "made", "note", "flag"]


def test_dlt_sql_database_loads_a_standin_table(mssql_server, source_db, pg_server, pg_conn, pg_schema):
    _make_source(mssql_server, source_db)
    info = load_with_dlt(standin_endpoint(mssql_server, source_db), "items",
                         postgres_endpoint(pg_server, REPLICA_DB), pg_schema)
    assert not info.has_failed_jobs
    expected = source_rows(mssql_server, source_db, f"SELECT {', '.join(COLS)} FROM dbo.items ORDER BY id")
    assert expected == ROWS
    assert _pg_rows(pg_conn, pg_schema, "items", COLS) == expected


@pytest.mark.parametrize("encrypt", [True, False], ids=["tls", "plain"])
def test_sling_copies_a_standin_table(mssql_server, source_db, pg_server, pg_conn, pg_schema, encrypt):
    """go-mssqldb (Sling's driver) over the stand-in, with and without TLS: every value arrives."""
    assert sling_binary() is not None, "the sling binary is missing: install the `dev` extra"
    _make_source(mssql_server, source_db)
    load_with_sling(standin_endpoint(mssql_server, source_db), "items", postgres_endpoint(pg_server, REPLICA_DB),
                    pg_schema, encrypt=encrypt)
    expected = source_rows(mssql_server, source_db, f"SELECT {', '.join(COLS)} FROM dbo.items ORDER BY id")
    # Sling maps bit to smallint-like booleans of its own; compare the flag as truth values.
    got = [(*r[:5], None if r[5] is None else bool(r[5])) for r in _pg_rows(pg_conn, pg_schema, "items", COLS)]
    assert got == expected


def _need_pgloader() -> None:
    if pgloader_path() is None:
        message = "pgloader is not installed: `apt-get install -y pgloader` (as root; .ci/run does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_pgloader_migrates_standin_tables(mssql_server, source_db, pg_server, pg_conn, pg_schema):
    _need_pgloader()
    _make_source(mssql_server, source_db)
    load_with_pgloader(standin_endpoint(mssql_server, source_db), "%", postgres_endpoint(pg_server, REPLICA_DB),
                       pg_schema)
    expected = source_rows(mssql_server, source_db, f"SELECT {', '.join(COLS)} FROM dbo.items ORDER BY id")
    # pgloader maps datetime2 to timestamptz (read in the session's time zone, UTC here) and bit to boolean
    got = [(i, n, p, m.replace(tzinfo=None) if m else m, no, f)
           for i, n, p, m, no, f in _pg_rows(pg_conn, pg_schema, "items", COLS)]
    assert got == expected
    assert _pg_rows(pg_conn, pg_schema, "parent", ["id", "label"]) == [(1, "one")]
    with pg_conn.cursor() as cur:
        # what pgloader read from the catalog views: the default, the primary key, the index, the foreign key
        cur.execute("SELECT column_name, is_nullable, column_default FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'items' ORDER BY ordinal_position", (pg_schema,))
        columns = cur.fetchall()
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'items' ORDER BY 1",
                    (pg_schema,))
        indexes = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass ORDER BY 1", (f'"{pg_schema}".items',))
        constraints = cur.fetchall()
    assert columns[:3] == [("id", "NO", None), ("name", "NO", None), ("price", "YES", "'0'::numeric")]
    assert any("(note)" in i for i in indexes), indexes
    assert ("p" in [c[1] for c in constraints]) and any(
        c[1] == "f" and "REFERENCES" in c[2] and "parent(id)" in c[2] for c in constraints), constraints


def test_pgloader_types(mssql_server, source_db, pg_server, pg_conn, pg_schema):
    """The types pgloader reads through CONVERT styles 126/127/114 and db-lib's own decoding."""
    _need_pgloader()
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.typed (id bigint NOT NULL PRIMARY KEY, g uniqueidentifier, seen datetimeoffset(3),"
         " t time(3), d date, sd smalldatetime, dt datetime, raw varbinary(max), r float, m money, big bigint)",
         "INSERT INTO dbo.typed VALUES (1, '6F9619FF-8B86-D011-B42D-00C04FC964FF', '2024-06-01 12:00:00.123 +09:00',"
         " '13:14:15.678', '0001-01-01', '2079-06-06 23:59', '1753-01-01 00:00:00.003', 0x00FF10,"
         " -1.5e300, -922337203685477.5808, 9223372036854775807),"
         " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    load_with_pgloader(standin_endpoint(mssql_server, source_db), "typed",
                       postgres_endpoint(pg_server, REPLICA_DB), pg_schema)
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id, g::text, seen AT TIME ZONE 'UTC', t, d, sd AT TIME ZONE 'UTC',"
                            " dt AT TIME ZONE 'UTC', raw, r, big FROM {}.typed ORDER BY id").format(
                                sql.Identifier(pg_schema)))
        got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cur.fetchall()]
    assert got == [
        (1, "6f9619ff-8b86-d011-b42d-00c04fc964ff", dt.datetime(2024, 6, 1, 3, 0, 0, 123000),
         dt.time(13, 14, 15, 678000), dt.date(1, 1, 1), dt.datetime(2079, 6, 6, 23, 59),
         dt.datetime(1753, 1, 1, 0, 0, 0, 3000), b"\x00\xff\x10", -1.5e300, 9223372036854775807),
        (2, None, None, None, None, None, None, None, None, None),
    ]


@pytest.mark.xfail(strict=True, reason="pgloader 3.6.7 (Debian) reads decimal as a single float (its issue "
                                        "#1619): -99999999.99 arrives as -100000000; not a stand-in difference")
def test_pgloader_keeps_wide_decimals(mssql_server, source_db, pg_server, pg_conn, pg_schema):
    _need_pgloader()
    tsql(mssql_server, source_db, "CREATE TABLE dbo.wide (id int NOT NULL PRIMARY KEY, price decimal(10,2))",
         f"INSERT INTO dbo.wide VALUES ({PGLOADER_ROUNDED[0]}, {PGLOADER_ROUNDED[2]})")
    load_with_pgloader(standin_endpoint(mssql_server, source_db), "wide", postgres_endpoint(pg_server, REPLICA_DB),
                       pg_schema)
    assert _pg_rows(pg_conn, pg_schema, "wide", ["id", "price"]) == [(4, Decimal("-99999999.99"))]
