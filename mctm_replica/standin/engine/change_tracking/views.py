"""sys.change_tracking_databases, sys.change_tracking_tables, sys.databases' snapshot columns,
and snapshot isolation's error 3952.

sys.change_tracking_tables reads the database's ``ct_tables`` through the
session's own transaction, so a SNAPSHOT transaction sees min_valid_version as
of its snapshot, as in SQL Server.
"""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.change_tracking.state import hidden, registry
from mctm_replica.standin.engine.decl import Decl

INT, BIT, TINY, BIG = Decl("int"), Decl("bit"), Decl("tinyint"), Decl("bigint")
DESC = Decl("nvarchar", length=60)
UNIT_DESC = {1: "MINUTES", 2: "HOURS", 3: "DAYS"}
VIEWS = ("change_tracking_databases", "change_tracking_tables")


def ct_view(session, catalog: str, name: str, values) -> tuple[str, list[str], list[Decl]]:
    """(SQL, names, decls) of one Change Tracking catalog view; ``values`` builds a VALUES query."""
    reg = registry(session.engine)
    if name == "change_tracking_databases":
        cols = [("database_id", INT), ("is_auto_cleanup_on", BIT), ("retention_period", INT),
                ("retention_period_units", TINY), ("retention_period_units_desc", DESC)]
        rows = []
        for db, db_id in session.database_ids():
            s = reg.settings(session.engine.alias(db))
            if s.change_tracking:
                rows.append((db_id, s.auto_cleanup, s.retention, s.retention_units, UNIT_DESC[s.retention_units]))
        return values(cols, rows), [n for n, _ in cols], [d for _, d in cols]
    cols = [("object_id", INT), ("is_track_columns_updated_on", BIT), ("min_valid_version", BIG),
            ("begin_version", BIG), ("cleanup_version", BIG)]
    db = catalog or session.database
    alias = session.engine.alias(db)
    if alias is None:
        raise SqlError(911, f"Database '{db}' does not exist. Make sure that the name is entered correctly.")
    if not reg.settings(alias).change_tracking:
        return values(cols, []), [n for n, _ in cols], [d for _, d in cols]
    sql = (f"SELECT object_id, track_columns AS is_track_columns_updated_on, min_valid_version, begin_version, "
           f"cleanup_version FROM {hidden(alias, 'ct_tables')}")
    return sql, [n for n, _ in cols], [d for _, d in cols]


def database_snapshot_columns(session) -> tuple[list[tuple[str, Decl]], dict[str, tuple]]:
    """The columns sys.databases adds for snapshot isolation, and their values per database name."""
    cols = [("snapshot_isolation_state", TINY), ("snapshot_isolation_state_desc", DESC),
            ("is_read_committed_snapshot_on", BIT)]
    reg = registry(session.engine)
    values = {}
    for db, _ in session.database_ids():
        on = reg.settings(session.engine.alias(db)).allow_snapshot
        values[db] = (1 if on else 0, "ON" if on else "OFF", False)
    return cols, values


def check_snapshot(session, stmt: exp.Expression) -> None:
    """Error 3952 when a SNAPSHOT-isolation statement touches a user table of a database that does not
    allow snapshot isolation (catalog views do not count, as in SQL Server)."""
    if getattr(session, "isolation", "") != "SNAPSHOT":
        return
    reg = registry(session.engine)
    for t in stmt.find_all(exp.Table):
        if not t.name or t.text("db").lower() in ("sys", "information_schema"):
            continue
        if session.lookup_table(t.text("catalog"), t.text("db"), t.name) is None:
            continue
        db = session.engine.display_name(t.text("catalog") or session.database)
        if not reg.settings(session.engine.alias(db)).allow_snapshot:
            raise SqlError(3952, f"Snapshot isolation transaction failed accessing database '{db}' because snapshot "
                                 "isolation is not allowed in this database. Use ALTER DATABASE to allow snapshot "
                                 "isolation.")
