"""Peers in one run: Sling, dlt and pgloader beside a user's whole `dagster asset materialize`.

Usage: python benchmarks/peers_bench.py [--rows N] [--json PATH]

One stand-in table (replication_bench's 13 mixed-type columns, ``--rows`` rows) and one
embedded PostgreSQL; each tool copies that table as its users run it, as a whole process
(mctm_replica_tests/peers/), and every row is counted on arrival:

- ``sling``: ``sling run --mode full-refresh`` (go-mssqldb over TLS), no verification;
- ``dlt``: ``sql_database`` (SQLAlchemy, mssql+pymssql) into its own dataset;
- ``pgloader``: Debian's pgloader, when installed (.ci/run installs it);
- ``dagster``: ``dagster asset materialize --select '*'`` of the table with every check
  (row count, rows_match, schema), start to end, process start-up included.

Then the issue's targets, as ratios within this run: the whole materialize against Sling's
unverified copy (at most 1.0), our copy alone against Sling's rate (at least 1.5x), and
rows_match against our copy (at most 25%). Figures are printed and written as JSON; a
target missed is reported as MISS, never failed: timings are not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from materialize_cli_bench import materialize_once  # noqa: E402
from replication_bench import prepare_table, sent_since, source_sent  # noqa: E402

from mctm_replica_tests.peers.endpoints import postgres_endpoint, standin_endpoint  # noqa: E402
from mctm_replica_tests.peers.pgloader_load import pgloader_path  # noqa: E402
from mctm_replica_tests.peers.sling_load import sling_binary  # noqa: E402

SOURCE_DB = "peersdb"
TABLE = "bench"
# The targets (issue 15), as ratios within one run.
WHOLE_RUN_VS_SLING_MAX = 1.0  # the user's whole verified run no slower than Sling's unverified copy
COPY_RATE_VS_SLING_MIN = 1.5  # our copy alone at least 1.5x Sling's rows/s
ROWS_MATCH_SHARE_MAX = 0.25  # rows_match at most a quarter of the copy's time

# Each peer runs in a child interpreter, as a user's script would (its imports and start-up
# counted), except Sling and pgloader, which are their own binaries.
_DLT_CHILD = """
import sys
sys.path.insert(0, {repo!r})
from mctm_replica_tests.peers.dlt_load import load_with_dlt
from mctm_replica_tests.peers.endpoints import Endpoint
load_with_dlt(Endpoint(*{source!r}), {table!r}, Endpoint(*{target!r}), "dlt_bench")
"""
_SLING_CHILD = """
import sys
sys.path.insert(0, {repo!r})
from mctm_replica_tests.peers.endpoints import Endpoint
from mctm_replica_tests.peers.sling_load import load_with_sling
print(load_with_sling(Endpoint(*{source!r}), {table!r}, Endpoint(*{target!r}), "sling_bench"))
"""
_PGLOADER_CHILD = """
import sys
sys.path.insert(0, {repo!r})
from mctm_replica_tests.peers.endpoints import Endpoint
from mctm_replica_tests.peers.pgloader_load import load_with_pgloader
load_with_pgloader(Endpoint(*{source!r}), {table!r}, Endpoint(*{target!r}), "pgloader_bench")
"""
REPO = str(Path(__file__).resolve().parents[1])


def _count(pg, schema: str) -> int:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(pg.dsn("replica"))
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE)))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _child(template: str, source, target) -> Callable[[], str]:
    code = template.format(repo=REPO, table=TABLE, source=tuple(vars(source).values()),
                           target=tuple(vars(target).values()))

    def run() -> str:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return proc.stdout
    return run


def sling_copy_rate(log: str) -> float | None:
    """Sling's own figure for its copy (``inserted N rows ... [R r/s]``), start-up excluded."""
    found = re.findall(r"\[([\d,]+) r/s\]", log)
    return float(found[-1].replace(",", "")) if found else None


