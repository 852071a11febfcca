"""The DDL parts that only the catalog views need: FOREIGN KEY, CREATE/DROP INDEX.

SQL Server keeps foreign keys and indexes in its catalog; the stand-in records
them in the table's COMMENT (see catalog.py) so ``sys.foreign_keys``,
``sys.indexes`` and INFORMATION_SCHEMA answer as SQL Server does. Neither is
enforced or used for access paths (README "Known differences").
"""

from __future__ import annotations

import copy
import re
import zlib

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog import (
    ForeignKeyInfo,
    IndexInfo,
    TableInfo,
    quote,
    table_comment,
)
from mctm_replica.standin.engine.computed import definition_text

_RULES = ("NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT")


def auto_fk_name(table: str, ref_table: str) -> str:
    """SQL Server's generated name: FK__child__paren__<hex>."""
    h = zlib.crc32(f"FK{table}{ref_table}".encode())
    return f"FK__{table[:12]}__{ref_table[:12]}__{h:08X}"


def autodefault_name(table: str, column: str) -> str:
    """SQL Server's generated name: DF__table__column__<hex>."""
    h = zlib.crc32(f"DF{table}{column}".encode())
    return f"DF__{table[:9]}__{column[:5]}__{h:08X}"


def foreign_key(table: str, default_schema: str, name: str | None, columns: list[str],
                ref: exp.Reference) -> ForeignKeyInfo:
    """A ForeignKeyInfo from sqlglot's Reference (column or table constraint)."""
    target = ref.this
    ref_cols: list[str] = []
    if isinstance(target, exp.Schema):
        ref_cols = [c.name for c in target.expressions]
        target = target.this
    on_delete = on_update = "NO ACTION"
    for opt in ref.args.get("options") or []:
        text = " ".join(str(opt).upper().split())
        for rule in _RULES:
            if text == f"ON DELETE {rule}":
                on_delete = rule
            elif text == f"ON UPDATE {rule}":
                on_update = rule
    if target.text("catalog"):
        raise SqlError(1763, "Cross-database foreign key references are not supported. "
                             f"Foreign key '{target.sql('tsql')}'.")
    return ForeignKeyInfo(name or auto_fk_name(table, target.name), columns, target.text("db") or default_schema,
                          target.name, ref_cols, on_delete, on_update)


def resolve_foreign_keys(session, db: str, schema: str, table: str, fks: list[ForeignKeyInfo],
                         columns: list[str], pk: list[str] | None, uniques: list[list[str]]) -> None:
    """Check each foreign key as SQL Server does and fill in the referenced primary key when no
    columns were named. ``columns``, ``pk`` and ``uniques`` are the new table's own: a table may
    reference itself."""
    own_pk = pk
    own = {c.lower(): c for c in columns}
    for fk in fks:
        for c in fk.columns:
            if c.lower() not in own:
                raise SqlError(1769, f"Foreign key '{fk.name}' references invalid column '{c}' in referencing "
                                     f"table '{table}'.")
        fk.columns = [own[c.lower()] for c in fk.columns]
        if fk.ref_schema.lower() == schema.lower() and fk.ref_table.lower() == table.lower():
            ref_cols, pk = own, own_pk
            ref_keys = ([pk] if pk else []) + uniques
        else:
            info = session.lookup_table(db, fk.ref_schema, fk.ref_table)
            if info is None or info.kind != "BASE TABLE":
                raise SqlError(1767, f"Foreign key '{fk.name}' references invalid table "
                                     f"'{fk.ref_schema}.{fk.ref_table}'.")
            fk.ref_table, fk.ref_schema = info.name, info.schema
            ref_cols = {c.name.lower(): c.name for c in info.columns}
            pk = info.pk[1] if info.pk else None
            ref_keys = ([pk] if pk else []) + [u for _, u in info.uniques] + [
                [c for c, _ in i.columns] for i in info.indexes if i.unique and i.filter is None]
        if not fk.ref_columns:
            if not pk:
                raise SqlError(1773, f"Foreign key '{fk.name}' has implicit reference to object "
                                     f"'{fk.ref_table}' on which there is no primary key defined.")
            fk.ref_columns = list(pk)
        if len(fk.ref_columns) != len(fk.columns):
            raise SqlError(8139, "Number of referencing columns in foreign key differs from number of referenced "
                                 f"columns, table '{table}'.")
        for c in fk.ref_columns:
            if c.lower() not in ref_cols:
                raise SqlError(1770, f"Foreign key '{fk.name}' references invalid column '{c}' in referenced "
                                     f"table '{fk.ref_table}'.")
        fk.ref_columns = [ref_cols[c.lower()] for c in fk.ref_columns]
        if sorted(c.lower() for c in fk.ref_columns) not in [sorted(c.lower() for c in k) for k in ref_keys]:
            raise SqlError(1776, f"There are no primary or candidate keys in the referenced table '{fk.ref_table}' "
                                 f"that match the referencing column list in the foreign key '{fk.name}'.")


