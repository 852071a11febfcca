"""Replication speed and memory: mctm_replica against the Lambda's method and the limits.

``make bench`` (``ROWS=...``) builds one mixed-type source table in the SQL Server
stand-in, then measures, on the same data in the same run, each way of moving it into
the same embedded PostgreSQL. Every method runs in its own fresh process so its peak
resident memory (``ru_maxrss``) is its own. Figures are printed as a table and written
as JSON with the machine's facts; when ROWS exceeds the scaling size a second run at
100,000 rows gives the scaling of time and memory. Nothing here is asserted as a timing:
a shared machine is noisy, so only ratios within one run mean anything.

Methods:
  source_limit      pymssql fetchmany over every row, discarding them
  target_limit      PostgreSQL COPY of the same rows from a prepared CSV file
  mctm_load         the asset's read-and-load path (IO manager handler, no Dagster run):
                    SQL Server formats each row as a CSV line (the default)
  mctm_load_typed   the same with typed values formatted in Python (format_on_server: false)
  mctm_materialize  a full Dagster ``materialize`` of the asset, Dagster's overhead included
  lambda            fetchmany(10000) + execute_values + TRUNCATE/INSERT in one transaction
  pandas            read_sql in chunks + to_sql(method="multi"), capped in time
  row_count_check   the row-count asset check (COUNT_BIG on the source, count(*) on the target)
  content_check     the rows_match asset check (segment checksums; rows only where they differ)

The source's work per method is what the stand-in sent while it ran: ``@@PACK_SENT``
(output packets, as SQL Server counts them) and the stand-in's own
``@@STANDIN_BYTES_SENT`` (their bytes), read before and after the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

TABLE = "bench"
SCALING_ROWS = 100_000
# The targets are stated for this size.
TARGET_ROWS = 1_000_000
# The Lambda's batch size, also our resource's default.
BATCH = 10_000
METHODS = ["source_limit", "target_limit", "mctm_load", "mctm_load_typed", "mctm_materialize", "lambda",
           "pandas", "row_count_check", "content_check"]

# 13 columns: the mix the issue asks for (Japanese text, some long nvarchar(max), NULLs).
DDL = """CREATE TABLE dbo.bench (
  id bigint NOT NULL PRIMARY KEY, qty int, flag bit, price decimal(18,4), amount money,
  ratio float, created datetime2(7), seen datetimeoffset(7), day date, guid uniqueidentifier,
  name nvarchar(50), notes nvarchar(max), payload varbinary(64))"""

FILL = """INSERT INTO dbo.bench SELECT a.n * 1000 + b.n + 1, (a.n * 7 + b.n) % 100000,
  CASE WHEN b.n % 3 = 0 THEN NULL ELSE b.n % 2 END,
  CAST(a.n * 1000 + b.n AS decimal(18,4)) / 8, CAST(b.n AS money) * 1.25, (a.n + 0.5) / (b.n + 1),
  DATEADD(second, a.n * 1000 + b.n, CAST('2020-01-01T00:00:00.1234567' AS datetime2(7))),
  CASE WHEN b.n % 5 = 0 THEN NULL ELSE CAST('2024-06-01 12:00:00.1234567 +09:00' AS datetimeoffset(7)) END,
  DATEADD(day, b.n, CAST('2001-01-01' AS date)),
  CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS uniqueidentifier),
  N'顧客' + CAST(a.n AS nvarchar(10)) + N'様',
  CASE WHEN b.n % 10 = 0 THEN REPLICATE(N'長いテキスト', 200) WHEN b.n % 10 = 1 THEN NULL ELSE N'short note' END,
  CAST(a.n * 1000 + b.n AS varbinary(64))