def bench(rows: int, skip: frozenset[str] = frozenset()) -> dict:
    from mctm_replica.local.postgres import LocalPostgres
    from mctm_replica.standin import StandIn

    if sling_binary() is None:
        raise SystemExit("the sling binary is missing: `make install` (the dev extra has sling-linux-amd64)")
    work = Path(tempfile.mkdtemp(prefix="mctm-peers-bench-"))
    results: dict = {"rows": rows, "peers": {}}
    try:
        with LocalPostgres(data_dir=work / "pgdata") as pg, StandIn(mode="subprocess") as server:
            pg.create_database("replica")
            pg.create_database("dagster")
            t = time.perf_counter()
            prepare_table(server, SOURCE_DB, rows)
            print(f"prepared {rows:,} rows in {time.perf_counter() - t:.1f}s", flush=True)
            source = standin_endpoint(server, SOURCE_DB)
            target = postgres_endpoint(pg, "replica")
            peers = {"sling": _child(_SLING_CHILD, source, target),
                     "dlt": _child(_DLT_CHILD, source, target)}
            if pgloader_path() is not None:
                peers["pgloader"] = _child(_PGLOADER_CHILD, source, target)
            elif os.environ.get("CI", "").lower() == "true":
                raise SystemExit("pgloader is not installed: .ci/run installs it (apt-get install pgloader)")
            else:
                print("  pgloader  not installed (apt-get install pgloader); left out", flush=True)
            for name, run in peers.items():
                if name in skip:
                    continue
                t, sent = time.perf_counter(), source_sent(server)
                log = run()
                seconds = time.perf_counter() - t
                packets, mb = sent_since(server, sent)
                got = _count(pg, f"{name}_bench")
                if got != rows:
                    raise SystemExit(f"{name} copied {got:,} rows, expected {rows:,}")
                results["peers"][name] = {"wall_s": seconds, "rows_per_s": rows / seconds,
                                          "source_packets": packets, "source_mb": mb}
                if name == "sling" and (own := sling_copy_rate(log)) is not None:
                    results["peers"][name]["copy_rows_per_s"] = own
                own_rate = results["peers"][name].get("copy_rows_per_s")
                print(f"  {name:<9} {seconds:>8.2f}s {rows / seconds:>10,.0f} rows/s (whole process)"
                      + (f"; its copy {own_rate:,.0f} rows/s" if own_rate else "")
                      + f"; the source sent {packets:,} packets, {mb:,.1f} MB", flush=True)
            sent = source_sent(server)
            mat = materialize_once(pg, server, SOURCE_DB, rows, work / "dagster")
            mat["source_packets"], mat["source_mb"] = sent_since(server, sent)
            if _count(pg, "bench") != rows:
                raise SystemExit("dagster asset materialize did not copy every row")
            results["dagster"] = mat
            print(f"  dagster   {mat['wall_s']:>8.2f}s whole run (copy {mat['copy']:.2f}s = "
                  f"{rows / mat['copy']:,.0f} rows/s; rows_match {mat['rows_match']:.2f}s; "
                  f"row_count {mat.get('row_count_matches', 0):.2f}s; process and step start-up "
                  f"{mat['wall_s'] - mat['steps_s']:.1f}s; the source sent {mat['source_packets']:,} packets, {mat['source_mb']:,.1f} MB)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def targets(results: dict) -> list[str]:
    sling = results["peers"]["sling"]
    mat = results["dagster"]
    whole = mat["wall_s"] / sling["wall_s"]
    # The copies alone: ours (the asset's duration_s) against Sling's own rate, start-ups excluded.
    rate = (results["rows"] / mat["copy"]) / sling.get("copy_rows_per_s", sling["rows_per_s"])
    share = mat["rows_match"] / mat["copy"]
    return [
        f"{'PASS' if whole <= WHOLE_RUN_VS_SLING_MAX else 'MISS'}  whole `dagster asset materialize` with every "
        f"check / Sling's unverified copy = {whole:.2f} (target <= {WHOLE_RUN_VS_SLING_MAX})",
        f"{'PASS' if rate >= COPY_RATE_VS_SLING_MIN else 'MISS'}  our copy's rows/s / Sling's copy's (its own figure) = {rate:.2f}x "
        f"(target >= {COPY_RATE_VS_SLING_MIN}x)",
        f"{'PASS' if share <= ROWS_MATCH_SHARE_MAX else 'MISS'}  rows_match / the copy = {share:.0%} "
        f"(target <= {ROWS_MATCH_SHARE_MAX:.0%})",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--json", type=Path, default=Path("bench-results/peers.json"))
    # dlt moves ~2,000 rows/s here: at 1,000,000 rows it alone takes ten minutes.
    ap.add_argument("--skip", action="append", default=[], choices=["dlt", "pgloader"],
                    help="leave a slow peer out (Sling and dagster always run)")
    args = ap.parse_args()
    results = bench(args.rows, frozenset(args.skip))
    results["targets"] = targets(results)
    print("\n".join(results["targets"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
