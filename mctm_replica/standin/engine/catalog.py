"""The declared-type catalog, stored as JSON comments on DuckDB tables and columns.

Keeping declarations in DuckDB's own COMMENT ON metadata makes them
transactional (a rolled-back CREATE TABLE takes its declarations with it),
persistent (they live in the database file) and always in step with ALTER
TABLE and DROP: there is no second catalog to keep consistent.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass, field

from mctm_replica.standin.engine.decl import Decl, parse_decl

HIDDEN_SCHEMAS = frozenset({"main", "information_schema", "pg_catalog", "__standin"})


@dataclass
class ColumnInfo:
    name: str
    decl: Decl
    nullable: bool
    ordinal: int
    identity: tuple[int, int] | None = None
    default: str | None = None  # T-SQL text as INFORMATION_SCHEMA shows it, e.g. "((0))"
    default_name: str | None = None  # the DEFAULT constraint's name, when the DDL gave one
    computed: tuple[str, bool] | None = None  # (definition as SQL Server stores it, PERSISTED)


@dataclass
class ForeignKeyInfo:
    """A FOREIGN KEY as declared (recorded for the catalog views, not enforced)."""

    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass
class IndexInfo:
    """A CREATE INDEX as declared (recorded for the catalog views; see README)."""

    name: str
    columns: list[tuple[str, bool]]  # (column, descending)
    unique: bool = False
    clustered: bool = False
    include: list[str] = field(default_factory=list)
    filter: str | None = None  # sys.indexes.filter_definition, e.g. "([a] IS NOT NULL)"


@dataclass
class TableInfo:
    db: str  # display name of the database
    alias: str  # DuckDB catalog alias of the database
    schema: str
    name: str
    kind: str  # 'BASE TABLE' or 'VIEW'
    columns: list[ColumnInfo] = field(default_factory=list)
    pk: tuple[str, list[str]] | None = None
    uniques: list[tuple[str, list[str]]] = field(default_factory=list)
    fks: list[ForeignKeyInfo] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    definition: str | None = None  # a view's T-SQL text (sys.sql_modules, VIEWS.VIEW_DEFINITION)
    created: str | None = None  # ISO local time of CREATE (sys.objects.create_date)
    modified: str | None = None  # ISO local time of the last ALTER/CREATE INDEX (sys.objects.modify_date)

    @property
    def qualified(self) -> str:
        return f'{quote(self.alias)}.{quote(self.schema)}.{quote(self.name)}'

    @property
    def object_id(self) -> int:
        return object_id(self.db, self.schema, self.name)

    def column(self, name: str) -> ColumnInfo | None:
        low = name.lower()
        for c in self.columns:
            if c.name.lower() == low:
                return c
        return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def object_id(db: str, schema: str, name: str) -> int:
    """A stable positive int for OBJECT_ID and sys.objects (SQL Server's are arbitrary too)."""
    return zlib.crc32(f"{db}.{schema}.{name}".lower().encode()) & 0x3FFFFFFF | 0x100000


def column_comment(decl: Decl, identity: tuple[int, int] | None, default: str | None,
                   *, not_null: bool = False, default_name: str | None = None,
                   computed: tuple[str, bool] | None = None) -> str:
    data: dict = {"t": str(decl)}
    if decl.collation is not None:
        data["c"] = decl.collation
    if not_null:
        data["nn"] = True
    if identity:
        data["id"] = list(identity)
    if default is not None:
        data["d"] = default
    if default_name is not None:
        data["dn"] = default_name
    if computed is not None:
        data["cc"] = list(computed)  # "c" is the collation
    return json.dumps(data)


def load_tables(cur, db: str, alias: str) -> dict[tuple[str, str], TableInfo]:
    """Read every table and view of one database with its declarations."""
    rows = cur.execute(
        "SELECT t.schema_name, t.table_name, t.comment, c.column_name, c.column_index, c.is_nullable, c.comment "
        "FROM duckdb_tables() t JOIN duckdb_columns() c ON c.database_name = t.database_name "
        "AND c.schema_name = t.schema_name AND c.table_name = t.table_name "
        "WHERE t.database_name = ? AND t.schema_name NOT IN ('main', '__standin') ORDER BY 1, 2, 5",
        [alias],
    ).fetchall()
    tables: dict[tuple[str, str], TableInfo] = {}
    for schema, name, tcomment, cname, idx, nullable, ccomment in rows:
        key = (schema.lower(), name.lower())
        info = tables.get(key)
        if info is None:
            meta = json.loads(tcomment) if tcomment else {}
            info = TableInfo(db, alias, schema, name, "BASE TABLE",
                             pk=tuple(meta["pk"]) if meta.get("pk") else None,
                             uniques=[tuple(u) for u in meta.get("uq", [])],
                             fks=[ForeignKeyInfo(*f) for f in meta.get("fk", [])],
                             indexes=[IndexInfo(n, [tuple(c) for c in cols], *rest)
                                      for n, cols, *rest in meta.get("ix", [])],
                             created=meta.get("cd"), modified=meta.get("md"))
            tables[key] = info
        meta = json.loads(ccomment) if ccomment else {"t": "nvarchar(max)"}
        # a column stored before collations existed is in the server collation
        decl = parse_decl(meta["t"]).with_collation(meta.get("c", "SQL_Latin1_General_CP1_CI_AS"))
        info.columns.append(ColumnInfo(cname, decl, bool(nullable) and not meta.get("nn"), idx,
                                       tuple(meta["id"]) if meta.get("id") else None, meta.get("d"),
                                       meta.get("dn"), tuple(meta["cc"]) if meta.get("cc") else None))
    for schema, name, comment in cur.execute(
        "SELECT schema_name, view_name, comment FROM duckdb_views() WHERE database_name = ? "
        "AND NOT internal AND schema_name NOT IN ('main', '__standin')", [alias]
    ).fetchall():
        meta = json.loads(comment) if comment else {"cols": []}
        info = TableInfo(db, alias, schema, name, "VIEW", definition=meta.get("sql"), created=meta.get("cd"),
                         modified=meta.get("cd"))
        for i, (cname, tdecl, nullable) in enumerate(meta["cols"], start=1):
            info.columns.append(ColumnInfo(cname, parse_decl(tdecl), nullable, i))
        tables[(schema.lower(), name.lower())] = info
    return tables


def load_schemas(cur, alias: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? ORDER BY schema_name", [alias]
    ).fetchall() if r[0] not in HIDDEN_SCHEMAS]


def now_text() -> str:
    """The server's local time as create_date/modify_date keep it (whole seconds)."""
    return dt.datetime.now().replace(microsecond=0).isoformat()


def table_comment(pk, uniques, fks: list[ForeignKeyInfo], indexes: list[IndexInfo], *,
                  created: str | None = None) -> str:
    """The JSON kept as a table's COMMENT: keys, foreign keys, indexes, creation and modification times
    (``created`` None: created now). Every rewrite is a modification."""
    when = now_text()
    return json.dumps({
        "cd": created or when,
        "md": when,
        "pk": list(pk) if pk else None,
        "uq": [list(u) for u in uniques],
        "fk": [[f.name, f.columns, f.ref_schema, f.ref_table, f.ref_columns, f.on_delete, f.on_update] for f in fks],
        "ix": [[i.name, [list(c) for c in i.columns], i.unique, i.clustered, i.include, i.filter] for i in indexes],
    })
