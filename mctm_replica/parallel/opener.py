"""The ``open`` of a full load read by ``parallel_readers`` processes.

:func:`parallel_open` is called by the asset, before any row is read: it checks the key
(a single integer column, else a ConfigError naming the table) and returns the callable
the IO manager opens for the load -- and opens again, with new readers and a new key
span, when a transient failure retries the refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from mctm_replica.naming import quote_tsql
from mctm_replica.parallel.fanin import ReadJob, read_in_parallel
from mctm_replica.parallel.ranges import split
from mctm_replica.parallel.settings import integer_key
from mctm_replica.plan import Batches, TablePlan
from mctm_replica.resources.mssql import APP_NAME, MssqlResource, qualified


def parallel_open(mssql: MssqlResource, plan: TablePlan, select: str, *, log=None) -> Callable[[], Batches]:
    """The opener reading ``select`` (every row, no WHERE) through the table's readers."""
    spec = plan.spec
    key = quote_tsql(integer_key(plan))
    table = f"{spec.source}:{spec.source_name}"
    hint = " WITH (NOLOCK)" if spec.nolock else ""
    source = f"{qualified(spec.source_schema, spec.source_table)}{hint}"
    job = ReadJob(
        connect={"host": mssql.host, "port": mssql.port, "database": mssql.database, "user": mssql.user,
                 "password": mssql.password, "login_timeout": mssql.login_timeout,
                 "query_timeout": mssql.query_timeout, "appname": APP_NAME,
                 "settings": asdict(mssql.connection_settings())},
        select=select, key_sql=key, batch_size=mssql.batch_size, what=f"`{spec.source_name}`")

    def open_() -> Batches:
        # The span is only where to cut: the first and last ranges are open-ended, so rows
        # inserted outside it while the readers run are read too.
        low = mssql.scalar(f"SELECT MIN({key}) FROM {source}", what=f"the lowest key of {table}")
        high = mssql.scalar(f"SELECT MAX({key}) FROM {source}", what=f"the highest key of {table}")
        ranges = split(low, high, spec.parallel_readers)
        if log is not None:
            log.info(f"{table}: {len(ranges)} readers over keys {low}..{high}: "
                     + "; ".join(r.describe() for r in ranges))
        return read_in_parallel(job, ranges, table=table)

    return open_
