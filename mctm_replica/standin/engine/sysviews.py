"""INFORMATION_SCHEMA and sys catalog views, built from the declared catalog.

Each reference to a catalog view becomes an inline VALUES subquery whose
columns carry the types SQL Server declares for that view (sysname is
nvarchar(128), ids int, flags bit, ...), so joins, WHERE and ORDER BY on them
work like on any table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import change_tracking as ct
from mctm_replica.standin.engine.catalog import TableInfo, quote
from mctm_replica.standin.engine.decl import UNICODE_TYPES, Decl, octet_length, storage_type
from mctm_replica.standin.engine.sysviews_keys import default_name, object_dates
from mctm_replica.standin.engine.values import sql_literal

SN = Decl("nvarchar", length=128)
INT = Decl("int")
BIT = Decl("bit")
TINY = Decl("tinyint")
SMALL = Decl("smallint")
BIG = Decl("bigint")
COLLATION = "SQL_Latin1_General_CP1_CI_AS"
TYPE_IDS = {
    "image": 34, "text": 35, "uniqueidentifier": 36, "date": 40, "time": 41, "datetime2": 42,
    "datetimeoffset": 43, "tinyint": 48, "smallint": 52, "int": 56, "smalldatetime": 58, "real": 59,
    "money": 60, "datetime": 61, "float": 62, "ntext": 99, "bit": 104, "decimal": 106, "numeric": 108,
    "smallmoney": 122, "bigint": 127, "varbinary": 165, "varchar": 167, "binary": 173, "char": 175,
    "rowversion": 189, "nvarchar": 231, "nchar": 239, "xml": 241,
}
_NUM_PREC = {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19, "money": 19, "smallmoney": 10,
             "float": 53, "real": 24}


def _values(cols: list[tuple[str, Decl]], rows: list[tuple]) -> str:
    names = ", ".join(quote(n) for n, _ in cols)
    if not rows:
        sel = ", ".join(f"CAST(NULL AS {storage_type(d)}) AS {quote(n)}" for n, d in cols)
        return f"SELECT {sel} WHERE FALSE"
    body = ", ".join("(" + ", ".join(sql_literal(v, d) for v, (_, d) in zip(r, cols)) + ")" for r in rows)
    return f"SELECT * FROM (VALUES {body}) AS v({names})"


def data_type_name(d: Decl) -> str:
    return "timestamp" if d.type == "rowversion" else d.type


def _char_lengths(d: Decl) -> tuple[int | None, int | None]:
    t = d.type
    if t == "text" or t == "image":
        return 2147483647, 2147483647
    if t == "ntext":
        return 1073741823, 2147483646
    if t == "xml":
        return -1, -1
    if t in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
        n = d.length
        if n == -1:
            return -1, -1
        return n, n * (2 if t in UNICODE_TYPES else 1)
    if t == "rowversion":
        return None, None
    return None, None


def _numeric(d: Decl) -> tuple[int | None, int | None, int | None]:
    t = d.type
    if t in _NUM_PREC:
        return _NUM_PREC[t], (2 if t in ("float", "real") else 10), (None if t in ("float", "real") else (4 if "money" in t else 0))
    if t in ("decimal", "numeric"):
        return d.precision, 10, d.scale
    return None, None, None


def _dt_precision(d: Decl) -> int | None:
    t = d.type
    if t in ("date", "smalldatetime"):
        return 0
    if t == "datetime":
        return 3
    if t in ("time", "datetime2", "datetimeoffset"):
        return 7 if d.scale is None else d.scale
    return None


def sys_precision_scale(d: Decl) -> tuple[int, int]:
    t = d.type
    s = 7 if d.scale is None else d.scale
    fixed = {"bit": (1, 0), "tinyint": (3, 0), "smallint": (5, 0), "int": (10, 0), "bigint": (19, 0),
             "money": (19, 4), "smallmoney": (10, 4), "float": (53, 0), "real": (24, 0), "date": (10, 0),
             "datetime": (23, 3), "smalldatetime": (16, 0)}
    if t in fixed:
        return fixed[t]
    if t in ("decimal", "numeric"):
        return d.precision or 18, d.scale or 0
    if t == "time":
        return (8 if s == 0 else 9 + s), s
    if t == "datetime2":
        return (19 if s == 0 else 20 + s), s
    if t == "datetimeoffset":
        return (26 if s == 0 else 27 + s), s
    return 0, 0


@dataclass
class ViewContext:
    """What every catalog view is built from: one database's declared catalog, seen by one session."""

    session: object
    db: str
    tables: list[TableInfo]
    schemas: list[str]
    schema_ids: dict[str, int]
    when: dt.datetime = dt.datetime(2024, 1, 1)  # create_date/modify_date of system objects

    def schema_id(self, schema: str) -> int:
        return self.schema_ids.get(schema.lower(), 1)


