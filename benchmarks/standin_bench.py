"""Throughput of the SQL Server stand-in's result streaming, split into its halves.

Usage: python benchmarks/standin_bench.py [--rows N] [--repeat K] [--skip-client]

Not a timed test; figures go into the report / README. The table is the
replication benchmark's 13-column mix (benchmarks/replication_bench.py: DDL and
FILL): bigint, int, bit, decimal(18,4), money, float, datetime2(7),
datetimeoffset(7), date, uniqueidentifier, nvarchar(50), nvarchar(max),
varbinary(64), with NULLs and long Japanese text. Measured:

* engine alone: ``SELECT *`` batches out of the DuckDB engine (contract values);
* encoder alone: those batches (kept from the engine run) encoded as TDS rows;
* server side: engine + encoder in series, as the server runs them per batch;
* pymssql end to end: a real pymssql client over TCP, the server in its own process.

Each figure is the best of ``--repeat`` runs: the machine is shared, and the best
run is the least disturbed one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from replication_bench import DDL, FILL  # noqa: E402

from mctm_replica.standin.tds.rowenc import RowEncoder  # noqa: E402

SELECT = "SELECT * FROM dbo.bench"


def build_engine(rows: int):
    from mctm_replica.standin.engine import DuckEngine

    engine = DuckEngine(None)
    engine.create_database("bench")
    s = engine.connect("bench", spid=51, login="sa")
    list(s.execute("CREATE TABLE dbo.n (n int NOT NULL)"))
    list(s.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000))))
    list(s.execute(DDL))
    list(s.execute(FILL.format(rows=rows)))
    s.close()
    return engine


def bench_halves(rows: int, repeat: int) -> None:
    engine = build_engine(rows)
    s = engine.connect("bench", spid=52, login="sa")
    best_engine = best_encoder = best_server = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        (rs,) = list(s.execute(SELECT))
        batches = list(rs.rows)
        best_engine = min(best_engine, time.perf_counter() - t)
        enc = RowEncoder(rs.columns, rs.packed)
        t = time.perf_counter()
        size = sum(len(enc.encode(b)) for b in batches)
        best_encoder = min(best_encoder, time.perf_counter() - t)
        del batches
        t = time.perf_counter()
        (rs,) = list(s.execute(SELECT))
        enc = RowEncoder(rs.columns, rs.packed)
        for b in rs.rows:
            enc.encode(b)
        best_server = min(best_server, time.perf_counter() - t)
    s.close()
    engine.close()
    print(f"engine alone:        {rows / best_engine:>10,.0f} rows/s")
    print(f"encoder alone:       {rows / best_encoder:>10,.0f} rows/s  ({size / best_encoder / 1e6:.0f} MB/s)")
    print(f"server side (both):  {rows / best_server:>10,.0f} rows/s  ({rows:,} rows, 13 columns)")


def _serve(rows: int, ports, stop) -> None:
    from mctm_replica.standin import StandIn

    with StandIn(port=0, engine=build_engine(rows)) as s:
        ports.put((s.port, s.password))
        stop.wait()


def _fetch_seconds(port: int, password: str) -> tuple[int, float]:
    import pymssql

    conn = pymssql.connect(server="127.0.0.1", port=str(port), user="sa", password=password,
                           database="bench", tds_version="7.4")
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute(SELECT)
    n = 0
    while chunk := cur.fetchmany(10_000):
        n += len(chunk)
    el = time.perf_counter() - t
    conn.close()
    return n, el


def bench_client(rows: int, repeat: int) -> None:
    ctx = multiprocessing.get_context("fork")
    ports, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(rows, ports, stop))
    proc.start()
    try:
        port, password = ports.get(timeout=600)
        best = min(_fetch_seconds(port, password)[1] for _ in range(repeat))
    finally:
        stop.set()
        proc.join(60)
    print(f"pymssql end to end:  {rows / best:>10,.0f} rows/s  (server in its own process)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-client", action="store_true", help="skip the pymssql measurement")
    args = p.parse_args()
    bench_halves(args.rows, args.repeat)
    if not args.skip_client:
        bench_client(args.rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
