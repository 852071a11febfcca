"""Source pools, proven from the stored events of real runs.

The project's own dagster.yaml in a temporary ``DAGSTER_HOME`` on real PostgreSQL, the
stand-in with the demo databases (two sources: McTM with two tables, VoipDB with two) and
the production tables.yaml; runs launched through Dagster's CLI exactly as operators do.
The stand-in delays every read of a table's rows (its ``delay`` fault), so each step that
reads a source lasts long enough that two of them running at once would overlap in the
event log. For every run, each step's interval is its STEP_START to STEP_SUCCESS /
STEP_FAILURE event timestamps; steps reading one source must never overlap -- within a
run of the asset job (``dagster asset materialize --select '*'``), of ``replica_job``, and
across two runs launched together -- while the two sources still run side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, build_sensor_context
from psycopg2 import sql

from mctm_replica.assets import SOURCE_TAG
from mctm_replica.config import TABLES_ENV, load_config
from mctm_replica.definitions import build_definitions
from mctm_replica.local.services import REPO_ROOT, demo_source_env
from mctm_replica.pools import apply_pool_limits, build_pool_limits_sensor, source_pool
from mctm_replica.standin import StandIn
from mctm_replica_tests.conftest import unique_name

pytestmark = pytest.mark.slow

# Each read of a table's rows (copy, COUNT_BIG, rows_match's scan) waits this long in the
# stand-in: much longer than the gap between two steps, so parallel reads of one source
# would show as overlapping intervals, and reads of two sources have time to overlap.
READ_DELAY_S = 1.0
# Every such read names a table as `[dbo].[...]`; catalog queries (describe_table) do not,
# so only reads of rows are delayed.
READ_MATCH = "FROM [dbo].["
# A run of four tables with their checks takes well under a minute here; a generous
# deadline for a loaded two-core machine.
RUN_DEADLINE_S = 900
DAGSTER = Path(sys.executable).with_name("dagster")
STEP_END = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory) -> Iterator[dict[str, str]]:
    """Stand-in with demo data and a slow read, a replica database, and a DAGSTER_HOME
    holding the project's dagster.yaml on its own PostgreSQL database."""
    replica_db, dagster_db = unique_name("pools_replica"), unique_name("pools_dagster")
    pg_server.create_database(replica_db)
    pg_server.create_database(dagster_db)
    home = tmp_path_factory.mktemp("pools_home")
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with StandIn(demo_data=True, mode="subprocess") as mssql:
        mssql.inject_fault("delay", seconds=READ_DELAY_S, match=READ_MATCH, times=0)
        env = {k: v for k, v in os.environ.items() if k != TABLES_ENV}
        env |= {**pg_server.env(replica_db), **pg_server.env(dagster_db, "DAGSTER_PG"),
                "PG_SSLMODE": "disable", "DAGSTER_HOME": str(home)}
        env |= demo_source_env(mssql, load_config())
        with pytest.MonkeyPatch.context() as mp:
            for k in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB",
                      "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
                mp.setenv(k, env[k])
            yield env
    conn = psycopg2.connect(pg_server.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in (replica_db, dagster_db):
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


# What the UI's "Execute checks" launches: the asset job with only checks selected (the
# source-reading ones; the CLI has no checks-only command).
CHECKS_ONLY_RUN = """
from dagster import DagsterInstance, execute_job
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableRepository
from mctm_replica.definitions import defs
checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.name != "freshness_check"}
job = ReconstructableRepository.for_module("mctm_replica.definitions", "defs").get_reconstructable_job(
    IMPLICIT_ASSET_JOB_NAME).get_subset(asset_selection=set(), asset_check_selection=checks)
with DagsterInstance.get() as instance:
    raise SystemExit(0 if execute_job(job, instance=instance).success else 1)
"""


def _launch(env: dict[str, str], *args: str) -> subprocess.Popen:
    command = ([sys.executable, "-c", CHECKS_ONLY_RUN] if args == ("checks",)
               else [str(DAGSTER), *args, "-m", "mctm_replica.definitions"])
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, *, must_succeed: bool = True) -> None:
    out, _ = proc.communicate(timeout=RUN_DEADLINE_S)
    assert proc.returncode == 0 or not must_succeed, out[-4000:]


def _run_ids_after(instance: DagsterInstance, before: set[str]) -> list[str]:
    return [r.run_id for r in instance.get_runs() if r.run_id not in before]


def _source_of_step() -> dict[str, str | None]:
    """Step key -> the pool of the source it reads (from the op's source tag, so a step
    that lost its pool still counts), for every step the definitions can run."""
    defs = build_definitions(load_config())
    pools: dict[str, str | None] = {}
    for job in (defs.resolve_implicit_global_asset_job_def(), defs.resolve_job_def("replica_job")):
        for name, node in job.graph.node_dict.items():
            source = node.definition.tags.get(SOURCE_TAG)
            pools[name] = source_pool(source) if source else None
    return pools


def _intervals(instance: DagsterInstance, run_ids: list[str],
               may_fail: frozenset[str] = frozenset()) -> list[tuple[str, float, float, str, str]]:
    """(pool, start, end, run id, step key) of every finished step of ``run_ids`` with a pool;
    every run succeeded, except those in ``may_fail``."""
    pools = _source_of_step()
    out = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        assert run is not None and (run.is_success or run_id in may_fail), f"run {run_id}: {run and run.status}"
        starts: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, *STEP_END}):
            ev = entry.dagster_event
            if ev.event_type == DagsterEventType.STEP_START:
                starts[ev.step_key] = entry.timestamp
            elif pools.get(ev.step_key):
                out.append((pools[ev.step_key], starts[ev.step_key], entry.timestamp, run_id, ev.step_key))
    return out


