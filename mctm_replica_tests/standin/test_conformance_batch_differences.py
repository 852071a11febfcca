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
                   reason="stand-in difference: OBJECT_ID of a non-constant name splits it at every '.' "
                          "and drops brackets, so a bracketed name containing '.' is not found; SQL Server "
                          "parses the brackets")
def test_object_id_of_an_expression_with_a_dot_inside_brackets(td):
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.[a.b] (id int)")
    cur.execute("SELECT OBJECT_ID('dbo.[a.b]'), OBJECT_ID(QUOTENAME(N'dbo') + N'.' + QUOTENAME(N'a.b'))")
    const, expr = cur.fetchone()
    assert const is not None and expr == const
