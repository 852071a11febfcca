"""Time-partitioned tables end to end: stand-in (pymssql) -> partitioned asset -> PostgreSQL.

Each partition is its own Dagster run (what a backfill launches: one run per partition),
through the real asset, IO manager and checks. A partition made to fail by a stand-in
fault is re-run alone afterwards; the other partitions' rows keep their tuples (xmin).
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from psycopg2 import sql

from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, tsql

DAYS = 6
START = dt.date(2023, 1, 1)
KEYS = [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]


def partitioned_table(schema: str, **extra) -> dict:
    return {"source_table": "dbo.u", "target_table": f"{schema}.u",
            "partitions": {"column": "UsageDate", "granularity": "daily", "start": START.isoformat(),
                           "timezone": "Asia/Tokyo"}, **extra}


@pytest.fixture
def source(mssql_server, source_db):
    """Three rows a day for DAYS days, plus one NULL date, one before the start and one in
    the future: those three belong to no partition."""
    rows = [f"({d * 3 + i}, '{(START + dt.timedelta(days=d)).isoformat()}', {d}.{i}25)"
            for d in range(DAYS) for i in range(3)]
    rows += ["(900, NULL, 1.0)", "(901, '2022-12-31', 2.0)", "(902, '2999-01-01', 3.0)"]
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.u (UsageID int NOT NULL PRIMARY KEY, UsageDate date NULL, DataMB decimal(10,3) NOT NULL)",
         f"INSERT INTO dbo.u VALUES {', '.join(rows)}")
    return source_db


def run_partition(defs, schema: str, key: str, instance, checks: bool = True):
    asset_key = AssetKey([schema, "u"])
    asset_def = next(a for a in defs.assets if asset_key in a.keys)
    check_defs = [c for c in defs.asset_checks if any(k.asset_key == asset_key for k in c.check_keys)
                  and any(k.name in ("row_count_matches", "rows_match", "schema_matches") for k in c.check_keys)]
    return materialize([asset_def, *(check_defs if checks else [])], partition_key=key, instance=instance,
                       resources=defs.resources, raise_on_error=False)


def replica(pg_conn, schema: str) -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT usage_id, usage_date, data_mb, xmin::text FROM {}.u ORDER BY usage_id")
                    .format(sql.Identifier(schema)))
        return cur.fetchall()


def test_backfill_copies_each_partition_and_a_failed_one_reruns_alone(
        env, tmp_path, mssql_server, source, pg_schema, pg_conn):
    defs = replica_defs(tmp_path, [partitioned_table(pg_schema)])
    failing = KEYS[3]
    # The partition's read carries its bounds; only that read fails, every time it is tried.
    mssql_server.inject_fault("error", match=f">= '{failing}", times=0, message="disk read error (injected)")
    with DagsterInstance.ephemeral() as instance:
        results = {k: run_partition(defs, pg_schema, k, instance) for k in KEYS}
        assert [k for k, r in results.items() if not r.success] == [failing]
        assert "disk read error (injected)" in failure_text(results[failing])
        before = replica(pg_conn, pg_schema)
        assert sorted(r[0] for r in before) == [i for i in range(DAYS * 3) if i // 3 != 3]

        meta = materialization_metadata(results[KEYS[0]])
        assert meta["partition"].value == KEYS[0]
        assert meta["dagster/partition_row_count"].value == 3
        assert meta["rows_outside_partitions"].value == 3  # NULL, before the start, in the future
        assert meta["rows_outside_partitions_null"].value == 1

        mssql_server.clear_faults()
        rerun = run_partition(defs, pg_schema, failing, instance)
        assert rerun.success, failure_text(rerun)
        after = replica(pg_conn, pg_schema)
        assert sorted(r[0] for r in after) == list(range(DAYS * 3))
        untouched = {r[0]: r[3] for r in before}
        assert {r[0]: r[3] for r in after if r[0] in untouched} == untouched  # other slices not rewritten

        # Dagster's own partition status is the record of what was copied.
        status = instance.get_materialized_partitions(AssetKey([pg_schema, "u"]))
        assert status == set(KEYS)


def test_schedule_refreshes_the_current_and_previous_partition_in_its_own_job(
        env, tmp_path, mssql_server, source, pg_schema, pg_conn):
    from dagster import build_schedule_context
    from zoneinfo import ZoneInfo

    defs = replica_defs(tmp_path, [partitioned_table(pg_schema), {"source_table": "dbo.u", "target_table":
                                                                  f"{pg_schema}.whole"}])
    job_name = f"{pg_schema}__u_partitions_job"
    schedule = defs.resolve_schedule_def(f"{pg_schema}__u_partitions_schedule")
    assert schedule.job_name == job_name
    tick = dt.datetime(2023, 1, 6, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    requests = schedule.evaluate_tick(build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def())).run_requests
    assert [r.partition_key for r in requests] == [KEYS[4], KEYS[5]]
    # The unpartitioned replica_job leaves the partitioned table to its own job.
    replica_job = defs.resolve_job_def("replica_job")
    assert AssetKey([pg_schema, "u"]) not in replica_job.asset_layer.executable_asset_keys
    job = defs.resolve_job_def(job_name)
    with DagsterInstance.ephemeral() as instance:
        for r in requests:
            result = job.execute_in_process(partition_key=r.partition_key, instance=instance, raise_on_error=False)
            assert result.success, failure_text(result)
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            assert checks["row_count_matches"] and checks["rows_match"]
            assert checks["schema_matches"] is False  # reports the three rows in no partition
    assert sorted(r[0] for r in replica(pg_conn, pg_schema)) == list(range(12, 18))
    # The step of a partition run claims the source's pool, as every copy does.
    asset_def = next(a for a in defs.assets if AssetKey([pg_schema, "u"]) in a.keys)
    assert asset_def.op.pool == "mctm_replica/src"


def test_a_changed_partition_definition_fails_with_the_fix_and_changes_nothing(
        env, tmp_path, mssql_server, source, pg_schema, pg_conn):
    with DagsterInstance.ephemeral() as instance:
        daily = replica_defs(tmp_path, [partitioned_table(pg_schema)])
        assert run_partition(daily, pg_schema, KEYS[0], instance, checks=False).success
        before = replica(pg_conn, pg_schema)
        monthly = replica_defs(tmp_path, [partitioned_table(pg_schema, partitions={
            "column": "UsageDate", "granularity": "monthly", "start": "2023-01-01"})])
        result = run_partition(monthly, pg_schema, "2023-01-01", instance, checks=False)
    assert not result.success
    text = failure_text(result)
    assert f"replica table `{pg_schema}.u` was built with partitions daily by UsageDate from 2023-01-01 " \
           f"(Asia/Tokyo), but tables.yaml now says monthly by UsageDate" in text
    assert f"DROP TABLE {pg_schema}.u, then backfill every partition" in text
    assert f"`dagster job backfill -j {pg_schema}__u_partitions_job --all`" in text
    assert replica(pg_conn, pg_schema) == before
