"""INSERT, UPDATE, DELETE and TRUNCATE with SQL Server's assignment rules.

INSERT always writes every storage column: supplied values converted to the
declared type (with truncation and range errors), IDENTITY values generated
from the current maximum, rowversion from a per-database sequence, DEFAULTs
translated like any expression.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import change_tracking as ct
from mctm_replica.standin.engine.catalog import ColumnInfo, TableInfo, quote
from mctm_replica.standin.engine.computed import not_modifiable
from mctm_replica.standin.engine.dialect import StandinTSQL
from mctm_replica.standin.engine.errors import map_error
from mctm_replica.standin.engine.query import from_item, translate_query, unsupported, written_name
from mctm_replica.standin.engine.typed import Scope, Source, Typed


def _table(session, table: exp.Table) -> TableInfo:
    info = session.lookup_table(table.text("catalog"), table.text("db"), table.name)
    if info is None:
        raise SqlError(208, f"Invalid object name '{written_name(table)}'.")
    if info.kind == "VIEW":
        raise unsupported("modifying data through a view")
    return info


def _rv_seq(info: TableInfo) -> str:
    return f"nextval('{quote(info.alias)}.\"__standin\".\"rowversion\"')"


def _default(tr, col: ColumnInfo, info: TableInfo, assign: dict) -> str:
    if col.decl.type == "rowversion":
        return _rv_seq(info)
    if col.default is None:
        return "NULL"
    node = sqlglot.parse_one(f"SELECT {col.default}", read=StandinTSQL).expressions[0]
    return tr.convert(tr.expr(node, Scope()), col.decl, assign=assign).sql


def _assign_ctx(info: TableInfo, col: ColumnInfo) -> dict:
    return {"table": f"{info.db}.{info.schema}.{info.name}", "column": col.name}


def _execute(session, sql: str, tr, info: TableInfo, verb: str, shape=None) -> int:
    writes_rowversion = verb in ("INSERT", "UPDATE") and any(c.decl.type == "rowversion" for c in info.columns)
    if writes_rowversion:
        # Every rowversion this statement allocates is above this one, and stays
        # uncommitted until the statement (autocommit) or its transaction ends.
        floor = session.cur.execute(f"SELECT {_rv_seq(info)}").fetchone()[0]
        session.engine.note_rowversion(session, info.alias, int(floor))
    try:
        track = ct.tracks(session, info)  # Change Tracking records this statement's keys
        if track is not None:
            return ct.run_tracked(session, sql, tr.params_for(sql), info, verb, track, shape)
        row = session.cur.execute(sql, tr.params_for(sql)).fetchone()
    except Exception as e:  # noqa: BLE001 - every DuckDB error is mapped
        import duckdb

        if isinstance(e, duckdb.Error):
            raise map_error(e, {"table": info, "verb": verb}) from e
        raise
    finally:
        if writes_rowversion and session.trancount == 0:
            session.engine.rowversions_committed(session)
    return int(row[0]) if row else 0


def insert(session, node: exp.Insert, tr) -> int:
    target = node.this
    listed: list[str] | None = None
    if isinstance(target, exp.Schema):
        listed = [c.name for c in target.expressions]
        target = target.this
    if node.args.get("returning") is not None or node.args.get("output") is not None:
        raise unsupported("the OUTPUT clause")
    info = _table(session, target)
    ident_on = info.qualified.lower() in session.identity_insert
    if listed is None:
        cols = [c for c in info.columns
                if (c.identity is None or ident_on) and c.decl.type != "rowversion" and c.computed is None]
        if ident_on and any(c.identity for c in info.columns):
            raise SqlError(8101, f"An explicit value for the identity column in table '{info.schema}.{info.name}' can "
                                 "only be specified when a column list is used and IDENTITY_INSERT is ON.")
    else:
        cols = []
        for n in listed:
            c = info.column(n)
            if c is None:
                raise SqlError(207, f"Invalid column name '{n}'.")
            if c.computed is not None:
                raise not_modifiable(c.name)
            if c.identity is not None and not ident_on:
                raise SqlError(544, f"Cannot insert explicit value for identity column in table '{info.name}' "
                                    "when IDENTITY_INSERT is set to OFF.")
            if c.decl.type == "rowversion":
                raise SqlError(273, "Cannot insert an explicit value into a timestamp column. Use INSERT with a "
                                    "column list to exclude the timestamp column, or insert a DEFAULT into the timestamp column.")
            cols.append(c)
    source = node.expression
    provided: dict[str, str] = {}
    from_sql = ""
    if node.args.get("default") or source is None:
        pass
    elif isinstance(source, exp.Values):
        rows_sql = []
        for tup in source.expressions:
            values = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            if listed is None and len(values) != len(cols):
                raise SqlError(213, "Column name or number of supplied values does not match table definition.")
            if len(values) > len(cols):
                raise SqlError(110, "There are fewer columns in the INSERT statement than values specified in the "
                                    "VALUES clause. The number of values in the VALUES clause must match the number "
                                    "of columns specified in the INSERT statement.", severity=15)
            if len(values) < len(cols):
                raise SqlError(109, "There are more columns in the INSERT statement than values specified in the "
                                    "VALUES clause. The number of values in the VALUES clause must match the number "
                                    "of columns specified in the INSERT statement.", severity=15)
            parts = []
            for v, c in zip(values, cols):
                ctx = _assign_ctx(info, c)
                if isinstance(v, (exp.Var, exp.Column)) and v.name.upper() == "DEFAULT" and not (
                        isinstance(v, exp.Column) and v.this.quoted):
                    parts.append(_default(tr, c, info, ctx))
                else:
                    parts.append(tr.convert(tr.expr(v, Scope()), c.decl, assign=ctx).sql)
            rows_sql.append("(" + ", ".join(parts) + ")")
        names = ", ".join(f'"v{i}"' for i in range(len(cols)))
        from_sql = f" FROM (VALUES {', '.join(rows_sql)}) AS __v({names})"
        provided = {c.name.lower(): f'__v."v{i}"' for i, c in enumerate(cols)}
    elif isinstance(source, (exp.Select, exp.Union, exp.Subquery)):
        sql, outs = translate_query(tr, source, Scope())
        if len(outs) != len(cols):
            raise SqlError(121 if len(outs) > len(cols) else 120,
                           "The select list for the INSERT statement contains "
                           f"{'more' if len(outs) > len(cols) else 'fewer'} items than the insert list. The number of "
                           "SELECT values must match the number of INSERT columns.", severity=15)
        names = ", ".join(f'"v{i}"' for i in range(len(cols)))
        from_sql = f" FROM ({sql}) AS __v({names})"
        for i, (c, (_, t)) in enumerate(zip(cols, outs)):
            provided[c.name.lower()] = tr.convert(Typed(f'__v."v{i}"', t.decl), c.decl, assign=_assign_ctx(info, c)).sql
    else:
        raise unsupported(f"INSERT from {type(source).__name__}")
    exprs = []
    identity_col = None
    stored = [c for c in info.columns if c.computed is None]  # computed columns are DuckDB generated columns
    for c in stored:
        if c.name.lower() in provided:
            exprs.append(provided[c.name.lower()])
        elif c.identity is not None:
            seed, inc = c.identity
            identity_col = c
            agg = "max" if inc > 0 else "min"
            exprs.append(f"(SELECT coalesce({agg}({quote(c.name)}), {seed - inc}) FROM {info.qualified}) "
                         f"+ {inc} * row_number() OVER ()")
        else:
            exprs.append(_default(tr, c, info, _assign_ctx(info, c)))
    col_list = ", ".join(quote(c.name) for c in stored)
    sql = f"INSERT INTO {info.qualified} ({col_list}) SELECT {', '.join(exprs)}{from_sql}"
    count = _execute(session, sql, tr, info, "INSERT")
    ident = identity_col or next((c for c in info.columns if c.identity is not None), None)
    if ident is not None and count:
        agg = "max" if ident.identity[1] > 0 else "min"
        session.last_identity = session.cur.execute(f"SELECT {agg}({quote(ident.name)}) FROM {info.qualified}").fetchone()[0]
    return count


def _target_source(info: TableInfo, alias: str | None) -> Source:
    a = alias or info.name
    match = (a.lower(),) if alias else (info.name.lower(), f"{info.schema.lower()}.{info.name.lower()}")
    return Source(a, [c.name for c in info.columns], [c.decl for c in info.columns],
                  [c.nullable for c in info.columns], [c.identity is not None for c in info.columns],
                  table=info, match_names=match)


def update(session, node: exp.Update, tr) -> int:
    target = node.this
    info = _table(session, target)
    alias = target.alias or None
    scope = Scope(sources=[_target_source(info, alias)])
    from_sql = ""
    frm = node.args.get("from_") or node.args.get("from")
    if frm is not None:
        items = [frm.this] + list(frm.this.args.get("joins") or []) + list(node.args.get("joins") or [])
        parts = []
        for it in items:
            item = it.this if isinstance(it, exp.Join) else it
            if isinstance(item, exp.Table) and item.name.lower() in (info.name.lower(), (alias or "").lower()):
                raise unsupported("UPDATE ... FROM naming the target table again")
            if isinstance(it, exp.Join) and it.args.get("on") is not None:
                raise unsupported("UPDATE ... FROM with JOIN ... ON (list the tables and use WHERE)")
            sql, src = from_item(tr, item, scope)
            scope.sources.append(src)
            parts.append(sql)
        from_sql = " FROM " + ", ".join(parts)
    sets = []
    for e in node.expressions:
        if not isinstance(e, exp.EQ) or not isinstance(e.this, exp.Column):
            raise unsupported(f"SET {e.sql(dialect='tsql')}")
        c = info.column(e.this.name)
        if c is None:
            raise SqlError(207, f"Invalid column name '{e.this.name}'.")
        if c.identity is not None:
            raise SqlError(8102, f"Cannot update identity column '{c.name}'.")
        if c.computed is not None:
            raise not_modifiable(c.name)
        if c.decl.type == "rowversion":
            raise SqlError(272, "Cannot update a timestamp column.")
        v = e.expression
        if isinstance(v, (exp.Var, exp.Column)) and v.name.upper() == "DEFAULT":
            val = _default(tr, c, info, _assign_ctx(info, c))
        else:
            val = tr.convert(tr.expr(v, scope), c.decl, assign=_assign_ctx(info, c)).sql
        sets.append(f"{quote(c.name)} = {val}")
    for c in info.columns:
        if c.decl.type == "rowversion":
            sets.append(f"{quote(c.name)} = {_rv_seq(info)}")
    where = node.args.get("where")
    where_sql = f" WHERE {tr.expr(where.this, scope).sql}" if where is not None else ""
    a = alias or info.name
    sql = f"UPDATE {info.qualified} AS {quote(a)} SET {', '.join(sets)}{from_sql}{where_sql}"
    set_names = [e.this.name for e in node.expressions] + [c.name for c in info.columns if c.decl.type == "rowversion"]
    shape = ct.UpdateShape(set_names, f"{info.qualified} AS {quote(a)}{from_sql}{where_sql}", a)
    return _execute(session, sql, tr, info, "UPDATE", shape)


def delete(session, node: exp.Delete, tr) -> int:
    limit = None
    tables = node.args.get("tables") or []
    if tables:
        t0 = tables[0]
        if isinstance(t0, exp.Table) and t0.name.upper() == "TOP" and t0.args.get("alias") is not None:
            cols = t0.args["alias"].columns
            limit = int(cols[0].name) if cols else None
        else:
            raise unsupported("DELETE with a second FROM clause")
    target = node.this
    info = _table(session, target)
    alias = target.alias or None
    scope = Scope(sources=[_target_source(info, alias)])
    if node.args.get("using"):
        raise unsupported("DELETE ... FROM with joins")
    where = node.args.get("where")
    where_sql = f" WHERE {tr.expr(where.this, scope).sql}" if where is not None else ""
    a = alias or info.name
    if limit is not None:
        sql = (f"DELETE FROM {info.qualified} WHERE rowid IN (SELECT rowid FROM {info.qualified} AS {quote(a)}"
               f"{where_sql} LIMIT {limit})")
    else:
        sql = f"DELETE FROM {info.qualified} AS {quote(a)}{where_sql}"
    return _execute(session, sql, tr, info, "DELETE")


def truncate(session, node: exp.TruncateTable, tr) -> int:
    total = 0
    for t in node.expressions:
        info = _table(session, t)
        total += _execute(session, f"DELETE FROM {info.qualified}", tr, info, "TRUNCATE")
    return total


def delete_top(session, n: int, rest: str) -> int:
    raise unsupported("DELETE TOP in this form")


def run(session, node: exp.Expression, tr) -> int:
    if isinstance(node, exp.Insert):
        return insert(session, node, tr)
    if isinstance(node, exp.Update):
        return update(session, node, tr)
    if isinstance(node, exp.Delete):
        return delete(session, node, tr)
    return truncate(session, node, tr)


# Rows per INSERT statement in bulk_insert: DuckDB binds a few thousand
# parameters per statement cheaply; 500 rows x ~12 columns stays well inside that.
BULK_ROWS = 500


def bulk_insert(session, table: str, columns: list[str], rows: list[tuple]) -> int:
    """Insert rows already in the contract's representations (used by demo data loading).

    Skips T-SQL translation: values must match the declared types exactly;
    rowversion columns get fresh values, omitted columns NULL.
    """
    tbl = sqlglot.parse_one(f"SELECT 1 FROM {table}", read=StandinTSQL).find(exp.Table)
    info = _table(session, tbl)
    cols = []
    for n in columns:
        c = info.column(n)
        if c is None:
            raise SqlError(207, f"Invalid column name '{n}'.")
        if c.computed is not None:
            raise not_modifiable(c.name)
        cols.append(c)
    from mctm_replica.standin.engine.decl import storage_type

    if ct.tracks(session, info) is not None:  # its keys would not be recorded
        raise unsupported("bulk loading a change-tracked table (enable CHANGE_TRACKING after loading)")
    dto_idx = {i for i, c in enumerate(cols) if c.decl.type == "datetimeoffset"}
    given = {c.name.lower() for c in cols}
    extra_cols = []
    for c in info.columns:
        if c.name.lower() in given:
            continue
        if c.decl.type == "rowversion":
            extra_cols.append((c, _rv_seq(info)))
        elif c.identity is not None:
            seed, inc = c.identity
            extra_cols.append((c, f"(SELECT coalesce({'max' if inc > 0 else 'min'}({quote(c.name)}), {seed - inc}) "
                                  f"FROM {info.qualified}) + {inc} * row_number() OVER ()"))
    names = [quote(c.name) for c in cols] + [quote(c.name) for c, _ in extra_cols]
    # Values travel as text columns of a registered DataFrame and are CAST in SQL:
    # DuckDB binds large VALUES lists and parameter lists slowly, DataFrames fast.
    import pandas as pd

    from mctm_replica.standin.engine import collations
    from mctm_replica.standin.engine.decl import CODE_PAGE_TYPES

    data = {}
    for i, c in enumerate(cols):
        values = [None if r[i] is None else _bulk_text(r[i], i in dto_idx) for r in rows]
        if c.decl.type in CODE_PAGE_TYPES:  # stored in the code page, '?' where it has no character
            coll = collations.of(c.decl.collation or session.engine.database_collation(session.database).name)
            values = [None if v is None else coll.fit(v) for v in values]
        data[f"c{i}"] = values
    frame = pd.DataFrame(data, dtype=object)
    sel = []
    for i, c in enumerate(cols):
        st = storage_type(c.decl)
        sel.append(f"from_hex(c{i})" if st == "BLOB" else f"CAST(c{i} AS {st})")
    sel += [e for _, e in extra_cols]
    view = f"__bulk_{id(frame)}"
    session.cur.register(view, frame)
    try:
        session.cur.execute(f"INSERT INTO {info.qualified} ({', '.join(names)}) SELECT {', '.join(sel)} FROM {view}")
    except Exception as e:  # noqa: BLE001
        import duckdb

        if isinstance(e, duckdb.Error):
            raise map_error(e, {"table": info, "verb": "INSERT"}) from e
        raise
    finally:
        session.cur.unregister(view)
    return len(rows)


def _bulk_text(v: object, is_dto: bool) -> str:
    if is_dto:
        from mctm_replica.standin.engine.values import dto_encode

        return str(dto_encode(*v))  # type: ignore[misc]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return v.hex()
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if isinstance(v, __import__("datetime").datetime) else v.isoformat()
    return str(v)
