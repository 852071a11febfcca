"""Per-database Change Tracking and snapshot settings, their DuckDB tables and the version counter.

Everything that must be transactional lives in DuckDB tables of the database's
hidden ``__standin`` schema, so a rolled-back transaction takes its changes with
it and a SNAPSHOT reader sees one consistent state:

* ``db_options``: one row, the ALTER DATABASE settings (Change Tracking on/off,
  retention, auto cleanup, ALLOW_SNAPSHOT_ISOLATION);
* ``ct_tables``: one row per tracked table (what sys.change_tracking_tables shows);
* ``ct_commits``: one row per committed transaction that changed a tracked table,
  mapping the transaction's token to its version (SQL Server's syscommittab);
* ``ct_<object_id>``: one side table per tracked table, one row per changed key
  and statement (token, statement sequence, operation, updated column ids, key).

Only the database settings are cached here in Python (ALTER DATABASE cannot run
inside a transaction, so the cache is always exact), together with the last
version handed out, which commits allocate under ``Registry.lock`` so versions
follow commit order.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from mctm_replica.standin.engine.catalog import quote

# SQL Server's defaults for SET CHANGE_TRACKING = ON without options: 2 days, auto cleanup on.
DEFAULT_RETENTION = 2
UNITS = {"MINUTES": 1, "HOURS": 2, "DAYS": 3}
UNIT_MINUTES = {1: 1, 2: 60, 3: 1440}


@dataclass
class DbSettings:
    change_tracking: bool = False
    retention: int = DEFAULT_RETENTION
    retention_units: int = UNITS["DAYS"]
    auto_cleanup: bool = True
    allow_snapshot: bool = False
    last_version: int = 0  # highest version a committed transaction of this database got
    last_token: int = 0  # highest transaction token handed out (tokens only need to be unique)


def hidden(alias: str, name: str) -> str:
    return f'{quote(alias)}."__standin".{quote(name)}'


def side_table(alias: str, object_id: int) -> str:
    return hidden(alias, f"ct_{object_id}")


class Registry:
    """The engine's Change Tracking settings cache and commit lock."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.lock = threading.RLock()
        self._dbs: dict[str, DbSettings] = {}
        self._cur = None

    def _cursor(self):
        if self._cur is None:
            self._cur = self.engine.new_cursor()
        return self._cur

    def settings(self, alias: str) -> DbSettings:
        with self.lock:
            hit = self._dbs.get(alias)
            if hit is None:
                hit = self._load(alias)
                self._dbs[alias] = hit
            return hit

    def next_token(self, alias: str) -> int:
        with self.lock:
            s = self.settings(alias)
            s.last_token += 1
            return s.last_token

    def forget(self, alias: str) -> None:
        with self.lock:
            self._dbs.pop(alias, None)

    def _exists(self, alias: str, table: str) -> bool:
        return bool(self._cursor().execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = '__standin' "
            "AND table_name = ?", [alias, table]).fetchall()[0][0])

    def _load(self, alias: str) -> DbSettings:
        s = DbSettings()
        cur = self._cursor()
        if self._exists(alias, "db_options"):
            row = cur.execute(f"SELECT change_tracking, retention, retention_units, auto_cleanup, allow_snapshot "
                              f"FROM {hidden(alias, 'db_options')}").fetchall()
            row = row[0] if row else None
            if row is not None:
                s.change_tracking, s.retention, s.retention_units, s.auto_cleanup, s.allow_snapshot = row
        if self._exists(alias, "ct_commits"):
            s.last_version, s.last_token = (int(v) for v in cur.execute(
                f"SELECT coalesce(max(version), 0), coalesce(max(tx), 0) FROM {hidden(alias, 'ct_commits')}"
            ).fetchall()[0])
        return s

    def save(self, alias: str, s: DbSettings) -> None:
        """Write ``s`` (autocommit: ALTER DATABASE never runs inside a transaction)."""
        cur = self._cursor()
        with self.lock:
            for stmt in create_statements(alias):
                cur.execute(stmt)
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"DELETE FROM {hidden(alias, 'db_options')}")
            cur.execute(f"INSERT INTO {hidden(alias, 'db_options')} VALUES (?, ?, ?, ?, ?)",
                        [s.change_tracking, s.retention, s.retention_units, s.auto_cleanup, s.allow_snapshot])
            cur.execute("COMMIT")
            self._dbs[alias] = s


def create_statements(alias: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {hidden(alias, 'db_options')} (change_tracking BOOLEAN, retention INTEGER, "
        "retention_units TINYINT, auto_cleanup BOOLEAN, allow_snapshot BOOLEAN)",
        f"CREATE TABLE IF NOT EXISTS {hidden(alias, 'ct_tables')} (object_id INTEGER, schema_name VARCHAR, "
        "table_name VARCHAR, track_columns BOOLEAN, begin_version BIGINT, cleanup_version BIGINT, "
        "min_valid_version BIGINT)",
        f"CREATE TABLE IF NOT EXISTS {hidden(alias, 'ct_commits')} (tx BIGINT, version BIGINT, "
        "committed_at TIMESTAMP)",
    ]


_REGISTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_REG_LOCK = threading.Lock()


def registry(engine) -> Registry:
    with _REG_LOCK:
        reg = _REGISTRIES.get(engine)
        if reg is None:
            reg = Registry(engine)
            _REGISTRIES[engine] = reg
        return reg


def settings(session, db: str | None = None) -> DbSettings:
    alias = session.engine.alias(db or session.database)
    return registry(session.engine).settings(alias)


def current_version_sql(alias: str) -> str:
    """The committed version the reading transaction sees (consistent inside a snapshot)."""
    return f"(SELECT coalesce(max(version), 0) FROM {hidden(alias, 'ct_commits')})"


def tracked_row(session, alias: str, object_id: int) -> tuple | None:
    """(track_columns, begin, cleanup, min_valid) of a tracked table, as this transaction sees it."""
    if not registry(session.engine).settings(alias).change_tracking:
        return None
    rows = session.cur.execute(
        f"SELECT track_columns, begin_version, cleanup_version, min_valid_version FROM {hidden(alias, 'ct_tables')} "
        "WHERE object_id = ?", [object_id]).fetchall()
    return rows[0] if rows else None
