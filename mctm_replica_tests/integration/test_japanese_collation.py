"""Japanese_CI_AS source (varchar in code page 932), as McTM's production databases are,
through both read paths into real PostgreSQL; rows_match then passes.

The stand-in stores each varchar in code page 932 and marks the column with LCID 0x0411,
so pymssql (FreeTDS) must decode the bytes as cp932 (typed path) and the server-built
CSV line must convert them to nvarchar first (format_on_server path).
"""

from __future__ import annotations

import uuid

import pytest
from psycopg2 import sql

from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.replica_helpers import failure_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_rows, tsql

ROWS = [
    (1, "ひらがな", "カタカナ", "ｶﾀｶﾅ 半角", "漢字と 'quote' \"dq\" ＂全角＂, comma"),
    (2, "東京都 港区", "ﾄｳｷｮｳ", "", "改行\nあり"),
    (3, "𠮷野家", "😀", "abc", None),  # outside code page 932: stored as '?'
    (4, None, "a   ", "  b", "trailing  "),
]


@pytest.fixture
def jp_db(monkeypatch, base_env, mssql_server):
    """A Japanese_CI_AS source database, set as source `SRC`'s database; dropped afterwards."""
    name = "jp_" + uuid.uuid4().hex[:10]
    tsql(mssql_server, "master", f"CREATE DATABASE [{name}] COLLATE Japanese_CI_AS")
    set_env(monkeypatch, {"SRC_DB": name})
    yield name
    tsql(mssql_server, "master", f"DROP DATABASE [{name}]")


@pytest.mark.parametrize("format_on_server", [True, False], ids=["lines-from-server", "typed-values"])
def test_japanese_varchar_table_replicates_exactly(tmp_path, mssql_server, jp_db, pg_conn, pg_schema,
                                                   format_on_server):
    tsql(mssql_server, jp_db,
         "CREATE TABLE dbo.customer (id int NOT NULL PRIMARY KEY, name varchar(40), kana varchar(20), "
         "code char(10), note text)")
    conn = mssql_server.connect_pymssql(database=jp_db, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO dbo.customer VALUES (%s, %s, %s, %s, %s)", ROWS)
    finally:
        conn.close()
    source = source_rows(mssql_server, jp_db, "SELECT id, name, kana, code, CAST(note AS varchar(max)), "
                                              "DATALENGTH(name) FROM dbo.customer ORDER BY id")
    # the source really holds code page 932: 4 kanji/kana = 8 bytes, '?' for 𠮷
    assert [(r[0], r[1], r[5]) for r in source] == [(1, "ひらがな", 8), (2, "東京都 港区", 11), (3, "?野家", 5),
                                                    (4, None, None)]

    defs = replica_defs(tmp_path, [{"source_table": "dbo.customer", "target_table": f"{pg_schema}.customer"}],
                        format_on_server=format_on_server)
    result = run_job(defs)
    assert result.success, failure_text(result)
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT id, name, kana, code, note FROM {}.{} ORDER BY id").format(
            sql.Identifier(pg_schema), sql.Identifier("customer")))
        replica = cur.fetchall()
    assert replica == [r[:5] for r in source]
    assert replica[0] == (1, "ひらがな", "カタカナ", "ｶﾀｶﾅ 半角 ", "漢字と 'quote' \"dq\" ＂全角＂, comma")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["rows_match"].passed, checks["rows_match"].description
