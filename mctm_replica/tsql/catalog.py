"""What a source says about itself: columns, keys, indexes, row estimates, its version and
collation, the session's encryption, snapshot isolation and permissions. Object names
travel as parameters (``OBJECT_ID(%s)`` of a :func:`~mctm_replica.tsql.quoting.qualified` name)."""

from __future__ import annotations

from mctm_replica.tsql.quoting import quote_tsql

COLUMNS_SQL = """
SELECT c.COLUMN_NAME, c.DATA_TYPE, c.CHARACTER_MAXIMUM_LENGTH, c.NUMERIC_PRECISION,
       c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.IS_NULLABLE, c.ORDINAL_POSITION
FROM INFORMATION_SCHEMA.COLUMNS AS c
WHERE c.TABLE_SCHEMA = %s AND c.TABLE_NAME = %s
ORDER BY c.ORDINAL_POSITION
"""

PRIMARY_KEY_SQL = """
SELECT k.COLUMN_NAME
FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS t
JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k
  ON k.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = t.CONSTRAINT_NAME
 AND k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME
WHERE t.CONSTRAINT_TYPE = 'PRIMARY KEY' AND t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s
ORDER BY k.ORDINAL_POSITION
"""

# Heap (0) or clustered index (1): exactly one of them holds every row once.
ESTIMATE_SQL = """
SELECT SUM(p.rows) FROM sys.partitions AS p
WHERE p.object_id = OBJECT_ID(%s) AND p.index_id IN (0, 1)
"""

# Key columns have key_ordinal > 0; included ones is_included_column = 1; a partitioned
# index may list its partitioning column with neither (ignored: not part of the index).
INDEXES_SQL = """
SELECT i.name, i.type_desc, i.is_unique, i.is_unique_constraint, i.filter_definition, i.is_disabled,
       c.name, ic.key_ordinal, ic.is_descending_key, ic.is_included_column
FROM sys.indexes AS i
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(%s) AND i.type > 0 AND i.is_primary_key = 0 AND i.is_hypothetical = 0
ORDER BY i.index_id, ic.is_included_column, ic.key_ordinal, ic.index_column_id
"""

VERSION_SQL = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))"

SERVER_SQL = """
SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)),
       CAST(SERVERPROPERTY('Edition') AS nvarchar(128)),
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128))
"""
CODE_PAGE_SQL = "SELECT CAST(COLLATIONPROPERTY(%s, 'CodePage') AS int)"
SESSION_SQL = """
SELECT encrypt_option, protocol_version FROM sys.dm_exec_connections WHERE session_id = @@SPID
"""
SNAPSHOT_SQL = """
SELECT snapshot_isolation_state_desc, is_read_committed_snapshot_on
FROM sys.databases WHERE name = DB_NAME()
"""
PERMISSION_SQL = "SELECT HAS_PERMS_BY_NAME(%s, 'OBJECT', %s)"


def no_rows_sql(quoted_table: str) -> str:
    """``SELECT TOP (0) *``: whether the table can be read at all, reading nothing."""
    return f"SELECT TOP (0) * FROM {quoted_table}"


def grant_sql(permission: str, quoted_object: str, user: str) -> str:
    """The statement a DBA runs to give ``user`` ``permission`` on an object (shown, not run)."""
    return f"GRANT {permission} ON {quoted_object} TO {quote_tsql(user)}"
