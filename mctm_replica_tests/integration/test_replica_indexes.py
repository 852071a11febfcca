"""The source's indexes on the replica, end to end: stand-in source, real PostgreSQL, replica_job.

Unique, INCLUDE, descending and filtered indexes (translated or reported), extra ones from
tables.yaml, `indexes: none`, drift in `schema_matches`, and hand-made indexes left alone.
"""

from __future__ import annotations

import psycopg2
from dagster import AssetKey

from mctm_replica_tests.conftest import REPLICA_DB

from mctm_replica_tests.integration.replica_helpers import failure_text, materialization_metadata
from mctm_replica_tests.integration.source_helpers import replica_defs, run_checks_only, run_job, tsql

SOURCE = (
    "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, ICCID varchar(20) NULL, IMSI varchar(15) NULL,"
    " Status tinyint NULL, IsActive bit NULL, CustomerID int NULL, Note nvarchar(50) NULL,"
    " Secret varchar(10) NULL, LastSeen datetimeoffset(3) NULL)",
    "INSERT INTO dbo.t (id, ICCID, IMSI, Status, IsActive, CustomerID, Note, Secret) VALUES"
    " (1, '8981100000000000001', '440100000000001', 1, 1, 10, N'a', 'x'),"
    " (2, '8981100000000000002', '440100000000002', 2, 0, 10, N'b', 'y'),"
    " (3, NULL, NULL, 3, 1, 11, NULL, NULL)",
    "CREATE UNIQUE NONCLUSTERED INDEX UX_t_ICCID ON dbo.t (ICCID) WHERE ICCID IS NOT NULL",
    "CREATE INDEX IX_t_Customer ON dbo.t (CustomerID ASC, LastSeen DESC) INCLUDE (Status, Note)",
    "CREATE INDEX IX_t_Active ON dbo.t (IMSI) WHERE IsActive = 1 AND Status IN (1, 2)",
    "CREATE INDEX IX_t_Seen ON dbo.t (CustomerID) WHERE LastSeen > '2024-01-01'",
    "CREATE INDEX IX_t_Secret ON dbo.t (Secret)",
)


def table(schema: str, **more) -> dict:
    return {"source_table": "dbo.t", "target_table": f"{schema}.t", "columns": {"exclude": ["Secret"]}, **more}


def indexes(pg_conn, schema: str) -> dict[str, str]:
    """Index name -> definition (pg_get_indexdef, schema-qualified) of the replica table."""
    with pg_conn.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 't'", (schema,))
        return {n: d.replace(f"{schema}.", "") for n, d in cur.fetchall()}


def comment(pg_conn, schema: str, name: str) -> str | None:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT obj_description(to_regclass(format('%%I.%%I', %s, %s)), 'pg_class')", (schema, name))
        return cur.fetchone()[0]


def schema_check(defs, schema: str):
    result = run_checks_only(defs, AssetKey([schema, "t"]), ("schema_matches",))
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "schema_matches")


def test_source_indexes_are_created_with_unique_include_desc_and_translated_filters(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, *SOURCE)
    defs = replica_defs(tmp_path, [table(pg_schema)])
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert indexes(pg_conn, pg_schema) == {
        "t_pkey": "CREATE UNIQUE INDEX t_pkey ON t USING btree (id)",
        "t_ux_t_iccid": "CREATE UNIQUE INDEX t_ux_t_iccid ON t USING btree (iccid)",
        "t_ix_t_customer": "CREATE INDEX t_ix_t_customer ON t USING btree (customer_id, last_seen DESC) "
                           "INCLUDE (status, note)",
        "t_ix_t_active": "CREATE INDEX t_ix_t_active ON t USING btree (imsi) WHERE ((is_active = true) AND "
                         "((status = 1) OR (status = 2)))",
    }
    meta = materialization_metadata(result)
    assert sorted(meta["indexes_created"].value) == ["t_ix_t_active", "t_ix_t_customer", "t_ux_t_iccid"]
    not_created = meta["indexes_not_created"].value
    assert len(not_created) == 2
    assert not_created[0].startswith("source index [IX_t_Seen]: its filter ([LastSeen]>'2024-01-01') is not "
                                     "translated: a timestamp(3) with time zone column is compared with the string")
    assert not_created[1] == "source index [IX_t_Secret]: column(s) ['Secret'] are not copied to the replica"
    assert comment(pg_conn, pg_schema, "t_ix_t_customer").startswith(
        "mctm_replica: source index [IX_t_Customer]; definition ")
    assert comment(pg_conn, pg_schema, "t_pkey") is None
    checks = {e.check_name: (e.passed, e.description) for e in result.get_asset_check_evaluations()}
    assert checks["schema_matches"] == (True, "columns, types and indexes match")

    again = run_job(defs)  # nothing to do the second time
    assert again.success, failure_text(again)
    meta = materialization_metadata(again)
    assert meta["indexes_created"].value == [] and meta["indexes_dropped"].value == []


