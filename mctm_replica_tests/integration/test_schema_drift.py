"""Schema drift end to end: the source table is ALTERed in the stand-in between runs.

Added and widened columns are applied in place (a view on the replica survives);
dropped, narrowed and retyped ones fail the run naming table, column, old and new type
and the fix, and change nothing, until a run with ``full_refresh: true`` rebuilds them.
"""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance
from psycopg2 import sql

from mctm_replica_tests.integration.replica_helpers import (
    failure_text,
    materialization_metadata,
    run_log_text,
)
from mctm_replica_tests.integration.source_helpers import replica_defs, run_checks_only, run_job, tsql


def columns(pg_conn, schema: str) -> list[tuple[str, str]]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    (f"{schema}.t",))
        return cur.fetchall()


def query(pg_conn, text: str, schema: str) -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL(text).format(s=sql.Identifier(schema)))
        return cur.fetchall() if cur.description else []


def full_table(schema: str) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t"}


def op_name(defs, schema: str) -> str:
    job = defs.resolve_job_def("replica_job")
    return job.asset_layer.get_op_output_handle(AssetKey([schema, "t"])).node_handle.name


def test_added_and_widened_columns_are_applied_in_place_and_views_survive(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, code varchar(5) NOT NULL, amount decimal(8,2), n smallint)",
         "INSERT INTO dbo.t VALUES (1, 'a', 1.50, 7)")
    defs = replica_defs(tmp_path, [full_table(pg_schema)])
    assert run_job(defs).success
    query(pg_conn, "CREATE VIEW {s}.v AS SELECT id, code FROM {s}.t", pg_schema)

    tsql(mssql_server, source_db,
         "ALTER TABLE dbo.t ALTER COLUMN amount decimal(12,4)", "ALTER TABLE dbo.t ALTER COLUMN n bigint",
         "ALTER TABLE dbo.t ADD note nvarchar(30)",
         "INSERT INTO dbo.t VALUES (2, 'b', 12345678.1234, 9000000000, N'新しい')")
    check = run_checks_only(defs, AssetKey([pg_schema, "t"]), ("schema_matches",))
    schema_eval = next(e for e in check.get_asset_check_evaluations() if e.check_name == "schema_matches")
    assert not schema_eval.passed
    assert schema_eval.description == ("`amount` widened from numeric(8,2) to numeric(12,4); "
                                       "`n` widened from smallint to bigint; `note` is new in the source "
                                       "(character varying(30))")

    result = run_job(defs)
    assert result.success, failure_text(result)
    assert columns(pg_conn, pg_schema) == [
        ("id", "integer"), ("code", "character varying(5)"), ("amount", "numeric(12,4)"), ("n", "bigint"),
        ("note", "character varying(30)")]
    assert len(materialization_metadata(result)["schema_changes"].value) == 3
    assert query(pg_conn, "SELECT note, n FROM {s}.t ORDER BY id", pg_schema) == [(None, 7), ("新しい", 9000000000)]
    assert query(pg_conn, "SELECT * FROM {s}.v ORDER BY id", pg_schema) == [(1, "a"), (2, "b")]
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"row_count_matches": True, "rows_match": True, "schema_matches": True}


