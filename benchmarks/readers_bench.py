"""Parallel key-range readers: a full load through 1, 2 and 4 reader processes.

``python benchmarks/readers_bench.py --rows N`` builds the replication benchmark's mixed-type
table (:mod:`replication_bench`, 13 columns, bigint key) in the SQL Server stand-in and
measures, in fresh processes on the same data:

  source_limit   one pymssql connection fetching every row and discarding it: the
                 single-connection read limit every other figure is a ratio to
  readers_1      the asset's read-and-load path (IO manager handler, staging COPY, apply)
                 with the single reader
  fanin_1        the same through one reader *process* (the parallel path with N=1): what
                 the process hop itself costs
  readers_2/4    the same with ``parallel_readers: 2`` / ``4``

Each parallel copy is then compared with the single reader's in PostgreSQL (rows in one
and not the other, ``EXCEPT ALL`` both ways): the table's last column says 0 when they are
the same copy row for row.

Peak memory is summed over the process tree (the load's process and its reader
processes), sampled while it runs -- psutil when installed, /proc otherwise -- since a
reader's memory is not in its parent's RSS. Nothing is asserted: on a shared machine only
ratios within one run mean anything. The stand-in is one process answering every
connection, so the figures show what the fan-in costs and gains against it, not what N
connections to a real SQL Server would give.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replication_bench as rb  # noqa: E402 -- the same table, resources and limit

READERS = (1, 2, 4)
METHODS = ["source_limit", "readers_1", "fanin_1", *(f"readers_{n}" for n in READERS[1:])]
# How often the orchestrator sums the worker tree's resident memory: often enough to
# catch the peak of a copy that runs for seconds, cheap enough not to slow it.
SAMPLE_S = 0.05


def work_readers(cfg: dict, target: str, readers: int, *, processes: bool):
    from dagster import AssetKey, build_output_context
    from dagster._core.storage.db_io_manager import TableSlice

    from mctm_replica.assets import read_sql
    from mctm_replica.config import TableSpec
    from mctm_replica.io_managers.client import PostgresClient
    from mctm_replica.io_managers.refresh import ReplicaBatchesTypeHandler
    from mctm_replica.parallel.opener import parallel_open
    from mctm_replica.plan import ReplicaBatches, build_plan

    def run() -> int:
        mssql = rb._mssql(cfg)
        spec = TableSpec(source="bench", source_schema="dbo", source_table=rb.TABLE, target_schema="bench",
                         target_table=target, parallel_readers=readers)
        plan = build_plan(spec, mssql.describe_table("dbo", rb.TABLE))
        query = read_sql(plan, lines=True)
        opener = parallel_open(mssql, plan, query) if processes else (lambda: mssql.stream(query, what=rb.TABLE))
        obj = ReplicaBatches(plan, open=opener, lines=True)
        context = build_output_context(asset_key=AssetKey(["bench", target]))
        with rb._postgres(cfg).get_connection() as conn:
            PostgresClient.ensure_schema(conn, "bench")
            meta = ReplicaBatchesTypeHandler(lock_timeout_s=60).handle_output(
                context, TableSlice(table=target, schema="bench"), obj, conn)
        return int(meta["rows_copied"])

    return run


def run_worker(method: str, cfg: dict) -> None:
    if method == "source_limit":
        run = rb.work_source_limit(cfg)
    else:
        kind, n = method.split("_")
        run = work_readers(cfg, method, int(n), processes=kind == "fanin" or int(n) > 1)
    started = time.perf_counter()
    rows = run()
    print(json.dumps({"method": method, "rows": rows, "seconds": time.perf_counter() - started}))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and every descendant, in MB."""
    try:
        import psutil
    except ImportError:
        return _proc_tree_rss(pid) / 2**20
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _proc_tree_rss(pid: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def measure(method: str, cfg: dict) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--worker", method, "--config", json.dumps(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{err[-3000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_tree_mb": peak[0]}


def prepare(cfg: dict, server, rows: int) -> None:
    rb.prepare_table(server, cfg['mssql_db'], rows)
    cfg["select"] = rb._select(rb._plan(cfg, "unused"))


def bench(rows: int) -> dict:
    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    workdir = Path(tempfile.mkdtemp(prefix="mctm-readers-bench-"))
    results = {}
    try:
        with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("bench")
            cfg = {"mssql_host": server.host, "mssql_port": server.port, "mssql_db": "benchdb",
                   "mssql_user": server.user, "mssql_password": server.password, "pg_host": pg.host,
                   "pg_port": pg.port, "pg_db": "bench", "pg_user": pg.user, "pg_password": pg.password}
            t = time.perf_counter()
            prepare(cfg, server, rows)
            print(f"  prepared {rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
            for method in METHODS:
                r = results[method] = measure(method, cfg)
                print(f"  {method:<13} {r['rows']:>9,} rows {r['seconds']:>8.2f}s "
                      f"{r['rows'] / r['seconds']:>10,.0f} rows/s {r['peak_tree_mb']:>7.0f} MB (tree)", flush=True)
            for method in METHODS[2:]:
                results[method]["rows_differing_from_readers_1"] = differing(cfg, method, "readers_1")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def differing(cfg: dict, table: str, reference: str) -> int:
    """Rows in one replica and not the other, duplicates counted (0: the same copy)."""
    import psycopg2
    from psycopg2 import sql

    a, b = (sql.Identifier("bench", t) for t in (table, reference))
    query = sql.SQL("SELECT (SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) x)"
                    " + (SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) y)").format(a=a, b=b)
    with psycopg2.connect(host=cfg["pg_host"], port=cfg["pg_port"], dbname=cfg["pg_db"], user=cfg["pg_user"],
                          password=cfg["pg_password"]) as conn, conn.cursor() as cur:
        cur.execute(query)
        return int(cur.fetchone()[0])


def table(results: dict) -> str:
    limit = results["source_limit"]["rows"] / results["source_limit"]["seconds"]
    lines = [f"{'method':<13} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'x 1-conn read':>13} {'tree MB':>8} "
             f"{'rows != readers_1':>17}"]
    for method in METHODS:
        r = results[method]
        rate = r["rows"] / r["seconds"]
        lines.append(f"{method:<13} {r['rows']:>10,} {r['seconds']:>8.2f} {rate:>10,.0f} {rate / limit:>13.2f} "
                     f"{r['peak_tree_mb']:>8.0f} {r.get('rows_differing_from_readers_1', ''):>17}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=Path("bench-results/readers.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, json.loads(args.config))
        return 0
    print(f"parallel readers benchmark at {args.rows:,} rows", flush=True)
    results = bench(args.rows)
    print()
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": args.rows, "machine": rb.machine_facts(), "results": results,
                                     "table": table(results)}, indent=2))
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
