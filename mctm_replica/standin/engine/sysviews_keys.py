"""Catalog views of keys, constraints and indexes (sys.* and INFORMATION_SCHEMA).

Built from what the DDL recorded (catalog.py): primary keys, UNIQUE
constraints, foreign keys, DEFAULT constraints, identity columns and
CREATE INDEX. Column lists and types follow SQL Server 2022's views.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mctm_replica.standin.engine.catalog import ForeignKeyInfo, TableInfo, quote
from mctm_replica.standin.engine.catalog_ddl import default_name
from mctm_replica.standin.engine.decl import Decl, octet_length

SN = Decl("nvarchar", length=128)
INT = Decl("int")
BIT = Decl("bit")
TINY = Decl("tinyint")
SMALL = Decl("smallint")
BIG = Decl("bigint")
DESC60 = Decl("nvarchar", length=60)
TYPE2 = Decl("char", length=2)
MAXTEXT = Decl("nvarchar", length=-1)
# create_date/modify_date of objects made before the stand-in kept DDL times (old data dirs)
UNKNOWN_DATE = dt.datetime(2024, 1, 1)
RULE_CODES = {"NO ACTION": 0, "CASCADE": 1, "SET NULL": 2, "SET DEFAULT": 3}


@dataclass
class Index:
    table: TableInfo
    index_id: int
    name: str | None
    type: int  # 0 heap, 1 clustered, 2 nonclustered
    columns: list[tuple[str, bool]]  # key columns (name, descending)
    include: list[str]
    is_pk: bool
    is_uq: bool  # a UNIQUE constraint
    unique: bool
    filter: str | None


def indexes(tables: list[TableInfo]) -> list[Index]:
    """sys.indexes rows: the heap or clustered index (id 0/1), then constraints and CREATE INDEX (2..)."""
    out = []
    for t in tables:
        if t.kind != "BASE TABLE":
            continue
        clustered = next((i for i in t.indexes if i.clustered), None)
        if t.pk:
            out.append(Index(t, 1, t.pk[0], 1, [(c, False) for c in t.pk[1]], [], True, False, True, None))
        elif clustered:
            out.append(Index(t, 1, clustered.name, 1, clustered.columns, clustered.include, False, False,
                             clustered.unique, clustered.filter))
        else:
            out.append(Index(t, 0, None, 0, [], [], False, False, False, None))
        n = 2
        for uname, ucols in t.uniques:
            out.append(Index(t, n, uname, 2, [(c, False) for c in ucols], [], False, True, True, None))
            n += 1
        for i in t.indexes:
            if i is clustered and not t.pk:
                continue
            out.append(Index(t, n, i.name, 2, i.columns, i.include, False, False, i.unique, i.filter))
            n += 1
    return out


def object_dates(t: TableInfo) -> tuple[dt.datetime, dt.datetime]:
    """(create_date, modify_date) of a table or view as its catalog entry recorded them."""
    created = dt.datetime.fromisoformat(t.created) if t.created else UNKNOWN_DATE
    return created, dt.datetime.fromisoformat(t.modified) if t.modified else created


def _created(t: TableInfo) -> dt.datetime:
    """Constraints made with their table: both dates are the table's creation."""
    return object_dates(t)[0]


def _col(t: TableInfo, name: str):
    c = t.column(name)
    return (c.ordinal, c.name) if c else (0, name)


def sys_indexes(ctx):
    cols = [("object_id", INT), ("name", SN), ("index_id", INT), ("type", TINY), ("type_desc", DESC60),
            ("is_unique", BIT), ("data_space_id", INT), ("ignore_dup_key", BIT), ("is_primary_key", BIT),
            ("is_unique_constraint", BIT), ("fill_factor", TINY), ("is_padded", BIT), ("is_disabled", BIT),
            ("is_hypothetical", BIT), ("is_ignored_in_optimization", BIT), ("allow_row_locks", BIT),
            ("allow_page_locks", BIT), ("has_filter", BIT), ("filter_definition", MAXTEXT),
            ("compression_delay", INT), ("suppress_dup_key_messages", BIT), ("auto_created", BIT),
            ("optimize_for_sequential_key", BIT)]
    rows = [(i.table.object_id, i.name, i.index_id, i.type, ["HEAP", "CLUSTERED", "NONCLUSTERED"][i.type], i.unique,
             1, False, i.is_pk, i.is_uq, 0, False, False, False, False, True, True, i.filter is not None, i.filter,
             None, False, False, False) for i in indexes(ctx.tables)]
    return cols, rows


