"""tedious (Node's TDS client, under node-mssql) against the stand-in, via clients/tedious/run.js.

tedious logs in, then sends its own SET batch, one option per line without ';'
(``Connection.getInitialSql``); its ``set textsize 2147483647`` must apply or an
nvarchar(max) comes back cut at 2,048 characters without an error.

Expected values follow from how tedious 19 decodes what SQL Server sends (its
value-parser): bigint as a string; decimal, numeric, money as a JavaScript number
(sign * integer / 10**scale); date and time types as a ``Date`` (UTC, ``useUTC``
default), whole milliseconds (``Date.UTC`` truncates the 100-ns ticks; datetime's
1/300 s ticks are rounded to ms); datetimeoffset as the UTC instant; uniqueidentifier
as upper-case text; binary types as a Buffer. They are derived from the pymssql column
of :mod:`expected_values`, which holds the exact values SQL Server sends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from expected_values import TYPE_MATRIX, TypeSpec, spec_id
from mctm_replica_tests.clients import tedious_client as ted

# tedious's data type names (metadata type.name) per declared base type.
TEDIOUS_TYPE = {
    "bit": "BitN", "tinyint": "IntN", "smallint": "IntN", "int": "IntN", "bigint": "IntN",
    "decimal": "DecimalN", "numeric": "NumericN", "money": "MoneyN", "smallmoney": "MoneyN",
    "float": "FloatN", "real": "FloatN", "date": "Date", "time": "Time", "datetime": "DateTimeN",
    "smalldatetime": "DateTimeN", "datetime2": "DateTime2", "datetimeoffset": "DateTimeOffset",
    "char": "Char", "varchar": "VarChar", "nchar": "NChar", "nvarchar": "NVarChar", "text": "Text",
    "ntext": "NText", "xml": "Xml", "binary": "Binary", "varbinary": "VarBinary", "image": "Image",
    "uniqueidentifier": "UniqueIdentifier",
}


@pytest.fixture
def conn(standin, fresh_db) -> ted.TediousConnection:
    ted.ensure_installed()
    return ted.TediousConnection("127.0.0.1", standin.port, standin.user, standin.password, fresh_db,
                                 encrypt=False)


def _iso_ms(v: dt.datetime) -> dict:
    v = v.replace(microsecond=v.microsecond // 1000 * 1000)
    return {"date": f"{v.year:04d}-" + v.strftime("%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"}


def tedious_value(value: object, decl: str) -> object:
    """What tedious gives for the value SQL Server sends (see module doc)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value) if decl == "bigint" else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = (value - value.utcoffset()).replace(tzinfo=None)
        return _iso_ms(value)
    if isinstance(value, dt.date):
        return _iso_ms(dt.datetime.combine(value, dt.time()))
    if isinstance(value, dt.time):
        return _iso_ms(dt.datetime.combine(dt.date(1970, 1, 1), value))
    if isinstance(value, uuid.UUID):
        return str(value).upper()
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    raise TypeError(value)


def _one(conn, requests: list[dict]) -> list[dict]:
    out = ted.run(conn, requests)
    assert out["connectError"] is None, out["connectError"]
    return out["results"]


@pytest.mark.parametrize("spec", TYPE_MATRIX, ids=spec_id)
def test_reads_every_value_as_from_sql_server(conn, spec: TypeSpec):
    rows = [f"({i}, {v.literal})" for i, v in enumerate(spec.values, 1)]
    rows.append(f"({len(spec.values) + 1}, NULL)")
    create, insert, select = _one(conn, [
        ted.batch(f"CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, v {spec.decl} NULL)"),
        ted.batch(f"INSERT INTO dbo.t (id, v) VALUES {', '.join(rows)}"),
        ted.batch("SELECT v FROM dbo.t ORDER BY id"),
    ])
    assert create["error"] is None and insert["error"] is None, (create, insert)
    assert select["error"] is None, select["error"]
    base = spec.decl.split("(")[0]
    expected = [tedious_value(v.pymssql, base) for v in spec.values] + [None]
    got = [r[0] for r in select["resultSets"][0]["rows"]]
    bad = [(v.literal[:30], g, e) for v, g, e in zip(spec.values, got, expected) if g != e]
    assert bad == [] and len(got) == len(expected)
    col = select["resultSets"][0]["columns"][0]
    assert (col["name"], col["type"], col["nullable"]) == ("v", TEDIOUS_TYPE[base], True)
    if base in ("decimal", "numeric"):
        p, s = spec.decl[len(base) + 1:-1].split(",")
        assert (col["precision"], col["scale"]) == (int(p), int(s))


