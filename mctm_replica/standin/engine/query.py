"""SELECT (and UNION, CTE, subquery) translation with name resolution.

Resolves every FROM item against the declared catalog so each output column
gets its SQL Server type, expands ``*`` into explicit columns, and raises
SQL Server's errors (208, 207, 209, 4104) for names that do not resolve.
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog import quote
from mctm_replica.standin.engine.typed import Scope, Source, Typed

_SET_OPS = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}


def unsupported(feature: str) -> SqlError:
    return SqlError(50000, f"The SQL Server stand-in does not support {feature}.")


def resolve_column(scope: Scope, name: str, qualifier: str) -> tuple[Source, int] | None:
    s: Scope | None = scope
    q = qualifier.lower()
    while s is not None:
        matches = []
        qualified_seen = False
        for src in s.sources:
            if q and q not in src.match_names:
                continue
            qualified_seen = True
            i = src.find(name)
            if i is not None:
                matches.append((src, i))
        if len(matches) > 1:
            raise SqlError(209, f"Ambiguous column name '{name}'.")
        if matches:
            return matches[0]
        if q and qualified_seen:
            return None
        s = s.parent
    if q:
        raise SqlError(4104, f'The multi-part identifier "{qualifier}.{name}" could not be bound.')
    return None


def written_name(table: exp.Table) -> str:
    parts = [p.name for p in (table.args.get("catalog"), table.args.get("db"), table.this) if p is not None]
    return ".".join(parts)


def table_source(tr, table: exp.Table, scope: Scope) -> tuple[str, Source]:
    """SQL and Source for one table reference in FROM/JOIN."""
    from mctm_replica.standin.engine.sysviews import system_view

    name = table.name
    schema = table.text("db")
    catalog = table.text("catalog")
    alias = table.alias or name
    if isinstance(table.this, exp.Func) or not name:
        from mctm_replica.standin.engine.change_tracking import changetable_source, is_changetable

        if is_changetable(table.this):
            return changetable_source(tr, table, scope)
        from mctm_replica.standin.engine.sysviews import table_function

        fn = table.this
        built = table_function(tr.s, catalog, fn.name, list(fn.expressions)) if isinstance(fn, exp.Func) else None
        if built is None:
            raise unsupported("table-valued functions in FROM")
        sql, names, decls = built
        alias = table.alias or fn.name
        src = Source(alias, names, decls, [True] * len(names), [False] * len(names), match_names=(alias.lower(),))
        return f"({sql}) AS {quote(alias)}", src
    if schema.lower() in ("information_schema", "sys"):
        sql, names, decls = system_view(tr.s, catalog, schema.lower(), name.lower(), written_name(table))
        src = Source(alias, names, decls, [True] * len(names), [False] * len(names),
                     match_names=(alias.lower(),) + ((name.lower(),) if not table.alias else ()))
        return f"({sql}) AS {quote(alias)}", src
    if not schema and not catalog:
        cte = scope.cte(name)
        if cte is not None:
            src = Source(alias, cte.names, cte.decls, cte.nullables, cte.identities,
                         match_names=(alias.lower(),))
            return f"{quote(name)} AS {quote(alias)}", src
    info = tr.s.lookup_table(catalog, schema, name)
    if info is None:
        raise SqlError(208, f"Invalid object name '{written_name(table)}'.")
    match = (alias.lower(),) if table.alias else (name.lower(), f"{(schema or 'dbo').lower()}.{name.lower()}")
    src = Source(alias, [c.name for c in info.columns], [c.decl for c in info.columns],
                 [c.nullable for c in info.columns], [c.identity is not None for c in info.columns],
                 table=info, match_names=match)
    return f"{info.qualified} AS {quote(alias)}", src


def from_item(tr, item: exp.Expression, scope: Scope) -> tuple[str, Source]:
    if isinstance(item, exp.Table):
        return table_source(tr, item, scope)
    if isinstance(item, exp.Subquery):
        alias = item.alias
        if not alias:
            raise SqlError(102, "Incorrect syntax near ')'.")
        sql, outs = translate_query(tr, item.this, Scope(parent=scope.parent, ctes=scope.ctes))
        cols = [c.name for c in item.args["alias"].columns] if item.args["alias"].columns else [n for n, _ in outs]
        src = Source(alias, cols, [t.decl for _, t in outs], [t.nullable for _, t in outs],
                     [t.identity for _, t in outs], match_names=(alias.lower(),))
        col_sql = "(" + ", ".join(quote(c) for c in cols) + ")"
        return f"({sql}) AS {quote(alias)}{col_sql}", src
    if isinstance(item, exp.Values):
        return values_source(tr, item, scope)
    raise unsupported(f"{type(item).__name__} in FROM")


def values_source(tr, item: exp.Values, scope: Scope) -> tuple[str, Source]:
    """``(VALUES (...), ...) AS alias(cols)``: typed from the first row, later rows converted to it."""
    alias = item.alias
    if not alias:
        raise SqlError(102, "Incorrect syntax near ')'.")
    cols = [c.name for c in item.args["alias"].columns]
    rows = [t.expressions if isinstance(t, exp.Tuple) else [t] for t in item.expressions]
    typed = [[tr.expr(v, scope) for v in r] for r in rows]
    width = len(typed[0])
    if any(len(r) != width for r in typed) or (cols and len(cols) != width):
        raise SqlError(10709, "The number of columns for each row in a table value constructor must be the same.")
    decls = []
    for k in range(width):
        d = next((r[k].decl for r in typed if r[k].decl is not None), None)
        if d is not None and d.type in ("varchar", "nvarchar", "varbinary"):
            longest = max((r[k].decl.length or 1) for r in typed if r[k].decl is not None and r[k].decl.type == d.type)
            d = type(d)(d.type, length=longest)
        decls.append(d)
    body = ", ".join("(" + ", ".join(tr.convert(t, decls[k]).sql if decls[k] is not None and t.decl != decls[k]
                                     else t.sql for k, t in enumerate(r)) + ")" for r in typed)
    names = cols or [f"column{k + 1}" for k in range(width)]
    src = Source(alias, names, decls, [True] * width, [False] * width, match_names=(alias.lower(),))
    return f"(VALUES {body}) AS {quote(alias)}({', '.join(quote(n) for n in names)})", src


def _limit(tr, node: exp.Expression, scope: Scope) -> tuple[str, str]:
    limit_sql = ""
    offset_sql = ""
    lim = node.args.get("limit")
    if lim is not None:
        opts = lim.args.get("limit_options")
        if opts is not None and opts.args.get("percent"):
            raise unsupported("TOP ... PERCENT")
        if opts is not None and opts.args.get("with_ties"):
            raise unsupported("TOP ... WITH TIES")
        count = lim.args.get("count") if isinstance(lim, exp.Fetch) else lim.expression
        t = tr.expr(count, scope)
        limit_sql = f" LIMIT {t.sql}"
    off = node.args.get("offset")
    if off is not None:
        offset_sql = f" OFFSET {tr.expr(off.expression, scope).sql}"
    return limit_sql, offset_sql


def _order(tr, node: exp.Expression, scope: Scope) -> str:
    order = node.args.get("order")
    if order is None:
        return ""
    parts = []
    for o in order.expressions:
        e = o.this
        if isinstance(e, exp.Literal) and not e.is_string:
            sql = e.name
        else:
            sql = tr.expr(e, scope).sql
        desc = bool(o.args.get("desc"))
        parts.append(f"{sql} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}")
    return " ORDER BY " + ", ".join(parts)


def _unqualified_order(node: exp.Expression, outs: list[tuple[str, Typed]]) -> exp.Expression:
    """ORDER BY of a UNION may name a first-query column with its table (``t.a``); it means output ``a``."""
    order = node.args.get("order")
    names = {n.lower() for n, _ in outs}
    if order is None or not any(c.table and c.name.lower() in names for c in order.find_all(exp.Column)):
        return node
    node = node.copy()
    for c in list(node.args["order"].find_all(exp.Column)):
        if c.table and c.name.lower() in names:
            c.replace(exp.column(c.args["this"].copy()))
    return node


def translate_query(tr, node: exp.Expression, scope: Scope) -> tuple[str, list[tuple[str, Typed]]]:
    """DuckDB SQL for a query expression and its (name, Typed) outputs."""
    if isinstance(node, exp.Subquery):
        return translate_query(tr, node.this, scope)
    ctes_sql = ""
    with_ = node.args.get("with_") or node.args.get("with")
    if with_ is not None:
        if with_.args.get("recursive"):
            raise unsupported("recursive common table expressions")
        parts = []
        for cte in with_.expressions:
            sql, outs = translate_query(tr, cte.this, Scope(parent=scope.parent, ctes=dict(scope.ctes)))
            alias = cte.args["alias"]
            cols = [c.name for c in alias.columns] if alias.columns else [n for n, _ in outs]
            scope.ctes[alias.name.lower()] = Source(alias.name, cols, [t.decl for _, t in outs],
                                                    [t.nullable for _, t in outs], [t.identity for _, t in outs])
            parts.append(f"{quote(alias.name)}({', '.join(quote(c) for c in cols)}) AS ({sql})")
        ctes_sql = "WITH " + ", ".join(parts) + " "
    if type(node) in _SET_OPS:
        lsql, louts = translate_query(tr, node.left, Scope(parent=scope.parent, ctes=scope.ctes))
        rsql, _ = translate_query(tr, node.right, Scope(parent=scope.parent, ctes=scope.ctes))
        op = _SET_OPS[type(node)]
        if not node.args.get("distinct"):
            op += " ALL"
        scope.outputs = louts
        outer = Scope(parent=scope.parent, ctes=scope.ctes, outputs=louts)
        order = _order(tr, _unqualified_order(node, louts), outer)
        limit, offset = _limit(tr, node, outer)
        return f"{ctes_sql}SELECT * FROM (({lsql}) {op} ({rsql})){order}{limit}{offset}", louts
    if not isinstance(node, exp.Select):
        raise unsupported(f"{type(node).__name__} as a query")
    if node.args.get("into") is not None:
        raise unsupported("SELECT ... INTO")
    sources: list[Source] = []
    scope.sources = sources
    from_sql = ""
    frm = node.args.get("from_") or node.args.get("from")
    joins = list(node.args.get("joins") or [])
    if frm is not None:
        item = frm.this
        joins = list(item.args.get("joins") or []) + joins if isinstance(item, exp.Table) else joins
        sql, src = from_item(tr, item, scope)
        sources.append(src)
        from_sql = " FROM " + sql
        join_parts = []
        for j in joins:
            jsql, jsrc = from_item(tr, j.this, scope)
            sources.append(jsrc)
            join_parts.append((j, jsql))
        for j, jsql in join_parts:
            side = j.text("side").upper()
            kind = j.text("kind").upper()
            if kind in ("APPLY",) or j.args.get("method"):
                raise unsupported("APPLY")
            on = j.args.get("on")
            using = j.args.get("using")
            if on is not None:
                cond = tr.expr(on, scope).sql
                from_sql += f" {side} {'INNER' if kind in ('', 'INNER') and not side else kind} JOIN {jsql} ON {cond}"
            elif using:
                from_sql += f" {side} JOIN {jsql} USING ({', '.join(quote(u.name) for u in using)})"
            else:
                from_sql += f" CROSS JOIN {jsql}"
    outs: list[tuple[str, Typed]] = []
    proj: list[str] = []
    for i, e in enumerate(node.expressions):
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            qual = e.table.lower() if isinstance(e, exp.Column) else ""
            chosen = [s for s in sources if not qual or qual in s.match_names]
            if qual and not chosen:
                raise SqlError(107, f"The column prefix '{e.table}' does not match with a table name or alias name used in the query.")
            if not sources:
                raise SqlError(263, "Must specify table to select from.")
            for src in chosen:
                for k, n in enumerate(src.names):
                    t = Typed(f"{quote(src.alias)}.{quote(n)}", src.decls[k], nullable=src.nullables[k],
                              identity=bool(src.identities and src.identities[k]))
                    outs.append((n, t))
                    proj.append(f"{t.sql} AS {quote(n)}")
            continue
        name = ""
        inner = e
        if isinstance(e, exp.Alias):
            name, inner = e.alias, e.this
        elif isinstance(e, exp.EQ) and isinstance(e.this, exp.Column) and not e.this.table:
            name, inner = e.this.name, e.expression  # T-SQL "SELECT alias = expr"
        elif isinstance(e, exp.Column):
            name = e.name
        t = tr.expr(inner, scope)
        outs.append((name, t))
        proj.append(f"{t.sql} AS {quote(name or f'__c{i}')}")
    scope.outputs = outs
    distinct = " DISTINCT" if node.args.get("distinct") else ""
    where = node.args.get("where")
    where_sql = f" WHERE {tr.expr(where.this, scope).sql}" if where is not None else ""
    group = node.args.get("group")
    group_sql = ""
    if group is not None:
        group_sql = " GROUP BY " + ", ".join(tr.expr(g, scope).sql for g in group.expressions)
    having = node.args.get("having")
    having_sql = f" HAVING {tr.expr(having.this, scope).sql}" if having is not None else ""
    order_sql = _order(tr, node, scope)
    limit_sql, offset_sql = _limit(tr, node, scope)
    sql = (f"{ctes_sql}SELECT{distinct} {', '.join(proj)}{from_sql}{where_sql}{group_sql}{having_sql}"
           f"{order_sql}{limit_sql}{offset_sql}")
    return sql, outs