def sys_index_columns(ctx):
    cols = [("object_id", INT), ("index_id", INT), ("index_column_id", INT), ("column_id", INT),
            ("key_ordinal", TINY), ("partition_ordinal", TINY), ("is_descending_key", BIT),
            ("is_included_column", BIT), ("column_store_order_ordinal", TINY)]
    rows = []
    for i in indexes(ctx.tables):
        k = 0
        for k, (c, desc) in enumerate(i.columns, start=1):
            rows.append((i.table.object_id, i.index_id, k, _col(i.table, c)[0], k, 0, desc, False, 0))
        for j, c in enumerate(i.include, start=k + 1):
            rows.append((i.table.object_id, i.index_id, j, _col(i.table, c)[0], 0, 0, False, True, 0))
    return cols, rows


def sys_key_constraints(ctx):
    cols = [("name", SN), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT),
            ("type", TYPE2), ("type_desc", DESC60), ("create_date", Decl("datetime")),
            ("modify_date", Decl("datetime")), ("is_ms_shipped", BIT), ("is_published", BIT),
            ("is_schema_published", BIT), ("unique_index_id", INT), ("is_system_named", BIT),
            ("is_enforced", BIT)]
    rows = [(i.name, ctx.session.object_id(ctx.db, i.table.schema, i.name), None, ctx.schema_id(i.table.schema),
             i.table.object_id, "PK" if i.is_pk else "UQ", "PRIMARY_KEY_CONSTRAINT" if i.is_pk else "UNIQUE_CONSTRAINT",
             _created(i.table), _created(i.table), False, False, False, i.index_id,
             i.name.startswith(("PK__", "UQ__")), True)
            for i in indexes(ctx.tables) if i.is_pk or i.is_uq]
    return cols, rows


def sys_partitions(ctx):
    cols = [("partition_id", BIG), ("object_id", INT), ("index_id", INT), ("partition_number", INT),
            ("hobt_id", BIG), ("rows", BIG), ("filestream_filegroup_id", SMALL), ("data_compression", TINY),
            ("data_compression_desc", DESC60)]
    counts = {t.qualified: ctx.session.count_rows(t) for t in ctx.tables if t.kind == "BASE TABLE"}
    rows = [((i.table.object_id << 16) + i.index_id, i.table.object_id, i.index_id, 1,
             (i.table.object_id << 16) + i.index_id, counts[i.table.qualified], 0, 0, "NONE")
            for i in indexes(ctx.tables)]
    return cols, rows


def _referenced_key(ctx, fk: ForeignKeyInfo) -> tuple[str | None, int]:
    """Name and index_id of the key a foreign key points at (SQL Server's UNIQUE_CONSTRAINT_NAME, key_index_id)."""
    want = sorted(c.lower() for c in fk.ref_columns)
    for i in indexes(ctx.tables):
        t = i.table
        if (t.schema.lower(), t.name.lower()) == (fk.ref_schema.lower(), fk.ref_table.lower()) and i.unique \
                and i.filter is None and sorted(c.lower() for c, _ in i.columns) == want:
            return i.name, i.index_id
    return None, 0


def _fks(ctx) -> list[tuple[TableInfo, ForeignKeyInfo]]:
    return [(t, f) for t in ctx.tables for f in t.fks]


def _table(ctx, schema: str, name: str) -> TableInfo | None:
    return ctx.session.lookup_table(ctx.db, schema, name)