def test_login_batch_applies_textsize_so_nvarchar_max_comes_back_whole(conn):
    long = ("東京" * 2500)  # 5,000 characters, 10,000 bytes
    (res,) = _one(conn, [ted.batch(f"SELECT @@TEXTSIZE AS ts, CAST(N'{long}' AS nvarchar(max)) AS v")])
    assert res["error"] is None
    ts, v = res["resultSets"][0]["rows"][0]
    assert ts == 2147483647
    assert len(v) == 5000 and v == long


def test_errors(conn):
    bad_table, divide, syntax, after = _one(conn, [
        ted.batch("SELECT * FROM dbo.nosuch"),
        ted.batch("SELECT 1/0"),
        ted.batch("SELECT 1 +"),
        ted.batch("SELECT 1 AS ok"),
    ])
    assert (bad_table["error"]["number"], bad_table["error"]["class"], bad_table["error"]["message"]) == (
        208, 16, "Invalid object name 'dbo.nosuch'.")
    assert (divide["error"]["number"], divide["error"]["message"]) == (8134, "Divide by zero error encountered.")
    assert (syntax["error"]["number"], syntax["error"]["class"]) == (102, 15)
    assert after["error"] is None and after["resultSets"][0]["rows"] == [[1]]


def test_parameters_keep_their_declared_types(conn):
    (res,) = _one(conn, [ted.sql("SELECT @d AS d, @s AS s, @n AS n", [
        {"name": "d", "type": "Decimal", "value": 1.5, "options": {"precision": 18, "scale": 4}},
        {"name": "s", "type": "NVarChar", "value": "日本", "options": {"length": 20}},
        {"name": "n", "type": "Int", "value": None},
    ])])
    assert res["error"] is None
    d, s, n = res["resultSets"][0]["columns"]
    assert (d["type"], d["precision"], d["scale"]) == ("DecimalN", 18, 4)
    assert s["type"] == "NVarChar" and n["type"] == "IntN"
    assert res["resultSets"][0]["rows"] == [[1.5, "日本", None]]


def test_prepared_statement_executes_many_times(conn):
    create, prep, check = _one(conn, [
        ted.batch("CREATE TABLE dbo.t (id int PRIMARY KEY, d decimal(18,4))"),
        ted.prepared("INSERT INTO dbo.t VALUES (@id, @d); SELECT @d * 2 AS twice",
                     [{"name": "id", "type": "Int"},
                      {"name": "d", "type": "Decimal", "options": {"precision": 18, "scale": 4}}],
                     [[1, 1.25], [2, -3.5], [1, 0]]),
        ted.batch("SELECT id, d FROM dbo.t ORDER BY id"),
    ])
    assert create["error"] is None and prep["error"] is None
    first, second, duplicate = prep["executions"]
    assert first["error"] is None and first["resultSets"][0]["rows"] == [[2.5]]
    assert second["resultSets"][0]["rows"] == [[-7]]
    assert duplicate["error"]["number"] == 2627
    assert check["resultSets"][0]["rows"] == [[1, 1.25], [2, -3.5]]


def test_installer_style_batch(conn):
    script = ("IF OBJECT_ID('dbo.t') IS NOT NULL DROP TABLE dbo.t\n"
              "CREATE TABLE dbo.t (id int)\nINSERT INTO dbo.t VALUES (1)\nSELECT COUNT(*) AS n FROM dbo.t")
    first, second = _one(conn, [ted.batch(script), ted.batch(script)])
    assert first["resultSets"][0]["rows"] == [[1]]
    assert second["error"] is None and second["resultSets"][0]["rows"] == [[1]]


def test_output_parameters_come_back(conn):
    (res,) = _one(conn, [ted.sql("SELECT @n + 1 AS next", [
        {"name": "n", "type": "Int", "value": 41},
        {"name": "d", "type": "Decimal", "value": 1.25, "output": True, "options": {"precision": 18, "scale": 4}},
    ])])
    assert res["error"] is None
    assert res["resultSets"][0]["rows"] == [[42]]
    assert res["returnValues"] == {"d": 1.25}
