"""The every-type matrix for ``rows_match: checksum``: one column of every SQL Server type the
type map copies, rows with its extremes, NULL, empty values, Japanese text, NUL and
precision-7 times and offsets. A faithful copy must give equal checksums in every segment
(so the canonical forms agree on both servers), and each single change to the replica must
give exactly what the row comparison gives.

The table is copied once per module; each case changes the replica inside an open
transaction, which the comparison's own rollback undoes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from mctm_replica.config import TableSpec
from mctm_replica.content_check import compare_table
from mctm_replica.plan import build_plan
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica_tests.conftest import REPLICA_DB, unique_name
from mctm_replica_tests.integration.replica_helpers import failure_text
from mctm_replica_tests.integration.source_helpers import replica_defs, run_job, source_env, tsql

DDL = """CREATE TABLE dbo.m (
  id int NOT NULL PRIMARY KEY, ti tinyint, si smallint, i int, bi bigint, b bit,
  d decimal(38,10), n numeric(5,0), m money, sm smallmoney, f float, r real,
  dt date, t7 time(7), t0 time(0), dt2 datetime2(7), dt23 datetime2(3), dtm datetime,
  sdt smalldatetime, dto datetimeoffset(7), c char(5), vc varchar(20), nc nchar(5),
  nv nvarchar(40), nvm nvarchar(max), vcm varchar(max), x xml, bn binary(4),
  vb varbinary(10), vbm varbinary(max), g uniqueidentifier, dp decimal(4,4), dq decimal(38,38))"""
ROWS = [
    # lows and empties
    "INSERT INTO dbo.m VALUES (1, 0, -32768, -2147483648, -9223372036854775808, 0, "
    "-9999999999999999999999999999.9999999999, -99999, -922337203685477.5808, -214748.3648, "
    "-1.7976931348623157E308, -3.4028235E38, '0001-01-01', '00:00:00', '00:00:00', "
    "'0001-01-01 00:00:00', '0001-01-01', '1753-01-01', '1900-01-01', '0001-01-01 00:00:00 +00:00', "
    "'', '', N'', N'', N'', '', N'', 0x, 0x, 0x, '00000000-0000-0000-0000-000000000000', -0.9999, "
    "-0.99999999999999999999999999999999999999)",
    # highs
    "INSERT INTO dbo.m VALUES (2, 255, 32767, 2147483647, 9223372036854775807, 1, "
    "9999999999999999999999999999.9999999999, 99999, 922337203685477.5807, 214748.3647, "
    "1.7976931348623157E308, 3.4028235E38, '9999-12-31', '23:59:59.9999999', '23:59:59', "
    "'9999-12-31 23:59:59.9999999', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.997', "
    "'2079-06-06 23:59', '9999-12-31 23:59:59.9999999 +00:00', 'abcde', 'zzzzzzzzzzzzzzzzzzzz', "
    "N'ＡＢＣＤＥ', N'z', N'z', 'z', N'<z/>', 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFFFFFF, 0xFF, "
    "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 0.9999, "
    "0.99999999999999999999999999999999999999)",
    # NULL everywhere
    "INSERT INTO dbo.m (id) VALUES (3)",
    # Japanese, NUL, precision 7, small floats
    "INSERT INTO dbo.m VALUES (4, 7, -1, 42, 1234567890123, 1, 0.0000000001, 1, 0.0001, -0.0001, "
    "0.1, 0.1, '2024-02-29', '12:34:56.9999999', '12:34:56', '2024-02-29 12:34:56.1234567', "
    "'2024-02-29 12:34:56.123', '2024-02-29 12:34:56.003', '2024-02-29 12:34', "
    "'2024-06-01 12:00:00.1234567 +09:00', 'ab', 'Mixed Case', N'日本', "
    "N'日本語テキスト' + NCHAR(0) + N'x', N'長い文😀' + NCHAR(0), 'a|b', N'<a n=\"日本\"/>', "
    "0x00010203, 0x00, 0x0102, '6F9619FF-8B86-D011-B42D-00C04FC964FF', 0, 0)",
    # separators next to each other, tiny floats
    "INSERT INTO dbo.m VALUES (5, 1, 1, 1, 1, 0, 1, 1, 1, 1, 4.9406564584124654E-324, 1.4E-45, "
    "'2000-01-01', '00:00:00.0000001', '00:00:01', '2000-01-01 00:00:00.0000009', "
    "'2000-01-01 00:00:00.001', '2000-01-01 00:00:00.007', '2000-01-01 00:01', "
    "'2000-01-01 00:00:00.0000001 -14:00', 'N', 'N', N'N', N'p|', N'q', '|', N'<b/>', "
    "0x4E, 0x4E, 0x4E, '6f9619ff-8b86-d011-b42d-00c04fc964fe', 0.0001, "
    "-0.00000000000000000000000000000000000001)",
]

#: (name, UPDATE/DELETE/INSERT on the replica, expected (different rows, columns) or a
#: (missing, extra) count). Each name is the test id.
CASES = [
    ("tinyint changed", "UPDATE {t} SET ti = ti + 1 WHERE id = 4", (1, ["ti"])),
    ("smallint changed", "UPDATE {t} SET si = si + 1 WHERE id = 1", (1, ["si"])),
    ("int changed", "UPDATE {t} SET i = i - 1 WHERE id = 2", (1, ["i"])),
    ("bigint changed", "UPDATE {t} SET bi = bi + 1 WHERE id = 1", (1, ["bi"])),
    ("bit flipped", "UPDATE {t} SET b = NOT b WHERE id = 4", (1, ["b"])),
    ("decimal last digit", "UPDATE {t} SET d = d + 0.0000000001 WHERE id = 4", (1, ["d"])),
    ("numeric changed", "UPDATE {t} SET n = n - 1 WHERE id = 2", (1, ["n"])),
    ("decimal(4,4) last digit", "UPDATE {t} SET dp = dp - 0.0001 WHERE id = 2", (1, ["dp"])),
    ("decimal(38,38) last digit", "UPDATE {t} SET dq = dq + 0.00000000000000000000000000000000000001 WHERE id = 4",
     (1, ["dq"])),
    ("decimal(38,38) sign of the smallest", "UPDATE {t} SET dq = -dq WHERE id = 5", (1, ["dq"])),
    ("money 0.0001", "UPDATE {t} SET m = m + 0.0001 WHERE id = 4", (1, ["m"])),
    ("smallmoney 0.0001", "UPDATE {t} SET sm = sm - 0.0001 WHERE id = 2", (1, ["sm"])),
    ("float one bit", "UPDATE {t} SET f = 0.10000000000000002 WHERE id = 4", (1, ["f"])),
    ("float subnormal one bit", "UPDATE {t} SET f = 1.0E-323 WHERE id = 5", (1, ["f"])),
    ("real one bit", "UPDATE {t} SET r = 0.09999999403953552 WHERE id = 4", (1, ["r"])),
    ("date one day", "UPDATE {t} SET dt = dt + 1 WHERE id = 1", (1, ["dt"])),
    ("time 1 microsecond", "UPDATE {t} SET t7 = t7 - interval '1 microsecond' WHERE id = 4", (1, ["t7"])),
    ("time(0) 1 second", "UPDATE {t} SET t0 = t0 + interval '1 second' WHERE id = 4", (1, ["t0"])),
    ("datetime2 1 microsecond", "UPDATE {t} SET dt2 = dt2 + interval '1 microsecond' WHERE id = 4",
     (1, ["dt2"])),
    ("datetime2(3) 1 millisecond", "UPDATE {t} SET dt23 = dt23 - interval '1 millisecond' WHERE id = 2",
     (1, ["dt23"])),
    ("datetime 1 millisecond", "UPDATE {t} SET dtm = dtm + interval '1 millisecond' WHERE id = 4", (1, ["dtm"])),
    ("smalldatetime 1 minute", "UPDATE {t} SET sdt = sdt + interval '1 minute' WHERE id = 4", (1, ["sdt"])),
    ("datetimeoffset 1 microsecond", "UPDATE {t} SET dto = dto + interval '1 microsecond' WHERE id = 4",
     (1, ["dto"])),
    ("datetimeoffset same instant", "UPDATE {t} SET dto = (dto AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
     "WHERE id = 4", (0, [])),
    ("char padding trimmed", "UPDATE {t} SET c = rtrim(c) WHERE id = 4", (1, ["c"])),
    ("varchar case changed", "UPDATE {t} SET vc = upper(vc) WHERE id = 4", (1, ["vc"])),
    ("nvarchar trailing space", "UPDATE {t} SET nv = nv || ' ' WHERE id = 4", (1, ["nv"])),
    ("nvarchar empty to NULL", "UPDATE {t} SET nv = NULL WHERE id = 1", (1, ["nv"])),
    ("nvarchar NULL to empty", "UPDATE {t} SET nv = '' WHERE id = 3", (1, ["nv"])),
    ("nvarchar NULL to N", "UPDATE {t} SET nv = 'N' WHERE id = 3", (1, ["nv"])),
    ("nchar fullwidth to ASCII", "UPDATE {t} SET nc = 'ABCDE' WHERE id = 2", (1, ["nc"])),
    ("Japanese character changed", "UPDATE {t} SET nvm = replace(nvm, '文', '分') WHERE id = 4", (1, ["nvm"])),
    ("separator moved between columns", "UPDATE {t} SET nv = 'p', nvm = '|q' WHERE id = 5", (1, ["nv", "nvm"])),
    ("varchar(max) pipe doubled", "UPDATE {t} SET vcm = 'a||b' WHERE id = 4", (1, ["vcm"])),
    ("xml text changed", "UPDATE {t} SET x = x || ' ' WHERE id = 2", (1, ["x"])),
    ("binary byte changed", "UPDATE {t} SET bn = '\\x00010204' WHERE id = 4", (1, ["bn"])),
    ("varbinary empty to NULL", "UPDATE {t} SET vb = NULL WHERE id = 1", (1, ["vb"])),
    ("varbinary(max) byte appended", "UPDATE {t} SET vbm = vbm || '\\x00'::bytea WHERE id = 4", (1, ["vbm"])),
    ("uuid changed", "UPDATE {t} SET g = '6f9619ff-8b86-d011-b42d-00c04fc964fd' WHERE id = 4", (1, ["g"])),
    ("uuid case changed (stored equal)", "UPDATE {t} SET g = upper(g::text)::uuid WHERE id = 5", (0, [])),
    ("row missing", "DELETE FROM {t} WHERE id = 2", "missing"),
    ("row extra", "INSERT INTO {t} (id) VALUES (99)", "extra"),
]

COMMON = ("source_rows", "target_rows", "missing_in_target", "extra_in_target", "different_values",
          "differing_columns", "example_keys", "strategy")


@pytest.fixture(scope="module")
def copied(mssql_server, pg_server, tmp_path_factory) -> Iterator[tuple[MssqlResource, str, TableSpec]]:
    """The matrix table in a fresh source database, copied once into a fresh schema."""
    db, schema = unique_name("src"), unique_name("mx")
    tsql(mssql_server, "master", f"CREATE DATABASE [{db}]")
    tsql(mssql_server, db, DDL, *ROWS)
    env = {**source_env(mssql_server, db), **pg_server.env(REPLICA_DB), "PG_SSLMODE": "disable"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        result = run_job(replica_defs(tmp_path_factory.mktemp("mx"), [
            {"source_table": "dbo.m", "target_table": f"{schema}.m"}]))
        assert result.success, failure_text(result)
    mssql = MssqlResource(host=mssql_server.host, port=mssql_server.port, database=db,
                          user=mssql_server.user, password=mssql_server.password)
    spec = TableSpec(source="src", source_schema="dbo", source_table="m", target_schema=schema,
                     target_table="m", rows_match_segment_rows=100)
    yield mssql, pg_server.dsn(REPLICA_DB), spec
    conn = psycopg2.connect(pg_server.dsn(REPLICA_DB))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    conn.close()
    tsql(mssql_server, "master", f"DROP DATABASE [{db}]")


def both_ways(copied, change: str | None) -> dict[str, object]:
    """The replica changed by ``change`` (uncommitted; the comparison rolls it back),
    compared by checksums and by rows: their reports must agree."""
    mssql, dsn, spec = copied
    out = {}
    conn = psycopg2.connect(dsn)
    try:
        for method in ("checksum", "rows"):
            s = dataclasses.replace(spec, rows_match=method)
            plan = build_plan(s, mssql.describe_table("dbo", "m"))
            if change:
                with conn.cursor() as cur:
                    cur.execute(sql.SQL(change).format(t=sql.SQL("{}.m").format(sql.Identifier(spec.target_schema))))
            out[method] = compare_table(mssql, conn, plan).metadata()
    finally:
        conn.close()
    assert out["checksum"]["method"] == "checksum", out["checksum"].get("checksum_unavailable")
    assert {k: out["checksum"][k] for k in COMMON} == {k: out["rows"][k] for k in COMMON}
    return out


def test_a_faithful_copy_has_equal_checksums_in_every_segment(copied):
    c = both_ways(copied, None)["checksum"]
    assert (c["missing_in_target"], c["extra_in_target"], c["different_values"], c["source_rows"]) == (0, 0, 0, 5)
    # equal sums everywhere: every type's canonical text is the same on both servers
    assert (c["segments_differing"], c["rows_compared"]) == (0, 0)


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_change_is_reported_as_the_row_comparison_reports_it(copied, change, expected):
    c = both_ways(copied, change)["checksum"]
    if expected == "missing":
        assert (c["missing_in_target"], c["extra_in_target"], c["different_values"]) == (1, 0, 0)
        assert c["example_keys"] == [{"kind": "missing", "key": {"id": 2}}]
    elif expected == "extra":
        assert (c["missing_in_target"], c["extra_in_target"], c["different_values"]) == (0, 1, 0)
        assert c["example_keys"] == [{"kind": "extra", "key": {"id": 99}}]
    else:
        rows, columns = expected
        assert (c["missing_in_target"], c["extra_in_target"], c["different_values"]) == (0, 0, rows)
        assert sorted(c["differing_columns"]) == columns
        assert c["segments_differing"] == rows  # an unchanged value never makes a segment differ



def test_every_postgresql_version_prints_the_same_canonical_timestamps(copied):
    """PostgreSQL 18 prints a timestamp's canonical microseconds from its binary send form;
    older servers through extract(epoch ..). Both must print the same text for every value
    of the matrix (the embedded server runs both: it is 18)."""
    from mctm_replica.tsql.canonical import PG_BYTEA_TO_INT, pg_field

    mssql, dsn, spec = copied
    plan = build_plan(spec, mssql.describe_table("dbo", "m"))
    stamps = [c for c in plan.columns if c.source_type.name in ("datetime2", "datetime", "smalldatetime",
                                                                  "datetimeoffset")]
    assert len(stamps) == 5
    assert int(_replica_rows(dsn, sql.SQL("SHOW server_version_num"))[0][0]) >= PG_BYTEA_TO_INT
    old = sql.SQL(", ").join(pg_field(c, 0) for c in stamps)
    new = sql.SQL(", ").join(pg_field(c, PG_BYTEA_TO_INT) for c in stamps)
    rows = _replica_rows(dsn, sql.SQL("SELECT id, ARRAY[{}], ARRAY[{}] FROM {}.m ORDER BY id").format(
        old, new, sql.Identifier(spec.target_schema)))
    assert len(rows) == 5
    for key, a, b in rows:
        assert a == b, key
    assert any(v != "N" for _k, a, _b in rows for v in a)  # values, not only NULLs


def test_every_postgresql_version_reads_the_same_integers_off_a_digest(copied):
    """The segment sums' integers (first 8 digest bytes, signed) and bucket numbers (first 4,
    unsigned): PostgreSQL 18 casts bytea to bigint, older servers parse a bit string. Both
    must read what SQL Server reads from binary(8) and binary(4), for the matrix's rows."""
    from mctm_replica.tsql.canonical import PG_BYTEA_TO_INT, pg_digest_int, pg_md5, pg_row

    mssql, dsn, spec = copied
    plan = build_plan(spec, mssql.describe_table("dbo", "m"))
    h = pg_md5(pg_row(plan.columns, PG_BYTEA_TO_INT), True)
    forms = sql.SQL(", ").join(pg_digest_int(sql.Identifier("h"), size, version)
                               for size in (8, 4) for version in (0, PG_BYTEA_TO_INT))
    rows = _replica_rows(dsn, sql.SQL("SELECT h, {} FROM (SELECT {} AS h FROM {}.m) AS x").format(
        forms, h, sql.Identifier(spec.target_schema)))
    assert len(rows) == 5
    for digest, *got in rows:
        raw = bytes.fromhex(digest)
        signed, unsigned = int.from_bytes(raw[:8], "big", signed=True), int.from_bytes(raw[:4], "big")
        assert got == [signed, signed, unsigned, unsigned], digest


def _replica_rows(dsn: str, query: sql.Composable) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()
