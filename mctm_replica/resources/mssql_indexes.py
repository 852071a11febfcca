"""The source table's indexes, from SQL Server's catalog (``sys.indexes``, ``sys.index_columns``).

Every index but the heap and the primary key is read -- clustered, columnstore and
disabled ones too -- so :mod:`mctm_replica.indexes.desired` can say why it leaves one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pymssql
from dagster import get_dagster_logger

from mctm_replica.resources.mssql import MssqlResource, SourceError, _first_line, qualified
from mctm_replica.retry import call_with_retries


@dataclass(frozen=True)
class SourceIndex:
    name: str
    type_desc: str  # CLUSTERED, NONCLUSTERED, XML, SPATIAL, ..._COLUMNSTORE
    unique: bool
    unique_constraint: bool
    filter: str | None  # filter_definition as SQL Server stores it, e.g. ([Status]=(1))
    disabled: bool
    columns: list[tuple[str, bool]] = field(default_factory=list)  # key columns (name, descending)
    include: list[str] = field(default_factory=list)


# Key columns have key_ordinal > 0; included ones is_included_column = 1; a partitioned
# index may list its partitioning column with neither (ignored: not part of the index).
_INDEXES_SQL = """
SELECT i.name, i.type_desc, i.is_unique, i.is_unique_constraint, i.filter_definition, i.is_disabled,
       c.name, ic.key_ordinal, ic.is_descending_key, ic.is_included_column
FROM sys.indexes AS i
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(%s) AND i.type > 0 AND i.is_primary_key = 0 AND i.is_hypothetical = 0
ORDER BY i.index_id, ic.is_included_column, ic.key_ordinal, ic.index_column_id
"""


def read_source_indexes(mssql: MssqlResource, schema: str, table: str) -> list[SourceIndex]:
    """The table's indexes (not the primary key), in index_id order; retried on transient failures."""
    def once() -> list[SourceIndex]:
        with mssql.get_connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(_INDEXES_SQL, (qualified(schema, table),))
                rows = cur.fetchall()
            except pymssql.Error as e:
                raise SourceError(f"cannot read the indexes of `{schema}.{table}` (source `{mssql.source}`): "
                                  f"{_first_line(e)}") from e
        found: dict[str, SourceIndex] = {}
        for name, type_desc, unique, uq, filt, disabled, column, key_ordinal, desc, included in rows:
            index = found.setdefault(name, SourceIndex(name, str(type_desc), bool(unique), bool(uq), filt,
                                                       bool(disabled)))
            if included:
                index.include.append(column)
            elif key_ordinal:
                index.columns.append((column, bool(desc)))
        return list(found.values())

    result, _ = call_with_retries(once, what=f"reading the indexes of `{schema}.{table}`",
                                  policy=mssql.retry_policy(), log=get_dagster_logger())
    return result
