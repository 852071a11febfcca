"""The demo's daily-partitioned table (McTM dbo.sim_daily_usage, a year of history) end to
end: the stand-in with its demo data -> the table's partition job -> real PostgreSQL.

The backfill runs as Dagster's backfill daemon launches the UI's asset backfill -- the
asset's backfill policy cuts the year into runs of up to 31 partitions, each run tagged with
its partition range -- in process (no daemon here: the whole year's ranges in seconds). Then
one partition is made to fail by a stand-in fault and re-run alone: every other row keeps
its tuple. ``mctm_replica_tests/daemon/test_backfill.py`` launches a week through the real
daemon with ``dagster job backfill``.
"""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica.config import load_config
from mctm_replica.local.services import DEMO_TABLES
from mctm_replica.standin import StandIn
from mctm_replica.standin.demo_sim_usage import HISTORY_DAYS, SIM_USAGE_PER_DAY
from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, source_env, tsql

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture(scope="module")
def demo_server():
    with StandIn(demo_data=True, mode="subprocess") as server:
        yield server


def replica(pg_conn, schema: str) -> dict[int, tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT sim_usage_id, usage_date, data_mb, xmin::text FROM {}.sim_daily_usage")
                    .format(sql.Identifier(schema)))
        return {r[0]: r[1:] for r in cur.fetchall()}


def test_a_year_of_daily_history_backfills_and_a_failed_partition_reruns_alone(
        monkeypatch, tmp_path, demo_server, pg_server, pg_schema, pg_conn):
    from mctm_replica_tests.conftest import REPLICA_DB

    set_env(monkeypatch, {**source_env(demo_server, "McTM", "MCTM"), **pg_server.env(REPLICA_DB),
                          "PG_SSLMODE": "disable", "REPLICA_RETRY_BASE_DELAY_S": "0.05"})
    (demo,) = [t for t in load_config(DEMO_TABLES).tables if t.partitions]
    p = demo.partitions
    defs = replica_defs(tmp_path, [{"source_table": demo.source_name, "target_table": f"{pg_schema}.sim_daily_usage",
                                    "partitions": {"column": p.column, "granularity": p.granularity,
                                                   "start": p.start.isoformat(), "timezone": p.timezone}}],
                        prefix="MCTM")
    key = AssetKey([pg_schema, "sim_daily_usage"])
    job = defs.resolve_job_def(f"{pg_schema}__sim_daily_usage_partitions_job")
    asset_def = next(a for a in defs.assets if key in a.keys)
    history = asset_def.partitions_def.get_partition_keys()[:HISTORY_DAYS]
    per_run = asset_def.backfill_policy.max_partitions_per_run
    with DagsterInstance.ephemeral() as instance:
        for i in range(0, len(history), per_run):
            chunk = history[i:i + per_run]
            result = job.execute_in_process(instance=instance, raise_on_error=False,
                                            tags={RANGE_START: chunk[0], RANGE_END: chunk[-1]})
            assert result.success, failure_text(result)
            checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
            assert checks["row_count_matches"].passed and checks["rows_match"].passed  # this chunk's slice
            assert checks["row_count_matches"].metadata["source_rows"].value == len(chunk) * SIM_USAGE_PER_DAY
            # The NULL date and the row before the start are reported, not dropped silently.
            assert not checks["schema_matches"].passed
            assert "2 source row(s) belong to no partition" in checks["schema_matches"].description
            meta = materialization_metadata(result)
            assert (meta["rows_outside_partitions"].value, meta["rows_outside_partitions_null"].value) == (2, 1)
        assert instance.get_materialized_partitions(key) >= set(history)
        backfilled = replica(pg_conn, pg_schema)
        assert len(backfilled) == HISTORY_DAYS * SIM_USAGE_PER_DAY

        failing = history[100]
        demo_server.inject_fault("error", match=f">= '{failing}", times=0, message="disk read error (injected)")
        try:
            failed = job.execute_in_process(partition_key=failing, instance=instance, raise_on_error=False)
        finally:
            demo_server.clear_faults()
        assert not failed.success and "disk read error (injected)" in failure_text(failed)
        assert replica(pg_conn, pg_schema) == backfilled
        # A late correction arrived for that day; the failed partition is re-run alone.
        tsql(demo_server, "McTM", f"UPDATE dbo.sim_daily_usage SET DataMB = 4242.5 WHERE UsageDate = '{failing}'")
        rerun = job.execute_in_process(partition_key=failing, instance=instance, raise_on_error=False)
        assert rerun.success, failure_text(rerun)
        assert materialization_metadata(rerun)["rows_updated"].value == SIM_USAGE_PER_DAY
        after = replica(pg_conn, pg_schema)
    changed = {k for k in after if after[k] != backfilled[k]}
    assert {str(after[k][0]) for k in changed} == {failing}
    assert len(changed) == SIM_USAGE_PER_DAY  # every other row kept its tuple (same xmin)
