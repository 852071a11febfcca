"""The segment-sum queries' shape on a real PostgreSQL: each row's MD5 is computed once, and
the replica's sums are planned without a sort (settings restored afterwards).

PostgreSQL pulls a plain subquery up into its parent and copies the subquery's expressions
into every place they are used: a hash read twice (a bucket's key hash, a keyless table's
row hash that is also its bucket) would be computed twice without a fence. A plan shape,
not a timing: EXPLAIN VERBOSE lists each expression the executor evaluates."""

from __future__ import annotations

import pytest
from psycopg2 import sql as pgsql

from mctm_replica.config import TableSpec
from mctm_replica.plan import ColumnPlan, TablePlan
from mctm_replica.typemap import SourceType, lookup, pg_type
from mctm_replica.verify.checksum import SUMS_WORK_MEM, _Sides, target_sums


def _plan(schema: str, columns: list[tuple[str, SourceType]], pk: list[str]) -> TablePlan:
    spec = TableSpec(source="s", source_schema="dbo", source_table="t", target_schema=schema, target_table="t")
    cols = [ColumnPlan(n, t, n, pg_type(t, table="t", column=n), True, lookup(t).value) for n, t in columns]
    return TablePlan(spec, cols, pk)


COLUMNS = [("id", SourceType("int")), ("txt", SourceType("nvarchar", max_length=50)),
           ("ts", SourceType("datetime2", datetime_precision=7)), ("f", SourceType("float"))]


@pytest.mark.parametrize("pk", [["id"], ["txt"], []], ids=["range", "bucket", "keyless"])
def test_target_sums_compute_each_rows_md5_once(pg_conn, pg_schema, pk):
    cols = COLUMNS if pk != ["txt"] else [(n, SourceType("nvarchar", max_length=50) if n == "txt" else t)
                                          for n, t in COLUMNS]
    plan = _plan(pg_schema, cols, pk)
    with pg_conn.cursor() as cur:
        cur.execute(pgsql.SQL("CREATE SCHEMA {s}; CREATE TABLE {s}.t (id int, txt text, ts timestamp, f float8)")
                    .format(s=pgsql.Identifier(pg_schema)))
        sides = _Sides(plan)
        cur.execute(pgsql.SQL("EXPLAIN VERBOSE ") + sides.tgt_sums_sql(pgsql.SQL("")), (0, 10))
        text = "\n".join(r[0] for r in cur.fetchall())
    # the row's hash once; a text key's bucket hashes the key once more
    assert text.count("md5(") == (2 if pk == ["txt"] else 1), text


@pytest.mark.parametrize("autocommit", [False, True], ids=["transaction", "autocommit"])
def test_target_sums_plans_without_sort_and_restores_the_settings(pg_conn, autocommit):
    """The replica's sums run with sorting off and at least SUMS_WORK_MEM (PostgreSQL assumes
    one segment per row and would sort every row to disk); the session's own values are
    back afterwards, and a larger work_mem of its own is kept."""
    seen = "SELECT current_setting('enable_sort'), current_setting('work_mem'), %s"
    pg_conn.autocommit = autocommit
    try:
        with pg_conn.cursor() as cur:
            cur.execute("SET work_mem = '4MB'")
        assert target_sums(pg_conn, pgsql.SQL(seen), (1,)) == [("off", SUMS_WORK_MEM, 1)]
        with pg_conn.cursor() as cur:
            cur.execute("SELECT current_setting('enable_sort'), current_setting('work_mem')")
            assert cur.fetchone() == ("on", "4MB")
            cur.execute("SET work_mem = '256MB'")
        assert target_sums(pg_conn, pgsql.SQL(seen), (2,)) == [("off", "256MB", 2)]
    finally:
        pg_conn.rollback()
        pg_conn.autocommit = True
        with pg_conn.cursor() as cur:
            cur.execute("RESET work_mem")
