"""DuckEngine: every database of the stand-in, in memory or one DuckDB file each.

Each SQL Server database is a DuckDB catalog ATTACHed under an internal alias
(``d_<lower-case name>``) to one DuckDB instance; sessions are cursors on that
instance, so they share data but each has its own transaction.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from pathlib import Path

import duckdb

from mctm_replica.standin.connections import ConnectionRegistry
from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog import quote
from mctm_replica.standin.engine.collations import SERVER_COLLATION, Collation, lookup, register_udfs
from mctm_replica.standin.engine.change_tracking.state import registry as ct_registry


_NAMES_FILE = "databases.json"


class DuckEngine:
    """contract.Engine backed by DuckDB."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._lock = threading.RLock()
        self._con = duckdb.connect(":memory:")
        self._setup(self._con)
        register_udfs(self._con)  # cursors (sessions) share the instance's functions
        # lower name -> the database's collation (CREATE DATABASE ... COLLATE), kept in the
        # database itself (table "__standin"."collation") so a data directory remembers it
        self._collations: dict[str, Collation] = {}
        self._dbs: dict[str, tuple[str, str, int]] = {}  # lower name -> (display, alias, database_id)
        self._users: dict[int, str] = {}  # id(session) -> database in use
        self._live: dict[int, object] = {}  # id(session) -> open session (sys.dm_exec_sessions)
        # id(session) -> {database alias: lowest rowversion its open transaction allocated},
        # for MIN_ACTIVE_ROWVERSION()
        self._rv_floors: dict[int, dict[str, int]] = {}
        self.version = 0
        # Filled by the TDS server with each connection's transport facts (sys.dm_exec_connections).
        self.connections = ConnectionRegistry()
        self._next_id = 5  # SQL Server numbers user databases from 5 (1-4 are system databases)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            names = self._read_names()
            for display, fname in names.items():
                self._attach(display, str(self.data_dir / fname), create=False)
        if not self.has_database("master"):
            self.create_database("master")

    @staticmethod
    def _setup(con) -> None:
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET default_collation = 'nocase'")

    def new_cursor(self):
        cur = self._con.cursor()
        self._setup(cur)
        return cur

    # ------------------------------------------------------------ names
    def _read_names(self) -> dict[str, str]:
        path = self.data_dir / _NAMES_FILE
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        return {}

    def _write_names(self) -> None:
        if self.data_dir is None:
            return
        names = {display: self._file_name(display) for display, _, _ in self._dbs.values()}
        (self.data_dir / _NAMES_FILE).write_text(json.dumps(names, indent=1), encoding="utf-8")

    @staticmethod
    def _file_name(display: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_]", "_", display.lower())[:40]
        return f"{safe}_{zlib.crc32(display.lower().encode()):08x}.duckdb"

    def alias(self, name: str) -> str | None:
        hit = self._dbs.get(name.lower())
        return hit[1] if hit else None

    def display_name(self, name: str) -> str:
        hit = self._dbs.get(name.lower())
        return hit[0] if hit else name

    def database_ids(self) -> list[tuple[str, int]]:
        return sorted(((d, i) for d, _, i in self._dbs.values()), key=lambda x: x[1])

    def bump_version(self) -> None:
        with self._lock:
            self.version += 1

    # ------------------------------------------------------------ contract
    def has_database(self, name: str) -> bool:
        return name.lower() in self._dbs

    def _attach(self, display: str, path: str, *, create: bool) -> None:
        alias = "d_" + display.lower()
        self._con.execute(f"ATTACH {_lit(path)} AS {quote(alias)}")
        if create:
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(alias)}.dbo")
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(alias)}.\"__standin\"")
            # rowversion values start where a fresh SQL Server database's do (0x7D1)
            self._con.execute(f"CREATE SEQUENCE IF NOT EXISTS {quote(alias)}.\"__standin\".\"rowversion\" START 2001")
        self._collations[display.lower()] = SERVER_COLLATION
        if not create:
            row = self._con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = '__standin' "
                "AND table_name = 'collation'", [alias]).fetchone()
            if row and row[0]:
                stored = self._con.execute(f'SELECT name FROM {quote(alias)}."__standin"."collation"').fetchone()
                if stored:
                    self._collations[display.lower()] = lookup(stored[0])
        db_id = 1 if display.lower() == "master" else self._next_id
        if db_id != 1:
            self._next_id += 1
        self._dbs[display.lower()] = (display, alias, db_id)

    def database_collation(self, name: str) -> Collation:
        """The database's default collation (the server's when it was created without COLLATE)."""
        return self._collations.get(name.lower(), SERVER_COLLATION)

    def create_database(self, name: str, collation: str | None = None) -> None:
        if not name or len(name) > 128:
            raise SqlError(102, f"Incorrect syntax near '{name}'.")
        coll = lookup(collation) if collation is not None else None
        if coll is not None and (coll.binary or coll.case_sensitive or not coll.accent_sensitive):
            raise SqlError(50000, f"The SQL Server stand-in does not support collation '{coll.name}' for a "
                                  "database: it compares text case-insensitively and accent-sensitively only "
                                  "(use a _CI_AS collation).")
        with self._lock:
            if self.has_database(name):
                raise SqlError(1801, f"Database '{name}' already exists. Choose a different database name.")
            path = ":memory:" if self.data_dir is None else str(self.data_dir / self._file_name(name))
            self._attach(name, path, create=True)
            if coll is not None:
                alias = self.alias(name)
                self._con.execute(f'CREATE TABLE {quote(alias)}."__standin"."collation" (name VARCHAR)')
                self._con.execute(f'INSERT INTO {quote(alias)}."__standin"."collation" VALUES (?)', [coll.name])
                self._collations[name.lower()] = coll
            self._write_names()
            self.version += 1

    def drop_database(self, name: str, by=None) -> None:
        with self._lock:
            if not self.has_database(name) or name.lower() == "master":
                if name.lower() == "master":
                    raise SqlError(3708, "Cannot drop the database 'master' because it is a system database.")
                raise SqlError(3701, f"Cannot drop the database '{name}', because it does not exist or you do not "
                                     "have permission.", severity=11)
            in_use = [s for s, db in self._users.items() if db.lower() == name.lower()]
            if in_use:
                raise SqlError(3702, f'Cannot drop database "{self.display_name(name)}" because it is currently in use.')
            display, alias, _ = self._dbs.pop(name.lower())
            self._collations.pop(name.lower(), None)
            ct_registry(self).forget(alias)  # its Change Tracking settings go with it
            self._con.execute(f"DETACH {quote(alias)}")
            if self.data_dir is not None:
                for suffix in ("", ".wal"):
                    p = self.data_dir / (self._file_name(display) + suffix)
                    if p.exists():
                        p.unlink()
            self._write_names()
            self.version += 1

    def connect(self, database: str, *, spid: int, login: str):
        from mctm_replica.standin.engine.session import DuckSession

        if not self.has_database(database or "master"):
            raise SqlError(4060, f'Cannot open database "{database}" requested by the login. The login failed.', severity=11)
        with self._lock:
            return DuckSession(self, database or "master", spid=spid, login=login)

    def session_uses(self, session, database: str) -> None:
        with self._lock:
            self._users[id(session)] = database
            self._live[id(session)] = session

    def session_closed(self, session) -> None:
        with self._lock:
            self._users.pop(id(session), None)
            self._live.pop(id(session), None)
            self._rv_floors.pop(id(session), None)

    def live_sessions(self) -> list:
        """Every open session, in spid order."""
        with self._lock:
            return sorted(self._live.values(), key=lambda s: s.spid)

    def note_rowversion(self, session, alias: str, value: int) -> None:
        """``session`` is about to write rowversions >= ``value`` in ``alias``, uncommitted."""
        with self._lock:
            floors = self._rv_floors.setdefault(id(session), {})
            floors[alias] = min(value, floors.get(alias, value))

    def rowversions_committed(self, session) -> None:
        with self._lock:
            self._rv_floors.pop(id(session), None)

    def active_rowversion_floor(self, alias: str) -> int | None:
        """The lowest rowversion an open transaction of ``alias`` may still commit."""
        with self._lock:
            floors = [f[alias] for f in self._rv_floors.values() if alias in f]
        return min(floors) if floors else None

    def close(self) -> None:
        with self._lock:
            try:
                if self.data_dir is not None:
                    self._con.execute("CHECKPOINT")
            except duckdb.Error:
                pass
            self._con.close()


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
