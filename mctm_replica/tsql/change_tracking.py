"""Change Tracking's T-SQL: the checks made before a run reads (enabled on the database and
the table, the grant, the versions, snapshot isolation), the reads of one run, and the
statements a DBA runs to fix what is missing. A version is always a parameter."""

from __future__ import annotations

from collections.abc import Sequence

from mctm_replica.tsql.quoting import qualified, quote_tsql

#: Retention the DBA fix suggests: longer than a long weekend's outage plus the schedule gap.
SUGGESTED_RETENTION = "7 DAYS"

DATABASE_NAME_SQL = "SELECT DB_NAME()"
# The current database's id (the same as DB_ID(); the stand-in has no DB_ID()).
_THIS_DB = "(SELECT database_id FROM sys.databases WHERE name = DB_NAME())"
RETENTION_SQL = ("SELECT retention_period, retention_period_units_desc FROM "
                 "sys.change_tracking_databases WHERE database_id = " + _THIS_DB)
#: One ``%s``: the table's qualified name.
TABLE_TRACKED_SQL = "SELECT COUNT(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(%s)"
SNAPSHOT_STATE_SQL = "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()"
SNAPSHOT_ISOLATION_SQL = "SET TRANSACTION ISOLATION LEVEL SNAPSHOT"
BEGIN_SQL, COMMIT_SQL = "BEGIN TRAN", "COMMIT"


def fix_database(db: str) -> str:
    return (f"ALTER DATABASE {quote_tsql(db)} SET CHANGE_TRACKING = ON "
            f"(CHANGE_RETENTION = {SUGGESTED_RETENTION}, AUTO_CLEANUP = ON)")


def fix_table(schema: str, table: str) -> str:
    return f"ALTER TABLE {qualified(schema, table)} ENABLE CHANGE_TRACKING"


def fix_grant(schema: str, table: str, user: str) -> str:
    return f"GRANT VIEW CHANGE TRACKING ON {qualified(schema, table)} TO {quote_tsql(user)}"


def versions_sql() -> str:
    """The current version, and the table's minimum valid version (one ``%s``: its name)."""
    return "SELECT CHANGE_TRACKING_CURRENT_VERSION(), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(%s))"


def readable_probe_sql(schema: str, table: str, key: Sequence[str]) -> str:
    """Reads nothing, but fails as a read of the change table would (grant, tracking off)."""
    keys = ", ".join("ct." + quote_tsql(k) for k in key)
    return f"SELECT {keys} FROM CHANGETABLE(CHANGES {qualified(schema, table)}, 0) AS ct WHERE 1 = 0"


def changes_sql(schema: str, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """One row per changed key: ``gone`` (1: the row no longer exists), the key from the
    change table, then the row's current ``columns`` (NULL when gone). One ``%s``: the
    version the changes are read since."""
    name = qualified(schema, table)
    present = f"t.{quote_tsql(key[0])}"  # a key column is NOT NULL: NULL means no row
    keys = ", ".join(f"ct.{quote_tsql(k)}" for k in key)
    cols = ", ".join(f"t.{quote_tsql(c)}" for c in columns)
    match = " AND ".join(f"t.{quote_tsql(k)} = ct.{quote_tsql(k)}" for k in key)
    select = (f"SELECT CASE WHEN {present} IS NULL THEN 1 ELSE 0 END, {keys}, {cols} "
              f"FROM CHANGETABLE(CHANGES {name}, %s) AS ct LEFT JOIN {name} AS t ON {match}")
    return select


def all_rows_sql(schema: str, table: str, columns: Sequence[str]) -> str:
    """Every row, committed reads only (a NOLOCK read could disagree with the version)."""
    return f"SELECT {', '.join(quote_tsql(c) for c in columns)} FROM {qualified(schema, table)}"