def _find_table(session, table: exp.Table) -> TableInfo:
    """A copy of the table's catalog entry, to edit (the session's cached entry stays as it is)."""
    info = session.lookup_table(table.text("catalog"), table.text("db"), table.name)
    if info is None:
        raise SqlError(1088, f"Cannot find the object \"{table.name}\" because it does not exist or you do not "
                             "have permissions.")
    return copy.deepcopy(info)


def _write(session, info: TableInfo) -> None:
    from mctm_replica.standin.engine.ddl import _in_txn

    _in_txn(session, [touch_statement(info)])


def touch_statement(info: TableInfo) -> str:
    """COMMENT ON TABLE rewriting the table's catalog entry with modify_date now (ALTER, CREATE INDEX)."""
    text = table_comment(info.pk, info.uniques, info.fks, info.indexes, created=info.created)
    return f"COMMENT ON TABLE {info.qualified} IS '" + text.replace("'", "''") + "'"


def create_index(session, node: exp.Create) -> None:
    index = node.this
    info = _find_table(session, index.args["table"])
    if info.kind != "BASE TABLE":
        raise SqlError(1939, f"Cannot create index on view '{info.name}' because the view is not schema bound.")
    name = index.name
    keys = ([info.pk] if info.pk else []) + info.uniques
    taken = [i.name.lower() for i in info.indexes] + [n.lower() for n, _ in keys]
    if name.lower() in taken:
        raise SqlError(1913, f"The operation failed because an index or statistics with name '{name}' already exists "
                             f"on table '{info.schema}.{info.name}'.")
    params = index.args.get("params")
    cols: list[tuple[str, bool]] = []
    for o in params.args.get("columns") or []:
        desc = bool(o.args.get("desc")) if isinstance(o, exp.Ordered) else False
        c = o.this if isinstance(o, exp.Ordered) else o
        ci = info.column(c.name)
        if ci is None:
            raise SqlError(1911, f"Column name '{c.name}' does not exist in the target table or view.")
        cols.append((ci.name, desc))
    include = []
    for c in params.args.get("include") or []:
        ci = info.column(c.name)
        if ci is None:
            raise SqlError(1911, f"Column name '{c.name}' does not exist in the target table or view.")
        include.append(ci.name)
    kind = (node.args.get("kind") or "").upper()
    clustered = kind.startswith("CLUSTERED")
    if clustered and (info.pk and not any(i.clustered for i in info.indexes) or any(i.clustered for i in info.indexes)):
        raise SqlError(1902, f"Cannot create more than one clustered index on table '{info.schema}.{info.name}'. "
                             "Drop the existing clustered index before creating another.")
    where = params.args.get("where")
    filt = None
    if where is not None:
        body = where.this
        while isinstance(body, exp.Paren):  # WHERE ([a]>(0)), as scripted from the catalog, is stored once
            body = body.this
        filt = "(" + definition_text(body) + ")"
    info.indexes.append(IndexInfo(name, cols, bool(node.args.get("unique")), clustered, include, filt))
    _write(session, info)


_INDEX_HEAD = re.compile(r"\s*(UNIQUE\s+)?((NON)?CLUSTERED\s+)?INDEX\b", re.IGNORECASE)
_WORD = re.compile(r"\b(WHERE|WITH)\b\s*(\()?", re.IGNORECASE)


def index_options_first(rest: str) -> str | None:
    """T-SQL writes a filtered index's options after the filter (``... WHERE b IS NOT NULL WITH
    (ONLINE = ON)``), sqlglot parses them only before it: ``rest`` (after CREATE) with the
    WITH (...) moved before WHERE, or None when it is not that shape."""
    if not _INDEX_HEAD.match(rest):
        return None
    depth, where_at, in_str = 0, None, False
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch == "'":
            in_str = not in_str
        elif not in_str and ch == "(":
            depth += 1
        elif not in_str and ch == ")":
            depth -= 1
        elif not in_str and depth == 0:
            m = _WORD.match(rest, i)
            if m and (i == 0 or not (rest[i - 1].isalnum() or rest[i - 1] in "_]")):
                if m.group(1).upper() == "WHERE":
                    where_at = i
                elif where_at is not None and m.group(2):
                    end, d = m.end(), 1
                    while end < len(rest) and d:
                        d += {"(": 1, ")": -1}.get(rest[end], 0)
                        end += 1
                    return rest[:where_at] + rest[i:end] + " " + rest[where_at:i] + rest[end:]
        i += 1
    return None