def sys_foreign_keys(ctx):
    cols = [("name", SN), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT),
            ("type", TYPE2), ("type_desc", DESC60), ("create_date", Decl("datetime")),
            ("modify_date", Decl("datetime")), ("is_ms_shipped", BIT), ("is_published", BIT),
            ("is_schema_published", BIT), ("referenced_object_id", INT), ("key_index_id", INT),
            ("is_disabled", BIT), ("is_not_for_replication", BIT), ("is_not_trusted", BIT),
            ("delete_referential_action", TINY), ("delete_referential_action_desc", DESC60),
            ("update_referential_action", TINY), ("update_referential_action_desc", DESC60),
            ("is_system_named", BIT)]
    rows = []
    for t, f in _fks(ctx):
        ref = _table(ctx, f.ref_schema, f.ref_table)
        rows.append((f.name, ctx.session.object_id(ctx.db, t.schema, f.name), None, ctx.schema_id(t.schema),
                     t.object_id, "F ", "FOREIGN_KEY_CONSTRAINT", _created(t), _created(t), False, False, False,
                     ref.object_id if ref else None, _referenced_key(ctx, f)[1], False, False, False,
                     RULE_CODES[f.on_delete], f.on_delete.replace(" ", "_"), RULE_CODES[f.on_update],
                     f.on_update.replace(" ", "_"), f.name.startswith("FK__")))
    return cols, rows


def sys_foreign_key_columns(ctx):
    cols = [("constraint_object_id", INT), ("constraint_column_id", INT), ("parent_object_id", INT),
            ("parent_column_id", INT), ("referenced_object_id", INT), ("referenced_column_id", INT)]
    rows = []
    for t, f in _fks(ctx):
        ref = _table(ctx, f.ref_schema, f.ref_table)
        for k, (c, rc) in enumerate(zip(f.columns, f.ref_columns), start=1):
            rows.append((ctx.session.object_id(ctx.db, t.schema, f.name), k, t.object_id, _col(t, c)[0],
                         ref.object_id if ref else None, _col(ref, rc)[0] if ref else None))
    return cols, rows


def sys_default_constraints(ctx):
    cols = [("name", SN), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT),
            ("type", TYPE2), ("type_desc", DESC60), ("create_date", Decl("datetime")),
            ("modify_date", Decl("datetime")), ("is_ms_shipped", BIT), ("is_published", BIT),
            ("is_schema_published", BIT), ("parent_column_id", INT), ("definition", MAXTEXT),
            ("is_system_named", BIT)]
    rows = []
    for t in ctx.tables:
        for c in t.columns:
            if c.default is not None:
                name = default_name(t, c)
                rows.append((name, ctx.session.object_id(ctx.db, t.schema, name), None, ctx.schema_id(t.schema),
                             t.object_id, "D ", "DEFAULT_CONSTRAINT", _created(t), _created(t), False, False, False,
                             c.ordinal,
                             c.default, c.default_name is None))
    return cols, rows


def _column_type_cols():
    return [("system_type_id", TINY), ("user_type_id", INT), ("max_length", SMALL), ("precision", TINY),
            ("scale", TINY), ("collation_name", SN), ("is_nullable", BIT)]


def sys_identity_columns(ctx):
    from mctm_replica.standin.engine.sysviews import TYPE_IDS, sys_precision_scale

    # seed_value, increment_value and last_value are sql_variant in SQL Server; the stand-in has
    # no sql_variant and answers bigint (README "Known differences")
    cols = ([("object_id", INT), ("name", SN), ("column_id", INT)] + _column_type_cols()
            + [("is_identity", BIT), ("seed_value", BIG), ("increment_value", BIG), ("last_value", BIG),
               ("is_not_for_replication", BIT)])
    rows = []
    for t in ctx.tables:
        for c in t.columns:
            if c.identity is None:
                continue
            p, s = sys_precision_scale(c.decl)
            tid = TYPE_IDS[c.decl.type]
            agg = "max" if c.identity[1] > 0 else "min"
            last = ctx.session.cur.execute(f"SELECT {agg}({quote(c.name)}) FROM {t.qualified}").fetchone()[0]
            rows.append((t.object_id, c.name, c.ordinal, tid, tid, octet_length(c.decl), p, s, None, False, True,
                         c.identity[0], c.identity[1], None if last is None else int(last), False))
    return cols, rows


