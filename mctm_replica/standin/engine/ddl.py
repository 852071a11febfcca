"""CREATE/DROP for tables, views, schemas, indexes and databases (ALTER TABLE: ddl_alter.py).

Tables are created in DuckDB with storage types and their T-SQL declarations
written as JSON comments (see catalog.py); constraint names SQL Server would
generate (``PK__table__hex``) are recorded so errors and catalog views can
name them.
"""

from __future__ import annotations

import json
import zlib

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import change_tracking as ct
from mctm_replica.standin.engine.catalog import column_comment, now_text, quote, table_comment
from mctm_replica.standin.engine.catalog_ddl import (
    check_not_referenced, create_index, drop_index, foreign_key, resolve_foreign_keys,
)
from mctm_replica.standin.engine.computed import computed_constraint
from mctm_replica.standin.engine.computed import translate as translate_computed
from mctm_replica.standin.engine import collations
from mctm_replica.standin.engine.decl import COLLATED_TYPES, Decl, decl_from_datatype, storage_type
from mctm_replica.standin.engine.query import translate_query, unsupported
from mctm_replica.standin.engine.typed import Scope


def _auto_name(prefix: str, table: str) -> str:
    h = zlib.crc32(f"{prefix}{table}".encode())
    return f"{prefix}__{table[:8]}__{h:08X}{zlib.crc32(table.encode()):08X}"


