"""The PostgreSQL IO manager against a real PostgreSQL: safe refresh semantics.

Rows come from in-test batches here so each refresh property is tested on its own;
the end-to-end tests through the SQL Server stand-in are in test_replication.py.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pandas as pd
from dagster import AssetIn, AssetKey, DagsterInstance, SourceAsset, asset, materialize
from psycopg2 import sql

from mctm_replica.io_managers.postgres import PostgresReplicaIOManager
from mctm_replica.typemap import SourceType
from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.replica_helpers import (
    batches_of,
    failure_text,
    materialization_metadata,
    materialize_plan,
    plan_for,
    postgres_resource,
    run_log_text,
)

COLUMNS = [
    ("id", SourceType("int"), False),
    ("name", SourceType("nvarchar", 20), True),
    ("amount", SourceType("money"), True),
]


def rows(n: int, tag: str = "v1") -> list[tuple]:
    return [(i, f"{tag}-{i}", Decimal(i) / 4) for i in range(n)]


def fetch(conn, schema: str, table: str, order: str = "id"):
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(order)))
        return cur.fetchall()


def test_first_run_creates_table_with_mapped_types_and_key(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    result = materialize_plan(plan, batches_of(rows(5), 2), pg_server, REPLICA_DB)
    assert result.success
    assert fetch(pg_conn, pg_schema, "t") == [(i, f"v1-{i}", Decimal(i) / 4) for i in range(5)]
    with pg_conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 't' ORDER BY ordinal_position", (pg_schema,))
        assert cur.fetchall() == [("id", "integer", "NO"), ("name", "character varying", "YES"),
                                  ("amount", "numeric", "YES")]
        cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                    (f'"{pg_schema}"."t"',))
        assert cur.fetchall() == [("id",)]
    meta = materialization_metadata(result)
    assert meta["rows_copied"].value == 5
    assert meta["dagster/row_count"].value == 5
    assert meta["target_table"].value == f"{pg_schema}.t"
    schema = meta["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "integer"), ("name", "character varying(20)"), ("amount", "numeric(19,4)")]


def test_refresh_is_idempotent_and_replaces_contents(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    for _ in range(2):
        assert materialize_plan(plan, batches_of(rows(7), 3), pg_server, REPLICA_DB).success
        assert fetch(pg_conn, pg_schema, "t") == rows(7)
    assert materialize_plan(plan, batches_of(rows(3, "v2"), 3), pg_server, REPLICA_DB).success
    assert fetch(pg_conn, pg_schema, "t") == rows(3, "v2")


def test_views_and_grants_survive_a_refresh(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(4), 4), pg_server, REPLICA_DB)
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE VIEW {s}.v AS SELECT id, name FROM {s}.t WHERE id > 1").format(
            s=sql.Identifier(pg_schema)))
        cur.execute(sql.SQL("GRANT SELECT ON {s}.t TO PUBLIC").format(s=sql.Identifier(pg_schema)))
    assert materialize_plan(plan, batches_of(rows(6, "v2"), 4), pg_server, REPLICA_DB).success
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}.v").format(sql.Identifier(pg_schema)))
        assert cur.fetchone() == (4,)
        cur.execute("SELECT has_table_privilege('public', %s, 'SELECT')", (f'"{pg_schema}"."t"',))
        assert cur.fetchone() == (True,)


def test_failure_mid_transfer_leaves_previous_contents(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(10), 5), pg_server, REPLICA_DB)

    def explode(i: int) -> None:
        if i == 2:
            raise ConnectionError("source connection dropped")

    result = materialize_plan(plan, batches_of(rows(30, "v2"), 5, explode), pg_server, REPLICA_DB,
                              raise_on_error=False)
    assert not result.success
    assert "source connection dropped" in failure_text(result)
    assert fetch(pg_conn, pg_schema, "t") == rows(10)


def test_first_run_copies_straight_into_the_new_table_frozen(pg_server, pg_conn, pg_schema):
    """A table created by the run takes the rows by COPY ... FREEZE (no stage, nothing for
    the first readers or VACUUM to freeze); a later refresh goes through the stage."""
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(2000), 500), pg_server, REPLICA_DB)
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_visibility SCHEMA {}").format(sql.Identifier(pg_schema)))
        summary = sql.SQL("SELECT all_frozen, pg_relation_size(%s) / current_setting('block_size')::int "
                          "FROM {}.pg_visibility_map_summary(%s::regclass)").format(sql.Identifier(pg_schema))
        live = f'"{pg_schema}"."t"'
        cur.execute(summary, (live, live))
        frozen, pages = cur.fetchone()
        assert pages > 1 and frozen >= pages - 1  # COPY leaves its last page to the next writer
    pg_conn.commit()
    result = materialize_plan(plan, batches_of(rows(2000, "v2"), 500), pg_server, REPLICA_DB)
    assert materialization_metadata(result)["rows_updated"].value == 2000
    assert fetch(pg_conn, pg_schema, "t") == rows(2000, "v2")
    with pg_conn.cursor() as cur:
        cur.execute(summary, (live, live))
        frozen, pages = cur.fetchone()
        assert frozen == 0  # updated by difference: every page got new row versions, none frozen


def test_failed_first_run_leaves_no_table_behind(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    dup = rows(3) + rows(1)  # a duplicate key fails the COPY into the new table
    result = materialize_plan(plan, batches_of(dup, 2), pg_server, REPLICA_DB, raise_on_error=False)
    assert not result.success
    err = failure_text(result)
    assert f"`{pg_schema}.t`" in err and "previous contents unchanged" in err
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{pg_schema}"."t"',))
        assert cur.fetchone() == (None,)


def test_concurrent_reader_never_sees_empty_or_partial_table(pg_server, pg_schema):
    import psycopg2

    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(1000), 1000), pg_server, REPLICA_DB)
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        conn = psycopg2.connect(pg_server.dsn(REPLICA_DB))
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(sql.SQL("SELECT count(*) FROM {}.t").format(sql.Identifier(pg_schema)))
                seen.add(cur.fetchone()[0])
        conn.close()

    t = threading.Thread(target=reader)
    t.start()
    try:
        # A slow source: the transfer spans many reader queries.
        slow = batches_of(rows(1500, "v2"), 100, lambda i: time.sleep(0.02))
        assert materialize_plan(plan, slow, pg_server, REPLICA_DB).success
        time.sleep(0.1)
    finally:
        stop.set()
        t.join()
    assert seen == {1000, 1500}


def test_nul_characters_are_stripped_counted_and_logged(pg_server, pg_conn, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    data = [(1, "a\x00b", None), (2, "\x00\x00", Decimal(1))]
    instance = DagsterInstance.ephemeral()
    result = materialize_plan(plan, batches_of(data, 10), pg_server, REPLICA_DB, instance=instance)
    assert fetch(pg_conn, pg_schema, "t") == [(1, "ab", None), (2, "", Decimal(1))]
    meta = materialization_metadata(result)
    assert meta["nul_stripped"].value == {"name": 3}
    assert f"{pg_schema}.t.name: stripped 3 NUL" in run_log_text(instance, result.run_id)


def test_incompatible_source_layout_fails_naming_it_and_changes_nothing(pg_server, pg_conn, pg_schema):
    materialize_plan(plan_for(pg_schema, "t", COLUMNS, pk=["id"]), batches_of(rows(2), 2),
                     pg_server, REPLICA_DB)
    changed = plan_for(pg_schema, "t", [
        ("id", SourceType("bigint"), False),
        ("name", SourceType("nvarchar", 20), True),
        ("created", SourceType("datetime2", datetime_precision=7), True),
    ], pk=["id"])
    result = materialize_plan(changed, batches_of([], 1), pg_server, REPLICA_DB, raise_on_error=False)
    err = failure_text(result)
    assert f"replica table `{pg_schema}.t` no longer matches its source" in err
    assert "`amount` (numeric(19,4)) is no longer in the source" in err
    assert "full_refresh: true" in err
    # The compatible changes (id widened, created added) were not applied either.
    assert "widened" not in err and "`created`" not in err
    assert fetch(pg_conn, pg_schema, "t") == rows(2)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 't' ORDER BY ordinal_position", (pg_schema,))
        assert cur.fetchall() == [("id", "integer"), ("name", "character varying"), ("amount", "numeric")]


def test_downstream_asset_loads_a_dataframe(pg_server, pg_schema):
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(3), 3), pg_server, REPLICA_DB)
    captured = {}

    @asset(ins={"t": AssetIn(key=AssetKey([pg_schema, "t"]), input_manager_key="replica_io_manager")})
    def downstream(t: pd.DataFrame) -> None:
        captured["df"] = t

    io = PostgresReplicaIOManager(postgres=postgres_resource(pg_server, REPLICA_DB))
    result = materialize([SourceAsset(AssetKey([pg_schema, "t"]), io_manager_key="replica_io_manager"),
                          downstream], resources={"replica_io_manager": io})
    assert result.success
    df = captured["df"]
    assert list(df.columns) == ["id", "name", "amount"]
    assert df.sort_values("id").to_dict("records") == [
        {"id": i, "name": f"v1-{i}", "amount": Decimal(i) / 4} for i in range(3)]


def test_a_key_read_twice_fails_a_differential_refresh_naming_it(pg_server, pg_conn, pg_schema):
    """The old TRUNCATE + INSERT failed on the primary key; the differential apply must
    too, rather than let one of the two copies win the update silently."""
    plan = plan_for(pg_schema, "t", COLUMNS, pk=["id"])
    materialize_plan(plan, batches_of(rows(4), 4), pg_server, REPLICA_DB)
    dup = rows(4, "v2") + [(2, "other", None)]
    result = materialize_plan(plan, batches_of(dup, 2), pg_server, REPLICA_DB, raise_on_error=False)
    err = failure_text(result)
    assert f"loading replica table `{pg_schema}.t` failed, previous contents unchanged" in err
    assert "Key (id)=(2) is duplicated" in err
    assert fetch(pg_conn, pg_schema, "t") == rows(4)
