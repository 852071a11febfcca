"""Refresh cost when 1% of the rows changed: the differential refresh against the old
``TRUNCATE`` + ``INSERT``, on the same data in one run.

``make bench`` runs it after the replication benchmark (``--rows`` as there). It builds
the replication benchmark's 13-column table in the SQL Server stand-in and loads it into
two identical PostgreSQL replicas. Then, ``ROUNDS`` times, it changes 1% of the source
rows and refreshes each replica through the IO manager's handler (no Dagster run),
measuring (medians over the rounds are reported):

* ``seconds`` -- the whole refresh (read, stage, apply, commit);
* ``apply_s`` -- the server-side step after staging;
* ``wal_bytes`` -- WAL written, ``pg_wal_lsn_diff`` of ``pg_current_wal_lsn()`` around it
  (after a CHECKPOINT, so both pay the same full-page images);
* ``reader_wait_s`` -- the longest a reader's ``SELECT ... LIMIT 1`` on the live table
  took while the refresh ran, polled every few milliseconds from another connection.

The old method is the previous handler's final step, as a load-mode strategy: lock the
live table ACCESS EXCLUSIVE, ``TRUNCATE`` it, ``INSERT ... SELECT`` from staging. Nothing
here is asserted: only the two methods' ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from replication_bench import TABLE, machine_facts, prepare_table  # noqa: E402  (same table as make bench)

# Share of source rows changed between the two loads: the figure.
CHANGED_EVERY = 100  # every 100th row = 1%
# Reader poll interval: fine enough to see a sub-second block, light enough not to load
# the two shared cores.
READER_POLL_S = 0.005
METHODS = ("differential", "truncate_insert")
# Rounds per method, alternating, each after a new 1% change; medians are reported (a
# shared two-core machine makes single figures noisy).
ROUNDS = 3


def _old_mode():
    """The pre-issue-13 final step as a strategy: ACCESS EXCLUSIVE, TRUNCATE, INSERT."""
    from psycopg2 import sql

    from mctm_replica.io_managers import difference
    from mctm_replica.io_managers.modes import Applied, FullByDifference

    class TruncateInsert(FullByDifference):
        def apply(self, cur, run, decision, stages):
            cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(run.live))
            cur.execute(sql.SQL("TRUNCATE {}").format(run.live))
            return Applied(inserted=difference.insert_all(cur, run.live, stages["rows"], run.plan.target_columns))

    return TruncateInsert()


class Reader(threading.Thread):
    """Polls the live table and keeps the longest single query time."""

    def __init__(self, dsn: str, table: str):
        super().__init__(daemon=True)
        import psycopg2

        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True
        self.table, self.longest, self.queries = table, 0.0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        with self.conn.cursor() as cur:
            while not self.stop.is_set():
                started = time.perf_counter()
                cur.execute(f"SELECT id FROM bench.{self.table} LIMIT 1")  # fixed bench names
                cur.fetchall()
                self.longest = max(self.longest, time.perf_counter() - started)
                self.queries += 1
                time.sleep(READER_POLL_S)
        self.conn.close()


def refresh(cfg: dict, target: str, *, method: str | None = None, measure: bool = False) -> dict:
    """One refresh of ``bench.<target>`` through the replica type handler."""
    import psycopg2
    from dagster import AssetKey, build_output_context
    from dagster._core.storage.db_io_manager import TableSlice

    import mctm_replica.io_managers.refresh as refresh_module
    from mctm_replica.assets import read_sql
    from mctm_replica.config import TableSpec
    from mctm_replica.io_managers.client import PostgresClient
    from mctm_replica.plan import ReplicaBatches, build_plan
    from mctm_replica.resources.mssql import MssqlResource

    mssql = MssqlResource(host=cfg["mssql_host"], port=cfg["mssql_port"], database=cfg["mssql_db"],
                          user=cfg["mssql_user"], password=cfg["mssql_password"])
    spec = TableSpec(source="bench", source_schema="dbo", source_table=TABLE, target_schema="bench",
                     target_table=target)
    plan = build_plan(spec, mssql.describe_table("dbo", TABLE))
    query = read_sql(plan, lines=True)
    obj = ReplicaBatches(plan, open=lambda: mssql.stream(query, what=TABLE), lines=True)
    original = refresh_module.mode_for
    if method == "truncate_insert":
        refresh_module.mode_for = lambda plan: _old_mode()
    conn = psycopg2.connect(cfg["dsn"])
    reader = None
    try:
        PostgresClient.ensure_schema(conn, "bench")
        handler = refresh_module.ReplicaBatchesTypeHandler(lock_timeout_s=600)
        context = build_output_context(asset_key=AssetKey(["bench", target]))
        if measure:
            with conn.cursor() as cur:
                cur.execute("CHECKPOINT")
                cur.execute("SELECT pg_current_wal_lsn()")
                lsn = cur.fetchone()[0]
            conn.commit()
            reader = Reader(cfg["dsn"], target)
            reader.start()
        started = time.perf_counter()
        meta = handler.handle_output(context, TableSlice(table=target, schema="bench"), obj, conn)
        seconds = time.perf_counter() - started
        result = {"seconds": seconds, "apply_s": meta["apply_s"], "rows_copied": meta["rows_copied"],
                  "rows_inserted": meta["rows_inserted"], "rows_updated": meta["rows_updated"],
                  "rows_deleted": meta["rows_deleted"]}
        if measure:
            reader.stop.set()
            reader.join()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn,))
                result["wal_bytes"] = int(cur.fetchone()[0])
            conn.commit()
            result["reader_wait_s"] = reader.longest
            result["reader_queries"] = reader.queries
        return result
    finally:
        refresh_module.mode_for = original
        if reader is not None:
            reader.stop.set()
        conn.close()


def bench(rows: int) -> dict:
    import psycopg2

    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    workdir = Path(tempfile.mkdtemp(prefix="mctm-refresh-bench-"))
    try:
        with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("bench")
            cfg = {"mssql_host": server.host, "mssql_port": server.port, "mssql_db": "refreshdb",
                   "mssql_user": server.user, "mssql_password": server.password, "dsn": pg.dsn("bench")}
            t = time.perf_counter()
            prepare_table(server, cfg["mssql_db"], rows)
            src = server.connect_pymssql(autocommit=True, database=cfg["mssql_db"])
            for method in METHODS:
                refresh(cfg, method)  # first load creates the replica
            conn = psycopg2.connect(cfg["dsn"])
            conn.autocommit = True
            with conn.cursor() as cur:
                # Hint bits and statistics settle before measuring (data checksums make the
                # first read of a page write a full-page image).
                for method in METHODS:
                    cur.execute(f"VACUUM ANALYZE bench.{method}")
            conn.close()
            print(f"  prepared {rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
            rounds: dict[str, list[dict]] = {m: [] for m in METHODS}
            for i in range(ROUNDS):
                with src.cursor() as cur:  # a different 1% of the values each round
                    cur.execute(f"UPDATE dbo.{TABLE} SET qty = qty + 1, name = N'変更{i}' "
                                f"WHERE id % {CHANGED_EVERY} = 0")
                    changed = cur.rowcount
                for method in METHODS:
                    rounds[method].append(refresh(cfg, method, method=method, measure=True))
                    r = rounds[method][-1]
                    print(f"  round {i + 1} {method:<16} {r['seconds']:>7.2f}s  apply {r['apply_s']:>6.2f}s  "
                          f"WAL {r['wal_bytes'] / 2**20:>8.1f} MiB  reader waited {r['reader_wait_s']:>6.3f}s  "
                          f"(+{r['rows_inserted']:,} ~{r['rows_updated']:,} -{r['rows_deleted']:,})", flush=True)
            src.close()
            medians = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "apply_s", "wal_bytes",
                                                                             "reader_wait_s")}
                       for m, rs in rounds.items()}
            return {"changed": changed, "rounds": rounds, "results": medians}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=Path("bench-results/refresh.json"))
    args = parser.parse_args()
    print(f"refresh benchmark at {args.rows:,} rows, 1% changed", flush=True)
    figures = bench(args.rows)
    diff, old = figures["results"]["differential"], figures["results"]["truncate_insert"]
    print(f"\nmedians of {ROUNDS} rounds: differential {diff['seconds']:.2f}s (apply {diff['apply_s']:.2f}s), "
          f"truncate+insert {old['seconds']:.2f}s (apply {old['apply_s']:.2f}s)")
    print(f"differential / truncate+insert: time {diff['seconds'] / old['seconds']:.2f}x, "
          f"WAL {diff['wal_bytes'] / old['wal_bytes']:.3f}x, "
          f"reader wait {diff['reader_wait_s']:.3f}s vs {old['reader_wait_s']:.3f}s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": args.rows, "machine": machine_facts(), **figures}, indent=2))
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
