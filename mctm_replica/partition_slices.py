"""Reading one time slice of a partitioned table, on both servers: what the asset, the
row-count and content checks and the schema check of a partitioned table share.

Every bound is a parameter (``%s``), never formatted into the SQL; identifiers are
bracket-quoted on SQL Server and ``sql.Identifier`` on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2 import sql

from mctm_replica.config import TableSpec
from mctm_replica.naming import target_column_names
from mctm_replica.tsql.reads import count_sql, in_slice, outside_count_sql

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

Window = tuple[dt.datetime, dt.datetime]


def target_column(spec: TableSpec) -> str:
    """The replica's name of the partition column (by the table's naming rule)."""
    column = spec.partitions.column
    return target_column_names([column], naming=spec.column_naming, renames=spec.column_names,
                               table=spec.target_name)[column]


def check_window(context: Any, spec: TableSpec) -> tuple[Window, str]:
    """The slice a check of a partitioned table covers: the run's partition (or range), or,
    for a check run on its own, every partition that exists now."""
    pspec = spec.partitions
    # A check of a partitioned asset is not itself partitioned: the run's tags say which
    # partition (or range, for a single-run backfill) the run materializes.
    tags = context.run.tags
    first = tags.get(PARTITION_TAG) or tags.get(RANGE_START_TAG)
    last = tags.get(PARTITION_TAG) or tags.get(RANGE_END_TAG)
    if first and last:
        start, end = pspec.bounds(first)[0], pspec.bounds(last)[1]
        return (start, end), (first if first == last else f"{first}..{last}")
    return pspec.covered(), "every partition"


def _one_row(mssql: Any, query: str, params: tuple, what: str) -> tuple:
    with mssql.stream(query, params, what=what) as batches:
        return next(iter(batches))[0]


def source_count(mssql: Any, spec: TableSpec, window: Window) -> int:
    query = count_sql(spec.source_schema, spec.source_table, nolock=spec.nolock, where=in_slice(spec.partitions.column))
    return int(_one_row(mssql, query, window, f"the row count of `{spec.source_name}` in {window}")[0])


def target_count(conn: Any, spec: TableSpec, window: Window) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}.{} WHERE {c} >= %s AND {c} < %s").format(
            sql.Identifier(spec.target_schema), sql.Identifier(spec.target_table),
            c=sql.Identifier(target_column(spec))), window)
        return int(cur.fetchone()[0])


def outside_rows(mssql: Any, spec: TableSpec) -> tuple[int, int]:
    """Source rows in no partition, and how many of them have a NULL partition column."""
    query = outside_count_sql(spec.source_schema, spec.source_table, spec.partitions.column, nolock=spec.nolock)
    outside, null = _one_row(mssql, query, spec.partitions.covered(),
                             f"the rows of `{spec.source_name}` outside every partition")
    return int(outside), int(null)


def source_where(spec: TableSpec) -> str:
    return in_slice(spec.partitions.column)


def target_where(spec: TableSpec) -> sql.Composable:
    return sql.SQL("{c} >= %s AND {c} < %s").format(c=sql.Identifier(target_column(spec)))