def test_dropped_narrowed_and_retyped_columns_fail_clearly_until_a_full_refresh(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, code varchar(20), qty int, gone nvarchar(10))",
         "INSERT INTO dbo.t VALUES (1, 'abc', 3, N'x')")
    defs = replica_defs(tmp_path, [full_table(pg_schema)])
    assert run_job(defs).success
    query(pg_conn, "CREATE VIEW {s}.v AS SELECT id, code FROM {s}.t", pg_schema)
    tsql(mssql_server, source_db,
         "ALTER TABLE dbo.t DROP COLUMN gone", "ALTER TABLE dbo.t ALTER COLUMN code varchar(10)",
         "ALTER TABLE dbo.t ALTER COLUMN qty nvarchar(10)", "UPDATE dbo.t SET qty = N'three'")

    result = run_job(defs)
    err = failure_text(result)
    assert not result.success
    for fragment in (f"replica table `{pg_schema}.t` no longer matches its source",
                     "`code` narrowed from character varying(20) to character varying(10)",
                     "`qty` changed type from integer to character varying(10)",
                     "`gone` (character varying(10)) is no longer in the source",
                     "Nothing was changed", "full_refresh: true"):
        assert fragment in err
    assert query(pg_conn, "SELECT * FROM {s}.t", pg_schema) == [(1, "abc", 3, "x")]
    assert query(pg_conn, "SELECT * FROM {s}.v", pg_schema) == [(1, "abc")]

    # The rebuild needs the view's column to change type: refused by PostgreSQL, named, rolled back.
    config = {"ops": {op_name(defs, pg_schema): {"config": {"full_refresh": True}}}}
    job = defs.resolve_job_def("replica_job")
    result = job.execute_in_process(run_config=config, raise_on_error=False)
    assert "cannot apply \"`code` narrowed from character varying(20) to character varying(10)\"" in \
        failure_text(result)
    # PostgreSQL's detail, which names the view, is part of the message itself.
    assert f"because other objects depend on the column (cannot alter type of a column used by a view or " \
           f"rule rule _RETURN on view {pg_schema}.v depends on column \"code\")" in failure_text(result)
    assert "drop the dependent view(s)" in failure_text(result)
    assert query(pg_conn, "SELECT * FROM {s}.v", pg_schema) == [(1, "abc")]

    query(pg_conn, "DROP VIEW {s}.v", pg_schema)
    result = job.execute_in_process(run_config=config, raise_on_error=False)
    assert result.success, failure_text(result)
    assert columns(pg_conn, pg_schema) == [("id", "integer"), ("code", "character varying(10)"),
                                           ("qty", "character varying(10)")]
    assert query(pg_conn, "SELECT * FROM {s}.t", pg_schema) == [(1, "abc", "three")]


def test_incremental_table_gains_a_column_filled_from_then_on(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20), wm bigint NOT NULL)",
         "INSERT INTO dbo.t VALUES (1, N'a', 1), (2, N'b', 2)")
    defs = replica_defs(tmp_path, [{**full_table(pg_schema), "mode": "incremental", "primary_key": ["id"],
                                    "watermark": "wm"}])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ADD extra int NULL",
         "UPDATE dbo.t SET extra = 10", "UPDATE dbo.t SET v = N'b2', wm = 3 WHERE id = 2")
    instance = DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert result.success, failure_text(result)
    meta = materialization_metadata(result)
    assert meta["load"].value == "incremental" and meta["unfilled_columns"].value == ["extra"]
    assert query(pg_conn, "SELECT id, v, extra FROM {s}.t ORDER BY id", pg_schema) == [(1, "a", None), (2, "b2", 10)]
    assert "`extra` is new in the source (integer) (rows copied before this run have no value for it: " \
           "run with `full_refresh: true` to fill them)" in run_log_text(instance, result.run_id)
    # Row 1 lacks the new value until a full load: the content check says so instead of failing.
    rows_match = next(e for e in result.get_asset_check_evaluations() if e.check_name == "rows_match")
    assert rows_match.passed and "not compared: ['extra']" in rows_match.description

    config = {"ops": {op_name(defs, pg_schema): {"config": {"full_refresh": True}}}}
    result = defs.resolve_job_def("replica_job").execute_in_process(run_config=config)
    assert materialization_metadata(result)["unfilled_columns"].value == []
    assert query(pg_conn, "SELECT id, extra FROM {s}.t ORDER BY id", pg_schema) == [(1, 10), (2, 10)]
    rows_match = next(e for e in result.get_asset_check_evaluations() if e.check_name == "rows_match")
    assert rows_match.passed and "not compared" not in rows_match.description


def test_a_changed_primary_key_needs_a_full_refresh_then_merges_by_it(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL, v nvarchar(20), wm bigint NOT NULL)",
         "INSERT INTO dbo.t VALUES (1, N'a', 1), (2, N'b', 2)")
    assert run_job(replica_defs(tmp_path, [full_table(pg_schema)])).success  # no key at all
    defs = replica_defs(tmp_path, [{**full_table(pg_schema), "mode": "incremental", "primary_key": ["id"],
                                    "watermark": "wm"}])
    err = failure_text(run_job(defs))
    assert "the primary key changed from none to (id)" in err and "full_refresh: true" in err
    config = {"ops": {op_name(defs, pg_schema): {"config": {"full_refresh": True}}}}
    assert defs.resolve_job_def("replica_job").execute_in_process(run_config=config).success
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'b2', wm = 3 WHERE id = 2")
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert materialization_metadata(result)["rows_updated"].value == 1
    assert query(pg_conn, "SELECT id, v FROM {s}.t ORDER BY id", pg_schema) == [(1, "a"), (2, "b2")]