# Views built inline below; the other modules register theirs in VIEWS dicts
_INLINE = ("information_schema.tables", "information_schema.columns", "information_schema.schemata",
           "sys.schemas", "sys.tables", "sys.views", "sys.objects", "sys.columns", "sys.types", "sys.databases",
           "sys.dm_exec_connections")


def _registry() -> dict:
    from mctm_replica.standin.engine import sysviews_keys, sysviews_server

    return {**sysviews_keys.VIEWS, **sysviews_server.VIEWS}


def view_names() -> list[str]:
    """Every catalog view the stand-in answers, as 'schema.name' in lower case."""
    return sorted(set(_INLINE) | set(_registry()))


def _context(session, catalog: str) -> ViewContext:
    db = session.database_display(catalog) if catalog else session.database
    tables = sorted(session.all_tables(db).values(), key=lambda t: (t.schema.lower(), t.name.lower()))
    schemas = session.all_schemas(db)
    schema_ids = {"dbo": 1}
    for i, sname in enumerate(s for s in schemas if s.lower() != "dbo"):
        schema_ids[sname.lower()] = 5 + i
    return ViewContext(session, db, tables, schemas, schema_ids)


def table_function(session, catalog: str, name: str, args: list) -> tuple[str, list[str], list[Decl]] | None:
    """SQL, column names and declarations of a catalog table-valued function; None if not one."""
    from mctm_replica.standin.engine.sysviews_server import TABLE_FUNCTIONS

    fn = TABLE_FUNCTIONS.get(name.lower())
    if fn is None:
        return None
    cols, rows = fn(_context(session, catalog), args)
    return _values(cols, rows), [n for n, _ in cols], [d for _, d in cols]


