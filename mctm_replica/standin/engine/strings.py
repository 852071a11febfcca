"""String functions whose result may outgrow their input: REPLACE, STUFF, REPLICATE (and
LEFT/RIGHT's implicit conversion), typed as SQL Server types them.

A mixin of ``Translator`` (translate.py). SQL Server types these nvarchar(4000) or
varchar(8000) unless the string is (max), and cuts longer results there silently. The cut
costs DuckDB a character count per value, so it is left out where the operands' declared
lengths prove the result cannot reach the limit (``Typed.longest``), as for a REPLACE of an
nvarchar(50) column; the declared type stays SQL Server's.
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.engine.decl import UNICODE_TYPES, Decl
from mctm_replica.standin.engine.operators import STRING_LIMIT, family
from mctm_replica.standin.engine.typed import Typed


def _grown_string(sql: str, args: list[Decl | None], longest: int | None = None) -> Typed:
    """A string function whose result may outgrow its input (REPLACE, STUFF, REPLICATE):
    SQL Server types it nvarchar if any argument is, (max) when the string is (max), else
    nvarchar(4000) / varchar(8000), cutting longer results there (not needed when the
    result is known to be at most ``longest`` characters, within the limit)."""
    kind = "nvarchar" if any(d is not None and d.type in UNICODE_TYPES for d in args) else "varchar"
    if args[0] is not None and args[0].length == -1:
        return Typed(sql, Decl(kind, length=-1))
    limit = STRING_LIMIT[kind]
    # only nvarchar counts characters on both sides; a varchar limit counts code page bytes
    if kind == "nvarchar" and longest is not None and longest <= limit:
        return Typed(sql, Decl(kind, length=limit), longest=longest)
    return Typed(f"left({sql}, {limit})", Decl(kind, length=limit))


def longest_chars(t: Typed) -> int | None:
    """The most characters string expression ``t`` can hold, if known."""
    if t.longest is not None:
        return t.longest
    return t.decl.length if t.decl is not None and t.decl.length is not None and t.decl.length > 0 else None


def _replaced_longest(args: list[Typed]) -> int | None:
    """The longest REPLACE(s, p, r) can return: s itself when r is empty (nothing grows),
    else each whole p in s grown to r, for constant p and r."""
    n = longest_chars(args[0])
    p, r = (a.const if a.is_const and isinstance(a.const, str) else None for a in args[1:])
    if n is None or r is None:
        return None
    if r == "":
        return n
    if not p:
        return None
    return n + (n // len(p)) * max(0, len(r) - len(p))


class StringsMixin:
    def _grown(self, node, scope, string_args: tuple[str, ...], bound=None) -> Typed:
        """``node`` typed by :func:`_grown_string` from its string arguments' declarations;
        ``bound(args)`` may give the most characters the result can have."""
        args = [self.expr(node.args[k].copy(), scope) for k in string_args]
        longest = bound(args) if bound is not None else None
        return _grown_string(self.generic(node, scope).sql, [a.decl for a in args], longest)

    def x_Left(self, node, scope):
        """LEFT/RIGHT keep a varchar or nvarchar argument's type; another type is converted to
        varchar(max) first, as SQL Server converts it implicitly."""
        if family(self.expr(node.this.copy(), scope).decl) != "str":
            node.set("this", exp.cast(node.this, exp.DataType.build("TEXT")))
        return self.generic(node, scope)

    x_Right = x_Left

    def x_Replace(self, node, scope):
        return self._grown(node, scope, ("this", "expression", "replacement"), _replaced_longest)

    def x_Stuff(self, node, scope):
        return self._grown(node, scope, ("this", "expression"))

    def x_Repeat(self, node, scope):  # REPLICATE
        return self._grown(node, scope, ("this",))
