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


class ReplicaLayoutError(TargetError):
    """An existing replica table no longer matches the source in a way that cannot be
    applied in place; the message names the table, every column, and the fix."""


def _idents(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _key_match(left: str, right: str, key: Sequence[str]) -> sql.Composable:
    """``l.k1 = r.k1 AND l.k2 = r.k2`` for the key columns."""
    return sql.SQL(" AND ").join(
        sql.SQL("{}.{} = {}.{}").format(sql.Identifier(left), sql.Identifier(k),
                                        sql.Identifier(right), sql.Identifier(k))
        for k in key
    )


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
        """Apply schema changes to the live table, inside the caller's transaction. Run
        destructive ones (drop, narrow, retype) only on an emptied table."""
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
    def copy_into(stage: sql.Composed, columns: Sequence[str]) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(stage, _idents(columns))

    @staticmethod
    def lock_live(cur, slice_: TableSlice, lock_timeout_s: int) -> None:
        """Readers wait at most for the rest of this transaction -- the server-side step --
        never for the transfer; ``lock_timeout`` bounds how long we wait for them."""
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_s}s",))
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(PostgresClient.table(slice_)))

    @staticmethod
    def truncate(cur, slice_: TableSlice) -> None:
        cur.execute(sql.SQL("TRUNCATE {}").format(PostgresClient.table(slice_)))

    @staticmethod
    def insert_from(cur, slice_: TableSlice, stage: sql.Composed, columns: Sequence[str]) -> None:
        cols = _idents(columns)
        cur.execute(sql.SQL("INSERT INTO {} ({cols}) SELECT {cols} FROM {}").format(
            PostgresClient.table(slice_), stage, cols=cols))

    @staticmethod
    def merge(cur, slice_: TableSlice, stage: sql.Composed, plan: TablePlan) -> tuple[int, int]:
        """Upsert staging into the live table by primary key; a row is updated only where a
        value differs. Returns (inserted, updated)."""
        key, cols = plan.primary_key, plan.target_columns
        values = [c for c in cols if c not in key]
        if values:
            excluded = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in values)
            action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
                excluded,
                sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in values),
                sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in values))
        else:
            action = sql.SQL("DO NOTHING")
        # DISTINCT ON: a NOLOCK read can return a row twice, and ON CONFLICT must not touch
        # one row twice in a statement.
        cur.execute(sql.SQL(
            "WITH merged AS (INSERT INTO {live} AS t ({cols}) "
            "SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key} "
            "ON CONFLICT ({key}) {action} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        ).format(live=PostgresClient.table(slice_), cols=_idents(cols), key=_idents(key),
                 stage=stage, action=action))
        inserted, updated = cur.fetchone()
        return int(inserted), int(updated)

    @staticmethod
    def delete_missing(cur, slice_: TableSlice, keys: sql.Composed, plan: TablePlan) -> tuple[int, int]:
        """Delete live rows whose key is not among the source's keys. Returns (deleted,
        source keys the replica lacks) -- the latter are rows added since the change read,
        or changes older than the lookback, which a full refresh fetches."""
        live = PostgresClient.table(slice_)
        match = _key_match("t", "k", plan.primary_key)
        cur.execute(sql.SQL("DELETE FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS k WHERE {})")
                    .format(live, keys, match))
        deleted = cur.rowcount
        cur.execute(sql.SQL("SELECT count(*) FROM {} AS k WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {})")
                    .format(keys, live, match))
        return int(deleted), int(cur.fetchone()[0])

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
