"""Mode ``change_tracking`` end to end: stand-in (pymssql, Change Tracking) -> replica_job
-> real PostgreSQL. Each test owns its source database and replica schema."""

from __future__ import annotations

import pytest
from dagster import AssetKey
from psycopg2 import sql

from mctm_replica.io_managers.state import STATE_SCHEMA, STATE_TABLE
from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, run_checks_only, run_job, source_rows, tsql

ENABLE_DB = "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"
ENABLE_TABLE = "ALTER TABLE dbo.t ENABLE CHANGE_TRACKING"


def ct_table(schema: str, key: list[str] | None = None, **extra) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "mode": "change_tracking",
            "primary_key": key or ["id"], **extra}


def replica(pg_conn, schema: str, columns: str = "id, v") -> list[tuple]:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {}.t ORDER BY 1, 2").format(sql.SQL(columns), sql.Identifier(schema)))
        return cur.fetchall()


def stored_version(pg_conn, target: str) -> int | None:
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT ct_version FROM {}.{} WHERE target_table = %s").format(
            sql.Identifier(STATE_SCHEMA), sql.Identifier(STATE_TABLE)), (target,))
        row = cur.fetchone()
        return row[0] if row else None


def version(server, db) -> int:
    return source_rows(server, db, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")[0][0]


def tracked(server, db, ddl: str, *rows: str) -> None:
    tsql(server, db, ENABLE_DB, f"CREATE TABLE dbo.t ({ddl})", *rows, ENABLE_TABLE)


# key type: (DDL, key columns, values for ids 1..4 as T-SQL literals -> replica key text)
KEYS = {
    "int": ("id int NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: str(i)),
    "bigint": ("id bigint NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: str(5_000_000_000 + i)),
    "text": ("id nvarchar(30) NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"], lambda i: f"N'key {i} é'"),
    "uuid": ("id uniqueidentifier NOT NULL PRIMARY KEY, v nvarchar(20)", ["id"],
             lambda i: f"'6f9619ff-8b86-d011-b42d-00c04fc964{i:02d}'"),
    "composite": ("id int NOT NULL, k2 nvarchar(10) NOT NULL, v nvarchar(20), PRIMARY KEY (id, k2)",
                  ["id", "k2"], lambda i: f"{i}, N'x{i}'"),
}


def ins(kind: str, i: int, v: str) -> str:
    cols = "id, k2, v" if kind == "composite" else "id, v"
    return f"INSERT INTO dbo.t ({cols}) VALUES ({KEYS[kind][2](i)}, N'{v}')"


def where(kind: str, i: int) -> str:
    if kind == "composite":
        return f"id = {i} AND k2 = N'x{i}'"
    return f"id = {KEYS[kind][2](i)}"


@pytest.mark.parametrize("kind", list(KEYS))
def test_inserts_updates_and_deletes_arrive_for_each_key_type(kind, tmp_path, env, mssql_server, source_db,
                                                              pg_conn, pg_schema):
    ddl, key, _ = KEYS[kind]
    tracked(mssql_server, source_db, ddl, ins(kind, 1, "a"), ins(kind, 2, "b"), ins(kind, 3, "c"))
    defs = replica_defs(tmp_path, [ct_table(pg_schema, key)])
    first = run_job(defs)
    assert first.success, failure_text(first)
    meta = materialization_metadata(first)
    assert (meta["load"].value, meta["load_reason"].value) == ("full", "replica table created")
    assert meta["ct_version"].value == version(mssql_server, source_db) == stored_version(pg_conn, f"{pg_schema}.t")
    assert sorted(r[1] for r in replica(pg_conn, pg_schema)) == ["a", "b", "c"]

    tsql(mssql_server, source_db, ins(kind, 4, "d"), f"UPDATE dbo.t SET v = N'a2' WHERE {where(kind, 1)}",
         f"DELETE FROM dbo.t WHERE {where(kind, 2)}",
         ins(kind, 5, "e"), f"DELETE FROM dbo.t WHERE {where(kind, 5)}")  # inserted then deleted: nothing
    before = stored_version(pg_conn, f"{pg_schema}.t")
    second = run_job(defs)
    assert second.success, failure_text(second)
    meta = materialization_metadata(second)
    assert (meta["load"].value, meta["load_reason"].value) == ("change_tracking", "change_tracking")
    assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (1, 1, 1)
    assert meta["rows_copied"].value == 2  # only the changed rows that exist: 1 and 4
    assert (meta["ct_previous_version"].value, meta["ct_version"].value) == (before, version(mssql_server, source_db))
    assert meta["ct_consistency"].value == "version_first"
    assert sorted(r[1] for r in replica(pg_conn, pg_schema)) == ["a2", "c", "d"]
    with pg_conn.cursor() as cur:  # a delete never leaves a row of NULLs
        cur.execute(sql.SQL("SELECT count(*) FROM {}.t WHERE v IS NULL").format(sql.Identifier(pg_schema)))
        assert cur.fetchone()[0] == 0
    src = source_rows(mssql_server, source_db, "SELECT v FROM dbo.t ORDER BY v")
    assert [r[0] for r in src] == ["a2", "c", "d"]

    checks = run_checks_only(defs, AssetKey([pg_schema, "t"]), ("row_count_matches", "rows_match"))
    assert checks.success and all(e.passed for e in checks.get_asset_check_evaluations())


def simple(server, db, snapshot: bool = False) -> None:
    tracked(server, db, "id int NOT NULL PRIMARY KEY, v nvarchar(20)",
            "INSERT INTO dbo.t VALUES (1, N'a'), (2, N'b'), (3, N'c'), (4, N'd')")
    if snapshot:
        tsql(server, db, f"ALTER DATABASE [{db}] SET ALLOW_SNAPSHOT_ISOLATION ON")


def check_evaluations(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_retention_passed_resyncs_with_the_reason_and_a_warning_but_a_quiet_table_does_not(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db)
    tsql(mssql_server, source_db, "CREATE TABLE dbo.other (id int PRIMARY KEY)",
         "ALTER TABLE dbo.other ENABLE CHANGE_TRACKING")
    defs = replica_defs(tmp_path, [ct_table(pg_schema)])
    assert run_job(defs).success
    # Only another table changes, then cleanup runs: each run stores the database's current
    # version, so the quiet table's stored version is never passed.
    tsql(mssql_server, source_db, "INSERT INTO dbo.other VALUES (1)")
    assert run_job(defs).success
    mssql_server.change_tracking_cleanup(source_db)
    quiet = run_job(defs)
    assert quiet.success, failure_text(quiet)
    assert materialization_metadata(quiet)["load"].value == "change_tracking"
    assert check_evaluations(quiet)["change_tracking_retention"].passed

    # An outage: changes, then cleanup passes them before the next run reads them.
    stored = stored_version(pg_conn, f"{pg_schema}.t")
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'a2' WHERE id = 1", "DELETE FROM dbo.t WHERE id = 2")
    mssql_server.change_tracking_cleanup(source_db)
    result = run_job(defs)
    assert result.success, failure_text(result)
    meta = materialization_metadata(result)
    assert meta["load"].value == "full"
    reason = meta["load_reason"].value
    assert reason.startswith(f"retention passed: stored Change Tracking version {stored} of `src:dbo.t`")
    assert "2 DAYS" in reason and "CHANGE_RETENTION = 7 DAYS" in reason
    assert replica(pg_conn, pg_schema) == [(1, "a2"), (3, "c"), (4, "d")]
    warning = check_evaluations(result)["change_tracking_retention"]
    assert not warning.passed and warning.severity.value == "WARN"
    assert f"`{pg_schema}.t`" in warning.description and "retention passed" in warning.description


@pytest.mark.parametrize("missing", ["database", "table", "grant"])
def test_change_tracking_missing_fails_before_reading_with_the_fix(
        missing, tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20))",
         "INSERT INTO dbo.t VALUES (1, N'a')")
    if missing != "database":
        tsql(mssql_server, source_db, ENABLE_DB)
    if missing == "grant":
        tsql(mssql_server, source_db, ENABLE_TABLE)
        mssql_server.inject_fault("error", match="CHANGETABLE(CHANGES [dbo].[t]", number=229, times=0,
                                  message="The VIEW CHANGE TRACKING permission was denied on the object 't'.")
    try:
        result = run_job(replica_defs(tmp_path, [ct_table(pg_schema)]))
    finally:
        mssql_server.clear_faults()
    assert not result.success
    text = failure_text(result)
    assert "src" in text and "dbo.t" in text
    fix = {"database": f"ALTER DATABASE [{source_db}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, "
                       "AUTO_CLEANUP = ON)",
           "table": "ALTER TABLE [dbo].[t] ENABLE CHANGE_TRACKING",
           "grant": f"GRANT VIEW CHANGE TRACKING ON [dbo].[t] TO [{mssql_server.user}]"}[missing]
    assert fix in text
    with pg_conn.cursor() as cur:  # nothing was read: the replica table was never created
        cur.execute("SELECT to_regclass(%s)", (f"{pg_schema}.t",))
        assert cur.fetchone()[0] is None


def test_run_failing_between_read_and_commit_leaves_rows_and_version_then_converges(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db)
    defs = replica_defs(tmp_path, [ct_table(pg_schema)])
    assert run_job(defs).success
    before_rows, before_version = replica(pg_conn, pg_schema), stored_version(pg_conn, f"{pg_schema}.t")
    tsql(mssql_server, source_db, "INSERT INTO dbo.t VALUES (5, N'e')", "UPDATE dbo.t SET v = N'b2' WHERE id = 2",
         "DELETE FROM dbo.t WHERE id = 1")
    # The apply step fails after the changes were read and staged (a trigger on the replica).
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL(
            "CREATE FUNCTION {s}.boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'replica write refused'; END $$; "
            "CREATE TRIGGER boom BEFORE INSERT ON {s}.t FOR EACH ROW EXECUTE FUNCTION {s}.boom()"
        ).format(s=sql.Identifier(pg_schema)))
    pg_conn.commit()
    failed = run_job(defs)
    assert not failed.success and "replica write refused" in failure_text(failed)
    assert replica(pg_conn, pg_schema) == before_rows
    assert stored_version(pg_conn, f"{pg_schema}.t") == before_version
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TRIGGER boom ON {}.t").format(sql.Identifier(pg_schema)))
    pg_conn.commit()
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert replica(pg_conn, pg_schema) == [(2, "b2"), (3, "c"), (4, "d"), (5, "e")]
    assert stored_version(pg_conn, f"{pg_schema}.t") == version(mssql_server, source_db)


