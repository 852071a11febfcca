"""Engine API (no network): LEFT and RIGHT return their string argument's own type, as SQL
Server does (nvarchar stays nvarchar, so Japanese text is not cut to code page 1252's '?');
an argument of another type is converted to varchar first."""

from __future__ import annotations

import pytest

from mctm_replica_tests.standin.engine_helpers import engine_session, result, rows


@pytest.fixture(scope="module")
def sess():
    with engine_session([
        "CREATE TABLE dbo.s (n nvarchar(20), v varchar(20), i int)",
        "INSERT INTO dbo.s VALUES (N'顧客12様', 'abcdef', 12345)",
    ], spid=53) as s:
        yield s


def test_left_and_right_of_nvarchar_keep_its_characters_and_type(sess):
    rs, got = result(sess, "SELECT LEFT(n, 2), RIGHT(n, 3), LEFT(CAST(n AS nvarchar(10)), 3) FROM dbo.s")
    assert got == [("顧客", "12様", "顧客1")]
    assert [c.type for c in rs.columns] == ["nvarchar", "nvarchar", "nvarchar"]


def test_left_and_right_of_varchar_stay_varchar(sess):
    rs, got = result(sess, "SELECT LEFT(v, 2), RIGHT(v, 2) FROM dbo.s")
    assert got == [("ab", "ef")]
    assert [c.type for c in rs.columns] == ["varchar", "varchar"]


def test_left_and_right_of_a_number_convert_it_to_text(sess):
    assert rows(sess, "SELECT LEFT(i, 2), RIGHT(i, 3), LEFT(12345, 1) FROM dbo.s") == [("12", "345", "1")]
