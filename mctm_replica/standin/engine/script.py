"""Run a split batch (see ``batch.py``): statements, SET, IF ... ELSE, EXEC sp_executesql.

The whole batch is parsed before anything runs (a syntax error anywhere rejects it, as in
SQL Server); statements then run one at a time, lazily, through the session's ``_run``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlglot import exp

from mctm_replica.standin.contract import SqlError, StatementResult
from mctm_replica.standin.engine.batch import IfStmt, SetStmt, split_batch
from mctm_replica.standin.engine.decl import Decl, parse_decl
from mctm_replica.standin.engine.typed import Scope


@dataclass
class ParsedIf:
    condition: exp.Expression  # SELECT CASE WHEN <condition> THEN 1 ELSE 0 END
    then: list = field(default_factory=list)
    orelse: list = field(default_factory=list)


Parsed = exp.Expression | SetStmt | ParsedIf


def parse_script(session, sql: str) -> list[Parsed]:
    """The batch as statements parsed by ``session._parse_statement`` (one text each)."""
    return [_parse_node(session, n) for n in split_batch(sql)]


def _parse_node(session, node) -> Parsed:
    if isinstance(node, SetStmt):
        return node
    if isinstance(node, IfStmt):
        cond = session._parse_statement(f"SELECT CASE WHEN {node.condition} THEN 1 ELSE 0 END")
        return ParsedIf(cond, [_parse_node(session, n) for n in node.then],
                        [_parse_node(session, n) for n in node.orelse])
    return session._parse_statement(node.text, node.tokens, node.source)


def run_script(session, nodes: list[Parsed], params, declared) -> Iterator[StatementResult]:
    for node in nodes:
        if isinstance(node, SetStmt):
            if not node.options:
                raise SqlError(50000, "The SQL Server stand-in does not support variables "
                                      f"(statement '{node.text[:60]}').")
            for name in node.options:
                if name.startswith("standin_identity_insert_"):
                    session._identity_insert(node.value, name.endswith("_on"))
                else:
                    session._set_option(name, node.value.upper())
            yield session.done()
        elif isinstance(node, ParsedIf):
            branch = node.then if _truth(session, node.condition, params, declared) else node.orelse
            yield from run_script(session, branch, params, declared)
        elif isinstance(node, exp.ExecuteSql) and _proc_name(node) == "sp_executesql":
            yield from _executesql(session, node, params, declared)
        else:
            if isinstance(node, exp.Select) and any(
                    isinstance(e, exp.EQ) and isinstance(e.this, exp.Parameter) for e in node.expressions):
                # SELECT @v = expr assigns in T-SQL; as a comparison it would answer silently wrong.
                raise SqlError(50000, "The SQL Server stand-in does not support assigning variables "
                                      "(SELECT @variable = ...).")
            result = session._run(node, params, declared)
            if result is not None:
                yield result


def _truth(session, select: exp.Expression, params, declared) -> bool:
    from mctm_replica.standin.engine.query import translate_query
    from mctm_replica.standin.engine.translate import Translator

    tr = Translator(session, dict(params or {}), declared)
    sql, _outs = translate_query(tr, select, Scope())
    row = session.cur.execute(sql, tr.params_for(sql)).fetchone()
    return bool(row and row[0])


def _proc_name(node: exp.Expression) -> str:
    return node.this.name.lower() if isinstance(node.this, exp.Expression) else ""


def _executesql(session, node: exp.ExecuteSql, params, declared) -> Iterator[StatementResult]:
    """``EXEC sp_executesql N'stmt', N'@p int', @p = 1`` written in a batch."""
    from mctm_replica.standin.engine.translate import Translator

    tr = Translator(session, dict(params or {}), declared)
    named: dict[str, object] = {}
    positional: list[object] = []
    for arg in node.expressions:
        if isinstance(arg, exp.EQ) and isinstance(arg.this, exp.Parameter):
            named[arg.this.name.lower()] = _value(tr, arg.expression)
        elif named:
            raise SqlError(119, "Must pass parameter number 2 and subsequent parameters as "
                                "'@name = value'. After the form '@name = value' has been used, all "
                                "subsequent parameters must be passed in the form '@name = value'.")
        else:
            positional.append(_value(tr, arg))
    stmt = named.pop("stmt", positional.pop(0) if positional else None)
    decl_text = named.pop("params", positional.pop(0) if positional else None)
    if not isinstance(stmt, str):
        raise SqlError(214, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.", state=2)
    decls = parse_declarations(decl_text) if isinstance(decl_text, str) else {}
    names = list(decls)
    values = dict(zip(names, positional))
    values.update(named)
    inner_nodes = parse_script(session, stmt)
    inner_decls = {n: d for n, (d, _out) in decls.items()}
    missing = [n for n in names if n not in values]
    if missing:
        raise SqlError(8178, f"The parameterized query '({decl_text})' expects the parameter "
                             f"'@{missing[0]}', which was not supplied.")
    yield from run_script(session, inner_nodes, values, inner_decls)


def _value(tr, node: exp.Expression) -> object:
    t = tr.expr(node, Scope())
    if not t.is_const:
        raise SqlError(50000, "The SQL Server stand-in only supports constants and parameters as "
                              "arguments of EXEC sp_executesql.")
    return t.const


_SPLIT = re.compile(r",(?![^()]*\))")
_ONE = re.compile(r"^\s*@(\w+)\s+(.+?)(\s+(?:OUTPUT|OUT))?(?:\s*=\s*.*)?\s*$", re.I | re.S)


def parse_declarations(text: str) -> dict[str, tuple[Decl, bool]]:
    """``@P1 decimal(18,4), @P2 nvarchar(max) OUTPUT`` -> {'p1': (Decl, False), ...}."""
    out: dict[str, tuple[Decl, bool]] = {}
    for part in _SPLIT.split(text or ""):
        if not part.strip():
            continue
        m = _ONE.match(part)
        if m is None:
            raise SqlError(102, f"Incorrect syntax near '{part.strip()[:40]}'.", severity=15)
        try:
            d = parse_decl(m.group(2))
        except (ValueError, SqlError) as e:
            raise SqlError(2715, f"Column, parameter, or variable #{len(out) + 1}: Cannot find data "
                                 f"type {m.group(2).strip()}.", severity=16) from e
        out[m.group(1).lower()] = (d, m.group(3) is not None)
    return out