FROM dbo.n AS a CROSS JOIN dbo.n AS b WHERE a.n * 1000 + b.n < {rows}"""


# --------------------------------------------------------------------------- workers


def _peak_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries the parent's high-water
    mark across fork+exec into it, so every worker would report the orchestrator's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mssql(cfg: dict):
    from mctm_replica.resources.mssql import MssqlResource

    return MssqlResource(host=cfg["mssql_host"], port=cfg["mssql_port"], database=cfg["mssql_db"],
                         user=cfg["mssql_user"], password=cfg["mssql_password"], batch_size=BATCH)


def _postgres(cfg: dict):
    from mctm_replica.resources.postgres import PostgresResource

    return PostgresResource(host=cfg["pg_host"], port=cfg["pg_port"], database=cfg["pg_db"],
                            user=cfg["pg_user"], password=cfg["pg_password"], sslmode="disable")


def _spec(target_table: str):
    from mctm_replica.config import TableSpec

    return TableSpec(source="bench", source_schema="dbo", source_table=TABLE,
                     target_schema="bench", target_table=target_table)


def _plan(cfg: dict, target_table: str):
    from mctm_replica.plan import build_plan

    return build_plan(_spec(target_table), _mssql(cfg).describe_table("dbo", TABLE))


def _select(plan) -> str:
    from mctm_replica.tsql.reads import select_sql

    return select_sql("dbo", TABLE, plan.source_columns, nolock=True)


# Each work_* function prepares outside the clock (imports, plans, connections' setup) and
# returns the timed part. Methods that do not need Dagster never import it, so their peak
# memory is their own.


def _pymssql_connect(cfg: dict):
    import pymssql

    return pymssql.connect(server=cfg["mssql_host"], port=str(cfg["mssql_port"]), user=cfg["mssql_user"],
                           password=cfg["mssql_password"], database=cfg["mssql_db"], tds_version="7.4")


def work_source_limit(cfg: dict):
    def run() -> int:
        conn = _pymssql_connect(cfg)
        cur = conn.cursor()
        cur.execute(cfg["select"])
        rows = 0
        while batch := cur.fetchmany(BATCH):
            rows += len(batch)
        conn.close()
        return rows

    return run


def work_target_limit(cfg: dict):
    import psycopg2

    def run() -> int:
        conn = psycopg2.connect(host=cfg["pg_host"], port=cfg["pg_port"], dbname=cfg["pg_db"],
                                user=cfg["pg_user"], password=cfg["pg_password"])
        with conn.cursor() as cur, open(cfg["csv"], "rb") as f:
            cur.execute("TRUNCATE bench.copy_limit")
            cur.copy_expert("COPY bench.copy_limit FROM STDIN WITH (FORMAT csv)", f, size=1 << 16)
            cur.execute("SELECT count(*) FROM bench.copy_limit")
            rows = cur.fetchone()[0]
        conn.commit()
        conn.close()
        return rows

    return run


def work_mctm_load(cfg: dict, *, lines: bool = True, target: str = "mctm_load"):
    from dagster import AssetKey, build_output_context
    from dagster._core.storage.db_io_manager import TableSlice

    from mctm_replica.assets import read_sql
    from mctm_replica.io_managers.client import PostgresClient
    from mctm_replica.io_managers.refresh import ReplicaBatchesTypeHandler
    from mctm_replica.plan import ReplicaBatches

    def run() -> int:
        plan = _plan(cfg, target)
        mssql = _mssql(cfg)
        query = read_sql(plan, lines=lines)
        obj = ReplicaBatches(plan, open=lambda: mssql.stream(query, what=TABLE), lines=lines)
        slice_ = TableSlice(table=target, schema="bench")
        context = build_output_context(asset_key=AssetKey(["bench", target]))
        with _postgres(cfg).get_connection() as conn:
            PostgresClient.ensure_schema(conn, "bench")
            meta = ReplicaBatchesTypeHandler(lock_timeout_s=60).handle_output(context, slice_, obj, conn)
        return int(meta["rows_copied"])

    return run


def work_mctm_load_typed(cfg: dict):
    """The same path reading typed values (``format_on_server: false``)."""
    return work_mctm_load(cfg, lines=False, target="mctm_load_typed")


def work_mctm_materialize(cfg: dict):
    from dagster import materialize

    from mctm_replica.assets import IO_MANAGER_KEY, build_replica_asset
    from mctm_replica.config import SourceSpec
    from mctm_replica.io_managers.postgres import PostgresReplicaIOManager

    source = SourceSpec("bench", "BENCH")
    asset_def = build_replica_asset(spec=_spec("mctm_materialize"), source=source)

    def run() -> int:
        result = materialize([asset_def], resources={
            source.resource_key: _mssql(cfg),
            IO_MANAGER_KEY: PostgresReplicaIOManager(postgres=_postgres(cfg)),
        })
        assert result.success
        return int(result.get_asset_materialization_events()[0].materialization.metadata["rows_copied"].value)

    return run


def work_lambda(cfg: dict):
    import psycopg2
    import psycopg2.extras

    insert = f"INSERT INTO bench.lambda ({', '.join(cfg['columns'])}) VALUES %s"  # fixed bench names

    def run() -> int:
        src = _pymssql_connect(cfg)
        conn = psycopg2.connect(host=cfg["pg_host"], port=cfg["pg_port"], dbname=cfg["pg_db"],
                                user=cfg["pg_user"], password=cfg["pg_password"])
        rows = 0
        with conn.cursor() as cur:
            psycopg2.extras.register_uuid(conn_or_curs=cur)
            cur.execute("TRUNCATE bench.lambda")
            scur = src.cursor()
            scur.execute(cfg["select"])
            while batch := scur.fetchmany(BATCH):
                psycopg2.extras.execute_values(cur, insert, batch, page_size=BATCH)
                rows += len(batch)
        conn.commit()
        conn.close()
        src.close()
        return rows

    return run


def work_pandas(cfg: dict):
    import warnings

    import pandas as pd
    import sqlalchemy

    warnings.simplefilter("ignore")  # pandas warns that a pymssql connection is not SQLAlchemy
    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg2://{cfg['pg_user']}:{cfg['pg_password']}@{cfg['pg_host']}:{cfg['pg_port']}/{cfg['pg_db']}")

    def run() -> int:
        src = _pymssql_connect(cfg)
        deadline = time.monotonic() + cfg["pandas_seconds"]
        rows = 0
        for i, chunk in enumerate(pd.read_sql(cfg["select"], src, chunksize=BATCH)):
            chunk.to_sql("pandas", engine, schema="bench", if_exists="replace" if i == 0 else "append",
                         index=False, method="multi", chunksize=1000)
            rows += len(chunk)
            if time.monotonic() > deadline:
                break
        src.close()
        return rows

    return run


def work_row_count_check(cfg: dict):
    from dagster._core.storage.db_io_manager import TableSlice

    from mctm_replica.io_managers.postgres import PostgresClient

    def run() -> int:
        source_rows = _mssql(cfg).count_rows("dbo", TABLE)
        with _postgres(cfg).get_connection() as conn:
            target_rows = PostgresClient.count(conn, TableSlice(table="mctm_materialize", schema="bench"))
        assert source_rows == target_rows, (source_rows, target_rows)
        return source_rows

    return run


def work_content_check(cfg: dict):
    from mctm_replica.content_check import compare_table

    def run() -> int:
        plan = _plan(cfg, "mctm_materialize")
        with _postgres(cfg).get_connection() as conn:
            diff = compare_table(_mssql(cfg), conn, plan)
        assert diff.passed, diff.summary()
        return diff.source_rows

    return run


def run_worker(method: str, cfg: dict) -> None:
    run = globals()[f"work_{method}"](cfg)
    started = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - started
    print(json.dumps({"method": method, "rows": rows, "seconds": seconds, "peak_rss_mb": _peak_mb()}))


# --------------------------------------------------------------------------- orchestration


def prepare_table(server, database: str, rows: int) -> None:
    """The benchmark's table (DDL, FILL: ``rows`` rows) in a new stand-in database; every
    benchmark measures this same table."""
    conn = server.connect_pymssql(autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE [{database}]")
        cur.execute(f"USE [{database}]")
        cur.execute("CREATE TABLE dbo.n (n int PRIMARY KEY)")  # FILL's cross join of 1,000 x 1,000
        cur.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000)))
        cur.execute(DDL)
        cur.execute(FILL.format(rows=int(rows)))
    conn.close()


def _prepare(cfg: dict, server, rows: int, workdir: Path) -> None:
    """Create the source table, the target tables and the prepared COPY file."""
    import psycopg2
    from dagster._core.storage.db_io_manager import TableSlice

    from mctm_replica.io_managers.copy_format import CsvBatchEncoder
    from mctm_replica.io_managers.postgres import PostgresClient

    prepare_table(server, cfg['mssql_db'], rows)

    plan = _plan(cfg, "copy_limit")
    cfg["select"] = _select(plan)
    cfg["columns"] = [f'"{c}"' for c in plan.target_columns]  # plain bench names
    pg = psycopg2.connect(host=cfg["pg_host"], port=cfg["pg_port"], dbname=cfg["pg_db"],
                          user=cfg["pg_user"], password=cfg["pg_password"])
    with pg, pg.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        for name in ("copy_limit", "lambda"):
            PostgresClient.create_table(cur, TableSlice(table=name, schema="bench"), plan)
    pg.close()
    encoder = CsvBatchEncoder(plan.target_columns, [c.value for c in plan.columns],
                              [c.nullable for c in plan.columns])
    with open(cfg["csv"], "wb") as f, _mssql(cfg).stream(_select(plan), what=TABLE) as batches:
        for batch in batches:
            f.write(encoder.encode(batch))


def source_sent(server) -> tuple[int, int]:
    """Packets and bytes the stand-in has written since it started."""
    conn = server.connect_pymssql()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@PACK_SENT, @@STANDIN_BYTES_SENT")
            packets, nbytes = cur.fetchone()
            return int(packets), int(nbytes)
    finally:
        conn.close()


def sent_since(server, before: tuple[int, int]) -> tuple[int, float]:
    """Packets and MB the stand-in sent since ``before`` (a :func:`source_sent`)."""
    packets, nbytes = source_sent(server)
    return packets - before[0], (nbytes - before[1]) / 1e6


def bench_once(rows: int, pandas_seconds: float) -> dict:
    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    workdir = Path(tempfile.mkdtemp(prefix="mctm-bench-"))
    results = {}
    try:
        with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("bench")
            cfg = {
                "mssql_host": server.host, "mssql_port": server.port, "mssql_db": "benchdb",
                "mssql_user": server.user, "mssql_password": server.password,
                "pg_host": pg.host, "pg_port": pg.port, "pg_db": "bench", "pg_user": pg.user,
                "pg_password": pg.password, "csv": str(workdir / "bench.csv"),
                "pandas_seconds": pandas_seconds,
            }
            t = time.perf_counter()
            _prepare(cfg, server, rows, workdir)
            print(f"  prepared {rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
            for method in METHODS:
                sent = source_sent(server)
                proc = subprocess.run([sys.executable, __file__, "--worker", method, "--config", json.dumps(cfg)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"{method} failed:\n{proc.stderr[-3000:]}")
                results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
                r = results[method]
                r["source_packets"], r["source_mb"] = sent_since(server, sent)
                print(f"  {method:<17} {r['rows']:>9,} rows {r['seconds']:>8.2f}s "
                      f"{r['rows'] / r['seconds']:>10,.0f} rows/s {r['peak_rss_mb']:>7.0f} MB "
                      f"{r['source_packets']:>8,} source packets, {r['source_mb']:,.1f} MB", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def machine_facts() -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {p: version(p) for p in ("dagster", "pymssql", "psycopg2-binary", "pandas", "duckdb")},
    }


def table(results: dict) -> str:
    src = results["source_limit"]
    src_rate = src["rows"] / src["seconds"]
    mat_s = results["mctm_materialize"]["seconds"]
    lines = [f"{'method':<17} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'x source':>9} {'peak MB':>8} "
             f"{'src packets':>11} {'src MB':>8}"]
    for method in METHODS:
        r = results[method]
        rate = r["rows"] / r["seconds"]
        checks = ("row_count_check", "content_check")
        extra = f"  ({100 * r['seconds'] / mat_s:.1f}% of materialize)" if method in checks else ""
        lines.append(f"{method:<17} {r['rows']:>10,} {r['seconds']:>8.2f} {rate:>10,.0f} "
                     f"{rate / src_rate:>9.2f} {r['peak_rss_mb']:>8.0f} {r.get('source_packets', 0):>11,} {r.get('source_mb', 0):>8.1f}{extra}")
    return "\n".join(lines)


def targets(results: dict, scaling: dict | None) -> list[str]:
    def rate(m: str) -> float:
        return results[m]["rows"] / results[m]["seconds"]

    out = []
    e2e = rate("mctm_materialize")
    out.append(f"mctm end-to-end / source limit = {e2e / rate('source_limit'):.2f} (target >= 0.8)")
    out.append(f"mctm end-to-end / Lambda       = {e2e / rate('lambda'):.2f} (target >= 3)")
    peak = results["mctm_materialize"]["peak_rss_mb"]
    out.append(f"materialize peak memory        = {peak:.0f} MB at {results['mctm_materialize']['rows']:,} rows "
               f"(target <= 250 MB at 1,000,000)")
    if scaling:
        small = scaling["mctm_materialize"]["peak_rss_mb"]
        out.append(f"memory vs {SCALING_ROWS:,}-row run     = {peak / small:.2f}x (target <= 1.2)")
        out.append(f"time vs {SCALING_ROWS:,}-row run       = "
                   f"{results['mctm_materialize']['seconds'] / scaling['mctm_materialize']['seconds']:.1f}x "
                   f"for {results['mctm_materialize']['rows'] / scaling['mctm_materialize']['rows']:.0f}x rows")
    share = results["row_count_check"]["seconds"] / results["mctm_materialize"]["seconds"]
    out.append(f"row-count check                = {100 * share:.1f}% of materialize (target <= 5%)")
    content = results["content_check"]["seconds"] / results["mctm_materialize"]["seconds"]
    out.append(f"content check                  = {100 * content:.0f}% of materialize (no target)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pandas-seconds", type=float, default=60.0,
                        help="cap for the (slow) pandas method; its rate is reported")
    parser.add_argument("--json", type=Path, default=Path("bench-results/replication.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, json.loads(args.config))
        return 0

    print(f"benchmark at {args.rows:,} rows", flush=True)
    results = bench_once(args.rows, args.pandas_seconds)
    scaling = None
    if args.rows > SCALING_ROWS:
        print(f"scaling run at {SCALING_ROWS:,} rows", flush=True)
        scaling = bench_once(SCALING_ROWS, args.pandas_seconds)
    print()
    print(table(results))
    print()
    print("\n".join(targets(results, scaling)))
    if args.rows < TARGET_ROWS:
        print(f"(the targets are set at {TARGET_ROWS:,} rows; at {args.rows:,} rows fixed costs of about\n"
              f" a second dominate, so this run only shows that every method still works)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": args.rows, "machine": machine_facts(), "results": results,
                                     "scaling": scaling, "targets": targets(results, scaling)}, indent=2))
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
