"""ALTER TABLE: columns added, dropped or retyped, and constraints (catalog_ddl.py), in one
DuckDB transaction so a failed ALTER leaves the table and its cached catalog as they were."""

from __future__ import annotations

import copy

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog import column_comment, quote
from mctm_replica.standin.engine.catalog_ddl import alter_constraint, is_constraint_action, touch_statement
from mctm_replica.standin.engine.computed import check_no_dependents
from mctm_replica.standin.engine.convert import convert_sql
from mctm_replica.standin.engine.ddl import _collated, _in_txn, _lit, _table_info, column_collation, default_text
from mctm_replica.standin.engine.decl import decl_from_datatype, storage_type
from mctm_replica.standin.engine.query import unsupported
from mctm_replica.standin.engine.typed import Scope


def alter(session, node: exp.Alter, tr) -> None:
    if (node.args.get("kind") or "").upper() != "TABLE":
        raise unsupported(f"ALTER {node.args.get('kind')}")
    # a copy: constraint actions edit it, and a failed ALTER must leave the cached catalog as it was
    info = copy.deepcopy(_table_info(session, node.this))
    q = info.qualified
    stmts = []
    for action in node.args.get("actions") or []:
        if is_constraint_action(action):
            stmts += alter_constraint(session, info, action)
        elif isinstance(action, exp.ColumnDef):
            cname = action.name
            if action.args.get("kind") is None:
                raise unsupported("ALTER TABLE ADD of a computed column")
            if info.column(cname):
                raise SqlError(2705, f"Column names in each table must be unique. Column name '{cname}' in table '{info.name}' is specified more than once.")
            decl = column_collation(session, info.db, decl_from_datatype(action.args["kind"], ddl=True),
                                    action.args.get("constraints"))
            nullable, default = True, None
            for c in action.args.get("constraints") or []:
                kind = c.args.get("kind")
                if isinstance(kind, exp.CollateColumnConstraint):
                    continue
                if isinstance(kind, exp.NotNullColumnConstraint):
                    nullable = bool(kind.args.get("allow_null"))
                elif isinstance(kind, exp.DefaultColumnConstraint):
                    default = default_text(kind.this)
                else:
                    raise unsupported(f"ALTER TABLE ADD with {kind.sql(dialect='tsql')}")
            fill = "NULL"
            if default is not None:
                import sqlglot

                from mctm_replica.standin.engine.dialect import StandinTSQL

                dnode = sqlglot.parse_one(f"SELECT {default}", read=StandinTSQL).expressions[0]
                fill = tr.convert(tr.expr(dnode, Scope()), decl).sql
            elif not nullable and session.count_rows(info):
                raise SqlError(4901, f"ALTER TABLE only allows columns to be added that can contain nulls, or have a DEFAULT definition specified, or the column being added is an identity or timestamp column, or alternatively if none of the previous conditions are satisfied the table must be empty to allow addition of this column. Column '{cname}' cannot be added to non-empty table '{info.name}' because it does not satisfy these conditions.")
            # DuckDB fills existing rows from a DEFAULT but cannot add NOT NULL after an UPDATE in
            # the same transaction, so the declared NOT NULL is kept in the column comment
            fill_sql = f" DEFAULT {fill}" if fill != "NULL" else ""
            stmts.append(f"ALTER TABLE {q} ADD COLUMN {quote(cname)} {storage_type(decl)}{fill_sql}")
            if fill_sql:
                stmts.append(f"ALTER TABLE {q} ALTER COLUMN {quote(cname)} DROP DEFAULT")
            stmts.append(f"COMMENT ON COLUMN {q}.{quote(cname)} IS "
                         + _lit(column_comment(decl, None, default, not_null=not nullable)))
        elif isinstance(action, exp.Drop):
            for col in action.args.get("tables") or action.expressions or [action.this]:
                ci = info.column(col.name)
                if ci is None:
                    raise SqlError(4924, f"ALTER TABLE DROP COLUMN failed because column '{col.name}' does not exist in table '{info.name}'.")
                check_no_dependents(info, ci, "DROP COLUMN")
                stmts.append(f"ALTER TABLE {q} DROP COLUMN {quote(ci.name)}")
        elif isinstance(action, exp.AlterColumn):
            ci = info.column(action.name)
            if ci is None:
                raise SqlError(4924, f"ALTER TABLE ALTER COLUMN failed because column '{action.name}' does not exist in table '{info.name}'.")
            check_no_dependents(info, ci, "ALTER COLUMN")
            if action.args.get("dtype") is None:
                raise unsupported("this ALTER COLUMN form")
            coll = action.args.get("collate")
            decl = decl_from_datatype(action.args["dtype"], ddl=True)
            decl = _collated(session, info.db, decl, coll.name if isinstance(coll, exp.Expression) else None)
            using = convert_sql(quote(ci.name), ci.decl, decl)
            stmts.append(f"ALTER TABLE {q} ALTER COLUMN {quote(ci.name)} SET DATA TYPE {storage_type(decl)} USING {using}")
            comment = column_comment(decl, ci.identity, ci.default, default_name=ci.default_name)
            stmts.append(f"COMMENT ON COLUMN {q}.{quote(ci.name)} IS " + _lit(comment))
        else:
            raise unsupported(f"ALTER TABLE {type(action).__name__}")
    stmts.append(touch_statement(info))  # sys.objects.modify_date
    _in_txn(session, stmts)
