"""Every SQL statement the replica IO manager runs on PostgreSQL.

Identifiers only ever go through ``sql.Identifier``; column types come from the type
map's fixed vocabulary (:mod:`mctm_replica.typemap`), never from user text.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2
import psycopg2.errors
from dagster._core.storage.db_io_manager import TableSlice
from psycopg2 import sql

from mctm_replica.io_managers.drift import ColumnChange
from mctm_replica.plan import TablePlan
from mctm_replica.resources.postgres import TargetError


#: work_mem for the final step's comparison (see lock_live): enough to keep a hash of
#: about a million narrow keys, or wider rows of smaller tables, in memory.
APPLY_WORK_MEM = "64MB"


class ReplicaLayoutError(TargetError):
    """An existing replica table no longer matches the source in a way that cannot be
    applied in place; the message names the table, every column, and the fix."""


def _idents(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


class PostgresClient:
    """All SQL the IO manager runs, as static methods over a cursor or connection."""

    @staticmethod
    def table(slice_: TableSlice) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(slice_.schema), sql.Identifier(slice_.table))

    @staticmethod
    def ensure_schema(conn, schema: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS in its own short transaction.

        Two assets of one schema may race here; the loser's unique violation on
        pg_namespace is the one expected error and means the schema now exists.
        """
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.commit()
        except psycopg2.errors.UniqueViolation:
            conn.rollback()

    @staticmethod
    def lock_refresh(cur, name: str) -> None:
        """Serialises refreshes of one table across runs, until this transaction ends."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mctm_replica:{name}",))

    @staticmethod
    def existing_columns(cur, slice_: TableSlice) -> list[tuple[str, str, bool]] | None:
        """(name, format_type, nullable) in column order, or None if the table is absent."""
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (slice_.schema, slice_.table),
        )
        rows = cur.fetchall()
        if rows:
            return rows
        cur.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (slice_.schema, slice_.table),
        )
        return [] if cur.fetchone() else None

    @staticmethod
    def primary_key(cur, slice_: TableSlice) -> tuple[str | None, list[str]]:
        """The live table's primary-key constraint name and columns in key order."""
        cur.execute(
            "SELECT c.conname, array_agg(a.attname ORDER BY k.ord) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND t.relname = %s AND c.contype = 'p' GROUP BY c.conname",
            (slice_.schema, slice_.table),
        )
        row = cur.fetchone()
        return (row[0], list(row[1])) if row else (None, [])

    @staticmethod
    def _column_defs(plan: TablePlan, *, constraints: bool) -> list[sql.Composable]:
        return [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.target_name),
                sql.SQL(c.pg_type),  # from the type map's fixed vocabulary, never user text
                sql.SQL(" NOT NULL" if constraints and not c.nullable else ""),
            )
            for c in plan.columns
        ]

    @staticmethod
    def create_table(cur, slice_: TableSlice, plan: TablePlan) -> None:
        parts = PostgresClient._column_defs(plan, constraints=True)
        if plan.primary_key:
            parts.append(sql.SQL("PRIMARY KEY ({})").format(_idents(plan.primary_key)))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(
            PostgresClient.table(slice_), sql.SQL(", ").join(parts)))

    @staticmethod
    def refuse_incompatible(changes: Sequence[ColumnChange], name: str) -> None:
        """Fail, naming every column, when a change cannot be applied in place."""
        bad = [c for c in changes if not c.compatible]
        if not bad:
            return
        raise ReplicaLayoutError(
            f"replica table `{name}` no longer matches its source: "
            f"{'; '.join(c.describe() for c in bad)}. Nothing was changed. Fix: run the asset "
            f"once with run config `full_refresh: true` (it rebuilds these columns and reloads "
            f"every row), or restore the source column(s), or leave them out with `columns` "
            f"in tables.yaml"
        )

    @staticmethod
    def apply_changes(cur, slice_: TableSlice, plan: TablePlan, changes: Sequence[ColumnChange]) -> None:
        """Apply schema changes to the live table, inside the caller's transaction (each
        ``ALTER TABLE`` takes ACCESS EXCLUSIVE until COMMIT). Run destructive ones (drop,
        narrow, retype, key) only on a table emptied by ``DELETE``."""
        live, name = PostgresClient.table(slice_), f"{slice_.schema}.{slice_.table}"
        nullable = {c.target_name: c.nullable for c in plan.columns}
        for change in changes:
            col = sql.Identifier(change.column)
            if change.kind == "add":
                stmt = sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(live, col, sql.SQL(change.new))
            elif change.kind == "drop":
                stmt = sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(live, col)
            elif change.kind == "allow_null":
                stmt = sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(live, col)
            elif change.kind == "key":  # on the emptied table, so the new key cannot conflict
                name, _ = PostgresClient.primary_key(cur, slice_)
                if name is not None:
                    cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(live, sql.Identifier(name)))
                if not plan.primary_key:
                    continue
                stmt = sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(live, _idents(plan.primary_key))
            else:  # widen keeps every value; narrow/retype run on an empty table
                using = sql.SQL("") if change.kind == "widen" else sql.SQL(" USING NULL")
                stmt = sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}{}").format(
                    live, col, sql.SQL(change.new), using)
                if nullable[change.column]:
                    stmt = sql.SQL("{}, ALTER COLUMN {} DROP NOT NULL").format(stmt, col)
            try:
                cur.execute(stmt)
            except (psycopg2.errors.FeatureNotSupported,
                    psycopg2.errors.DependentObjectsStillExist) as e:
                detail = " ".join(filter(None, [str(e).strip().splitlines()[0], e.diag.message_detail]))
                raise ReplicaLayoutError(
                    f"replica table `{name}`: cannot apply \"{change.describe()}\" because other "
                    f"objects depend on the column ({detail}). Nothing was changed. Fix: drop the "
                    f"dependent view(s), run again, and recreate them"
                ) from e

    @staticmethod
    def create_stage(cur, slice_: TableSlice, plan: TablePlan) -> sql.Composed:
        """A TEMP table with the plan's columns: no WAL, gone at commit or rollback."""
        stage = sql.Identifier(stage_name(slice_, "rows"))
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            stage, sql.SQL(", ").join(PostgresClient._column_defs(plan, constraints=False))))
        return stage

    @staticmethod
    def create_key_stage(cur, slice_: TableSlice, plan: TablePlan) -> sql.Composed:
        types = {c.target_name: c.pg_type for c in plan.columns}
        stage = sql.Identifier(stage_name(slice_, "keys"))
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            stage, sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(types[k])) for k in plan.primary_key)))
        return stage

    @staticmethod
    def copy_into(stage: sql.Composed, columns: Sequence[str], *, freeze: bool = False) -> sql.Composed:
        """COPY of CSV rows. ``freeze`` (only into a table created in this transaction) writes
        them frozen, hint bits set: the first reads need not set them, nor a later VACUUM freeze
        them."""
        options = "FORMAT csv, FREEZE" if freeze else "FORMAT csv"
        return sql.SQL("COPY {} ({}) FROM STDIN WITH (" + options + ")").format(stage, _idents(columns))

    @staticmethod
    def lock_live(cur, slice_: TableSlice, lock_timeout_s: int) -> None:
        """Lock out other writers until COMMIT, but not readers: SHARE ROW EXCLUSIVE
        conflicts with INSERT/UPDATE/DELETE and DDL, never with SELECT (ACCESS SHARE).
        ``lock_timeout`` (for the rest of this transaction) bounds how long this, a schema
        change's ACCESS EXCLUSIVE, and row locks held by others may keep the refresh waiting."""
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_s}s",))
        # The comparison's hash joins hold one side (staging or the live table) in memory;
        # at the default 4 MB they spill to disk in many batches for a table of a few
        # hundred MB. Local to this transaction; one refresh per table at a time.
        cur.execute("SELECT set_config('work_mem', %s, true)", (APPLY_WORK_MEM,))
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(PostgresClient.table(slice_)))

    @staticmethod
    def select(slice_: TableSlice, columns: Sequence[str] | None = None) -> sql.Composed:
        cols = _idents(columns) if columns else sql.SQL("*")
        return sql.SQL("SELECT {} FROM {}").format(cols, PostgresClient.table(slice_))

    @staticmethod
    def count(conn, slice_: TableSlice) -> int:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(PostgresClient.table(slice_)))
            return int(cur.fetchone()[0])


def stage_name(slice_: TableSlice, what: str) -> str:
    # Temp tables live in the session's own schema, so the name only has to be unique per session.
    return f"mctm_{what}_{slice_.table}"[:63]