def sys_computed_columns(ctx):
    from mctm_replica.standin.engine.sysviews import COLLATION, TYPE_IDS, sys_precision_scale

    cols = ([("object_id", INT), ("name", SN), ("column_id", INT)] + _column_type_cols()
            + [("is_computed", BIT), ("definition", MAXTEXT), ("uses_database_collation", BIT),
               ("is_persisted", BIT)])
    rows = []
    for t in ctx.tables:
        for c in t.columns:
            if c.computed is None:
                continue
            p, s = sys_precision_scale(c.decl)
            tid = TYPE_IDS[c.decl.type]
            is_char = c.decl.type in ("char", "varchar", "text", "nchar", "nvarchar", "ntext")
            rows.append((t.object_id, c.name, c.ordinal, tid, tid, octet_length(c.decl), p, s,
                         COLLATION if is_char else None, c.nullable, True, c.computed[0], is_char, c.computed[1]))
    return cols, rows


def key_constraints(t: TableInfo) -> list[tuple[str, str, list[str]]]:
    """(name, CONSTRAINT_TYPE, columns) of a table's PRIMARY KEY, UNIQUE and FOREIGN KEY constraints."""
    out = [(t.pk[0], "PRIMARY KEY", t.pk[1])] if t.pk else []
    out += [(n, "UNIQUE", c) for n, c in t.uniques]
    out += [(f.name, "FOREIGN KEY", f.columns) for f in t.fks]
    return out


def is_table_constraints(ctx):
    cols = [("CONSTRAINT_CATALOG", SN), ("CONSTRAINT_SCHEMA", SN), ("CONSTRAINT_NAME", SN),
            ("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN),
            ("CONSTRAINT_TYPE", Decl("varchar", length=11)), ("IS_DEFERRABLE", Decl("varchar", length=2)),
            ("INITIALLY_DEFERRED", Decl("varchar", length=2))]
    rows = [(ctx.db, t.schema, n, ctx.db, t.schema, t.name, kind, "NO", "NO")
            for t in ctx.tables for n, kind, _ in key_constraints(t)]
    return cols, rows


def is_key_column_usage(ctx):
    cols = [("CONSTRAINT_CATALOG", SN), ("CONSTRAINT_SCHEMA", SN), ("CONSTRAINT_NAME", SN),
            ("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN), ("COLUMN_NAME", SN),
            ("ORDINAL_POSITION", INT)]
    rows = [(ctx.db, t.schema, n, ctx.db, t.schema, t.name, _col(t, c)[1], i)
            for t in ctx.tables for n, _, cs in key_constraints(t) for i, c in enumerate(cs, start=1)]
    return cols, rows


def is_constraint_column_usage(ctx):
    cols = [("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN), ("COLUMN_NAME", SN),
            ("CONSTRAINT_CATALOG", SN), ("CONSTRAINT_SCHEMA", SN), ("CONSTRAINT_NAME", SN)]
    rows = [(ctx.db, t.schema, t.name, _col(t, c)[1], ctx.db, t.schema, n)
            for t in ctx.tables for n, _, cs in key_constraints(t) for c in cs]
    return cols, rows


def is_referential_constraints(ctx):
    rule = Decl("varchar", length=11)
    cols = [("CONSTRAINT_CATALOG", SN), ("CONSTRAINT_SCHEMA", SN), ("CONSTRAINT_NAME", SN),
            ("UNIQUE_CONSTRAINT_CATALOG", SN), ("UNIQUE_CONSTRAINT_SCHEMA", SN), ("UNIQUE_CONSTRAINT_NAME", SN),
            ("MATCH_OPTION", Decl("varchar", length=7)), ("UPDATE_RULE", rule), ("DELETE_RULE", rule)]
    rows = []
    for t, f in _fks(ctx):
        key = _referenced_key(ctx, f)[0]
        rows.append((ctx.db, t.schema, f.name, ctx.db, f.ref_schema, key, "SIMPLE", f.on_update, f.on_delete))
    return cols, rows


VIEWS = {
    "sys.indexes": sys_indexes, "sys.index_columns": sys_index_columns, "sys.key_constraints": sys_key_constraints,
    "sys.partitions": sys_partitions, "sys.foreign_keys": sys_foreign_keys,
    "sys.foreign_key_columns": sys_foreign_key_columns, "sys.default_constraints": sys_default_constraints,
    "sys.identity_columns": sys_identity_columns, "sys.computed_columns": sys_computed_columns,
    "information_schema.table_constraints": is_table_constraints,
    "information_schema.key_column_usage": is_key_column_usage,
    "information_schema.constraint_column_usage": is_constraint_column_usage,
    "information_schema.referential_constraints": is_referential_constraints,
}
