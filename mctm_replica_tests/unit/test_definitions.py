"""Definitions load, and the schedule, job and asset shapes are what operators rely on."""

import datetime as dt

from dagster import AssetKey, DefaultScheduleStatus
from dagster._utils.schedules import schedule_execution_time_iterator

from mctm_replica.config import load_config
from mctm_replica.definitions import build_definitions
from mctm_replica.assets import SOURCE_TAG
from mctm_replica.pools import configured_limits, source_pool
from mctm_replica.executor import PRELOAD_MODULES, source_concurrency_limits
from mctm_replica.schedules import REPLICA_CRON


def test_definitions_load_without_any_environment(monkeypatch):
    for name in ("PG_HOST", "PG_PASSWORD", "SQL_SERVER_MCTM_HOST", "SQL_SERVER_MCTM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    defs = build_definitions()
    keys = {k for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {AssetKey(["public", t]) for t in
                    ("customer", "mctm_module", "voipdb_customer", "voipdb_useragent")}


def test_assets_have_groups_kinds_and_descriptions():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey(["public", "voipdb_useragent"]))
    assert node.group_name == "voipdb"
    assert set(node.kinds) == {"sqlserver", "postgres"}
    assert "dbo.voipdb_useragent" in node.description


def test_every_asset_has_a_blocking_row_count_check_in_the_job():
    defs = build_definitions()
    job = defs.resolve_job_def("replica_job")
    checks = {n for n in job.graph.node_dict if n.endswith("_row_count_matches")}
    assert len(checks) == 4
    assert len({n for n in job.graph.node_dict if n.endswith("_rows_match")}) == 4
    assert not [n for n in job.graph.node_dict if "freshness" in n]  # the sensor's, not the job's
    graph = defs.resolve_asset_graph()
    assert {ck.name for ck in graph.asset_check_keys} == {
        "row_count_matches", "rows_match", "schema_matches", "freshness_check"}
    for ck in graph.asset_check_keys:
        if ck.name == "row_count_matches":
            assert graph.get_check_spec(ck).blocking


def test_schedule_runs_at_the_lambda_times_in_tokyo():
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("replica_schedule")
    assert schedule.cron_schedule == REPLICA_CRON
    assert schedule.execution_timezone == "Asia/Tokyo"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "replica_job"
    tokyo = dt.timezone(dt.timedelta(hours=9))
    start = dt.datetime(2026, 11, 22, 0, 0, tzinfo=tokyo)
    ticks = []
    for t in schedule_execution_time_iterator(
        start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    ):
        if t >= start + dt.timedelta(days=1):
            break
        ticks.append(t.astimezone(tokyo).strftime("%H:%M"))
    assert ticks == ["08:00", "12:30", "16:00"]


def test_every_step_reading_a_source_runs_in_that_sources_pool():
    """Copies and the checks that read the source carry the pool; freshness does not."""
    config = load_config()
    defs = build_definitions(config)
    for job in (defs.resolve_job_def("replica_job"), defs.resolve_implicit_global_asset_job_def()):
        pools = {name: node.definition.pool for name, node in job.graph.node_dict.items()}
        for t in config.tables:
            prefix = "__".join(t.asset_key_path)
            for step in (prefix, f"{prefix}_rows_match", f"{prefix}_row_count_matches", f"{prefix}_schema_matches"):
                assert pools[step] == source_pool(t.source) == f"mctm_replica/{t.source}", step
        assert all(p is None for n, p in pools.items() if "freshness" in n)
    node = defs.resolve_asset_graph().get(AssetKey(["public", "customer"]))
    assert node.assets_def.op.tags[SOURCE_TAG] == "mctm"


def test_every_job_starts_steps_from_a_preloaded_forkserver_and_limits_sources_in_the_run():
    defs = build_definitions()
    jobs = [defs.resolve_job_def("replica_job"), defs.resolve_implicit_global_asset_job_def()]
    for job in jobs:
        assert job.executor_def.name == "replica"
        config = job.executor_def.config_schema.resolve_config({}).value["config"]
        assert config["start_method"] == {"forkserver": {"preload_modules": PRELOAD_MODULES}}, job.name
        assert config["tag_concurrency_limits"] == [
            {"key": SOURCE_TAG, "value": "mctm", "limit": 1},
            {"key": SOURCE_TAG, "value": "voipdb", "limit": 1},
        ]
        for name, node in job.graph.node_dict.items():
            if node.definition.pool:  # every step in a pool carries the tag the executor limits
                assert node.definition.tags[SOURCE_TAG] == node.definition.pool.split("/")[1], name
    assert PRELOAD_MODULES[0] == "mctm_replica.definitions"


def test_pool_limits_come_from_tables_yaml(tmp_path):
    path = tmp_path / "tables.yaml"
    path.write_text("sources:\n  mctm: {env_prefix: SQL_SERVER_MCTM, max_concurrent_tables: 3}\n"
                    "  voipdb: {env_prefix: SQL_SERVER_VOIPDB}\n"
                    "tables:\n  - {source: mctm, source_table: dbo.a, target_table: public.a}\n")
    config = load_config(path)
    assert configured_limits(config) == {"mctm_replica/mctm": 3, "mctm_replica/voipdb": 1}
    assert {d["value"]: d["limit"] for d in source_concurrency_limits(config)} == {"mctm": 3, "voipdb": 1}