def test_drift_is_listed_then_applied_and_hand_made_indexes_are_kept(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, *SOURCE)
    defs = replica_defs(tmp_path, [table(pg_schema)])
    assert run_job(defs).success
    with pg_conn.cursor() as cur:  # an operator's own indexes, one named like ours would be
        cur.execute(f'CREATE INDEX my_note ON "{pg_schema}".t (note)')
        cur.execute(f'CREATE INDEX t_ix_t_msisdn ON "{pg_schema}".t (imsi, status)')
    tsql(mssql_server, source_db, "DROP INDEX IX_t_Customer ON dbo.t",
         "CREATE INDEX IX_t_IMSI ON dbo.t (IMSI DESC)", "CREATE INDEX IX_t_MSISDN ON dbo.t (Note)",
         "DROP INDEX IX_t_Active ON dbo.t", "CREATE INDEX IX_t_Active ON dbo.t (IMSI) WHERE IsActive = 0")

    check = schema_check(defs, pg_schema)
    assert not check.passed
    assert check.description == (
        "index `t_ix_t_imsi` is missing on the replica (the next run creates it); "
        "index `t_ix_t_customer` is no longer wanted (removed on the source or from tables.yaml; the next run "
        "drops it); index `t_ix_t_active` has another definition on the source (the next run rebuilds it)")
    assert sorted(check.metadata["hand_made_indexes"].value) == ["my_note", "t_ix_t_msisdn"]

    result = run_job(defs)
    assert result.success, failure_text(result)
    meta = materialization_metadata(result)
    assert sorted(meta["indexes_dropped"].value) == ["t_ix_t_active", "t_ix_t_customer"]
    assert sorted(meta["indexes_created"].value) == ["t_ix_t_active", "t_ix_t_imsi"]
    assert any(n.startswith("`t_ix_t_msisdn`: the name is taken") for n in meta["indexes_not_created"].value)
    got = indexes(pg_conn, pg_schema)
    assert got["t_ix_t_active"].endswith("WHERE (is_active = false)")
    assert got["t_ix_t_imsi"] == "CREATE INDEX t_ix_t_imsi ON t USING btree (imsi DESC)"
    assert got["t_ix_t_msisdn"] == "CREATE INDEX t_ix_t_msisdn ON t USING btree (imsi, status)"  # untouched
    assert "my_note" in got and "t_ix_t_customer" not in got
    assert schema_check(defs, pg_schema).passed

    # `indexes: none`: the ones mctm_replica made go, the primary key and hand-made ones stay.
    defs = replica_defs(tmp_path, [table(pg_schema, indexes="none")])
    result = run_job(defs)
    assert result.success, failure_text(result)
    assert sorted(indexes(pg_conn, pg_schema)) == ["my_note", "t_ix_t_msisdn", "t_pkey"]
    assert sorted(materialization_metadata(result)["indexes_dropped"].value) == [
        "t_ix_t_active", "t_ix_t_imsi", "t_ux_t_iccid"]