def default_text(e: exp.Expression) -> str:
    """COLUMN_DEFAULT as SQL Server shows it: ((0)), ('x'), (getdate())."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Literal) and not e.is_string:
        return f"(({e.name}))"
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal):
        return f"((-{e.this.name}))"
    if isinstance(e, exp.Anonymous) and not e.expressions:
        return f"({e.name.lower()}())"
    if isinstance(e, exp.National):
        return "(N'" + e.name.replace("'", "''") + "')"
    if isinstance(e, exp.CurrentTimestamp):
        return "(getdate())"
    return f"({e.sql(dialect='tsql')})"


def _target(session, table: exp.Table) -> tuple[str, str, str]:
    """(database display name, DuckDB alias, schema) for a table being created."""
    db = table.text("catalog") or session.database
    if not session.engine.has_database(db):
        raise SqlError(911, f"Database '{db}' does not exist. Make sure that the name is entered correctly.")
    schema = table.text("db") or "dbo"
    alias = session.engine.alias(db)
    if schema.lower() not in [s.lower() for s in session.all_schemas(db)]:
        raise SqlError(2760, f'The specified schema name "{schema}" either does not exist or you do not have permission to use it.')
    actual = next(s for s in session.all_schemas(db) if s.lower() == schema.lower())
    return session.engine.display_name(db), alias, actual


def _in_txn(session, statements: list[str]) -> None:
    cur = session.cur
    own = session.trancount == 0
    if own:
        cur.execute("BEGIN TRANSACTION")
    try:
        for s in statements:
            cur.execute(s)
        if own:
            cur.execute("COMMIT")
    except Exception:
        if own:
            cur.execute("ROLLBACK")
        raise
    finally:
        session.ddl_changed()


def _cols_of(x) -> list[str]:
    """Column names of a key list in any of the shapes sqlglot produces."""
    if x is None:
        return []
    if isinstance(x, (exp.ClusteredColumnConstraint, exp.NonClusteredColumnConstraint)):
        return _cols_of(x.this)
    if isinstance(x, exp.Schema):
        return _cols_of(x.expressions)
    if isinstance(x, exp.Expression) and not isinstance(x, (exp.Ordered, exp.Column, exp.Identifier)):
        return _cols_of(x.expressions)
    items = x if isinstance(x, list) else [x]
    cols = []
    for c in items:
        while isinstance(c, exp.Ordered):
            c = c.this
        cols.append(c.name)
    return cols


def create_table(session, node: exp.Create) -> None:
    schema_node = node.this
    table = schema_node.this
    db, alias, schema = _target(session, table)
    name = table.name
    if session.lookup_table(db if table.text("catalog") else "", schema, name) is not None:
        raise SqlError(2714, f"There is already an object named '{name}' in the database.")
    if name.startswith("#"):
        raise unsupported("temporary tables")
    cols: list[tuple[str, Decl, bool, tuple[int, int] | None, str | None]] = []
    pk: tuple[str, list[str]] | None = None
    uniques: list[tuple[str, list[str]]] = []
    computed: dict[str, exp.ComputedColumnConstraint] = {}
    fks = []
    default_names: dict[str, str] = {}
    for item in schema_node.expressions:
        if isinstance(item, exp.ColumnDef):
            cname = item.name
            if item.args.get("kind") is None:
                cc = computed_constraint(item)
                if cc is None:
                    raise unsupported(f"the column definition {item.sql(dialect='tsql')}")
                computed[cname.lower()] = cc
                cols.append((cname, Decl("int"), True, None, None))  # typed below, once all columns are known
                continue
            decl = column_collation(session, db, decl_from_datatype(item.args["kind"], ddl=True),
                                    item.args.get("constraints"))
            nullable = decl.type != "rowversion"
            identity = None
            default = None
            for c in item.args.get("constraints") or []:
                kind = c.args.get("kind")
                cons_name = c.name or None
                if isinstance(kind, exp.AutoIncrementColumnConstraint):  # bare IDENTITY: seed 1, increment 1
                    identity = (1, 1)
                    nullable = False
                elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
                    start = kind.args.get("start")
                    inc = kind.args.get("increment")
                    identity = (int(start.name) if start else 1, int(inc.name) if inc else 1)
                    nullable = False
                elif isinstance(kind, exp.NotNullColumnConstraint):
                    nullable = bool(kind.args.get("allow_null"))
                elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
                    pk = (cons_name or _auto_name("PK", name), [cname])
                    nullable = False
                elif isinstance(kind, exp.UniqueColumnConstraint):
                    uniques.append((cons_name or _auto_name("UQ", name), [cname]))
                elif isinstance(kind, exp.DefaultColumnConstraint):
                    default = default_text(kind.this)
                    if cons_name:
                        default_names[cname.lower()] = cons_name
                elif isinstance(kind, exp.Reference):
                    fks.append(foreign_key(name, schema, cons_name, [cname], kind))
                elif isinstance(kind, (exp.CollateColumnConstraint, exp.ClusteredColumnConstraint,
                                       exp.NonClusteredColumnConstraint)):
                    pass
                else:
                    raise unsupported(f"column constraint {kind.sql(dialect='tsql')}")
            if decl.type == "rowversion":
                nullable = False
            cols.append((cname, decl, nullable, identity, default))
        elif isinstance(item, exp.ForeignKey):
            fks.append(foreign_key(name, schema, None, [c.name for c in item.expressions], item.args["reference"]))
        elif isinstance(item, (exp.Constraint, exp.PrimaryKey, exp.UniqueColumnConstraint)):
            cons_name = item.name if isinstance(item, exp.Constraint) else None
            kinds = item.expressions if isinstance(item, exp.Constraint) else [item]
            pending = None
            for k in kinds:
                if isinstance(k, exp.PrimaryKey):
                    pk = (cons_name or _auto_name("PK", name), _cols_of(k.expressions))
                elif isinstance(k, exp.PrimaryKeyColumnConstraint):
                    pending = "pk"
                elif isinstance(k, exp.UniqueColumnConstraint):
                    ucols = _cols_of(k.this) if k.this is not None else []
                    if ucols:
                        uniques.append((cons_name or _auto_name("UQ", name), ucols))
                    else:
                        pending = "uq"
                elif isinstance(k, (exp.ClusteredColumnConstraint, exp.NonClusteredColumnConstraint)):
                    kc = _cols_of(k.this)
                    if pending == "pk":
                        pk = (cons_name or _auto_name("PK", name), kc)
                    elif pending == "uq":
                        uniques.append((cons_name or _auto_name("UQ", name), kc))
                    pending = None
                elif isinstance(k, exp.ForeignKey):
                    fks.append(foreign_key(name, schema, cons_name, [c.name for c in k.expressions], k.args["reference"]))
                else:
                    raise unsupported(f"table constraint {k.sql(dialect='tsql')}")
        else:
            raise unsupported(f"{type(item).__name__} in CREATE TABLE")
    names = {c[0].lower() for c in cols}
    resolve_foreign_keys(session, db, schema, name, fks, [c[0] for c in cols], pk[1] if pk else None,
                         [u for _, u in uniques])
    for _, kc in ([pk] if pk else []) + uniques + [(f.name, f.columns) for f in fks]:
        for c in kc:
            if c.lower() not in names:
                raise SqlError(1911, f"Column name '{c}' does not exist in the target table or view.")
    if pk:
        cols = [(n, d, False if n.lower() in {c.lower() for c in pk[1]} else nl, i, df) for n, d, nl, i, df in cols]
    q = f"{quote(alias)}.{quote(schema)}.{quote(name)}"
    regular = [(n, d, nl) for n, d, nl, _, _ in cols if n.lower() not in computed]
    gen = {n.lower(): translate_computed(session, name, regular, n, computed[n.lower()])
           for n, *_ in cols if n.lower() in computed}
    cols = [(n, gen[n.lower()][0], nl, i, df) if n.lower() in gen else (n, d, nl, i, df) for n, d, nl, i, df in cols]
    parts = [f"{quote(n)} {storage_type(d)}{'' if nl else ' NOT NULL'}" if n.lower() not in gen else
             f"{quote(n)} {storage_type(d)} GENERATED ALWAYS AS ({gen[n.lower()][1]}) VIRTUAL"
             for n, d, nl, _, _ in cols]
    if pk:
        parts.append("PRIMARY KEY (" + ", ".join(quote(c) for c in pk[1]) + ")")
    for _, uc in uniques:
        parts.append("UNIQUE (" + ", ".join(quote(c) for c in uc) + ")")
    stmts = [f"CREATE TABLE {q} ({', '.join(parts)})",
             f"COMMENT ON TABLE {q} IS " + _lit(table_comment(pk, uniques, fks, []))]
    for n, d, _, ident, df in cols:
        stmts.append(f"COMMENT ON COLUMN {q}.{quote(n)} IS "
                     + _lit(column_comment(d, ident, df, default_name=default_names.get(n.lower()),
                                           computed=gen[n.lower()][2:] if n.lower() in gen else None)))
    _in_txn(session, stmts)


def column_collation(session, db: str, decl: Decl, constraints) -> Decl:
    """``decl`` with the column's COLLATE, or the database's collation without one."""
    named = [c.args["kind"].this.name for c in constraints or []
             if isinstance(c.args.get("kind"), exp.CollateColumnConstraint)]
    return _collated(session, db, decl, named[0] if named else None)


def _collated(session, db: str, decl: Decl, name: str | None) -> Decl:
    if decl.type not in COLLATED_TYPES:
        if name is not None:
            raise SqlError(447, f"Expression type {decl.type} is invalid for COLLATE clause.")
        return decl
    if name is None or name.lower() == "database_default":
        return decl.with_collation(session.engine.database_collation(db).name)
    coll = collations.lookup(name)
    if coll.binary or coll.case_sensitive or not coll.accent_sensitive:
        raise SqlError(50000, f"The SQL Server stand-in does not support collation '{coll.name}' on a column: "
                              "columns compare case-insensitively and accent-sensitively (a _CI_AS collation); "
                              "binary collations work on expressions (COLLATE in a query).")
    return decl.with_collation(coll.name)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _table_info(session, table: exp.Table, *, must: bool = True):
    info = session.lookup_table(table.text("catalog"), table.text("db"), table.name)
    if info is None and must:
        raise SqlError(4902, f"Cannot find the object \"{table.name}\" because it does not exist or you do not have permissions.")
    return info


def drop(session, node: exp.Drop) -> None:
    kind = (node.args.get("kind") or "").upper()
    if kind == "DATABASE":
        for t in node.args.get("tables") or node.expressions or [node.this]:
            session.engine.drop_database(t.name, session)
        return
    if kind == "SCHEMA":
        db = session.database
        name = node.this.text("db") or node.this.name
        if name.lower() not in [s.lower() for s in session.all_schemas(db)]:
            raise SqlError(15151, f"Cannot drop the schema '{name}', because it does not exist or you do not have permission.")
        _in_txn(session, [f"DROP SCHEMA {quote(session.engine.alias(db))}.{quote(name)}"])
        return
    if kind == "INDEX":
        return drop_index(session, node)
    if kind not in ("TABLE", "VIEW"):
        raise unsupported(f"DROP {kind}")
    targets = node.args.get("tables") or node.expressions or [node.this]
    stmts = []
    for t in targets:
        info = session.lookup_table(t.text("catalog"), t.text("db"), t.name)
        if info is None or (info.kind == "VIEW") != (kind == "VIEW"):
            if node.args.get("exists"):
                continue
            what = "table" if kind == "TABLE" else "view"
            raise SqlError(3701, f"Cannot drop the {what} '{'.'.join(p for p in (t.text('db'), t.name) if p)}', because it does not exist or you do not have permission.", severity=11)
        check_not_referenced(session, info, stmts)
        stmts.append(f"DROP {kind} {info.qualified}")
        stmts += ct.drop_statements(session, info)  # a dropped table's change tracking goes with it
    if stmts:
        _in_txn(session, stmts)


def view_definition(session, node: exp.Create) -> str:
    """sys.sql_modules.definition: the batch as sent (CREATE VIEW must be alone in its batch)."""
    text = getattr(session, "batch_text", None)
    if text and text.lstrip().upper().startswith("CREATE") and len(session._parse(text)) == 1:
        return text
    return node.sql(dialect="tsql")  # a batch the stand-in accepted with more in it: the parsed text


def create_view(session, node: exp.Create, tr) -> None:
    table = node.this
    db, alias, schema = _target(session, table)
    if session.lookup_table(table.text("catalog"), schema, table.name) is not None:
        raise SqlError(2714, f"There is already an object named '{table.name}' in the database.")
    sql, outs = translate_query(tr, node.expression, Scope())
    if tr.bound:
        raise unsupported("parameters in CREATE VIEW")
    if any(not n for n, _ in outs):
        raise SqlError(4511, f"Create View or Function failed because no column name was specified for column {1 + [n for n, _ in outs].index('')}.")
    q = f"{quote(alias)}.{quote(schema)}.{quote(table.name)}"
    meta = {"cols": [[n, str(t.decl) if t.decl else "nvarchar(max)", t.nullable] for n, t in outs],
            "sql": view_definition(session, node), "cd": now_text()}
    _in_txn(session, [f"CREATE VIEW {q} AS {sql}", f"COMMENT ON VIEW {q} IS " + _lit(json.dumps(meta))])


def run(session, node: exp.Expression, tr) -> None:
    if isinstance(node, exp.Drop):
        return drop(session, node)
    if isinstance(node, exp.Alter):
        from mctm_replica.standin.engine.ddl_alter import alter  # it builds on this module's helpers

        return alter(session, node, tr)
    kind = (node.args.get("kind") or "").upper()
    if kind == "TABLE":
        if node.expression is not None:
            raise unsupported("CREATE TABLE AS SELECT")
        return create_table(session, node)
    if kind == "DATABASE":
        if session.trancount:
            raise SqlError(226, "CREATE DATABASE statement not allowed within multi-statement transaction.")
        props = node.args.get("properties")
        colls = [p for p in (props.expressions if props else []) if isinstance(p, exp.CollateProperty)]
        session.engine.create_database(node.this.name, colls[0].this.name if colls else None)
        return None
    if kind == "SCHEMA":
        name = node.this.text("db") or node.this.name
        db = session.database
        if name.lower() in [s.lower() for s in session.all_schemas(db)]:
            raise SqlError(2714, f"There is already an object named '{name}' in the database.")
        _in_txn(session, [f"CREATE SCHEMA {quote(session.engine.alias(db))}.{quote(name)}"])
        return None
    if kind == "VIEW":
        return create_view(session, node, tr)
    if kind.endswith("INDEX"):  # INDEX, CLUSTERED INDEX, NONCLUSTERED INDEX
        return create_index(session, node)  # recorded for the catalog; DuckDB scans are fast enough
    raise unsupported(f"CREATE {kind}")
