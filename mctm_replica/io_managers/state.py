"""Per-table replication state in PostgreSQL: the watermark of each incremental table, the
Change Tracking version of each change_tracking table (``watermark_kind`` ``change_tracking``).

One row per replica table in ``mctm_replica.replica_state``. It is read ``FOR UPDATE``
and written in the same transaction as the rows it describes, so the stored watermark
always covers exactly the committed rows: a run that dies before COMMIT leaves both the
rows and the watermark as they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg2.errors
from psycopg2 import sql

STATE_SCHEMA = "mctm_replica"
STATE_TABLE = "replica_state"


@dataclass(frozen=True)
class ReplicaState:
    target_table: str
    watermark_column: str
    watermark_kind: str
    watermark: str | None  # text form (Watermark.to_text); None: no rows seen yet
    runs_since_reconcile: int  # incremental runs since deletes were last reconciled
    last_reconciled_at: dt.datetime | None
    updated_at: dt.datetime
    # Columns added to the source since the last full load: rows merged before they were
    # added have no value there, so the content check leaves them out until a full load.
    unfilled_columns: list[str]
    ct_version: int | None = None  # change_tracking tables: the version the rows are consistent with


def _table() -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(STATE_SCHEMA), sql.Identifier(STATE_TABLE))


_COLUMNS = sql.SQL(
    "target_table, watermark_column, watermark_kind, watermark, runs_since_reconcile, "
    "last_reconciled_at, updated_at, unfilled_columns, ct_version"
)


def ensure_state_table(conn) -> None:
    """Create the schema and table if absent, in a short transaction of its own. Two runs
    may race here; the loser's duplicate error is the one expected and means it exists."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(STATE_SCHEMA)))
            cur.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "target_table text PRIMARY KEY, watermark_column text NOT NULL, "
                "watermark_kind text NOT NULL, watermark text, "
                "runs_since_reconcile integer NOT NULL DEFAULT 0, "
                "last_reconciled_at timestamptz, updated_at timestamptz NOT NULL, run_id text, "
                "unfilled_columns text[] NOT NULL DEFAULT '{{}}', ct_version bigint)"
            ).format(_table()))
            # State tables made before change_tracking existed gain its column. Only when it is
            # missing: ALTER TABLE takes an ACCESS EXCLUSIVE lock even with IF NOT EXISTS, and
            # would queue behind every running refresh that holds its state row FOR UPDATE.
            cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                        "AND column_name = 'ct_version'", (STATE_SCHEMA, STATE_TABLE))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS ct_version bigint").format(_table()))
        conn.commit()
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable,
            psycopg2.errors.DuplicateObject, psycopg2.errors.DuplicateColumn):
        conn.rollback()


def state_table_exists(cur) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.{STATE_TABLE}",))
    return bool(cur.fetchone()[0])


def read_state(cur, target_table: str, *, for_update: bool = False) -> ReplicaState | None:
    query = sql.SQL("SELECT {} FROM {} WHERE target_table = %s{}").format(
        _COLUMNS, _table(), sql.SQL(" FOR UPDATE" if for_update else ""))
    cur.execute(query, (target_table,))
    row = cur.fetchone()
    return ReplicaState(*row) if row else None


def read_all_states(conn) -> dict[str, ReplicaState]:
    """Every stored state by target table; empty when no incremental table ran yet."""
    with conn.cursor() as cur:
        try:
            cur.execute(sql.SQL("SELECT {} FROM {}").format(_COLUMNS, _table()))
        except psycopg2.errors.UndefinedTable:
            conn.rollback()
            return {}
        return {row[0]: ReplicaState(*row) for row in cur.fetchall()}


def write_state(cur, *, target_table: str, watermark_column: str, watermark_kind: str,
                watermark: str | None, reconciled: bool, run_id: str, unfilled: list[str],
                ct_version: int | None = None) -> None:
    """Upsert the table's state inside the caller's transaction."""
    cur.execute(sql.SQL(
        "INSERT INTO {t} AS s (target_table, watermark_column, watermark_kind, watermark, "
        "runs_since_reconcile, last_reconciled_at, updated_at, run_id, unfilled_columns, ct_version) "
        "VALUES (%(t)s, %(c)s, %(k)s, %(w)s, 0, CASE WHEN %(r)s THEN now() END, now(), %(run)s, %(u)s, %(v)s) "
        "ON CONFLICT (target_table) DO UPDATE SET watermark_column = EXCLUDED.watermark_column, "
        "watermark_kind = EXCLUDED.watermark_kind, watermark = EXCLUDED.watermark, "
        "runs_since_reconcile = CASE WHEN %(r)s THEN 0 ELSE s.runs_since_reconcile + 1 END, "
        "last_reconciled_at = CASE WHEN %(r)s THEN now() ELSE s.last_reconciled_at END, "
        "updated_at = now(), run_id = EXCLUDED.run_id, unfilled_columns = EXCLUDED.unfilled_columns, "
        "ct_version = EXCLUDED.ct_version"
    ).format(t=_table()), {"t": target_table, "c": watermark_column, "k": watermark_kind,
                            "w": watermark, "r": reconciled, "run": run_id, "u": unfilled,
                            "v": ct_version})
