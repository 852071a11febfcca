"""Metadata functions that catalog queries use with non-constant arguments.

pgloader asks ``COLUMNPROPERTY(object_id(c.TABLE_NAME), c.COLUMN_NAME,
'IsIdentity')`` per row of INFORMATION_SCHEMA.COLUMNS and
``schema_name(o.schema_id)`` per row of sys.objects. Each becomes a lookup
in a VALUES list built from the current database's declared catalog, so it
works on any expression (a column, a parameter, a constant).
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.engine.catalog import TableInfo
from mctm_replica.standin.engine.decl import Decl
from mctm_replica.standin.engine.typed import Typed
from mctm_replica.standin.engine.values import sql_literal

SYSNAME = Decl("nvarchar", length=128)
INT = Decl("int")
# COLUMNPROPERTY properties answered, as (property, value of a column of a table)
_COLUMN_PROPS = {
    "isidentity": lambda t, c: int(c.identity is not None),
    "allowsnull": lambda t, c: int(c.nullable),
    "iscomputed": lambda t, c: int(c.computed is not None),
    "columnid": lambda t, c: c.ordinal,
    "isrowguidcol": lambda t, c: 0,
    "precision": lambda t, c: _precision(c.decl),
    "scale": lambda t, c: _scale(c.decl),
    "charmaxlen": lambda t, c: _charmaxlen(c.decl),
}
_OBJECT_TYPES = {"BASE TABLE": "U", "VIEW": "V"}


def _precision(d: Decl) -> int | None:
    from mctm_replica.standin.engine.sysviews import sys_precision_scale

    p, _ = sys_precision_scale(d)
    return p or None


def _scale(d: Decl) -> int | None:
    from mctm_replica.standin.engine.sysviews import sys_precision_scale

    p, s = sys_precision_scale(d)
    return s if p else None


def _charmaxlen(d: Decl) -> int | None:
    if d.type in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
        return d.length
    return None


def _lookup(key_sql: str, rows: list[tuple], key_decls: list[Decl], out: Decl) -> Typed:
    """``(SELECT v FROM (VALUES ...) WHERE keys = ...)``: NULL when nothing matches, as SQL Server answers."""
    if not rows:
        return Typed(sql_literal(None, out), out)
    names = [f"k{i}" for i in range(len(key_decls))]
    body = ", ".join("(" + ", ".join(sql_literal(v, d) for v, d in zip(r, key_decls + [out])) + ")" for r in rows)
    cols = ", ".join(names + ["v"])
    return Typed(f"(SELECT v FROM (VALUES {body}) AS __lk({cols}) WHERE {key_sql} LIMIT 1)", out)


def _tables(tr) -> list[TableInfo]:
    return list(tr.s.all_tables(tr.s.database).values())


def _spellings(db: str, t: TableInfo) -> set[str]:
    """Names OBJECT_ID accepts for a table, lower case: name (dbo only), schema.name, db.schema.name, bracketed."""
    out = set()
    for s in (t.schema, f"[{t.schema}]"):
        for n in (t.name, f"[{t.name}]"):
            out.add(f"{s}.{n}".lower())
            for d in (db, f"[{db}]"):
                out.add(f"{d}.{s}.{n}".lower())
            if t.schema.lower() == "dbo":
                out.add(n.lower())
    return out


def object_id_of(tr, name: Typed, kind: Typed | None = None) -> Typed:
    """OBJECT_ID(expression [, type]) over the current database's tables and views."""
    db = tr.s.database
    rows = []
    for t in _tables(tr):
        for sp in _spellings(db, t):
            rows.append((sp, _OBJECT_TYPES.get(t.kind, "U"), t.object_id))
    key = f"__lk.k0 = lower(CAST({name.sql} AS VARCHAR))"
    if kind is not None:
        key += f" AND __lk.k1 = upper(trim(CAST({kind.sql} AS VARCHAR)))"
    return _lookup(key, rows, [Decl("nvarchar", length=600), Decl("char", length=2)], INT)


def columnproperty(tr, node: exp.Expression, scope) -> Typed:
    """COLUMNPROPERTY(object_id, column, property): int, NULL for an unknown object, column or property."""
    args = [tr.expr(a, scope) for a in node.expressions]
    if len(args) != 3:
        from mctm_replica.standin.contract import SqlError

        raise SqlError(174, "The columnproperty function requires 3 argument(s).", severity=15)
    oid, col, prop = args
    props = _COLUMN_PROPS
    if prop.is_const:  # the usual case: list only the property asked for
        want = str(prop.const).lower() if prop.const is not None else ""
        props = {want: _COLUMN_PROPS[want]} if want in _COLUMN_PROPS else {}
    rows = []
    for t in _tables(tr):
        for c in t.columns:
            for pname, fn in props.items():
                rows.append((t.object_id, c.name.lower(), pname, fn(t, c)))
    key = (f"__lk.k0 = CAST({oid.sql} AS INTEGER) AND __lk.k1 = lower(CAST({col.sql} AS VARCHAR))"
           f" AND __lk.k2 = lower(CAST({prop.sql} AS VARCHAR))")
    return _lookup(key, rows, [INT, SYSNAME, Decl("varchar", length=30)], INT)


def schema_name_of(tr, sid: Typed) -> Typed:
    """SCHEMA_NAME(schema_id) with the ids the sys views give (dbo 1, others from 5)."""
    schemas = tr.s.all_schemas(tr.s.database)
    rows = [(1, "dbo")] + [(5 + i, s) for i, s in enumerate(x for x in schemas if x.lower() != "dbo")]
    rows += [(3, "INFORMATION_SCHEMA"), (4, "sys")]
    return _lookup(f"__lk.k0 = CAST({sid.sql} AS INTEGER)", rows, [INT], SYSNAME)


def parsename(tr, node, scope) -> Typed:
    """PARSENAME(name, part): part 1 (object) to 4 (server) of a dotted name, NULL beyond its parts or
    for more than four. Sling asks it of sys.synonyms.base_object_name. Names quoted with [ ] or " are
    refused with an error rather than split wrong."""
    from mctm_replica.standin.contract import SqlError

    args = [tr.expr(a, scope) for a in node.expressions]
    if len(args) != 2:
        raise SqlError(174, "The parsename function requires 2 argument(s).")
    name, part = f"CAST(({args[0].sql}) AS VARCHAR)", args[1].sql
    parts = f"string_split({name}, '.')"
    quoted = f"(contains({name}, '[') OR contains({name}, '\"'))"
    return Typed(f"CASE WHEN {quoted} THEN error('The SQL Server stand-in supports PARSENAME only of names "
                 f"without [ ] or \" quoting.') WHEN len({parts}) > 4 OR ({part}) NOT BETWEEN 1 AND 4 "
                 f"OR ({part}) > len({parts}) THEN NULL "
                 f"ELSE nullif({parts}[len({parts}) + 1 - ({part})], '') END", SYSNAME)
