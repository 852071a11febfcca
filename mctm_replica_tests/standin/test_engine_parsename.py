"""Engine API (no network): what Sling's SQL Server connector asks before it reads a table --
``sys.synonyms`` (no synonyms: no rows) and PARSENAME of a dotted name."""

from __future__ import annotations

import pytest

from mctm_replica.standin.contract import SqlError
from mctm_replica_tests.standin.engine_helpers import engine_session, rows


@pytest.fixture(scope="module")
def sess():
    with engine_session(["CREATE DATABASE syn", "USE syn", "CREATE TABLE dbo.t (name nvarchar(200))",
                 "INSERT INTO dbo.t VALUES (N'srv.db.dbo.tbl'), (N'dbo.tbl'), (N'tbl'), (N'a.b.c.d.e'), (N'db..tbl'),"
                 " (NULL)"], spid=54) as s:
        yield s



def test_sys_synonyms_answers_sling_query_with_no_rows(sess):
    # Sling 1.4's query, verbatim apart from the names
    assert rows(sess, "select s.name as synonym_name, PARSENAME(s.base_object_name, 3) as database_name, "
                      "PARSENAME(s.base_object_name, 2) as schema_name, PARSENAME(s.base_object_name, 1) as "
                      "object_name from sys.synonyms s where schema_name(s.schema_id) = 'dbo' and s.name = 't'") == []


@pytest.mark.parametrize("part, expected", [
    (1, ["tbl", "tbl", "tbl", None, "tbl", None]),
    (2, ["dbo", "dbo", None, None, None, None]),
    (3, ["db", None, None, None, "db", None]),
    (4, ["srv", None, None, None, None, None]),
    (5, [None] * 6),
])
def test_parsename_parts_from_the_right(sess, part, expected):
    got = rows(sess, f"SELECT PARSENAME(name, {part}) FROM dbo.t")
    assert [r[0] for r in got] == expected


def test_parsename_refuses_quoted_names_rather_than_split_them_wrong(sess):
    with pytest.raises(SqlError, match="PARSENAME"):
        rows(sess, "SELECT PARSENAME(N'[my.db].dbo.t', 1)")


@pytest.mark.xfail(strict=True, raises=SqlError, reason="stand-in difference: no CREATE SYNONYM, so sys.synonyms "
                                                        "is always empty")
def test_synonym_is_listed(sess):
    list(sess.execute("CREATE SYNONYM dbo.t_alias FOR dbo.t"))
    assert rows(sess, "SELECT name, base_object_name FROM sys.synonyms") == [("t_alias", "[dbo].[t]")]
