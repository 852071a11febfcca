"""rows_match end to end: stand-in (pymssql over TCP) -> replica job -> real PostgreSQL,
then the replica is tampered with and the check must name the keys and columns."""

from __future__ import annotations

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, materialize
from psycopg2 import sql

from mctm_replica_tests.integration.replica_helpers import failure_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, tsql


def run_rows_match(defs, key: AssetKey):
    """Only the rows_match check of ``key``, as "Execute checks" in the UI runs it."""
    check_key = AssetCheckKey(key, "rows_match")
    asset_def = next(a for a in defs.assets if key in a.keys)
    check_def = next(c for c in defs.asset_checks if check_key in c.check_keys)
    result = materialize([asset_def, check_def], selection=AssetSelection.checks(check_key),
                         resources=defs.resources, raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    return result, evaluation


def evaluations_by_name(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def meta(evaluation) -> dict:
    return {k: v.value for k, v in evaluation.metadata.items()}


#: The report keys both methods fill identically; the rest are each method's own figures.
COMMON = ("source_rows", "target_rows", "missing_in_target", "extra_in_target", "different_values",
          "differing_columns", "example_keys", "strategy", "method", "attempts")


def common(evaluation) -> dict:
    m = meta(evaluation)
    return {k: m[k] for k in COMMON}


# Every tampering test runs with both methods: they must report exactly the same.
METHODS = pytest.mark.parametrize("method", ["checksum", "rows"])


def pg_exec(pg_conn, schema: str, *statements: str) -> None:
    with pg_conn.cursor() as cur:
        for s in statements:
            cur.execute(sql.SQL(s).format(t=sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier("t"))))


TYPED_DDL = """CREATE TABLE dbo.t (
  id int NOT NULL PRIMARY KEY, m money, ts datetime2(7), dto datetimeoffset(7), name nvarchar(40),
  g uniqueidentifier, r real, x xml, note varchar(max))"""
TYPED_ROWS = [
    f"INSERT INTO dbo.t VALUES ({i}, {i}.25, '2024-02-29 12:34:56.123456{i}', "
    f"'2024-06-01 12:00:00.1234567 +09:00', N'name {i}' + NCHAR(0), "
    f"'6F9619FF-8B86-D011-B42D-00C04FC964F{i}', 0.1, N'<a n=\"{i}\"/>', 'long note {i}')"
    for i in range(1, 8)
]


@METHODS
def test_faithful_copy_passes_and_each_tampering_is_named(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema, method
):
    tsql(mssql_server, source_db, TYPED_DDL, *TYPED_ROWS)
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t", "rows_match": method}])
    result = run_job(defs)
    assert result.success, failure_text(result)
    ok = evaluations_by_name(result)["rows_match"]
    assert ok.passed, ok.description
    assert common(ok) == {
        "source_rows": 7, "target_rows": 7, "missing_in_target": 0, "extra_in_target": 0,
        "different_values": 0, "differing_columns": {}, "example_keys": [], "strategy": "merge",
        "method": method, "attempts": 1,
    }
    if method == "checksum":  # a clean copy: no row crossed the network as values
        assert (meta(ok)["segments_differing"], meta(ok)["rows_compared"]) == (0, 0)

    pg_exec(pg_conn, pg_schema,
            "UPDATE {t} SET m = m + 0.0001 WHERE id = 1",                         # value changed
            "DELETE FROM {t} WHERE id = 2",                                       # row deleted
            "INSERT INTO {t} (id, name) VALUES (99, 'intruder')",                 # row added
            "UPDATE {t} SET ts = ts + interval '1 microsecond' WHERE id = 3",     # 1 µs shift
            "UPDATE {t} SET note = left(note, 5) WHERE id = 4",                   # text truncated
            "UPDATE {t} SET g = upper(g::text)::uuid, dto = dto WHERE id = 5")    # no real change
    result, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
    assert not result.success  # blocking by default
    assert not evaluation.passed
    assert evaluation.severity.value == "ERROR"
    m = meta(evaluation)
    assert (m["source_rows"], m["target_rows"]) == (7, 7)
    assert (m["missing_in_target"], m["extra_in_target"], m["different_values"]) == (1, 1, 3)
    assert m["differing_columns"] == {"m": 1, "note": 1, "ts": 1}
    assert m["example_keys"] == [
        {"kind": "different", "key": {"id": 1}, "columns": ["m"]},
        {"kind": "missing", "key": {"id": 2}},
        {"kind": "different", "key": {"id": 3}, "columns": ["ts"]},
        {"kind": "different", "key": {"id": 4}, "columns": ["note"]},
        {"kind": "extra", "key": {"id": 99}},
    ]
    assert evaluation.description == ("1 row(s) missing in the replica; 1 extra row(s) in the replica; "
                                      "3 row(s) with different values (columns: m, note, ts)")


@METHODS
def test_table_without_primary_key_compares_row_multisets(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema, method
):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (v int, w nvarchar(10))",
         "INSERT INTO dbo.t VALUES (1, N'x'), (1, N'x'), (2, N'y'), (NULL, NULL)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t", "rows_match": method}])
    result = run_job(defs)
    assert result.success, failure_text(result)
    ok = evaluations_by_name(result)["rows_match"]
    assert ok.passed and meta(ok)["strategy"] == "multiset"

    pg_exec(pg_conn, pg_schema,
            "DELETE FROM {t} WHERE ctid = (SELECT min(ctid) FROM {t} WHERE v = 1)",  # one duplicate gone
            "UPDATE {t} SET w = 'yy' WHERE v = 2",                                    # value changed
            "INSERT INTO {t} VALUES (NULL, NULL)")                                    # extra duplicate
    result, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
    assert not evaluation.passed
    m = meta(evaluation)
    assert (m["missing_in_target"], m["extra_in_target"], m["different_values"]) == (2, 2, 0)
    assert sorted(((e["kind"], e["key"]["v"], e["key"]["w"]) for e in m["example_keys"]),
                  key=str) == sorted([("extra", 2, "yy"), ("extra", None, None),
                                      ("missing", 1, "x"), ("missing", 2, "y")], key=str)


