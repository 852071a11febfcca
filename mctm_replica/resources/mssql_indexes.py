"""The source table's indexes, from SQL Server's catalog (``sys.indexes``, ``sys.index_columns``).

Every index but the heap and the primary key is read -- clustered, columnstore and
disabled ones too -- so :mod:`mctm_replica.indexes.desired` can say why it leaves one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pymssql
from dagster import get_dagster_logger

from mctm_replica.resources.mssql import MssqlResource, SourceError, _first_line
from mctm_replica.tsql.catalog import INDEXES_SQL
from mctm_replica.tsql.quoting import qualified
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


def read_source_indexes(mssql: MssqlResource, schema: str, table: str) -> list[SourceIndex]:
    """The table's indexes (not the primary key), in index_id order; retried on transient failures."""
    def once() -> list[SourceIndex]:
        with mssql.get_connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(INDEXES_SQL, (qualified(schema, table),))
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