@pytest.mark.parametrize("snapshot", [False, True], ids=["version_first", "snapshot"])
def test_writer_committing_during_the_read_is_neither_lost_nor_applied_twice(
        snapshot, tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db, snapshot=snapshot)
    defs = replica_defs(tmp_path, [ct_table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "UPDATE dbo.t SET v = N'a2' WHERE id = 1")
    # A writer commits after the run read its version and before it reads the changes:
    # the changes query runs with the writer's statements in front of it.
    writes = ("INSERT INTO dbo.t VALUES (9, N'w'); UPDATE dbo.t SET v = N'c2' WHERE id = 3; "
              "DELETE FROM dbo.t WHERE id = 4; ")
    # (Snapshot: the writes are not put into the read -- a snapshot transaction would see
    # none of them anyway -- but committed after the run; the path must still converge.)
    if not snapshot:
        mssql_server.inject_fault("rewrite", match="SELECT CASE WHEN", replace=writes + "SELECT CASE WHEN")
    try:
        result = run_job(defs)
    finally:
        mssql_server.clear_faults()
    assert result.success, failure_text(result)
    meta = materialization_metadata(result)
    assert meta["ct_consistency"].value == ("snapshot" if snapshot else "version_first")
    if snapshot:
        tsql(mssql_server, source_db, writes)
    else:  # version-first: the writer's changes were read too, past the stored version
        assert meta["ct_version"].value < version(mssql_server, source_db)
    again = run_job(defs)
    assert again.success, failure_text(again)
    meta = materialization_metadata(again)
    if not snapshot:  # read again, nothing written twice
        assert (meta["rows_inserted"].value, meta["rows_updated"].value, meta["rows_deleted"].value) == (0, 0, 0)
    expected = source_rows(mssql_server, source_db, "SELECT id, v FROM dbo.t ORDER BY id")
    assert replica(pg_conn, pg_schema) == [tuple(r) for r in expected]
    assert (9, "w") in expected and (1, "a2") in expected and all(r[0] != 4 for r in expected)



def test_verify_source_reports_change_tracking_and_the_fix(tmp_path, env, mssql_server, source_db, pg_schema):
    from mctm_replica.config import load_config
    from mctm_replica.ops.verify import format_report, verify_source

    tsql(mssql_server, source_db, ENABLE_DB, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v nvarchar(20))")
    replica_defs(tmp_path, [ct_table(pg_schema)])
    config = load_config(tmp_path / "tables.yaml")
    report = verify_source(config, config.sources["src"])
    assert not report.ok
    assert any("ALTER TABLE [dbo].[t] ENABLE CHANGE_TRACKING" in p for p in report.problems), report.problems
    assert "change tracking NOT READY" in format_report(report)
    tsql(mssql_server, source_db, ENABLE_TABLE)
    report = verify_source(config, config.sources["src"])
    assert report.ok, report.problems
    assert "change tracking on (retention 2 DAYS, version_first, version 0)" in format_report(report)


def test_added_column_arrives_and_the_checks_pass(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db)
    defs = replica_defs(tmp_path, [ct_table(pg_schema)])
    assert run_job(defs).success
    # Existing rows get the default without a tracked change: only changed rows bring it.
    tsql(mssql_server, source_db, "ALTER TABLE dbo.t ADD extra int NOT NULL DEFAULT 3",
         "UPDATE dbo.t SET extra = 7 WHERE id = 1", "INSERT INTO dbo.t VALUES (5, N'e', 9)")
    result = run_job(defs)
    assert result.success, failure_text(result)
    meta = materialization_metadata(result)
    assert meta["load"].value == "change_tracking" and meta["schema_changes"].value
    assert meta["unfilled_columns"].value == ["extra"]
    assert replica(pg_conn, pg_schema, "id, extra") == [(1, 7), (2, None), (3, None), (4, None), (5, 9)]
    checks = check_evaluations(result)
    assert checks["rows_match"].passed and checks["rows_match"].metadata["not_compared"].value == ["extra"]
    assert checks["row_count_matches"].passed
    refresh = defs.resolve_job_def("replica_job").execute_in_process(
        raise_on_error=False, run_config={"ops": {f"{pg_schema}__t": {"config": {"full_refresh": True}}}})
    assert refresh.success, failure_text(refresh)
    assert replica(pg_conn, pg_schema, "id, extra") == [(1, 7), (2, 3), (3, 3), (4, 3), (5, 9)]
    assert materialization_metadata(refresh)["unfilled_columns"].value == []


def test_the_delete_guard_stops_mass_deletes_read_from_change_tracking(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db)
    defs = replica_defs(tmp_path, [ct_table(pg_schema, max_delete_fraction=0.25)])
    assert run_job(defs).success
    before_rows, before_version = replica(pg_conn, pg_schema), stored_version(pg_conn, f"{pg_schema}.t")
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id IN (1, 2, 3)")
    refused = run_job(defs)
    assert not refused.success
    assert "would delete 3 of its 4 rows" in failure_text(refused)
    assert replica(pg_conn, pg_schema) == before_rows
    assert stored_version(pg_conn, f"{pg_schema}.t") == before_version
    allowed = defs.resolve_job_def("replica_job").execute_in_process(
        raise_on_error=False, run_config={"ops": {f"{pg_schema}__t": {"config": {"allow_mass_delete": True}}}})
    assert allowed.success, failure_text(allowed)
    assert replica(pg_conn, pg_schema) == [(4, "d")]


def test_a_key_that_is_not_the_tracked_tables_key_fails_before_reading(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    simple(mssql_server, source_db)
    result = run_job(replica_defs(tmp_path, [ct_table(pg_schema, ["v"])]))
    assert not result.success
    assert "`primary_key` ['v'] is not the table's primary key ['id']" in failure_text(result)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{pg_schema}.t",))
        assert cur.fetchone()[0] is None
