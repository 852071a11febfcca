"""Change Tracking mode against the watermark mode with deletes, on the same 1% change.

One source table of ``--rows`` rows in the SQL Server stand-in, with Change Tracking on and
an ``updated_at`` watermark column its "application" maintains. Two replicas of it are
loaded by real ``replica_job`` runs (Dagster in process, PostgreSQL embedded): one with
``mode: change_tracking``, one with ``mode: incremental`` (``deletes: every_run``). Then
1% of the rows change -- updates, inserts and deletes in equal parts -- and each replica
is refreshed once. Reported per mode: the refresh's time (the IO manager's ``duration_s``,
read + stage + apply + commit) and the source rows it read (changed rows, plus for the
watermark mode every primary key, which it streams to find deletes).

Nothing is asserted; only the two modes' ratio within one run means anything. Run:
``.venv/bin/python benchmarks/ct_bench.py --rows 1000000``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from replication_bench import machine_facts  # noqa: E402

# Share of rows changed: the figure. A third each updated, inserted, deleted.
CHANGED_EVERY = 100
DDL = ("CREATE TABLE dbo.ct_bench (id bigint NOT NULL PRIMARY KEY, qty int, name nvarchar(50), "
       "notes nvarchar(200), updated_at datetime2(3) NOT NULL)")
FILL = ("INSERT INTO dbo.ct_bench SELECT a.n * 1000 + b.n + 1, (a.n * 7 + b.n) % 100000, "
        "N'顧客' + CAST(a.n AS nvarchar(10)) + N'様', CASE WHEN b.n % 3 = 0 THEN NULL ELSE N'short note' END, "
        "DATEADD(second, a.n * 1000 + b.n, CAST('2020-01-01' AS datetime2(3))) "
        "FROM dbo.n AS a CROSS JOIN dbo.n AS b WHERE a.n * 1000 + b.n < {rows}")
MODES = {
    "change_tracking": {"mode": "change_tracking", "primary_key": ["id"]},
    "watermark": {"mode": "incremental", "primary_key": ["id"], "watermark": "updated_at",
                  "watermark_lookback": "0 seconds", "deletes": "every_run"},
}


def change(cur, rows: int) -> None:
    """1% of the rows: a third updated, a third deleted, a third inserted past the end."""
    third = 3 * CHANGED_EVERY
    cur.execute(f"UPDATE dbo.ct_bench SET qty = qty + 1, updated_at = SYSDATETIME() WHERE id % {third} = 0")
    cur.execute(f"DELETE FROM dbo.ct_bench WHERE id % {third} = 1")
    cur.execute(f"INSERT INTO dbo.ct_bench SELECT id + {rows + 1}, qty, name, notes, SYSDATETIME() "
                f"FROM dbo.ct_bench WHERE id % {third} = 2")


def run(defs, key) -> dict:
    job = defs.resolve_job_def("replica_job")
    result = job.execute_in_process(raise_on_error=True, asset_selection=[key])
    [mat] = [e.event_specific_data.materialization for e in result.all_events
             if e.event_type_value == "ASSET_MATERIALIZATION"]
    meta = {k: v.value for k, v in mat.metadata.items()}
    # change_tracking: changed rows plus deleted keys; watermark: changed rows plus every key
    read = meta["ct_changes_read"] if meta.get("ct_changes_read") else meta["rows_copied"] + meta.get("source_keys", 0)
    return {"seconds": meta["duration_s"], "source_rows_read": read, "load": meta["load"],
            "inserted": meta["rows_inserted"], "updated": meta["rows_updated"], "deleted": meta.get("rows_deleted")}


def bench(rows: int) -> dict:
    from dagster import AssetKey

    from mctm_replica.config import load_config
    from mctm_replica.definitions import build_definitions
    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    workdir = Path(tempfile.mkdtemp(prefix="mctm-ct-bench-"))
    try:
        with LocalPostgres(data_dir=workdir / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("bench")
            os.environ.update({"BENCH_HOST": server.host, "BENCH_PORT": str(server.port), "BENCH_DB": "ctdb",
                               "BENCH_USER": server.user, "BENCH_PASSWORD": server.password,
                               **pg.env("bench"), "PG_SSLMODE": "disable"})
            src = server.connect_pymssql(autocommit=True)
            t = time.perf_counter()
            with src.cursor() as cur:
                cur.execute("CREATE DATABASE [ctdb]")
                cur.execute("USE [ctdb]")
                cur.execute("CREATE TABLE dbo.n (n int PRIMARY KEY)")
                cur.execute("INSERT INTO dbo.n VALUES " + ", ".join(f"({i})" for i in range(1000)))
                cur.execute(DDL)
                cur.execute(FILL.format(rows=int(rows)))
                cur.execute("ALTER DATABASE [ctdb] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS)")
                cur.execute("ALTER TABLE dbo.ct_bench ENABLE CHANGE_TRACKING")
            path = workdir / "tables.yaml"
            path.write_text(yaml.safe_dump({
                "sources": {"bench": {"env_prefix": "BENCH", "encryption": "off"}},
                "tables": [{"source": "bench", "source_table": "dbo.ct_bench", "target_table": f"bench.{name}",
                            "rows_match_blocking": False, **entry} for name, entry in MODES.items()]}))
            defs = build_definitions(load_config(path))
            first = {name: run(defs, AssetKey(["bench", name])) for name in MODES}
            loads = ", ".join(f"{n} {r['seconds']:.1f}s" for n, r in first.items())
            print(f"  prepared and loaded {rows:,} rows in {time.perf_counter() - t:.1f}s ({loads})", flush=True)
            with src.cursor() as cur:
                change(cur, rows)
            src.close()
            results = {name: run(defs, AssetKey(["bench", name])) for name in MODES}
            for name, r in results.items():
                print(f"  {name:<16} {r['seconds']:>7.2f}s  {r['source_rows_read']:>10,} source rows read  "
                      f"{r['load']} +{r['inserted']:,} ~{r['updated']:,} -{r['deleted']:,}", flush=True)
            return {"first_load": first, "results": results}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=Path("bench-results/ct.json"))
    args = parser.parse_args()
    print(f"Change Tracking benchmark at {args.rows:,} rows, 1% changed", flush=True)
    figures = bench(args.rows)
    ct, wm = figures["results"]["change_tracking"], figures["results"]["watermark"]
    print(f"\nchange_tracking / watermark+deletes: time {ct['seconds'] / wm['seconds']:.2f}x, "
          f"source rows read {ct['source_rows_read']:,} vs {wm['source_rows_read']:,}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": args.rows, "machine": machine_facts(), **figures}, indent=2))
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
