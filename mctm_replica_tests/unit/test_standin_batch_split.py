"""Where a T-SQL batch splits into statements (pure logic of standin/engine/batch.py)."""

from __future__ import annotations

import pytest

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.batch import IfStmt, SetStmt, Stmt, split_batch


def _shape(nodes) -> list:
    out = []
    for n in nodes:
        if isinstance(n, SetStmt):
            out.append(("SET", n.options, n.value))
        elif isinstance(n, IfStmt):
            out.append(("IF", n.condition, _shape(n.then), _shape(n.orelse)))
        else:
            assert isinstance(n, Stmt)
            out.append(" ".join(n.text.split()))
    return out


@pytest.mark.parametrize("sql, expected", [
    ("set textsize 2147483647\nset xact_abort off",
     [("SET", ["textsize"], "2147483647"), ("SET", ["xact_abort"], "off")]),
    ("SET LOCK_TIMEOUT -1 SET ANSI_NULLS, QUOTED_IDENTIFIER ON SET STATISTICS IO, TIME OFF",
     [("SET", ["lock_timeout"], "-1"), ("SET", ["ansi_nulls", "quoted_identifier"], "ON"),
      ("SET", ["statistics"], "OFF")]),
    ("SET FMTONLY ON select a from t SET FMTONLY OFF",
     [("SET", ["fmtonly"], "ON"), "select a from t", ("SET", ["fmtonly"], "OFF")]),
    ("select 1 union all select 2 select 3", ["select 1 union all select 2", "select 3"]),
    ("insert into t (a) select 1 select 2", ["insert into t (a) select 1", "select 2"]),
    ("insert into t values (1) select 2", ["insert into t values (1)", "select 2"]),
    ("update t set a = 1 set nocount on", ["update t set a = 1", ("SET", ["nocount"], "on")]),
    ("alter table t drop column c alter table t alter column d int drop table u",
     ["alter table t drop column c", "alter table t alter column d int", "drop table u"]),
    ("alter table t add constraint f foreign key (a) references u (a) on delete set null select 1",
     ["alter table t add constraint f foreign key (a) references u (a) on delete set null", "select 1"]),
    ("drop table if exists t create view v as select 1 as x",
     ["drop table if exists t", "create view v as select 1 as x"]),
    ("select case when 1 = 1 then 'a' else 'b' end; select 'it''s -- not a comment select'",
     ["select case when 1 = 1 then 'a' else 'b' end", "select 'it''s -- not a comment select'"]),
    ("select [select] from t -- select\n/* drop */ select 2", ["select [select] from t", "select 2"]),
    ("create view v as with c (x) as (select 1) select x from c select 2",
     ["create view v as with c (x) as (select 1) select x from c", "select 2"]),
    ("with a as (select 1 as x), b as (select 2 as y) select * from a, b select 3",
     ["with a as (select 1 as x), b as (select 2 as y) select * from a, b", "select 3"]),
    ("select * from t with (nolock) select top 1 with ties a from t order by a",
     ["select * from t with (nolock)", "select top 1 with ties a from t order by a"]),
    ("IF CASE WHEN 1 = 1 THEN 1 ELSE 0 END = 1 SELECT 1 ELSE SELECT 2",
     [("IF", "CASE WHEN 1 = 1 THEN 1 ELSE 0 END = 1", ["SELECT 1"], ["SELECT 2"])]),
    ("begin tran insert into t values (1) commit", ["begin tran", "insert into t values (1)", "commit"]),
    ("IF OBJECT_ID('t') IS NOT NULL DROP TABLE t CREATE TABLE t (a int)",
     [("IF", "OBJECT_ID('t') IS NOT NULL", ["DROP TABLE t"], []), "CREATE TABLE t (a int)"]),
    ("IF EXISTS (SELECT 1 FROM t) BEGIN SELECT 1; SELECT 2 END ELSE IF 1=1 SELECT 3 ELSE SELECT 4",
     [("IF", "EXISTS (SELECT 1 FROM t)", ["SELECT 1", "SELECT 2"],
       [("IF", "1=1", ["SELECT 3"], ["SELECT 4"])])]),
])
def test_split(sql, expected):
    assert _shape(split_batch(sql)) == expected


@pytest.mark.parametrize("sql", ["IF 1=1", "BEGIN select 1", "select 1 END", "ELSE select 1", "select 'x"])
def test_incomplete_batches_are_syntax_errors(sql):
    with pytest.raises(SqlError) as ei:
        split_batch(sql)
    assert ei.value.number in (102, 105, 156)
