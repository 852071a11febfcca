"""ALTER DATABASE / ALTER TABLE for Change Tracking and snapshot isolation, and the cleanup procedure.

sqlglot leaves these ALTER forms as plain commands; ``alter_command`` reads them
with the grammar SQL Server documents and raises the errors SQL Server raises
(numbers and texts from sys.messages). ``EXEC sp_standin_ct_cleanup`` is the
stand-in's own administration procedure, see ``cleanup_procedure``.
"""

from __future__ import annotations

import re

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.change_tracking.state import (
    UNIT_MINUTES, UNITS, DbSettings, hidden, registry, side_table, tracked_row,
)
from mctm_replica.standin.engine.decl import storage_type

_NAME = r'(?:\[(?:[^\]]|\]\])*\]|"[^"]*"|[\w#@$]+)'
_ALTER_DB = re.compile(rf"^\s*DATABASE\s+({_NAME})\s+SET\s+(.*?)\s*;?\s*$", re.I | re.S)
_ALTER_TABLE = re.compile(
    rf"^\s*TABLE\s+({_NAME}(?:\s*\.\s*{_NAME}){{0,2}})\s+(ENABLE|DISABLE)\s+CHANGE_TRACKING\b(.*?)\s*;?\s*$", re.I | re.S)
_CT_ON = re.compile(r"^CHANGE_TRACKING\s*=\s*ON\s*(?:\((.*)\))?$", re.I | re.S)
_CT_OFF = re.compile(r"^CHANGE_TRACKING\s*=\s*OFF$", re.I)
_CT_SET = re.compile(r"^CHANGE_TRACKING\s*\((.*)\)$", re.I | re.S)
_SNAPSHOT = re.compile(r"^ALLOW_SNAPSHOT_ISOLATION\s+(ON|OFF)$", re.I)
_RETENTION = re.compile(r"^CHANGE_RETENTION\s*=\s*(\d+)\s+(\w+)$", re.I)
_CLEANUP = re.compile(r"^AUTO_CLEANUP\s*=\s*(ON|OFF)$", re.I)
_TRACK_COLS = re.compile(r"^\s*(?:WITH\s*\(\s*TRACK_COLUMNS_UPDATED\s*=\s*(ON|OFF)\s*\))?\s*$", re.I)
MAX_MINUTES = 2147483647  # CHANGE_RETENTION is stored in minutes, an int
SYSTEM_DATABASES = {"master", "tempdb", "model", "msdb"}


def _unquote(name: str) -> str:
    if name.startswith("["):
        return name[1:-1].replace("]]", "]")
    return name[1:-1] if name.startswith('"') else name


def _failed(e: SqlError) -> SqlError:
    # SQL Server follows each of these with Msg 5069 "ALTER DATABASE statement failed.";
    # the stand-in's errors carry one message (see README, Known differences).
    return e


def alter_command(session, rest: str) -> bool:
    """Run ``ALTER <rest>`` if it is a Change Tracking or snapshot form; False if it is not."""
    m = _ALTER_DB.match(rest)
    if m:
        return _alter_database(session, _unquote(m.group(1)), m.group(2).strip())
    m = _ALTER_TABLE.match(rest)
    if m:
        _alter_table(session, m.group(1), m.group(2).upper() == "ENABLE", m.group(3))
        return True
    return False


def _alter_database(session, name: str, option: str) -> bool:
    on, off, change, snap = _CT_ON.match(option), _CT_OFF.match(option), _CT_SET.match(option), _SNAPSHOT.match(option)
    if not (on or off or change or snap):
        return False
    db = session.database if name.upper() == "CURRENT" else name
    if not session.engine.has_database(db):
        raise SqlError(911, f"Database '{db}' does not exist. Make sure that the name is entered correctly.")
    db = session.engine.display_name(db)
    if session.trancount:
        raise SqlError(226, "ALTER DATABASE statement not allowed within multi-statement transaction.")
    alias = session.engine.alias(db)
    reg = registry(session.engine)
    old = reg.settings(alias)
    new = DbSettings(old.change_tracking, old.retention, old.retention_units, old.auto_cleanup, old.allow_snapshot,
                     old.last_version)
    if snap:
        new.allow_snapshot = snap.group(1).upper() == "ON"
        reg.save(alias, new)
        return True
    if db.lower() in SYSTEM_DATABASES:
        raise _failed(SqlError(5090, f"Database '{db}' is a system database. Change tracking settings cannot be "
                                     "modified for system databases."))
    if on:
        if old.change_tracking:
            raise _failed(SqlError(5088, f"Change tracking is already enabled for database '{db}'."))
        new.change_tracking = True
        _options(new, on.group(1), state=2)
    elif change:
        if not old.change_tracking:
            raise _failed(SqlError(5089, f"Change tracking is disabled for database '{db}'. Change tracking must be "
                                         "enabled on a database to modify change tracking settings.", state=2))
        _options(new, change.group(1), state=1)
    else:
        if not old.change_tracking:
            raise _failed(SqlError(5089, f"Change tracking is disabled for database '{db}'. Change tracking must be "
                                         "enabled on a database to modify change tracking settings."))
        if session.cur.execute(f"SELECT count(*) FROM {hidden(alias, 'ct_tables')}").fetchall()[0][0]:
            raise _failed(SqlError(
                22115, f"Change tracking is enabled for one or more tables in database '{db}'. Disable change "
                       "tracking on each table before disabling it for the database. Use the "
                       "sys.change_tracking_tables catalog view to obtain a list of tables for which change "
                       "tracking is enabled."))
        new.change_tracking = False
    reg.save(alias, new)
    session.ddl_changed()
    return True


