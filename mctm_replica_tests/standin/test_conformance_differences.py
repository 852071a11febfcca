"""Known differences between the stand-in and SQL Server, pinned so they stay visible.

Each test states what REAL SQL Server returns and is marked
``xfail(strict=True)``: it fails today because the stand-in differs, and turns
into an XPASS error the day the stand-in learns the behaviour (then drop the
mark).  Other pinned differences live next to their topic:
test_conformance_session (NOLOCK reads committed data and never blocks),
test_conformance_errors (rows before a late conversion error),
test_conformance_types (case-sensitive collations are refused), test_conformance_collations
(Japanese_CI_AS compares kana types and widths exactly).
"""

from __future__ import annotations

import pymssql
import pytds
import pytest

from expected_values import canonical


@pytest.fixture
def legacy(standin, fresh_db):
    """pymssql with conn_properties="": no post-login SET batch, so the session keeps
    SQL Server's defaults for a login without fODBC (FreeTDS does not set that flag)."""
    conn = pymssql.connect(
        server=standin.host, port=str(standin.port), user=standin.user, password=standin.password,
        database=fresh_db, tds_version="7.4", autocommit=True, conn_properties="",
    )
    yield conn
    conn.close()


_SESSION_DEFAULTS_REASON = (
    "stand-in difference: sessions always behave as with ANSI_NULLS, QUOTED_IDENTIFIER and "
    "CONCAT_NULL_YIELDS_NULL ON; SQL Server starts a login without the fODBC flag (FreeTDS "
    "without pymssql's SET batch) with them OFF"
)


def _differs(raises: type[BaseException]) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=raises, reason=_SESSION_DEFAULTS_REASON)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # QUOTED_IDENTIFIER OFF: a string, not a column (the stand-in raises 207)
        pytest.param('SELECT "abc"', [("abc",)], id="quoted_identifier",
                     marks=_differs(pymssql.exceptions.ProgrammingError)),
        pytest.param("SELECT CASE WHEN NULL = NULL THEN 1 ELSE 0 END", [(1,)], id="ansi_nulls",
                     marks=_differs(AssertionError)),
        pytest.param("SELECT 'a' + NULL", [("a",)], id="concat_null",
                     marks=_differs(AssertionError)),
    ],
)
def test_non_odbc_login_session_defaults(legacy, sql, expected):
    cur = legacy.cursor()
    cur.execute(sql)
    assert cur.fetchall() == expected


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="stand-in difference: nvarchar -> varchar turns every character outside code page "
    "1252 into '?'; SQL Server first applies Windows best-fit mappings (fullwidth A -> A, "
    "a with macron -> a)",
)
def test_best_fit_mapping_to_code_page_1252(td):
    cur = td.cursor()
    cur.execute("SELECT CAST(N'\uff21\u0101' AS varchar(5))")
    assert cur.fetchall() == [("Aa",)]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="stand-in difference: SERVERPROPERTY returns nvarchar(128); SQL Server returns "
    "sql_variant holding the property's own type (EngineEdition is an int)",
)
def test_serverproperty_is_sql_variant(td):
    cur = td.cursor()
    cur.execute("SELECT SERVERPROPERTY('EngineEdition'), SERVERPROPERTY('ProductVersion')")
    row = cur.fetchone()
    assert [canonical(v) for v in row][0] == ("int", 3)
    assert [d[1] for d in cur.description] == [98, 98]  # SQL_VARIANT


@pytest.mark.xfail(
    strict=True,
    raises=pytds.OperationalError,
    reason="stand-in difference: one sysadmin login; no CREATE LOGIN/USER or GRANT, so "
    "HAS_PERMS_BY_NAME answers 1 for every valid permission on an existing object (tests "
    "play a missing grant with the `rewrite` fault)",
)
def test_a_login_without_grants_lacks_view_definition(td):
    cur = td.cursor()
    cur.execute("CREATE TABLE dbo.secret (id int PRIMARY KEY)")
    cur.execute("CREATE LOGIN reader WITH PASSWORD = N'Reader-Passw0rd!'")
    cur.execute("CREATE USER reader FOR LOGIN reader")
    cur.execute("EXECUTE AS USER = 'reader'")
    cur.execute("SELECT HAS_PERMS_BY_NAME(N'dbo.secret', 'OBJECT', 'VIEW DEFINITION')")
    assert cur.fetchone() == (0,)