def _overlaps_within_pool(intervals) -> list[tuple]:
    found = []
    by_pool: dict[str, list] = {}
    for iv in intervals:
        by_pool.setdefault(iv[0], []).append(iv)
    for ivs in by_pool.values():
        ivs.sort(key=lambda iv: iv[1])
        found += [(a, b) for a, b in zip(ivs, ivs[1:]) if b[1] < a[2]]
    return found


def _sources_overlap(intervals) -> bool:
    mctm = [iv for iv in intervals if iv[0] == source_pool("mctm")]
    voipdb = [iv for iv in intervals if iv[0] == source_pool("voipdb")]
    return any(a[1] < b[2] and b[1] < a[2] for a in mctm for b in voipdb)


def _check(instance: DagsterInstance, run_ids: list[str], *, steps: int,
           may_fail: frozenset[str] = frozenset()) -> None:
    intervals = _intervals(instance, run_ids, may_fail)
    # 4 tables x (copy + rows_match + row_count_matches + schema_matches), every one pooled.
    assert len(intervals) == steps, sorted(iv[4] for iv in intervals)
    assert _overlaps_within_pool(intervals) == []
    assert _sources_overlap(intervals), "the two sources never ran at the same time"


def test_asset_job_never_reads_one_source_twice_at_once(stack):
    with DagsterInstance.get() as instance:
        before = {r.run_id for r in instance.get_runs()}
        _finish(_launch(stack, "asset", "materialize", "--select", "*"))
        run_ids = _run_ids_after(instance, before)
        assert len(run_ids) == 1
        _check(instance, run_ids, steps=16)
        # The limit came from dagster.yaml's default: nothing set it explicitly.
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
        assert limits == {source_pool("mctm"): 1, source_pool("voipdb"): 1}


def test_replica_job_never_reads_one_source_twice_at_once(stack):
    with DagsterInstance.get() as instance:
        before = {r.run_id for r in instance.get_runs()}
        _finish(_launch(stack, "job", "execute", "-j", "replica_job"))
        run_ids = _run_ids_after(instance, before)
        assert len(run_ids) == 1
        _check(instance, run_ids, steps=16)


def test_two_runs_launched_together_share_each_sources_limit(stack):
    with DagsterInstance.get() as instance:
        # As the replica_pool_limits sensor (or `make demo` / `make dev`) does before runs:
        # explicit limits. Two runs that create a pool's default row at the same moment hit
        # Dagster's PostgreSQL bug (dagster-io/dagster#33552); see README Operations.
        apply_pool_limits(instance, load_config())
        before = {r.run_id for r in instance.get_runs()}
        procs = [_launch(stack, "job", "execute", "-j", "replica_job"),
                 _launch(stack, "asset", "materialize", "--select", "*")]
        for proc in procs:
            _finish(proc)
        run_ids = _run_ids_after(instance, before)
        assert len(run_ids) == 2
        _check(instance, run_ids, steps=32)
        # The two runs really ran at the same time: without the pool they would collide.
        spans = [(min(iv[1] for iv in ivs), max(iv[2] for iv in ivs))
                 for ivs in ([iv for iv in _intervals(instance, run_ids) if iv[3] == r] for r in run_ids)]
        assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]


def test_execute_checks_beside_a_scheduled_run_shares_each_sources_limit(stack):
    with DagsterInstance.get() as instance:
        apply_pool_limits(instance, load_config())  # as above: explicit limits first
        before = {r.run_id for r in instance.get_runs()}
        job, checks = _launch(stack, "job", "execute", "-j", "replica_job"), _launch(stack, "checks")
        _finish(job)
        # Its checks may run before the copies (failing: no replica yet) or after: either way
        # every one of them reads the source, and that is what is checked here.
        _finish(checks, must_succeed=False)
        run_ids = _run_ids_after(instance, before)
        assert len(run_ids) == 2
        checks_run = {r for r in run_ids if instance.get_run_by_id(r).job_name != "replica_job"}
        # The checks-only run: 4 tables x 3 checks.
        _check(instance, run_ids, steps=16 + 12, may_fail=frozenset(checks_run))


def test_tables_yaml_limit_reaches_the_pool_and_a_live_change_is_kept(stack, tmp_path):
    """``max_concurrent_tables`` other than 1 becomes the pool's limit; an operator's
    `dagster instance concurrency set` holds until tables.yaml's value changes."""
    def config_with(limit: int):
        path = tmp_path / f"tables_{limit}.yaml"
        path.write_text(f"sources:\n  mctm: {{env_prefix: SQL_SERVER_MCTM, max_concurrent_tables: {limit}}}\n"
                        "tables:\n  - {source: mctm, source_table: dbo.customer, target_table: public.customer}\n")
        return load_config(path)

    pool = source_pool("mctm")
    with DagsterInstance.get() as instance:
        def limit() -> int:
            return {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}[pool]

        assert apply_pool_limits(instance, config_with(2)) == {pool: 2}
        assert limit() == 2
        sensor = build_pool_limits_sensor(config_with(2))
        context = build_sensor_context(instance=instance, cursor=json.dumps({pool: 2}))
        proc = subprocess.run([str(DAGSTER), "instance", "concurrency", "set", pool, "3"], env=stack,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        sensor(context)
        assert limit() == 3  # the operator's live change stays
        sensor = build_pool_limits_sensor(config_with(4))
        sensor(context)
        assert limit() == 4  # tables.yaml changed: its value wins
        assert json.loads(context.cursor) == {pool: 4}
        apply_pool_limits(instance, config_with(1))  # leave the module's instance as found
