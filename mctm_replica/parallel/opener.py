"""The ``open`` of a full load read by ``parallel_readers`` processes.

:func:`parallel_open` is called by the asset, before any row is read: it checks the key
(a single integer column, else a ConfigError naming the table) and returns the callable
the IO manager opens for the load -- and opens again, with new readers and a new key
span, when a transient failure retries the refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import pymssql
from dagster import get_dagster_logger

from mctm_replica.parallel.fanin import ReadJob, read_in_parallel
from mctm_replica.parallel.ranges import split
from mctm_replica.parallel.settings import integer_key
from mctm_replica.plan import Batches, TablePlan
from mctm_replica.resources.mssql import APP_NAME, MssqlResource, SourceError
from mctm_replica.tsql.reads import key_span_sql
from mctm_replica.retry import call_with_retries


# Below this, per-batch costs (a frame, a pickle, a queue item) start to show.
MIN_READER_BATCH = 1000


def parallel_open(mssql: MssqlResource, plan: TablePlan, select: str, *, log=None) -> Callable[[], Batches]:
    """The opener reading ``select`` (every row, no WHERE) through the table's readers."""
    spec = plan.spec
    table = f"{spec.source}:{spec.source_name}"
    span_sql = key_span_sql(spec.source_schema, spec.source_table, integer_key(plan), nolock=spec.nolock)
    job = ReadJob(
        connect={"host": mssql.host, "port": mssql.port, "database": mssql.database, "user": mssql.user,
                 "password": mssql.password, "login_timeout": mssql.login_timeout,
                 "query_timeout": mssql.query_timeout, "appname": APP_NAME,
                 "settings": asdict(mssql.connection_settings())},
        select=select, key=integer_key(plan), batch_size=reader_batch(mssql.batch_size, spec.parallel_readers),
        what=f"`{spec.source_name}`",
        stall_s=float(mssql.query_timeout) if mssql.query_timeout > 0 else None)

    def open_() -> Batches:
        # The span is only where to cut: the first and last ranges are open-ended, so rows
        # inserted outside it while the readers run are read too.
        low, high = key_span(mssql, span_sql, table)
        ranges = split(low, high, spec.parallel_readers)
        if log is not None:
            log.info(f"{table}: {len(ranges)} readers over keys {low}..{high}: "
                     + "; ".join(r.describe() for r in ranges))
        return read_in_parallel(job, ranges, table=table)

    return open_


def reader_batch(batch_size: int, readers: int) -> int:
    """Rows per reader batch: the source's batch shared out, so the rows in flight (one batch
    per reader, a few in the queue) stay about the single reader's; at least
    MIN_READER_BATCH so a batch still amortises its frame and queue hop."""
    return min(batch_size, max(MIN_READER_BATCH, batch_size // readers))


def key_span(mssql: MssqlResource, span_sql: str, table: str) -> tuple[int | None, int | None]:
    """The key's MIN and MAX in one query on one connection (retried on transient failures)."""
    def once() -> tuple[int | None, int | None]:
        with mssql.get_connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(span_sql)
            except pymssql.Error as e:
                raise SourceError(f"cannot read the key span of {table}: {' '.join(str(e).split())}") from e
            low, high = cur.fetchone()
            return low, high

    span, _attempts = call_with_retries(once, what=f"reading the key span of {table}",
                                        policy=mssql.retry_policy(), log=get_dagster_logger())
    return span
