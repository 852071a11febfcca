"""Helpers shared by the Change Tracking tests (test_change_tracking*.py)."""

from __future__ import annotations

TRACKED = (
    "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON);"
    " CREATE TABLE dbo.t (id int PRIMARY KEY, a int, b int, c int);"
    " ALTER TABLE dbo.t ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)"
)


def _one(cur, sql, params=None):
    cur.execute(sql, params) if params is not None else cur.execute(sql)
    return tuple(cur.fetchone())


def _all(cur, sql, params=None):
    cur.execute(sql, params) if params is not None else cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def _version(cur) -> int | None:
    return _one(cur, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")[0]


def _changes(cur, last) -> str:
    """Each changed key as ``id op version/creation``, in key order (as the probes were written)."""
    rows = _all(cur, "SELECT id, SYS_CHANGE_OPERATION, SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION "
                     f"FROM CHANGETABLE(CHANGES dbo.t, {last}) AS ct ORDER BY id")
    return " ".join(f"{i}{op}{v}/{'' if cv is None else cv}" for i, op, v, cv in rows)