def test_extra_indexes_from_tables_yaml(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    tsql(mssql_server, source_db, *SOURCE)
    extra = {"extra": [
        {"columns": ["CustomerID", "status desc"], "include": ["note"]},  # source and replica names
        {"name": "t_iccid_lower", "columns": ["iccid"], "unique": True, "where": "status < 3"},
    ]}
    defs = replica_defs(tmp_path, [table(pg_schema, indexes=extra)])
    result = run_job(defs)
    assert result.success, failure_text(result)
    got = indexes(pg_conn, pg_schema)
    assert got["t_customer_id_status_extra"] == ("CREATE INDEX t_customer_id_status_extra ON t USING btree "
                                                 "(customer_id, status DESC) INCLUDE (note)")
    assert got["t_iccid_lower"] == "CREATE UNIQUE INDEX t_iccid_lower ON t USING btree (iccid) WHERE (status < 3)"
    assert comment(pg_conn, pg_schema, "t_iccid_lower").startswith("mctm_replica: extra index in tables.yaml")
    assert "t_ux_t_iccid" in got  # the source's indexes too

    # An extra index removed from tables.yaml is dropped; one naming an unknown column fails clearly.
    defs = replica_defs(tmp_path, [table(pg_schema, indexes={"extra": [extra["extra"][1]]})])
    assert run_job(defs).success
    assert "t_customer_id_status_extra" not in indexes(pg_conn, pg_schema)
    bad = replica_defs(tmp_path, [table(pg_schema, indexes={"extra": [{"columns": ["nope"]}]})])
    result = run_job(bad)
    assert not result.success
    assert "`indexes.extra` entry 1: column `nope` is not a column of the replica" in failure_text(result)
    assert "t_iccid_lower" in indexes(pg_conn, pg_schema)  # the failed run changed nothing


def test_an_index_the_rows_violate_is_reported_and_the_refresh_commits(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    # The stand-in does not enforce UNIQUE indexes (README Known differences): the source
    # holds a duplicate a real server would refuse, as a NOLOCK read could see one.
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, code varchar(5))",
         "CREATE UNIQUE INDEX UX_t_code ON dbo.t (code)", "INSERT INTO dbo.t VALUES (1, 'a'), (2, 'a')")
    result = run_job(replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}]))
    assert result.success, failure_text(result)
    (reason,) = materialization_metadata(result)["indexes_not_created"].value
    assert reason.startswith("`t_ux_t_code` (source index [UX_t_code]): could not create unique index")
    with pg_conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{pg_schema}".t')
        assert cur.fetchone()[0] == 2


def test_a_new_index_is_built_while_a_reader_holds_the_table(
        tmp_path, env, mssql_server, source_db, pg_server, pg_conn, pg_schema):
    """CREATE INDEX in the refresh transaction takes SHARE, which readers (ACCESS SHARE) do not
    conflict with: a reader in the middle of a transaction neither blocks the run nor waits
    for it (CONCURRENTLY would wait for that transaction to end)."""
    tsql(mssql_server, source_db, *SOURCE)
    defs = replica_defs(tmp_path, [table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db, "CREATE INDEX IX_t_Note ON dbo.t (Note)")
    reader = psycopg2.connect(pg_server.dsn(REPLICA_DB))
    try:
        with reader.cursor() as cur:  # a transaction that has read the table and stays open
            cur.execute(f'SELECT count(*) FROM "{pg_schema}".t')
            assert cur.fetchone()[0] == 3
            result = run_job(defs)
            assert result.success, failure_text(result)
            assert materialization_metadata(result)["indexes_created"].value == ["t_ix_t_note"]
            cur.execute(f'SELECT count(*) FROM "{pg_schema}".t')
            assert cur.fetchone()[0] == 3
        reader.rollback()
    finally:
        reader.close()
    assert "t_ix_t_note" in indexes(pg_conn, pg_schema)


def test_unique_values_that_move_between_rows_do_not_fail_the_refresh(
        tmp_path, env, mssql_server, source_db, pg_conn, pg_schema):
    """SIMs change hands: two modules swap ICCIDs and a new module takes a deleted one's.
    The apply's UPDATE/INSERT/DELETE pass through states a unique index checked row by row
    would refuse; the replica's unique constraint is checked at COMMIT, on the final rows."""
    tsql(mssql_server, source_db, *SOURCE)
    defs = replica_defs(tmp_path, [table(pg_schema)])
    assert run_job(defs).success
    tsql(mssql_server, source_db,
         "UPDATE dbo.t SET ICCID = CASE id WHEN 1 THEN '8981100000000000002' ELSE '8981100000000000001' END"
         " WHERE id IN (1, 2)",
         "UPDATE dbo.t SET ICCID = '8981100000000000003' WHERE id = 3")
    result = run_job(defs)
    assert result.success, failure_text(result)
    tsql(mssql_server, source_db, "DELETE FROM dbo.t WHERE id = 3",
         "INSERT INTO dbo.t (id, ICCID) VALUES (4, '8981100000000000003')")
    result = run_job(defs)
    assert result.success, failure_text(result)
    with pg_conn.cursor() as cur:
        cur.execute(f'SELECT id, iccid FROM "{pg_schema}".t ORDER BY id')
        assert cur.fetchall() == [(1, "8981100000000000002"), (2, "8981100000000000001"),
                                  (4, "8981100000000000003")]
