"""Alert message content and secret redaction (pure logic)."""

from __future__ import annotations

from dagster import AssetCheckSeverity, MetadataValue

from mctm_replica.alerts import (
    MAX_BODY_CHARS,
    check_alert,
    redact,
    run_failure_alert,
    split_urls,
    target_id,
)

ENV = {
    "PG_PASSWORD": "pg-Secret-991",
    "SQL_SERVER_MCTM_PASSWORD": "ms-Secret-772",
    "REPLICA_ALERT_URLS": "jsons://hooks.example/abc?token=Tok-55511 slack://T1/B2/Cxyz-secret",
    "DAGSTER_WEBSERVER_URL": "https://dagster.example/",
    "PG_HOST": "db.example",  # not secret: stays
}


def rows_match_alert(**kw):
    return check_alert(
        asset_key=["public", "customer"],
        check_name="rows_match",
        severity=AssetCheckSeverity.ERROR,
        description="1 row(s) missing in the replica; 1 row(s) with different values (columns: name)",
        metadata={
            "source_rows": MetadataValue.int(3),
            "target_rows": MetadataValue.int(2),
            "missing_in_target": MetadataValue.int(1),
            "different_values": MetadataValue.int(1),
            "differing_columns": MetadataValue.json({"name": 1}),
            "example_keys": MetadataValue.json([
                {"kind": "missing", "key": {"customer_id": 2}},
                {"kind": "different", "key": {"customer_id": 3}, "columns": ["name"]},
            ]),
        },
        run_id="8c1e0a4e-run",
        environ=ENV,
        **kw,
    )


def test_check_alert_names_table_check_figures_examples_run_and_link():
    alert = rows_match_alert()
    assert alert.title == "[mctm_replica] public.customer: check rows_match failed"
    assert alert.error is True
    assert alert.body == "\n".join([
        "Table: public.customer",
        "Check: rows_match failed (ERROR)",
        "Result: 1 row(s) missing in the replica; 1 row(s) with different values (columns: name)",
        "Figures:",
        "  source_rows: 3",
        "  target_rows: 2",
        "  missing_in_target: 1",
        "  different_values: 1",
        '  differing_columns: {"name": 1}',
        "Example keys:",
        "  - missing: customer_id=2",
        "  - different: customer_id=3 (columns: name)",
        "Run: 8c1e0a4e-run",
        "Link: https://dagster.example/runs/8c1e0a4e-run",
    ])


def test_warn_severity_and_no_link_without_webserver_url():
    alert = check_alert(asset_key=["public", "t"], check_name="freshness_check",
                        severity=AssetCheckSeverity.WARN, description="overdue", metadata={},
                        run_id="r1", environ={})
    assert alert.error is False
    assert "Check: freshness_check failed (WARN)" in alert.body
    assert "Link:" not in alert.body


def test_run_failure_alert():
    alert = run_failure_alert(job_name="replica_job", run_id="r2", message="Execution failed.",
                              step_failures=[("public__customer", "cannot connect to SQL Server")],
                              environ=ENV)
    assert alert.title == "[mctm_replica] run of replica_job failed"
    assert alert.body.splitlines() == [
        "Job: replica_job", "Run: r2 failed", "Result: Execution failed.", "Failed steps:",
        "  - public__customer: cannot connect to SQL Server",
        "Link: https://dagster.example/runs/r2",
    ]


def test_no_secret_survives_in_a_message():
    leaky = ("login pg-Secret-991 / ms-Secret-772 failed at postgresql://replica:pw-in-url@db.example/x "
             "posting to jsons://hooks.example/abc?token=Tok-55511 or slack://T1/B2/Cxyz-secret")
    alert = run_failure_alert(job_name="replica_job", run_id="r", message=leaky, step_failures=[("s", leaky)],
                              environ=ENV)
    for secret in ("pg-Secret-991", "ms-Secret-772", "pw-in-url", "Tok-55511", "Cxyz-secret"):
        assert secret not in alert.body and secret not in alert.title
    assert "postgresql://replica:***@db.example/x" in alert.body
    assert "db.example" in alert.body


def test_redact_leaves_ordinary_text_alone():
    assert redact("3 rows in public.customer", ENV) == "3 rows in public.customer"


def test_long_bodies_are_truncated():
    examples = [{"kind": "missing", "key": {"k": "v" * 200}}] * 20
    alert = check_alert(asset_key=["p", "t"], check_name="rows_match", severity=AssetCheckSeverity.ERROR,
                        description="x", metadata={"example_keys": MetadataValue.json(examples)},
                        run_id="r", environ={})
    assert len(alert.body) <= MAX_BODY_CHARS
    assert alert.body.endswith("… (truncated)")


def test_url_list_and_target_ids():
    assert split_urls("json://a/b, jsons://c/d?to=x,y\nmailto://u:p@h") == [
        "json://a/b", "jsons://c/d?to=x,y", "mailto://u:p@h"]
    assert split_urls("") == []
    assert target_id("json://a/b") == target_id("json://a/b") != target_id("json://a/c")
    assert len(target_id("json://a/b")) == 10 and "a/b" not in target_id("json://a/b")
