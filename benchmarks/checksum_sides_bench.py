"""Where `rows_match: checksum` spends its time: each server's segment-sums query alone.

Usage: python benchmarks/checksum_sides_bench.py [--rows N] [--explain] [--repeat K]

Builds replication_bench's 13-column table in an in-process stand-in (thread mode, so its
DuckDB is reachable for plans), copies it once into an embedded PostgreSQL (COPY of the
rows the copy path formats), then times, on the clean copy:

- ``source``: the T-SQL sums query through pymssql (translation, DuckDB, TDS);
- ``target``: the PostgreSQL sums query through psycopg2 (``target_sums``' planner settings);
- ``both``: :func:`mctm_replica.verify.checksum.compare_by_checksum`, as the asset check runs it.

``--explain`` prints PostgreSQL's EXPLAIN (ANALYZE, VERBOSE) and DuckDB's EXPLAIN ANALYZE of
the translated source query. Timings are printed, never asserted; only ratios within one
run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import replication_bench as rb  # noqa: E402

SEGMENT_ROWS = 10_000  # rows_match_segment_rows' default


def _copy(cfg: dict, server, rows: int, workdir: Path):
    import psycopg2

    rb._prepare(cfg, server, rows, workdir)  # source table, bench.copy_limit, the COPY file
    conn = psycopg2.connect(host=cfg["pg_host"], port=cfg["pg_port"], dbname=cfg["pg_db"],
                            user=cfg["pg_user"], password=cfg["pg_password"])
    with conn, conn.cursor() as cur, open(cfg["csv"], "rb") as f:
        cur.copy_expert("COPY bench.copy_limit FROM STDIN WITH (FORMAT csv)", f, size=1 << 16)
        cur.execute("ANALYZE bench.copy_limit")
    return conn


def _timed(label: str, fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    print(f"  {label:<8} {best:7.2f} s (best of {repeat})", flush=True)
    return best


def _duck_plan(server, cfg: dict, sql: str, params: tuple) -> str:
    """The DuckDB SQL the stand-in runs for ``sql`` and its EXPLAIN ANALYZE."""
    from mctm_replica.standin.engine import collations
    from mctm_replica.standin.engine.query import translate_query
    from mctm_replica.standin.engine.session import StandinTSQL
    from mctm_replica.standin.engine.translate import Translator
    from mctm_replica.standin.engine.typed import Scope
    import sqlglot

    engine = server._engine
    s = engine.connect(cfg["mssql_db"], spid=90, login="sa")
    try:
        # pymssql formats its parameters into the text client-side: the stand-in sees literals
        stmt = sqlglot.parse_one(sql % tuple(int(p) for p in params), read=StandinTSQL)
        collations.CURRENT_DEFAULT.set(engine.database_collation(s.database))
        tr = Translator(s, {}, None)
        duck, _outs = translate_query(tr, stmt, Scope())
        out = s.cur.execute("EXPLAIN ANALYZE " + duck, tr.params_for(duck)).fetchall()
        return duck + "\n" + "\n".join(r[-1] for r in out)
    finally:
        s.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--explain", action="store_true")
    args = ap.parse_args()

    from psycopg2 import sql as pgsql

    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn
    from mctm_replica.verify.checksum import _Sides, compare_by_checksum, target_sums

    workdir = Path(tempfile.mkdtemp(prefix="mctm-cksum-"))
    with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(mode="thread") as server:
        pg.create_database("bench")
        cfg = {"mssql_host": server.host, "mssql_port": server.port, "mssql_db": "benchdb",
               "mssql_user": server.user, "mssql_password": server.password, "pg_host": pg.host,
               "pg_port": pg.port, "pg_db": "bench", "pg_user": pg.user, "pg_password": pg.password,
               "csv": str(workdir / "bench.csv"), "pandas_seconds": 0}
        t = time.perf_counter()
        pg_conn = _copy(cfg, server, args.rows, workdir)
        print(f"{args.rows:,} rows prepared and copied in {time.perf_counter() - t:.1f} s", flush=True)
        plan = rb._plan(cfg, "copy_limit")
        with pg_conn.cursor() as cur:
            cur.execute("SHOW server_encoding")
            sides = _Sides(plan, pg_utf8=cur.fetchone()[0] == "UTF8")
        pg_conn.rollback()
        segments = max(1, math.ceil(args.rows / SEGMENT_ROWS))
        width = max(1, math.ceil(args.rows / segments))
        params = (0, width)
        src_sql = sides.src_sums_sql("")
        tgt_sql = sides.tgt_sums_sql(pgsql.SQL(""))

        src_conn = rb._pymssql_connect(cfg)

        def source() -> None:
            cur = src_conn.cursor()
            cur.execute(src_sql, params)
            assert len(cur.fetchall()) >= segments

        def target() -> None:  # with the planner settings the check uses
            assert len(target_sums(pg_conn, tgt_sql, params)) >= segments
            pg_conn.rollback()

        def both() -> None:
            diff, _stats = compare_by_checksum(rb._mssql(cfg), pg_conn, plan, segment_rows=SEGMENT_ROWS)
            assert diff.passed, diff.summary()

        _timed("source", source, args.repeat)
        _timed("target", target, args.repeat)
        _timed("both", both, args.repeat)
        if args.explain:
            with pg_conn.cursor() as cur:
                cur.execute("SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'")  # as target_sums
                cur.execute(pgsql.SQL("EXPLAIN (ANALYZE, VERBOSE) ") + tgt_sql, params)
                print("\n".join(r[0] for r in cur.fetchall()))
            pg_conn.rollback()
            print(_duck_plan(server, cfg, src_sql, params))
        src_conn.close()
        pg_conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
