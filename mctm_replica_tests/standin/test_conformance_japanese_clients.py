"""Japanese `varchar`, `char` and `text` under `Japanese_CI_AS` (code page 932) and a `_UTF8`
collation through the clients beyond pymssql and python-tds: Microsoft's mssql-python (ODBC
Driver 18), tedious, and SQLAlchemy's mssql+pymssql dialect with pandas. Each decodes the
bytes itself from the collation the server announces, as against SQL Server."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from mctm_replica_tests.clients import mssql_python_client as odbc
from mctm_replica_tests.clients import tedious_client as ted
from test_conformance_collations import CP932_BYTES, OUTSIDE, TEXT, collated_db  # noqa: F401 (fixture)

VALUE = TEXT + OUTSIDE
KEPT = TEXT + "??"  # each character outside code page 932 is one '?'
SELECT = "SELECT v, c, t, DATALENGTH(v), DATALENGTH(t) FROM dbo.j WHERE id = 1"
EXPECTED = (KEPT, KEPT + " " * (40 - CP932_BYTES - 2), KEPT, CP932_BYTES + 2, CP932_BYTES + 2)


def _table(collated_db, collation: str) -> str:
    db = collated_db(collation)
    cur = collated_db.connect("pytds", db).cursor()
    cur.execute("CREATE TABLE dbo.j (id int PRIMARY KEY, v varchar(40), c char(40), t text)")
    cur.execute("INSERT INTO dbo.j VALUES (1, %s, %s, %s)", (VALUE, VALUE, VALUE))
    return db


@pytest.mark.parametrize("collation", ["Japanese_CI_AS", "Japanese_XJIS_140_CI_AS"])
def test_mssql_python_reads_code_page_932(collated_db, standin, collation):
    db = _table(collated_db, collation)
    conn = odbc.connect(standin.host, standin.port, standin.user, standin.password, db)
    try:
        cur = conn.cursor()
        cur.execute(SELECT)
        assert tuple(cur.fetchone()) == EXPECTED
        cur.execute("SELECT DATALENGTH(CAST(? AS varchar(40)))", TEXT)  # a parameter converted on the server
        assert cur.fetchone()[0] == CP932_BYTES
    finally:
        conn.close()


def test_tedious_reads_code_page_932(collated_db, standin):
    db = _table(collated_db, "Japanese_CI_AS")
    out = ted.run(ted.TediousConnection(standin.host, standin.port, standin.user, standin.password, db),
                  [ted.batch(SELECT)])
    assert out.get("connectError") is None, out
    assert tuple(out["results"][0]["resultSets"][0]["rows"][0]) == EXPECTED


def test_sqlalchemy_and_pandas_read_code_page_932(collated_db, standin):
    db = _table(collated_db, "Japanese_CI_AS")
    url = sa.engine.URL.create("mssql+pymssql", username=standin.user, password=standin.password,
                               host=standin.host, port=standin.port, database=db)
    eng = sa.create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as c:
            assert tuple(c.execute(sa.text(SELECT)).one()) == EXPECTED
            frame = pd.read_sql("SELECT v FROM dbo.j", c)
        assert frame["v"].tolist() == [KEPT]
        cols = {col["name"]: col for col in sa.inspect(eng).get_columns("j")}
        assert cols["v"]["type"].collation == "Japanese_CI_AS"
    finally:
        eng.dispose()


def test_utf8_collation_keeps_every_character_for_odbc_and_tedious(collated_db, standin):
    db = collated_db("Latin1_General_100_CI_AS_SC_UTF8")
    cur = collated_db.connect("pymssql", db).cursor()
    cur.execute("CREATE TABLE dbo.u (id int PRIMARY KEY, v varchar(60))")
    cur.execute("INSERT INTO dbo.u VALUES (1, %s)", (VALUE,))
    want = (VALUE, len(VALUE.encode("utf-8")))
    conn = odbc.connect(standin.host, standin.port, standin.user, standin.password, db)
    try:
        c = conn.cursor()
        c.execute("SELECT v, DATALENGTH(v) FROM dbo.u")
        assert tuple(c.fetchone()) == want
    finally:
        conn.close()
    out = ted.run(ted.TediousConnection(standin.host, standin.port, standin.user, standin.password, db),
                  [ted.batch("SELECT v, DATALENGTH(v) FROM dbo.u")])
    assert tuple(out["results"][0]["resultSets"][0]["rows"][0]) == want
