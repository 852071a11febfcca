"""Freshness: every replica asset has an expectation that Dagster evaluates, and a stale
replica is reported -- at controlled evaluation times (Dagster's own ``freeze_time``
moves Dagster's clock; the runs, checks and sensors are real)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    build_sensor_context,
    materialize,
)
from dagster._core.test_utils import freeze_time

from mctm_replica.config import ConfigError, load_config
from mctm_replica.table_options import FreshnessSpec
from mctm_replica.definitions import build_definitions
from mctm_replica.freshness import FRESHNESS_SENSOR_NAME
from mctm_replica.sensors import CHECK_ALERT_SENSOR
from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, tsql

JST = dt.timezone(dt.timedelta(hours=9))
REFRESHED = dt.datetime(2026, 11, 20, 8, 5, tzinfo=JST)  # the 08:00 schedule run finished
STILL_FRESH = dt.datetime(2026, 11, 20, 12, 10, tzinfo=JST)  # deadline 12:00: needs >= 07:00
STALE = dt.datetime(2026, 11, 20, 14, 10, tzinfo=JST)  # deadline 14:00: needs >= 09:00


@pytest.fixture
def env(base_env, monkeypatch, receiver):
    return {**base_env, **set_env(monkeypatch, {"REPLICA_ALERT_URLS": receiver.url()})}


def run_freshness_check(defs, key: AssetKey, instance):
    check_key = AssetCheckKey(key, "freshness_check")
    check_def = next(c for c in defs.asset_checks if check_key in c.check_keys)
    asset_def = next(a for a in defs.assets if key in a.keys)
    result = materialize([asset_def, check_def], selection=AssetSelection.checks(check_key),
                         instance=instance, resources=defs.resources)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_every_replica_asset_has_the_default_expectation_and_a_running_sensor():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    fresh = {ck.asset_key for ck in graph.asset_check_keys if ck.name == "freshness_check"}
    assert fresh == set(graph.get_all_asset_keys())
    for ck in graph.asset_check_keys:
        if ck.name == "freshness_check":
            assert graph.get_check_spec(ck).metadata["dagster/freshness_params"].value == {
                "timezone": "Asia/Tokyo", "lower_bound_delta_seconds": 18000.0, "deadline_cron": "0 9-20 * * *"}
    assert defs.resolve_sensor_def(FRESHNESS_SENSOR_NAME).default_status == DefaultSensorStatus.RUNNING


def test_stale_replica_is_reported_and_alerted(tmp_path, env, monkeypatch, mssql_server, source_db, pg_schema,
                                               receiver):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY)", "INSERT INTO dbo.t VALUES (1)")
    defs = replica_defs(tmp_path, [
        {"source_table": "dbo.t", "target_table": f"{pg_schema}.t"},
        {"source_table": "dbo.t", "target_table": f"{pg_schema}.hourly",
         "freshness": {"max_lag_hours": 1, "deadline_cron": "0 * * * *"}},
    ])
    key, hourly = AssetKey([pg_schema, "t"]), AssetKey([pg_schema, "hourly"])
    instance = DagsterInstance.ephemeral()
    with freeze_time(REFRESHED):
        result = run_job(defs, instance=instance)
        assert result.success
        assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name == "freshness_check")

    with freeze_time(STILL_FRESH):
        assert run_freshness_check(defs, key, instance).passed
        late = run_freshness_check(defs, hourly, instance)  # its own setting: 1 hour, hourly
        assert not late.passed

    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR_NAME)
    with freeze_time(STALE):
        # Dagster's freshness sensor sees the passing check could now be overdue and asks for it.
        data = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        [request] = data.run_requests
        assert AssetCheckKey(key, "freshness_check") in request.asset_check_keys
        evaluation = run_freshness_check(defs, key, instance)
        assert not evaluation.passed
        assert evaluation.severity == AssetCheckSeverity.WARN
        assert evaluation.metadata["dagster/last_updated_timestamp"].value == REFRESHED.timestamp()
        assert evaluation.metadata["dagster/freshness_lower_bound_timestamp"].value == \
            dt.datetime(2026, 11, 20, 9, 0, tzinfo=JST).timestamp()

        monkeypatch.setenv("REPLICA_ALERT_ON_WARN", "0")
        cursor = defs.resolve_sensor_def(CHECK_ALERT_SENSOR).evaluate_tick(
            build_sensor_context(instance=instance)).cursor
        assert receiver.posts == []  # WARN alerts switched off
        monkeypatch.delenv("REPLICA_ALERT_ON_WARN")
        fail_again = run_freshness_check(defs, key, instance)
        assert not fail_again.passed
        defs.resolve_sensor_def(CHECK_ALERT_SENSOR).evaluate_tick(
            build_sensor_context(instance=instance, cursor=cursor))
    [post] = receiver.posts
    assert post["type"] == "warning"
    assert post["title"] == f"[mctm_replica] {pg_schema}.t: check freshness_check failed"
    assert "Check: freshness_check failed (WARN)" in post["message"]
    assert "  last_updated_timestamp: 2026-11-19T23:05:00+00:00" in post["message"]


def write_tables(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump({
        "sources": {"src": {"env_prefix": "SRC"}},
        "tables": [{"source": "src", "source_table": "dbo.t", "target_table": "public.t", **extra}],
    }))
    return path


def test_freshness_config_defaults_and_overrides(tmp_path):
    assert load_config(write_tables(tmp_path)).tables[0].freshness == FreshnessSpec(5.0, "0 9-20 * * *", "Asia/Tokyo")
    spec = load_config(write_tables(tmp_path, freshness={"max_lag_hours": 2.5, "deadline_cron": "30 8 * * 1-5",
                                                          "timezone": "UTC"})).tables[0].freshness
    assert spec == FreshnessSpec(2.5, "30 8 * * 1-5", "UTC")


@pytest.mark.parametrize(
    ("freshness", "message"),
    [
        ({"max_lag_hours": 0}, "`freshness.max_lag_hours` must be a number of hours > 0"),
        ({"max_lag_hours": True}, "`freshness.max_lag_hours` must be a number of hours > 0"),
        ({"deadline_cron": "every hour"}, "`freshness.deadline_cron` must be a cron string"),
        ({"timezone": "Mars/Olympus"}, "`freshness.timezone` must be an IANA name"),
        ({"max_lag": 5}, "unknown key(s) ['max_lag']"),
        ("5h", "`freshness` takes"),
    ],
)
def test_freshness_config_errors_name_the_entry(tmp_path, freshness, message):
    with pytest.raises(ConfigError) as info:
        load_config(write_tables(tmp_path, freshness=freshness))
    assert message in str(info.value)
    assert "table entry 1 (`dbo.t`)" in str(info.value)