def _options(s: DbSettings, text: str | None, *, state: int) -> None:
    if text is None:
        return
    if not text.strip():
        raise SqlError(102, "Incorrect syntax near ')'.", severity=15)
    seen: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        r, c = _RETENTION.match(part), _CLEANUP.match(part)
        key = "CHANGE_RETENTION" if r else "AUTO_CLEANUP" if c else None
        if key is None:
            raise SqlError(102, f"Incorrect syntax near '{part[:30]}'.", severity=15)
        if key in seen:
            raise SqlError(5091, f"ALTER DATABASE change tracking option '{key}' was specified more than once. "
                                 "Each option can be specified only once.", severity=15, state=state)
        seen.add(key)
        if r:
            unit = r.group(2).upper()
            if unit not in UNITS:
                raise SqlError(155, f"'{r.group(2)}' is not a recognized CHANGE RETENTION UNIT option.",
                               severity=15, state=2)
            n = int(r.group(1))
            if n < 1 or n * UNIT_MINUTES[UNITS[unit]] > MAX_MINUTES:
                raise SqlError(5092, "The value for change tracking option 'CHANGE_RETENTION' is not valid. The "
                                     "value must be between 1 and 2147483647 minutes.", severity=15)
            s.retention, s.retention_units = n, UNITS[unit]
        else:
            s.auto_cleanup = c.group(1).upper() == "ON"


def _in_txn(session, statements: list[tuple[str, list]]) -> None:
    cur = session.cur
    own = session.trancount == 0
    if own:
        cur.execute("BEGIN TRANSACTION")
    try:
        for sql, params in statements:
            cur.execute(sql, params or None)
        if own:
            cur.execute("COMMIT")
    except Exception:
        if own:
            cur.execute("ROLLBACK")
        raise
    finally:
        session.ddl_changed()


def _alter_table(session, written: str, enable: bool, tail: str) -> None:
    tm = _TRACK_COLS.match(tail)
    if tm is None or (not enable and tail.strip()):
        raise SqlError(102, f"Incorrect syntax near '{tail.strip()[:30]}'.", severity=15)
    import sqlglot

    from mctm_replica.standin.engine.dialect import StandinTSQL

    tbl = sqlglot.parse_one(f"SELECT 1 FROM {written}", read=StandinTSQL).find(exp.Table)
    info = session.lookup_table(tbl.text("catalog"), tbl.text("db"), tbl.name)
    if info is None or info.kind != "BASE TABLE":
        raise SqlError(4902, f'Cannot find the object "{tbl.name}" because it does not exist or you do not have '
                             "permissions.")
    alias = info.alias
    s = registry(session.engine).settings(alias)
    row = tracked_row(session, alias, info.object_id)
    if not enable:
        if row is None:
            raise SqlError(4998, f"Change tracking is not enabled on table '{info.name}'.")
        _in_txn(session, [(f"DELETE FROM {hidden(alias, 'ct_tables')} WHERE object_id = ?", [info.object_id]),
                          (f"DROP TABLE IF EXISTS {side_table(alias, info.object_id)}", [])])
        return
    if not s.change_tracking:
        raise SqlError(1718, f"Change tracking must be enabled on database '{info.db}' before it can be enabled "
                             f"on table '{info.name}'.")
    if row is not None:
        raise SqlError(4996, f"Change tracking is already enabled for table '{info.name}'.")
    if info.pk is None:
        raise SqlError(4997, f"Cannot enable change tracking on table '{info.name}'. Change tracking requires a "
                             "primary key on the table. Create a primary key on the table before enabling change "
                             "tracking.")
    if any(info.column(c).decl.type == "rowversion" for c in info.pk[1]):
        raise SqlError(4999, f"Cannot enable change tracking on table '{info.name}'. Change tracking does not "
                             "support a primary key of type timestamp on a table.")
    keys = ", ".join(f"k{i} {storage_type(info.column(c).decl)}" for i, c in enumerate(info.pk[1]))
    version = f"(SELECT coalesce(max(version), 0) FROM {hidden(alias, 'ct_commits')})"
    track = (tm.group(1) or "OFF").upper() == "ON"
    _in_txn(session, [
        (f"CREATE TABLE {side_table(alias, info.object_id)} (tx BIGINT, seq BIGINT, op VARCHAR, "
         f"cols INTEGER[], {keys})", []),
        (f"INSERT INTO {hidden(alias, 'ct_tables')} SELECT ?, ?, ?, ?, {version}, 0, {version}",
         [info.object_id, info.schema, info.name, track]),
    ])


