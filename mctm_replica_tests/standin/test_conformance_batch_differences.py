"""Known differences of batches and RPC from SQL Server (README "Known differences").

Each test states what SQL Server does and is a strict xfail: if the stand-in starts
behaving as SQL Server, the test passes, the run fails, and the README entry goes.
"""

from __future__ import annotations

import datetime as dt

import pytds
import pytest


@pytest.mark.xfail(strict=True, raises=pytds.Error,
                   reason="stand-in difference: SET options that change results (DATEFORMAT dmy, ANSI_NULLS "
                          "OFF, LANGUAGE other than us_english...) are refused; SQL Server applies them")
def test_set_dateformat_dmy_reads_day_first(td):
    cur = td.cursor()
    cur.execute("SET DATEFORMAT dmy")
    cur.execute("SELECT CAST('01/02/2020' AS date)")
    assert cur.fetchone()[0] == dt.date(2020, 2, 1)


@pytest.mark.xfail(strict=True,
                   reason="stand-in difference: OBJECT_ID of a non-constant name only finds objects of the "
                          "current database (NULL for a name in another database); SQL Server resolves it")
def test_object_id_of_an_expression_in_another_database(td, fresh_db):
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.t (id int)")
    cur.execute("SELECT OBJECT_ID(DB_NAME() + '.dbo.t')")
    expected = cur.fetchone()[0]
    cur.execute("USE master")
    cur.execute("SELECT OBJECT_ID(%s + '.dbo.t'), OBJECT_ID(%s)", (fresh_db, f"{fresh_db}.dbo.t"))
    assert tuple(cur.fetchone()) == (expected, expected)
