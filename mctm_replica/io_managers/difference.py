"""SQL that brings the live table to the staged rows by difference, in the caller's
transaction, with plain row-level DML: no ``TRUNCATE``, no ACCESS EXCLUSIVE lock.

Every statement is MVCC-safe: a reader whose snapshot predates the COMMIT keeps seeing
the old rows (REPEATABLE READ and SERIALIZABLE included), a later one sees the new. Rows
whose values did not change are never written -- ``UPDATE ... WHERE (...) IS DISTINCT
FROM (...)`` touches only differing rows, and the insert and delete steps are
anti-joins -- so an unchanged row keeps its tuple (same ``xmin``), costs no WAL and leaves
no dead tuple behind. (``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` would lock, and so
WAL-log, every conflicting row even when the ``WHERE`` skips it.)

Identifiers only go through ``sql.Identifier``; the stage is a ``TEMP`` table of this
session (:meth:`PostgresClient.create_stage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg2 import sql


@dataclass
class Counts:
    """What one apply step did to the live table."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    before: int = 0  # live rows when the step began (the delete guard's base)


@dataclass(frozen=True)
class SlicePredicate:
    """A ``WHERE`` condition on the live table (alias ``t``) limiting a step to one slice,
    e.g. a time partition; its values are parameters, never formatted into the SQL."""

    condition: sql.Composable
    params: tuple = ()


def _where(where: SlicePredicate | None) -> tuple[sql.Composable, tuple]:
    if where is None:
        return sql.SQL("TRUE"), ()
    return sql.SQL("({})").format(where.condition), where.params


def _idents(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _qualified(alias: str, names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(n)) for n in names)


def _key_match(key: Sequence[str]) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in key)


def unique_key(cur, stage: sql.Composable, key: Sequence[str], name: str) -> None:
    """A unique index on the stage's key: a key read twice (a configured key that is not
    unique, or a NOLOCK read meeting a page split) fails the run naming the key, as the
    old insert did, instead of one copy silently winning the update."""
    cur.execute(sql.SQL("CREATE UNIQUE INDEX {} ON {} ({})").format(
        sql.Identifier(f"{name}_key"[:63]), stage, _idents(key)))


def delete_gone(cur, live: sql.Composable, stage: sql.Composable, key: Sequence[str],
                where: SlicePredicate | None = None) -> tuple[int, int]:
    """Delete live rows (of the ``where`` slice only, if given) whose key is not in
    ``stage``; returns (deleted, live rows of the slice before). The count runs in the same
    statement, so it sees the table as it was before the delete (every part of a statement
    shares one snapshot)."""
    condition, params = _where(where)
    cur.execute(sql.SQL(
        "WITH gone AS (DELETE FROM {live} AS t WHERE {cond} AND NOT EXISTS "
        "(SELECT 1 FROM {stage} AS s WHERE {match}) RETURNING 1) "
        "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM {live} AS t WHERE {cond})"
    ).format(live=live, stage=stage, match=_key_match(key), cond=condition), params * 2 or None)
    deleted, before = cur.fetchone()
    return int(deleted), int(before)


def delete_all(cur, live: sql.Composable, where: SlicePredicate | None = None) -> int:
    """``DELETE`` every row (of the ``where`` slice, if given; MVCC-safe, unlike
    ``TRUNCATE``); returns how many."""
    condition, params = _where(where)
    cur.execute(sql.SQL("DELETE FROM {} AS t WHERE {}").format(live, condition), params or None)
    return int(cur.rowcount)


def update_changed(cur, live: sql.Composable, stage: sql.Composable, key: Sequence[str],
                   columns: Sequence[str], *, distinct: bool = False) -> int:
    """Update live rows whose staged values differ; returns how many. ``distinct``: the
    stage may hold a key twice (one copy is used)."""
    values = [c for c in columns if c not in key]
    if not values:
        return 0
    source = (sql.SQL("(SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key})").format(
        key=_idents(key), cols=_idents(columns), stage=stage) if distinct else stage)
    cur.execute(sql.SQL(
        "UPDATE {live} AS t SET {assign} FROM {source} AS s WHERE {match} AND ({old}) IS DISTINCT FROM ({new})"
    ).format(
        live=live, source=source, match=_key_match(key),
        assign=sql.SQL(", ").join(sql.SQL("{c} = s.{c}").format(c=sql.Identifier(c)) for c in values),
        old=_qualified("t", values), new=_qualified("s", values)))
    return int(cur.rowcount)


def insert_missing(cur, live: sql.Composable, stage: sql.Composable, key: Sequence[str],
                   columns: Sequence[str], *, distinct: bool = False) -> int:
    """Insert staged rows whose key the live table lacks; returns how many."""
    pick = sql.SQL("DISTINCT ON ({}) ").format(_idents(key)) if distinct else sql.SQL("")
    order = sql.SQL(" ORDER BY {}").format(_idents(key)) if distinct else sql.SQL("")
    cur.execute(sql.SQL(
        "INSERT INTO {live} ({cols}) SELECT {pick}{s_cols} FROM {stage} AS s "
        "WHERE NOT EXISTS (SELECT 1 FROM {live} AS t WHERE {match}){order}"
    ).format(live=live, cols=_idents(columns), pick=pick, s_cols=_qualified("s", columns),
             stage=stage, match=_key_match(key), order=order))
    return int(cur.rowcount)


def insert_all(cur, live: sql.Composable, stage: sql.Composable, columns: Sequence[str]) -> int:
    cols = _idents(columns)
    cur.execute(sql.SQL("INSERT INTO {} ({cols}) SELECT {cols} FROM {}").format(live, stage, cols=cols))
    return int(cur.rowcount)


def count_missing(cur, live: sql.Composable, keys: sql.Composable, key: Sequence[str]) -> int:
    """Source keys (in ``keys``) the live table lacks."""
    cur.execute(sql.SQL("SELECT count(*) FROM {keys} AS s WHERE NOT EXISTS (SELECT 1 FROM {live} AS t WHERE {m})")
                .format(keys=keys, live=live, m=_key_match(key)))
    return int(cur.fetchone()[0])