def drop_statements(session, info) -> list[str]:
    """Statements that remove a dropped table's tracking (run in the DROP's transaction)."""
    if info.kind != "BASE TABLE" or tracked_row(session, info.alias, info.object_id) is None:
        return []
    return [f"DELETE FROM {hidden(info.alias, 'ct_tables')} WHERE object_id = {int(info.object_id)}",
            f"DROP TABLE IF EXISTS {side_table(info.alias, info.object_id)}"]


CLEANUP_PROC = "sp_standin_ct_cleanup"


def cleanup_procedure(session, stmt: exp.Execute, tr) -> None:
    """``EXEC sp_standin_ct_cleanup @database = N'db' [, @table = N'dbo.t'] [, @version = n]``

    What SQL Server's cleanup task does once the retention period has passed, on
    demand: removes the change information of ``@table`` (default: every tracked
    table of ``@database``, default the current database) up to version
    ``@version`` (default: the current version), and sets the tables'
    ``cleanup_version`` and ``min_valid_version`` to it, so a client holding an
    older version sees CHANGE_TRACKING_MIN_VALID_VERSION above it. The stand-in
    has no background cleanup (see README, Known differences): tests call this.
    """
    from mctm_replica.standin.engine.typed import Scope

    args: dict[str, object] = {}
    for e in stmt.expressions or []:
        if not isinstance(e, exp.EQ):
            raise SqlError(102, f"Incorrect syntax near '{e.sql(dialect='tsql')[:30]}'.", severity=15)
        name = e.this.name.lower().lstrip("@")
        if name not in ("database", "table", "version"):
            raise SqlError(8145, f"@{name} is not a parameter for procedure {CLEANUP_PROC}.")
        args[name] = tr.expr(e.expression, Scope()).const
    db = str(args.get("database") or session.database)
    if not session.engine.has_database(db):
        raise SqlError(911, f"Database '{db}' does not exist. Make sure that the name is entered correctly.")
    alias = session.engine.alias(db)
    if not registry(session.engine).settings(alias).change_tracking:
        raise SqlError(50000, f"{CLEANUP_PROC}: change tracking is not enabled for database '{db}'.")
    ids = [r[0] for r in session.cur.execute(f"SELECT object_id FROM {hidden(alias, 'ct_tables')}").fetchall()]
    if args.get("table"):
        import sqlglot

        from mctm_replica.standin.engine.dialect import StandinTSQL

        tbl = sqlglot.parse_one(f"SELECT 1 FROM {args['table']}", read=StandinTSQL).find(exp.Table)
        info = session.lookup_table(db, tbl.text("db"), tbl.name)
        if info is None or info.object_id not in ids:
            raise SqlError(22105, f"Change tracking is not enabled on table '{args['table']}'.")
        ids = [info.object_id]
    current = f"(SELECT coalesce(max(version), 0) FROM {hidden(alias, 'ct_commits')})"
    upto = current if args.get("version") is None else str(int(args["version"]))  # type: ignore[arg-type]
    stmts: list[tuple[str, list]] = []
    for oid in ids:
        stmts.append((f"DELETE FROM {side_table(alias, oid)} WHERE tx IN (SELECT tx FROM "
                      f"{hidden(alias, 'ct_commits')} WHERE version <= {upto})", []))
        stmts.append((f"UPDATE {hidden(alias, 'ct_tables')} SET cleanup_version = greatest(cleanup_version, {upto}), "
                      f"min_valid_version = greatest(min_valid_version, {upto}) WHERE object_id = ?", [oid]))
    _in_txn(session, stmts)


def is_cleanup(stmt: exp.Execute) -> bool:
    return stmt.this is not None and stmt.this.name.lower() == CLEANUP_PROC


__all__ = ["alter_command", "cleanup_procedure", "drop_statements", "is_cleanup"]