def system_view(session, catalog: str, schema: str, name: str, written: str) -> tuple[str, list[str], list[Decl]]:
    """SQL, column names and declarations of one catalog view."""
    db = session.database_display(catalog) if catalog else session.database
    tables = sorted(session.all_tables(db).values(), key=lambda t: (t.schema.lower(), t.name.lower()))
    schemas = session.all_schemas(db)
    schema_ids = {"dbo": 1}
    for i, sname in enumerate(s for s in schemas if s.lower() != "dbo"):
        schema_ids[sname.lower()] = 5 + i
    cols: list[tuple[str, Decl]]
    rows: list[tuple]
    key = f"{schema}.{name}"
    if schema == "sys" and name in ct.VIEWS:  # Change Tracking's views: engine/change_tracking/views.py
        return ct.ct_view(session, catalog, name, _values)
    built = _registry().get(key)
    if built is not None:
        cols, rows = built(ViewContext(session, db, tables, schemas, schema_ids))
    elif key == "information_schema.tables":
        cols = [("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN), ("TABLE_TYPE", Decl("varchar", length=10))]
        rows = [(db, t.schema, t.name, t.kind) for t in tables]
    elif key == "information_schema.columns":
        cols = [("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN), ("COLUMN_NAME", SN),
                ("ORDINAL_POSITION", INT), ("COLUMN_DEFAULT", Decl("nvarchar", length=4000)),
                ("IS_NULLABLE", Decl("varchar", length=3)), ("DATA_TYPE", SN),
                ("CHARACTER_MAXIMUM_LENGTH", INT), ("CHARACTER_OCTET_LENGTH", INT),
                ("NUMERIC_PRECISION", TINY), ("NUMERIC_PRECISION_RADIX", SMALL), ("NUMERIC_SCALE", INT),
                ("DATETIME_PRECISION", SMALL), ("CHARACTER_SET_CATALOG", SN), ("CHARACTER_SET_SCHEMA", SN),
                ("CHARACTER_SET_NAME", SN), ("COLLATION_CATALOG", SN), ("COLLATION_SCHEMA", SN),
                ("COLLATION_NAME", SN), ("DOMAIN_CATALOG", SN), ("DOMAIN_SCHEMA", SN), ("DOMAIN_NAME", SN)]
        rows = []
        for t in tables:
            for c in t.columns:
                cml, col = _char_lengths(c.decl)
                prec, radix, scale = _numeric(c.decl)
                is_char = c.decl.type in ("char", "varchar", "text", "nchar", "nvarchar", "ntext")
                charset = _charset(c.decl) if is_char else None
                rows.append((db, t.schema, t.name, c.name, c.ordinal, c.default, "YES" if c.nullable else "NO",
                             data_type_name(c.decl), cml, col, prec, radix, scale, _dt_precision(c.decl),
                             None, None, charset, None, None, c.decl.collation if is_char else None, None, None, None))
    elif key == "information_schema.schemata":
        cols = [("CATALOG_NAME", SN), ("SCHEMA_NAME", SN), ("SCHEMA_OWNER", SN),
                ("DEFAULT_CHARACTER_SET_CATALOG", Decl("varchar", length=6)),
                ("DEFAULT_CHARACTER_SET_SCHEMA", Decl("varchar", length=3)),
                ("DEFAULT_CHARACTER_SET_NAME", SN)]
        rows = [(db, s, "dbo", None, None, "iso_1") for s in schemas]
    elif key == "sys.schemas":
        cols = [("name", SN), ("schema_id", INT), ("principal_id", INT)]
        rows = [(s, schema_ids[s.lower()], 1) for s in schemas]
    elif key in ("sys.tables", "sys.views", "sys.objects"):
        cols = [("name", SN), ("object_id", INT), ("principal_id", INT), ("schema_id", INT),
                ("parent_object_id", INT), ("type", Decl("char", length=2)), ("type_desc", Decl("nvarchar", length=60)),
                ("create_date", Decl("datetime")), ("modify_date", Decl("datetime")), ("is_ms_shipped", BIT)]
        rows = []
        for t in tables:
            sid = schema_ids.get(t.schema.lower(), 1)
            is_view = t.kind == "VIEW"
            if key == "sys.tables" and is_view or key == "sys.views" and not is_view:
                continue
            rows.append((t.name, t.object_id, None, sid, 0, "V " if is_view else "U ",
                         "VIEW" if is_view else "USER_TABLE", *object_dates(t), False))
            if key == "sys.objects":
                for cname, kind, desc in _constraint_objects(t):
                    rows.append((cname, session.object_id(db, t.schema, cname), None, sid, t.object_id, kind,
                                 desc, object_dates(t)[0], object_dates(t)[0], False))
    elif key == "sys.columns":
        cols = [("object_id", INT), ("name", SN), ("column_id", INT), ("system_type_id", TINY),
                ("user_type_id", INT), ("max_length", SMALL), ("precision", TINY), ("scale", TINY),
                ("collation_name", SN), ("is_nullable", BIT), ("is_identity", BIT), ("is_computed", BIT),
                ("is_rowguidcol", BIT), ("default_object_id", INT)]
        rows = []
        for t in tables:
            for c in t.columns:
                p, s = sys_precision_scale(c.decl)
                is_char = c.decl.type in ("char", "varchar", "text", "nchar", "nvarchar", "ntext")
                tid = TYPE_IDS[c.decl.type]
                dflt = 0 if c.default is None else session.object_id(db, t.schema, default_name(t, c))
                rows.append((t.object_id, c.name, c.ordinal, tid, tid, octet_length(c.decl), p, s,
                             c.decl.collation if is_char else None, c.nullable, c.identity is not None, c.computed is not None,
                             False, dflt))
    elif key == "sys.types":
        cols = [("name", SN), ("system_type_id", TINY), ("user_type_id", INT), ("schema_id", INT),
                ("max_length", SMALL), ("precision", TINY), ("scale", TINY), ("collation_name", SN),
                ("is_nullable", BIT), ("is_user_defined", BIT)]
        rows = []
        for tname, tid in sorted(TYPE_IDS.items(), key=lambda kv: kv[1]):
            d = Decl(tname, length=8000 if tname in ("varchar", "varbinary", "char", "binary", "nvarchar", "nchar") else None,
                     precision=38 if tname in ("decimal", "numeric") else None,
                     scale=38 if tname in ("decimal", "numeric") else (7 if tname in ("time", "datetime2", "datetimeoffset") else None))
            if tname in ("nvarchar", "nchar"):
                d = Decl(tname, length=4000)
            p, s = sys_precision_scale(d)
            is_char = tname in ("char", "varchar", "text", "nchar", "nvarchar", "ntext")
            rows.append(("timestamp" if tname == "rowversion" else tname, tid, tid, 4, octet_length(d) if tname != "xml" else -1,
                         p, s, COLLATION if is_char else None, True, False))
        rows.append(("sysname", 231, 256, 4, 256, 0, 0, COLLATION, False, False))
    elif key == "sys.databases":
        cols = [("name", SN), ("database_id", INT), ("source_database_id", INT), ("owner_sid", Decl("varbinary", length=85)),
                ("create_date", Decl("datetime")), ("compatibility_level", TINY), ("collation_name", SN),
                ("state", TINY), ("state_desc", Decl("nvarchar", length=60)), ("recovery_model_desc", Decl("nvarchar", length=60)),
                ("is_read_only", BIT)]
        rows = [(n, i, None, b"\x01", dt.datetime(2024, 1, 1), 160, session.engine.database_collation(n).name, 0, "ONLINE", "SIMPLE", False)
                for n, i in session.database_ids()]
        snap_cols, snap = ct.database_snapshot_columns(session)  # ALLOW_SNAPSHOT_ISOLATION
        cols, rows = cols + snap_cols, [r + snap[r[0]] for r in rows]
    elif key == "sys.dm_exec_connections":  # transport facts (TLS, TDS version): see connviews.py
        from mctm_replica.standin.engine.connviews import dm_exec_connections

        cols, rows = dm_exec_connections(session)
    else:
        raise SqlError(208, f"Invalid object name '{written}'.")
    return _values(cols, rows), [n for n, _ in cols], [d for _, d in cols]


def _charset(d: Decl) -> str:
    """INFORMATION_SCHEMA's CHARACTER_SET_NAME: the code page of the column's collation."""
    if d.type in UNICODE_TYPES:
        return "UNICODE"
    from mctm_replica.standin.engine import collations

    return {1252: "iso_1", 932: "cp932", 65001: "UTF8"}[collations.of(d.collation).code_page]


def _constraint_objects(t: TableInfo) -> list[tuple[str, str, str]]:
    """sys.objects rows of a table's constraints: (name, type, type_desc)."""
    out = [(t.pk[0], "PK", "PRIMARY_KEY_CONSTRAINT")] if t.pk else []
    out += [(u[0], "UQ", "UNIQUE_CONSTRAINT") for u in t.uniques]
    out += [(f.name, "F ", "FOREIGN_KEY_CONSTRAINT") for f in t.fks]
    out += [(default_name(t, c), "D ", "DEFAULT_CONSTRAINT") for c in t.columns if c.default is not None]
    return out