@METHODS
def test_text_and_uuid_keys_use_the_hash_comparison(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema, method
):
    tsql(mssql_server, source_db,
         "CREATE TABLE dbo.t (code nvarchar(10) NOT NULL PRIMARY KEY, g uniqueidentifier, v int)",
         "INSERT INTO dbo.t VALUES (N'b', NEWID(), 1), (N'A', NEWID(), 2), (N'c', NEWID(), 3)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t", "rows_match": method}])
    result = run_job(defs)
    assert result.success, failure_text(result)
    ok = evaluations_by_name(result)["rows_match"]
    assert ok.passed and meta(ok)["strategy"] == "hash"
    pg_exec(pg_conn, pg_schema, "UPDATE {t} SET v = 20 WHERE code = 'A'")
    _, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
    assert meta(evaluation)["example_keys"] == [{"kind": "different", "key": {"code": "A"}, "columns": ["v"]}]


@pytest.mark.parametrize("blocking", [True, False])
def test_blocking_is_configurable_per_table(tmp_path, env, mssql_server, source_db, pg_conn, pg_schema, blocking):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY, v int)", "INSERT INTO dbo.t VALUES (1, 1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t",
                                    "rows_match_blocking": blocking}])
    assert run_job(defs).success
    pg_exec(pg_conn, pg_schema, "UPDATE {t} SET v = 2")
    result, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
    assert not evaluation.passed
    assert result.success is (not blocking)


def test_check_before_any_materialization_fails_clearly(tmp_path, env, mssql_server, source_db, pg_schema):
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY)", "INSERT INTO dbo.t VALUES (1)")
    defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t"}])
    _, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
    assert not evaluation.passed
    assert "does not exist yet" in evaluation.description


def test_checksums_split_a_differing_segment_and_read_only_its_differing_part(
    tmp_path, env, mssql_server, source_db, pg_conn, pg_schema
):
    inserts = [
        "INSERT INTO dbo.t VALUES " + ", ".join(f"({i}, N'v{i}')" for i in range(start, start + 1000))
        for start in range(1, 3001, 1000)
    ]
    tsql(mssql_server, source_db, "CREATE TABLE dbo.t (id int PRIMARY KEY, v nvarchar(10))", *inserts)
    results = {}
    for method in ("checksum", "rows"):
        defs = replica_defs(tmp_path, [{"source_table": "dbo.t", "target_table": f"{pg_schema}.t",
                                        "rows_match": method, "rows_match_segment_rows": 3000}])
        assert run_job(defs).success
        pg_exec(pg_conn, pg_schema, "UPDATE {t} SET v = 'x' WHERE id IN (17, 2500)", "DELETE FROM {t} WHERE id = 1200")
        _, evaluation = run_rows_match(defs, AssetKey([pg_schema, "t"]))
        results[method] = meta(evaluation)
    c, r = results["checksum"], results["rows"]
    assert {k: c[k] for k in COMMON if k != "method"} == {k: r[k] for k in COMMON if k != "method"}
    assert (c["missing_in_target"], c["different_values"]) == (1, 2)
    # one 3,000-row segment differs; it is split 16 ways and only 3 parts are read as rows
    assert c["segments_differing"] == 1
    assert 0 < c["rows_compared"] <= 3 * 188
