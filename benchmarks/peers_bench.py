"""Peers through the stand-in: dlt and pgloader loading the benchmark table into PostgreSQL.

Usage: python benchmarks/peers_bench.py [--rows N] [--only dlt|pgloader]

Not a timed test: it prints each peer's wall time and rows/s for the replication
benchmark's 13-column table (benchmarks/replication_bench.py: DDL and FILL), run
as their users run them (mctm_replica_tests/peers/), and checks that every row
arrived. Figures go into the report / README.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from replication_bench import DDL, FILL  # noqa: E402

from mctm_replica_tests.peers.dlt_load import load_with_dlt  # noqa: E402
from mctm_replica_tests.peers.endpoints import postgres_endpoint, standin_endpoint  # noqa: E402
from mctm_replica_tests.peers.pgloader_load import load_with_pgloader, pgloader_path  # noqa: E402

SOURCE_DB = "peersdb"
TARGET_DB = "peers"


def _prepare(server, rows: int) -> None:
    conn = server.connect_pymssql(autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE [{SOURCE_DB}]")
        cur.execute(f"USE [{SOURCE_DB}]")
        cur.execute("CREATE TABLE dbo.n (n int PRIMARY KEY)")
        cur.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000)))
        cur.execute(DDL)
        cur.execute(FILL.format(rows=int(rows)))
    conn.close()


def _count(pg, schema: str) -> int:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(pg.dsn(TARGET_DB))
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}.bench").format(sql.Identifier(schema)))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--only", choices=["dlt", "pgloader"])
    args = ap.parse_args()

    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    with LocalPostgres() as pg, StandIn(mode="subprocess") as server:
        pg.create_database(TARGET_DB)
        t = time.perf_counter()
        _prepare(server, args.rows)
        print(f"prepared {args.rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
        source = standin_endpoint(server, SOURCE_DB)
        target = postgres_endpoint(pg, TARGET_DB)
        peers = {"dlt": lambda: load_with_dlt(source, "bench", target, "dlt_bench"),
                 "pgloader": lambda: load_with_pgloader(source, "bench", target, "pgloader_bench")}
        failed = False
        for name, run in peers.items():
            if args.only and name != args.only:
                continue
            if name == "pgloader" and pgloader_path() is None:
                print("pgloader: not installed (apt-get install pgloader)")
                continue
            t = time.perf_counter()
            run()
            seconds = time.perf_counter() - t
            got = _count(pg, f"{name}_bench")
            ok = got == args.rows
            failed |= not ok
            print(f"  {name:<9} {got:>9,} rows {seconds:>8.2f}s {got / seconds:>10,.0f} rows/s"
                  f"{'' if ok else f'  MISMATCH: expected {args.rows:,}'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
