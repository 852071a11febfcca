"""The declared-type catalog, stored as JSON comments on DuckDB tables and columns.

Keeping declarations in DuckDB's own COMMENT ON metadata makes them
transactional (a rolled-back CREATE TABLE takes its declarations with it),
persistent (they live in the database file) and always in step with ALTER
TABLE and DROP: there is no second catalog to keep consistent.
"""

from __future__ import annotations

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
                   *, not_null: bool = False) -> str:
    data: dict = {"t": str(decl)}
    if decl.collation is not None:
        data["c"] = decl.collation
    if not_null:
        data["nn"] = True
    if identity:
        data["id"] = list(identity)
    if default is not None:
        data["d"] = default
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
                             uniques=[tuple(u) for u in meta.get("uq", [])])
            tables[key] = info
        meta = json.loads(ccomment) if ccomment else {"t": "nvarchar(max)"}
        # a column stored before collations existed is in the server collation
        decl = parse_decl(meta["t"]).with_collation(meta.get("c", "SQL_Latin1_General_CP1_CI_AS"))
        info.columns.append(ColumnInfo(cname, decl, bool(nullable) and not meta.get("nn"), idx,
                                       tuple(meta["id"]) if meta.get("id") else None, meta.get("d")))
    for schema, name, comment in cur.execute(
        "SELECT schema_name, view_name, comment FROM duckdb_views() WHERE database_name = ? "
        "AND NOT internal AND schema_name NOT IN ('main', '__standin')", [alias]
    ).fetchall():
        meta = json.loads(comment) if comment else {"cols": []}
        info = TableInfo(db, alias, schema, name, "VIEW")
        for i, (cname, tdecl, nullable) in enumerate(meta["cols"], start=1):
            info.columns.append(ColumnInfo(cname, parse_decl(tdecl), nullable, i))
        tables[(schema.lower(), name.lower())] = info
    return tables


def load_schemas(cur, alias: str) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? ORDER BY schema_name", [alias]
    ).fetchall() if r[0] not in HIDDEN_SCHEMAS]