def drop_index(session, node: exp.Drop) -> None:
    on = node.args.get("cluster")
    for t in node.args.get("tables") or [node.this]:
        if isinstance(on, exp.OnProperty):
            table, name = on.this, t.name
        else:  # the old form DROP INDEX table.index
            table, name = exp.Table(this=t.args.get("db"), db=t.args.get("catalog")), t.name
        info = copy.deepcopy(session.lookup_table(table.text("catalog"), table.text("db"), table.name))
        found = [i for i in info.indexes if i.name.lower() == name.lower()] if info else []
        keys = ([("PRIMARY KEY", info.pk[0])] if info and info.pk else []) + [
            ("UNIQUE KEY", n) for n, _ in (info.uniques if info else [])]
        for what, key in keys:
            if key.lower() == name.lower():
                raise SqlError(3723, f"An explicit DROP INDEX is not allowed on index '{table.name}.{key}'. It is "
                                     f"being used for {what} constraint enforcement.")
        if not found:
            if node.args.get("exists"):
                continue
            raise SqlError(3701, f"Cannot drop the index '{table.name}.{name}', because it does not exist or you "
                                 "do not have permission.", severity=11)
        info.indexes.remove(found[0])
        _write(session, info)


def check_not_referenced(session, info: TableInfo, earlier_drops: list[str]) -> None:
    """DROP TABLE of a table another table's FOREIGN KEY references fails (3726), unless that table
    is dropped earlier in the same statement (``earlier_drops``: their DROP statements)."""
    if info.kind != "BASE TABLE":
        return
    for t in session.all_tables(info.db).values():
        if t is info or any(d.endswith(" " + t.qualified) for d in earlier_drops):
            continue
        for fk in t.fks:
            if (fk.ref_schema.lower(), fk.ref_table.lower()) == (info.schema.lower(), info.name.lower()):
                raise SqlError(3726, f"Could not drop object '{info.schema}.{info.name}' because it is referenced "
                                     f"by a FOREIGN KEY constraint.")


def is_constraint_action(action: exp.Expression) -> bool:
    """ALTER TABLE ADD CONSTRAINT ... / DROP CONSTRAINT ...: handled by alter_constraint."""
    return isinstance(action, exp.AddConstraint) or (
        isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() == "CONSTRAINT")


def alter_constraint(session, info: TableInfo, action: exp.Expression) -> list[str]:
    """Apply one ADD CONSTRAINT (FOREIGN KEY) or DROP CONSTRAINT (FOREIGN KEY, DEFAULT) to ``info``;
    returns the column-comment statements it needs (the caller rewrites the table's entry)."""
    from mctm_replica.standin.engine.catalog import column_comment
    from mctm_replica.standin.engine.query import unsupported

    if isinstance(action, exp.AddConstraint):
        for item in action.expressions:
            name = item.name if isinstance(item, exp.Constraint) else None
            kinds = item.expressions if isinstance(item, exp.Constraint) else [item]
            for k in kinds:
                if not isinstance(k, exp.ForeignKey):
                    raise unsupported(f"ALTER TABLE ADD CONSTRAINT {k.sql(dialect='tsql')}")
                fk = foreign_key(info.name, info.schema, name, [c.name for c in k.expressions], k.args["reference"])
                if fk.name.lower() in _constraint_names(info):
                    raise SqlError(2714, f"There is already an object named '{fk.name}' in the database.")
                resolve_foreign_keys(session, info.db, info.schema, info.name, [fk], [c.name for c in info.columns],
                                     info.pk[1] if info.pk else None, [u for _, u in info.uniques])
                info.fks.append(fk)
        return []
    stmts = []
    for t in action.args.get("tables") or [action.this]:
        name = t.name
        fk = next((f for f in info.fks if f.name.lower() == name.lower()), None)
        col = next((c for c in info.columns if c.default is not None
                    and default_name(info, c).lower() == name.lower()), None)
        if fk is not None:
            info.fks.remove(fk)
        elif col is not None:
            text = column_comment(col.decl, col.identity, None, not_null=not col.nullable)
            stmts.append(f"COMMENT ON COLUMN {info.qualified}.{quote(col.name)} IS '" + text.replace("'", "''") + "'")
            col.default = col.default_name = None
        elif name.lower() in _constraint_names(info):
            raise unsupported("dropping a PRIMARY KEY or UNIQUE constraint")
        elif not action.args.get("exists"):
            raise SqlError(3728, f"'{name}' is not a constraint.")
    return stmts


def default_name(info: TableInfo, c) -> str:
    """The name of a column's DEFAULT constraint: as declared, else the generated one."""
    return c.default_name or autodefault_name(info.name, c.name)


def _constraint_names(info: TableInfo) -> set[str]:
    names = [n for n, _ in ([info.pk] if info.pk else []) + info.uniques] + [f.name for f in info.fks]
    names += [default_name(info, c) for c in info.columns if c.default is not None]
    return {n.lower() for n in names}
