"""The demo source's indexes on the demo replica: `\\d mctm_module` lists them and a lookup by
ICCID is answered from one (EXPLAIN)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg2 import sql

from mctm_replica.standin import StandIn
from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.conftest import set_env
from mctm_replica_tests.integration.replica_helpers import failure_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_env, source_rows


@pytest.fixture(scope="module")
def demo_server() -> Iterator[StandIn]:
    with StandIn(demo_data=True, password="demo-index-secret-31") as server:
        yield server


def test_demo_replica_has_the_source_indexes_and_an_iccid_lookup_uses_one(
        tmp_path, monkeypatch, demo_server, pg_server, pg_conn, pg_schema):
    set_env(monkeypatch, {**source_env(demo_server, "McTM"), **pg_server.env(REPLICA_DB), "PG_SSLMODE": "disable"})
    defs = replica_defs(tmp_path, [{"source_table": "dbo.mctm_module", "target_table": f"{pg_schema}.mctm_module"}])
    result = run_job(defs)
    assert result.success, failure_text(result)
    with pg_conn.cursor() as cur:
        # what psql's `\d mctm_module` lists under "Indexes:"
        cur.execute("SELECT c2.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                    " JOIN pg_class c2 ON c2.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s) ORDER BY 1",
                    (f"{pg_schema}.mctm_module",))
        got = {name: d.replace(f"{pg_schema}.", "") for name, d in cur.fetchall()}
    assert got == {
        "mctm_module_pkey": "CREATE UNIQUE INDEX mctm_module_pkey ON mctm_module USING btree (module_id)",
        "mctm_module_ux_mctm_module_iccid": "CREATE UNIQUE INDEX mctm_module_ux_mctm_module_iccid ON mctm_module "
                                            "USING btree (iccid)",
        "mctm_module_ix_mctm_module_imsi": "CREATE INDEX mctm_module_ix_mctm_module_imsi ON mctm_module "
                                           "USING btree (imsi)",
        "mctm_module_ix_mctm_module_msisdn": "CREATE INDEX mctm_module_ix_mctm_module_msisdn ON mctm_module "
                                             "USING btree (msisdn) INCLUDE (iccid, status)",
        "mctm_module_ix_mctm_module_customer_id": "CREATE INDEX mctm_module_ix_mctm_module_customer_id ON "
                                                  "mctm_module USING btree (customer_id, activated_on DESC)",
    }
    (iccid,) = source_rows(demo_server, "McTM", "SELECT TOP 1 ICCID FROM dbo.mctm_module WHERE ICCID IS NOT NULL"
                                                " ORDER BY ModuleID")[0]
    with pg_conn.cursor() as cur:
        cur.execute("BEGIN")
        # 3,000 rows fit a few pages, where a sequential scan is as cheap: take it off the table
        # so the plan shows whether an index can answer the lookup at all.
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(sql.SQL("EXPLAIN SELECT module_id, iccid FROM {}.mctm_module WHERE iccid = %s").format(
            sql.Identifier(pg_schema)), (iccid,))
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute(sql.SQL("SELECT count(*) FROM {}.mctm_module WHERE iccid = %s").format(
            sql.Identifier(pg_schema)), (iccid,))
        assert cur.fetchone()[0] == 1
        cur.execute("ROLLBACK")
    assert "mctm_module_ux_mctm_module_iccid" in plan, plan
    assert "Seq Scan" not in plan, plan
