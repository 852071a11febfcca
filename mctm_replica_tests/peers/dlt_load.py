"""dlt's ``sql_database`` source (SQLAlchemy backend, ``mssql+pymssql``) into PostgreSQL.

This is dlt as its documentation tells a user to run it: the source reflects the
SQL Server table through SQLAlchemy's mssql dialect (sys.* and INFORMATION_SCHEMA
queries), reads it with SELECT, and dlt's postgres destination writes it into
``dataset`` (a PostgreSQL schema) with its own ``_dlt_*`` bookkeeping tables.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mctm_replica_tests.peers.endpoints import Endpoint

# dlt sends anonymous usage telemetry by default; tests and benchmarks make no such calls.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def load_with_dlt(source: Endpoint, table: str, target: Endpoint, dataset: str, *,
                  schema: str = "dbo", pipelines_dir: Path | None = None, chunk_size: int = 50_000):
    """Load ``schema.table`` from SQL Server into PostgreSQL schema ``dataset``; returns dlt's LoadInfo.

    ``chunk_size`` is dlt's rows per fetch (its default, 50,000, as a user gets it).
    Raises dlt's PipelineStepFailed on any failure, after which the target may hold
    dlt's partial load (dlt has no all-or-nothing mode across tables).
    """
    import dlt
    from dlt.sources.sql_database import sql_database

    with tempfile.TemporaryDirectory(prefix="mctm-dlt-") as tmp:
        src = sql_database(credentials=source.url("mssql+pymssql"), schema=schema, table_names=[table],
                           backend="sqlalchemy", chunk_size=chunk_size, reflection_level="full")
        pipeline = dlt.pipeline(pipeline_name=f"mctm_{dataset}", pipelines_dir=str(pipelines_dir or tmp),
                                destination=dlt.destinations.postgres(credentials=target.url("postgresql")),
                                dataset_name=dataset)
        info = pipeline.run(src)
        info.raise_on_failed_jobs()
        return info
