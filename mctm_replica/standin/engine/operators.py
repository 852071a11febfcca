"""Operators, comparisons and DATEADD: SQL Server's type rules for combining operands.

A mixin of ``Translator`` (translate.py): comparisons convert one side to the
other's declared type (string literals to ticks, dates to datetime2...), ``+`` on
strings concatenates, integer ``/`` divides as integers and raises 8134 on zero.
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.convert import to_timestamp
from mctm_replica.standin.engine.decl import (
    DATE_TYPES, EXACT_TYPES, INT_TYPES, NUMERIC_TYPES, STRING_TYPES, TICK_TYPES, UNICODE_TYPES, Decl, storage_type,
)
from mctm_replica.standin.engine.typed import Scope, Typed

# Characters a non-(max) string holds at most: 8,000 bytes.
STRING_LIMIT = {"nvarchar": 4000, "varchar": 8000}


def cmp_operand(t: Typed) -> str:
    """Comparison operand as SQL Server compares it.

    datetimeoffset compares by its UTC instant, not its offset; strings compare
    ignoring trailing spaces (SQL Server pads the shorter operand).
    """
    if t.decl is not None and t.decl.type == "datetimeoffset":
        return f"__dto_utc({t.sql})"
    if t.decl is not None and t.decl.type in ("char", "varchar", "nchar", "nvarchar"):
        return f"rtrim({t.sql}, ' ')"
    return t.sql


def family(d: Decl | None) -> str:
    if d is None:
        return "?"
    t = d.type
    if t in STRING_TYPES:
        return "str"
    if t in INT_TYPES or t in EXACT_TYPES or t in ("float", "real"):
        return "num"
    return t



# SQL Server's data type precedence among the date/time types, highest first.
_PRECEDENCE = ["datetimeoffset", "datetime2", "datetime", "smalldatetime", "date", "time"]
_TICKED = TICK_TYPES | {"datetimeoffset"}


class OperatorsMixin:
    """Translator methods for operators; see translate.Translator."""

    def x_In(self, node, scope):
        left = self.expr(node.this, scope)
        query = node.args.get("query")
        if query is not None:
            inner = query.this if isinstance(query, exp.Subquery) else query
            from mctm_replica.standin.engine.query import translate_query

            sql, _ = translate_query(self, inner, Scope(parent=scope))
            body = sql
        else:
            items = [self._harmonize(left, self.expr(e, scope))[1] for e in node.expressions]
            body = ", ".join(cmp_operand(i) for i in items)
            return Typed(f"({cmp_operand(left)} IN ({body}))", Decl("bit"))
        return Typed(f"({left.sql} IN ({body}))", Decl("bit"))

    def x_Between(self, node, scope):
        left = self.expr(node.this, scope)
        low = self._harmonize(left, self.expr(node.args["low"], scope))[1]
        high = self._harmonize(left, self.expr(node.args["high"], scope))[1]
        return Typed(f"({cmp_operand(left)} BETWEEN {cmp_operand(low)} AND {cmp_operand(high)})", Decl("bit"))

    def x_DateAdd(self, node, scope):
        """DATEADD keeps the date argument's type; whole units add ticks exactly."""
        base = self.expr(node.this, scope)
        n = self.expr(node.expression, scope)
        unit = (node.text("unit") or "day").lower()
        d = base.decl
        if d is not None and family(d) == "str":
            base = self.convert(base, Decl("datetime"))
            d = base.decl
        per = {"week": 7 * 864_000_000_000, "wk": 7 * 864_000_000_000, "day": 864_000_000_000,
               "dd": 864_000_000_000, "d": 864_000_000_000, "dayofyear": 864_000_000_000, "dy": 864_000_000_000,
               "y": 864_000_000_000, "weekday": 864_000_000_000, "dw": 864_000_000_000,
               "hour": 36_000_000_000, "hh": 36_000_000_000, "minute": 600_000_000, "mi": 600_000_000,
               "n": 600_000_000, "second": 10_000_000, "ss": 10_000_000, "s": 10_000_000,
               "millisecond": 10_000, "ms": 10_000, "microsecond": 10, "mcs": 10, "nanosecond": 1, "ns": 1}
        months = {"year": 12, "yy": 12, "yyyy": 12, "quarter": 3, "qq": 3, "q": 3, "month": 1, "mm": 1, "m": 1}
        if d is None or d.type not in ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"):
            raise SqlError(9810, f"The datepart {unit} is not supported by date function dateadd for data type {d.type if d else 'unknown'}.")
        if unit in per:
            delta = f"CAST({n.sql} AS BIGINT) * {per[unit]}"
            if d.type in ("datetime2", "time"):
                sql = f"(({base.sql}) + {delta})"
                if d.type == "time":
                    sql = f"((({sql}) % 864000000000 + 864000000000) % 864000000000)"
                return Typed(sql, d)
            if d.type == "datetimeoffset":
                return Typed(f"(({base.sql}) + CAST({delta} AS HUGEINT) * 2048)", d)
            ts = to_timestamp(base.sql, d)
            sql = f"({ts} + to_microseconds(CAST(({delta}) // 10 AS BIGINT)))"
        elif unit in months:
            ts = to_timestamp(base.sql, d)
            sql = f"({ts} + to_months(CAST({n.sql} AS INTEGER) * {months[unit]}))"
            if d.type in ("datetime2", "time"):
                return Typed(f"(__ts2t({sql}) + ({base.sql}) % 10)", d)
            if d.type == "datetimeoffset":
                return Typed(f"((CAST(__ts2t({sql}) AS HUGEINT) - __dto_off({base.sql}) * 600000000) * 2048 + __dto_off({base.sql}) + 1024)", d)
        else:
            raise SqlError(155, f"'{unit}' is not a recognized dateadd option.", severity=15)
        if d.type == "date":
            return Typed(f"CAST({sql} AS DATE)", d)
        if d.type == "datetime":
            return Typed(f"__dtround({sql})", d)
        if d.type == "smalldatetime":
            return Typed(f"__sdtround({sql})", d)
        return Typed(sql, d)

    # ------------------------------------------------------------ operators
    def _harmonize(self, a: Typed, b: Typed) -> tuple[Typed, Typed]:
        """Bring two compared operands to one storage type (SQL Server's precedence)."""
        fa, fb = family(a.decl), family(b.decl)
        if fa == fb and (fa in ("str", "num") or a.decl == b.decl):
            if fa == "num" or fa == "str":
                return a, b
        if a.decl is None or b.decl is None:
            return a, b
        if a.decl.type in DATE_TYPES and b.decl.type in DATE_TYPES and a.decl != b.decl:
            # Both date/time: SQL Server converts the lower-precedence operand (even a
            # column) to the other's type, never rounding a datetime2 parameter down.
            target = a.decl if _PRECEDENCE.index(a.decl.type) <= _PRECEDENCE.index(b.decl.type) else b.decl
            if target.type in _TICKED:
                # full precision: datetime2(3) .123 and a datetime's .4566667 stay exact
                target = Decl(target.type, scale=7)
            return self.convert(a, target), self.convert(b, target)
        if b.is_const and not a.is_const:
            return a, self.convert(b, a.decl)
        if a.is_const and not b.is_const:
            return self.convert(a, b.decl), b
        order = ["datetimeoffset", "datetime2", "datetime", "smalldatetime", "date", "time",
                 "uniqueidentifier"]
        for t in order:
            if a.decl.type == t or b.decl.type == t:
                target = a.decl if a.decl.type == t else b.decl
                if family(a.decl) == "str" or family(b.decl) == "str" or (
                        a.decl.type in DATE_TYPES and b.decl.type in DATE_TYPES):
                    if a.decl.type in TICK_TYPES | {"datetimeoffset"} and b.decl.type in TICK_TYPES | {"datetimeoffset"}:
                        target = Decl(target.type, scale=7)
                    return self.convert(a, target), self.convert(b, target)
                return a, b
        return a, b

    def comparison(self, node, scope):
        a = self.expr(node.this, scope)
        b = self.expr(node.expression, scope)
        a, b = self._harmonize(a, b)
        op = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}[type(node)]
        return Typed(f"({cmp_operand(a)} {op} {cmp_operand(b)})", Decl("bit"))

    def arith(self, node, scope):
        a = self.expr(node.this, scope)
        b = self.expr(node.expression, scope)
        fa, fb = family(a.decl), family(b.decl)
        if isinstance(node, exp.Add) and "str" in (fa, fb):
            uni = (a.decl is not None and a.decl.type in UNICODE_TYPES) or (b.decl is not None and b.decl.type in UNICODE_TYPES)
            # Without a (max) operand SQL Server truncates the result at 8,000 bytes, silently.
            limit = STRING_LIMIT["nvarchar" if uni else "varchar"]
            # an operand of unknown length (NULL, an untyped function) may be as long as the limit
            la = a.decl.length if a.decl and a.decl.length else limit if fa == "str" or a.decl is None else 30
            lb = b.decl.length if b.decl and b.decl.length else limit if fb == "str" or b.decl is None else 30
            sa = a.sql if fa == "str" else self.convert(a, Decl("varchar", length=30)).sql
            sb = b.sql if fb == "str" else self.convert(b, Decl("varchar", length=30)).sql
            if -1 in (la, lb):
                return Typed(f"({sa} || {sb})", Decl("nvarchar" if uni else "varchar", length=-1))
            d = Decl("nvarchar" if uni else "varchar", length=min(la + lb, limit))
            # what the operands can really hold (a REPLACE typed nvarchar(4000) may be shorter)
            longest = (a.longest or la) + (b.longest or lb)
            if longest <= limit:
                return Typed(f"({sa} || {sb})", d, longest=longest)
            return Typed(f"left({sa} || {sb}, {limit})", d)
        op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}[type(node)]
        ints = list(INT_TYPES)
        if a.decl is not None and b.decl is not None and a.decl.type in ints and b.decl.type in ints:
            ta = max(ints.index(a.decl.type), ints.index(b.decl.type), ints.index("int"))
            d = Decl(ints[ta])
            st = storage_type(d)
            if op in ("/", "%"):
                zero = "error('__MSSQL__8134__Divide by zero error encountered.')"
                opx = "//" if op == "/" else "%"
                return Typed(f"(CASE WHEN ({b.sql}) = 0 THEN {zero} ELSE CAST(CAST({a.sql} AS BIGINT) {opx} CAST({b.sql} AS BIGINT) AS {st}) END)", d)
            return Typed(f"CAST(CAST({a.sql} AS HUGEINT) {op} CAST({b.sql} AS HUGEINT) AS {st})", d)
        # float outranks every other number, then real (SQL Server's type precedence), so
        # the result keeps its type (CONVERT styles of float/real depend on it)
        kinds = {a.decl.type if a.decl else None, b.decl.type if b.decl else None}
        approx = Decl("float") if "float" in kinds else Decl("real") if "real" in kinds else None
        if approx is not None and not kinds <= NUMERIC_TYPES | {"float", "real"}:
            approx = None
        if op == "/":
            zero = "error('__MSSQL__8134__Divide by zero error encountered.')"
            return Typed(f"(CASE WHEN ({b.sql}) = 0 THEN {zero} ELSE ({a.sql} / {b.sql}) END)", approx)
        if a.decl is not None and b.decl is not None and a.decl.type in DATE_TYPES | {"datetime"}:
            raise SqlError(50000, "The SQL Server stand-in does not support date arithmetic with + and -; use DATEADD.")
        return Typed(f"({a.sql} {op} {b.sql})", approx)

    def x_Not(self, node, scope):
        t = self.expr(node.this, scope)
        return Typed(f"(NOT {t.sql})", Decl("bit"))

    def x_And(self, node, scope):
        return Typed(f"({self.expr(node.this, scope).sql} AND {self.expr(node.expression, scope).sql})", Decl("bit"))

    def x_Or(self, node, scope):
        return Typed(f"({self.expr(node.this, scope).sql} OR {self.expr(node.expression, scope).sql})", Decl("bit"))

    def x_Is(self, node, scope):
        t = self.expr(node.this, scope)
        return Typed(f"({t.sql} IS NULL)", Decl("bit"))

    def x_Like(self, node, scope):
        a = self.expr(node.this, scope)
        b = self.expr(node.expression, scope)
        sa = a.sql if family(a.decl) in ("str", "?") else self.convert(a, Decl("varchar", length=-1)).sql
        return Typed(f"({sa} ILIKE {b.sql})", Decl("bit"))
