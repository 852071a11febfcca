"""Aggregates and window functions: SQL Server's result types for COUNT, SUM, AVG, MIN,
MAX and their OVER (...) forms.

A mixin of ``Translator`` (translate.py): each translates its argument in place and casts
DuckDB's result to the type SQL Server declares (SUM of int is int, of decimal(p,s)
decimal(38,s); AVG of integers truncates; COUNT_BIG is bigint).
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.decl import INT_TYPES, Decl, storage_type
from mctm_replica.standin.engine.typed import Typed


class AggregatesMixin:
    def x_Count(self, node, scope):
        self.generic(node, scope)
        d = Decl("bigint") if node.args.get("big_int") else Decl("int")
        return Typed(f"CAST({node.sql(dialect='duckdb')} AS {storage_type(d)})", d, nullable=False)

    def _agg_operand(self, node, scope) -> tuple[str, Decl | None]:
        """Translate an aggregate's argument in place: (DuckDB SQL of the call, arg's type)."""
        t = self.expr(node.this, scope)
        node.this.replace(exp.Var(this=t.sql))
        return node.sql(dialect="duckdb"), t.decl

    def _agg_same(self, node, scope):
        return Typed(*self._agg_operand(node, scope))

    x_Min = _agg_same
    x_Max = _agg_same

    def x_Sum(self, node, scope):
        sql, d = self._agg_operand(node, scope)
        if d is None:
            return Typed(sql, None)
        if d.type in ("bit", "tinyint", "smallint", "int"):
            d = Decl("int")
        elif d.type in ("decimal", "numeric"):
            d = Decl("decimal", precision=38, scale=d.scale)
        elif d.type not in ("bigint", "money", "smallmoney", "float", "real"):
            raise SqlError(8117, f"Operand data type {d.type} is invalid for sum operator.")
        if d.type == "smallmoney":
            d = Decl("money")
        return Typed(f"CAST({sql} AS {storage_type(d)})", d)

    def x_Avg(self, node, scope):
        sql, d = self._agg_operand(node, scope)
        if d is None:
            return Typed(sql, None)
        if d.type in ("bit",):
            raise SqlError(8117, "Operand data type bit is invalid for avg operator.")
        if d.type in INT_TYPES:
            d = Decl("int") if d.type != "bigint" else d
            return Typed(f"CAST(trunc({sql}) AS {storage_type(d)})", d)
        if d.type in ("decimal", "numeric"):
            d = Decl("decimal", precision=38, scale=max(d.scale or 0, 6))
            return Typed(f"CAST({sql} AS {storage_type(d)})", d)
        if d.type in ("money", "smallmoney"):
            return Typed(f"CAST({sql} AS DECIMAL(19,4))", Decl("money"))
        return Typed(f"CAST({sql} AS DOUBLE)", Decl("float"))

    def x_Window(self, node, scope):
        inner = node.this
        decl: Decl | None = None
        if isinstance(inner, exp.Count):
            self.generic(inner, scope)
            decl = Decl("bigint") if inner.args.get("big_int") else Decl("int")
        elif isinstance(inner, (exp.Min, exp.Max, exp.Sum)):
            t = self.expr(inner.this, scope)
            inner.this.replace(exp.Var(this=t.sql))
            decl = t.decl
            if isinstance(inner, exp.Sum) and decl is not None:
                decl = Decl("int") if decl.type in ("bit", "tinyint", "smallint", "int") else (
                    Decl("decimal", precision=38, scale=decl.scale) if decl.type in ("decimal", "numeric") else decl)
        elif isinstance(inner, (exp.RowNumber, exp.Rank, exp.DenseRank)) if hasattr(exp, "DenseRank") else isinstance(inner, exp.RowNumber):
            decl = Decl("bigint")
        else:
            self.generic(inner, scope)
        for p in node.args.get("partition_by") or []:
            p.replace(exp.Var(this=self.expr(p, scope).sql))
        order = node.args.get("order")
        if order is not None:
            for o in order.expressions:
                o.this.replace(exp.Var(this=self.expr(o.this, scope).sql))
        sql = node.sql(dialect="duckdb")
        if decl is not None:
            sql = f"CAST({sql} AS {storage_type(decl)})"
        return Typed(sql, decl)
