"""A value converted to a string type too short for it, as SQL Server documents it (CAST and
CONVERT, "Truncating and rounding results"): date and time text is cut to the length (the
`CONVERT(varchar(10), d, 120)` idiom); int, smallint and tinyint into char/varchar give `*`;
other numbers, and any number into nchar/nvarchar, raise error 8115. Constants and columns
take the same path through pymssql: both are checked.
"""

from __future__ import annotations

import pymssql
import pytest

from mctm_replica_tests.integration.source_helpers import source_rows, tsql


@pytest.fixture
def db(mssql_server, source_db):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.x (i int, b bigint, m decimal(9,2), d datetime2(7), t time(7), dt date)",
         "INSERT INTO dbo.x VALUES (12345, 12345, 1234.50, '2020-01-02 03:04:05.1234567', '13:14:15.1234567',"
         " '2020-01-02')")
    return source_db


def one(server, db, expr: str):
    return source_rows(server, db, f"SELECT {expr} FROM dbo.x")[0][0]


@pytest.mark.parametrize(("expr", "expected"), [
    ("CONVERT(varchar(10), d, 121)", "2020-01-02"),
    ("CONVERT(varchar(10), CAST('2020-01-02 03:04:05.1234567' AS datetime2(7)), 120)", "2020-01-02"),
    ("CONVERT(nvarchar(8), t, 114)", "13:14:15"),
    ("CAST(dt AS varchar(4))", "2020"),
    ("CAST(i AS varchar(3))", "*"),
    ("CAST(12345 AS varchar(3))", "*"),
    ("CAST(i AS char(3))", "*  "),
    ("CAST(i AS varchar(5))", "12345"),
    ("LEFT(CONVERT(nvarchar(27), d, 121), 26)", "2020-01-02 03:04:05.123456"),
])
def test_short_string_results(mssql_server, db, expr, expected):
    assert one(mssql_server, db, expr) == expected


@pytest.mark.parametrize("expr", ["CAST(i AS nvarchar(3))", "CAST(12345 AS nvarchar(3))", "CAST(m AS varchar(4))",
                                  "CAST(1234.50 AS varchar(4))", "CAST(b AS nvarchar(2))"])
def test_numbers_that_do_not_fit_raise_8115(mssql_server, db, expr):
    with pytest.raises(pymssql.DatabaseError, match="8115|Arithmetic overflow"):
        one(mssql_server, db, expr)
