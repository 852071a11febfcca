"""Computed columns: ``name AS expression [PERSISTED]`` in CREATE TABLE.

The expression is typed and translated like any T-SQL expression over the
table's other columns and stored as a DuckDB generated (virtual) column, so
every read computes it. Its T-SQL text is kept for ``sys.computed_columns``
in the form SQL Server stores (``([a]*(2))``). PERSISTED is recorded, not
materialized (results are the same).
"""

from __future__ import annotations

import re

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.decl import Decl, storage_type
from mctm_replica.standin.engine.typed import Scope, Source

_OPS = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%",
        exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_ALIAS = "__cc"
# The stand-in's session-local DuckDB helper macros (convert.py MACROS) start with "__": a stored
# generated column must not depend on them.
_SESSION_MACRO = re.compile(r"\b__\w+\(")


def computed_constraint(item: exp.ColumnDef) -> exp.ComputedColumnConstraint | None:
    for c in item.args.get("constraints") or []:
        if isinstance(c.args.get("kind"), exp.ComputedColumnConstraint):
            return c.args["kind"]
    return None


def definition_text(e: exp.Expression) -> str:
    """SQL Server's stored text of an expression (computed column, index filter): [col], (2), 'x', N'x',
    operators without spaces, lower-case calls, IN as ORs."""
    if isinstance(e, exp.Paren):
        inner = definition_text(e.this)
        # (0) is already how a constant is stored: a script of stored text reads back unchanged
        return inner if isinstance(e.this, (exp.Literal, exp.Neg, exp.Paren)) and inner.startswith("(") \
            else f"({inner})"
    if isinstance(e, exp.Column):
        return "[" + e.name.replace("]", "]]") + "]"
    if isinstance(e, exp.National):
        return "N'" + e.name.replace("'", "''") + "'"
    if isinstance(e, exp.Literal):
        return "'" + e.name.replace("'", "''") + "'" if e.is_string else f"({e.name})"
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal):
        return f"(-{e.this.name})"
    if isinstance(e, exp.Not) and isinstance(e.this, exp.Is):
        return f"{definition_text(e.this.this)} IS NOT NULL"
    if isinstance(e, exp.Is):
        return f"{definition_text(e.this)} IS NULL"
    if isinstance(e, (exp.And, exp.Or)):
        return f"{definition_text(e.this)} {'AND' if isinstance(e, exp.And) else 'OR'} {definition_text(e.expression)}"
    if isinstance(e, exp.In) and not e.args.get("query"):  # SQL Server stores IN as ORs of =
        col = definition_text(e.this)
        ors = " OR ".join(f"{col}={definition_text(v)}" for v in e.expressions)
        # Inside AND or NOT the ORs keep the IN's meaning only in parentheses, as SQL Server writes them.
        return f"({ors})" if len(e.expressions) > 1 and isinstance(e.parent, (exp.And, exp.Not)) else ors
    if type(e) in _OPS:
        return f"{definition_text(e.this)}{_OPS[type(e)]}{definition_text(e.expression)}"
    if isinstance(e, exp.Anonymous) or (isinstance(e, exp.Func) and not isinstance(e, exp.Cast)):
        args = [a for a in ([e.this] if e.args.get("this") is not None and not isinstance(e, exp.Anonymous) else [])
                + list(e.expressions)]
        name = e.name if isinstance(e, exp.Anonymous) else e.sql_name()
        return f"{name.lower()}(" + ",".join(definition_text(a) for a in args) + ")"
    return e.sql(dialect="tsql", identify=True)  # other forms: sqlglot's text (README "Known differences")


def translate(session, table: str, regular: list[tuple[str, Decl, bool]], name: str,
              node: exp.ComputedColumnConstraint) -> tuple[Decl, str, str, bool]:
    """(declared type, DuckDB expression, SQL Server definition text, persisted) of one computed column.
    ``regular`` are the table's other columns: (name, declaration, nullable)."""
    from mctm_replica.standin.engine.query import unsupported
    from mctm_replica.standin.engine.translate import Translator

    tr = Translator(session, {})
    src = Source(_ALIAS, [n for n, _, _ in regular], [d for _, d, _ in regular], [nl for _, _, nl in regular],
                 [False] * len(regular), match_names=(_ALIAS, table.lower()))
    for col in node.this.find_all(exp.Column):
        if col.table and col.table.lower() != table.lower():
            raise SqlError(4104, f'The multi-part identifier "{col.table}.{col.name}" could not be bound.')
        if src.find(col.name) is None:
            raise SqlError(207, f"Invalid column name '{col.name}'.")
    body = node.this
    while isinstance(body, exp.Paren):  # AS (a * b) is stored like AS a * b
        body = body.this
    definition = "(" + definition_text(body) + ")"  # before translating: translation rewrites the tree
    typed = tr.expr(node.this.copy(), Scope(sources=[src]))
    sql = typed.sql.replace(f'"{_ALIAS}".', "")
    if tr.bound or _SESSION_MACRO.search(sql):
        raise unsupported(f"the computed column expression of '{name}' ({node.this.sql(dialect='tsql')})")
    decl = typed.decl or _duckdb_type(session, regular, sql)
    return decl, f"CAST(({sql}) AS {storage_type(decl)})", definition, bool(node.args.get("persisted"))


def _duckdb_type(session, regular: list[tuple[str, Decl, bool]], sql: str) -> Decl:
    """The type DuckDB gives an expression the translator left untyped (e.g. decimal arithmetic)."""
    from mctm_replica.standin.engine.catalog import quote
    from mctm_replica.standin.engine.decl import decl_from_duckdb

    cols = ", ".join(f"CAST(NULL AS {storage_type(d)}) AS {quote(n)}" for n, d, _ in regular) or "1 AS __x"
    desc = session.cur.execute(f"DESCRIBE SELECT {sql} FROM (SELECT {cols})").fetchall()
    return decl_from_duckdb(str(desc[0][1]))


def check_no_dependents(info, column, verb: str) -> None:
    """ALTER COLUMN / DROP COLUMN of a column a computed column uses fails (5074), as does ALTER COLUMN
    of a computed column itself (4928)."""
    if column.computed is not None and verb == "ALTER COLUMN":
        raise SqlError(4928, f"Cannot alter column '{column.name}' because it is 'COMPUTED'.")
    ref = "[" + column.name.replace("]", "]]").lower() + "]"
    for c in info.columns:
        if c.computed is not None and c is not column and ref in c.computed[0].lower():
            raise SqlError(5074, f"The column '{c.name}' is dependent on column '{column.name}'.")


def not_modifiable(column: str) -> SqlError:
    return SqlError(271, f'The column "{column}" cannot be modified because it is either a computed column or is '
                         "the result of a UNION operator.")
