"""Throughput of the SQL Server stand-in: encoder alone, engine + encoder, and pymssql end to end.

Usage: python benchmarks/standin_bench.py [--rows N] [--skip-engine] [--skip-client]

Not a timed test; figures go into the report / README. The table is a 10-column
mix shaped like the replicated tables (ints, strings, money, datetime2, bit...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mctm_replica.standin.contract import TICKS_PER_DAY, Column  # noqa: E402
from mctm_replica.standin.tds.rowenc import RowEncoder  # noqa: E402

# Rows per encoded batch, like the engine's fetch size.
BATCH = 5000

COLUMNS = [
    Column("id", "bigint", nullable=False), Column("customer_id", "int"), Column("code", "varchar", length=20),
    Column("name", "nvarchar", length=100), Column("credit", "money"), Column("created", "datetime"),
    Column("updated", "datetime2", scale=7), Column("active", "bit"), Column("usage", "decimal", precision=18, scale=3),
    Column("guid", "uniqueidentifier"),
]
CREATE = """CREATE TABLE dbo.bench (id bigint NOT NULL PRIMARY KEY, customer_id int, code varchar(20),
 name nvarchar(100), credit money, created datetime, updated datetime2(7), active bit, usage decimal(18,3),
 guid uniqueidentifier)"""


def synthetic_batches(n: int):
    base = (dt.date(2024, 1, 1).toordinal() - 1) * TICKS_PER_DAY
    g = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
    created = dt.datetime(2024, 1, 1, 12, 30, 15, 123000)
    for start in range(0, n, BATCH):
        yield [
            (i, i % 5000, f"C{i:08d}", f"顧客 {i}", Decimal(i % 100000) / 100, created, base + i * 10_000_000,
             i % 2 == 0, Decimal(i % 9999) / 1000, g)
            for i in range(start, min(n, start + BATCH))
        ]


def bench_encoder(n: int) -> None:
    # Batches are generated one at a time (untimed), as the engine streams them:
    # holding all 1M rows alive would mostly measure the garbage collector.
    enc = RowEncoder(COLUMNS)
    total = 0
    el = 0.0
    for batch in synthetic_batches(n):
        t = time.perf_counter()
        total += len(enc.encode(batch))
        el += time.perf_counter() - t
    print(f"encoder only:        {n / el:>10,.0f} rows/s  ({total / el / 1e6:.0f} MB/s, {n:,} rows)")


def bench_engine(n: int) -> None:
    from mctm_replica.standin.engine import DuckEngine

    engine = DuckEngine(None)
    engine.create_database("bench")
    s = engine.connect("bench", spid=51, login="sa")
    list(s.execute(CREATE))
    list(s.execute("CREATE TABLE dbo.n (i int NOT NULL)"))
    list(s.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000))))
    list(s.execute(
        "INSERT INTO dbo.bench SELECT a.i * 1000 + b.i, b.i, 'C' + CAST(a.i * 1000 + b.i AS varchar(20)), "
        "N'顧客 ' + CAST(b.i AS nvarchar(20)), b.i / 100.0, '2024-01-01 12:30:15.123', '2024-01-01 00:00:00', "
        f"b.i % 2, b.i / 1000.0, NEWID() FROM dbo.n a CROSS JOIN dbo.n b WHERE a.i < {max(1, n // 1000)}"
    ))
    t = time.perf_counter()
    (rs,) = list(s.execute("SELECT * FROM dbo.bench"))
    enc = RowEncoder(rs.columns)
    rows = 0
    for batch in rs.rows:
        enc.encode(batch)
        rows += len(batch)
    el = time.perf_counter() - t
    print(f"engine + encoder:    {rows / el:>10,.0f} rows/s  ({rows:,} rows)")
    s.close()
    engine.close()


class _OneTable:
    """Engine session serving the synthetic rows for any SELECT (isolates protocol + client)."""

    database = "master"
    spid = 51
    trancount = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def execute(self, sql, params=None):
        from mctm_replica.standin.contract import Done, ResultSet

        if sql.lstrip().lower().startswith("select * from bench"):
            yield ResultSet(COLUMNS, synthetic_batches(self.n))
        else:
            yield Done()

    def begin(self): pass
    def commit(self): pass
    def rollback(self): pass
    def close(self): pass


class _SyntheticEngine:
    def __init__(self, n: int) -> None:
        self.n = n

    def has_database(self, name): return True
    def create_database(self, name): pass
    def connect(self, database, *, spid, login): return _OneTable(self.n)
    def close(self): pass


def _serve(n: int, ports, stop) -> None:
    from mctm_replica.standin import StandIn

    with StandIn(port=0, engine=_SyntheticEngine(n)) as s:
        ports.put(s.port)
        stop.wait()


def _fetch_rate(host: str, port: int, password: str) -> tuple[int, float]:
    import pymssql

    conn = pymssql.connect(server=host, port=port, user="sa", password=password, tds_version="7.4")
    cur = conn.cursor()
    t = time.perf_counter()
    cur.execute("select * from bench")
    rows = 0
    while chunk := cur.fetchmany(10000):
        rows += len(chunk)
    el = time.perf_counter() - t
    conn.close()
    return rows, el


def bench_client(n: int) -> None:
    import multiprocessing

    from mctm_replica.standin import StandIn, default_password

    with StandIn(port=0, engine=_SyntheticEngine(n)) as s:
        rows, el = _fetch_rate(s.host, s.port, s.password)
    print(f"pymssql, same process: {rows / el:>8,.0f} rows/s  ({rows:,} rows; server and client share the GIL)")
    ctx = multiprocessing.get_context("fork")
    ports, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(n, ports, stop))
    proc.start()
    try:
        rows, el = _fetch_rate("127.0.0.1", ports.get(timeout=60), default_password())
    finally:
        stop.set()
        proc.join(30)
    print(f"pymssql, server process: {rows / el:>6,.0f} rows/s  ({rows:,} rows)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--skip-engine", action="store_true", help="skip the DuckDB engine measurement")
    p.add_argument("--skip-client", action="store_true", help="skip the pymssql measurement")
    args = p.parse_args()
    bench_encoder(args.rows)
    if not args.skip_engine:
        bench_engine(args.rows)
    if not args.skip_client:
        bench_client(args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
