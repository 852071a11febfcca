"""Session behaviour both clients rely on: cancel, transactions, parameters, TEXTSIZE.

Everything runs through real pymssql / python-tds connections over TCP; expected
results are what SQL Server does for the same calls.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pymssql
import pytds
import pytest

from expected_values import BIG_ROWS, canonical, create_big, mismatches, tz

D = decimal.Decimal


# --------------------------------------------------------------------------- cancel


def test_pytds_cancel_mid_stream_is_prompt_and_connection_survives(td):
    cur = td.cursor()
    create_big(cur, "big")
    cur.execute("SELECT id, pad FROM dbo.big ORDER BY id")
    assert [cur.fetchone()[0] for _ in range(10)] == list(range(1, 11))
    cur.cancel()
    cur.execute("SELECT COUNT_BIG(*) FROM dbo.big")
    assert cur.fetchall() == [(BIG_ROWS,)]


def test_pymssql_new_query_cancels_pending_rows(ms):
    cur = ms.cursor()
    create_big(cur, "big")
    cur.execute("SELECT id, pad FROM dbo.big ORDER BY id")
    assert [cur.fetchone()[0] for _ in range(10)] == list(range(1, 11))
    cur.execute("SELECT COUNT_BIG(*) FROM dbo.big")  # pymssql sends an attention first
    assert cur.fetchall() == [(BIG_ROWS,)]


# --------------------------------------------------------------------------- transactions


def test_pymssql_transactions_in_sql(ms, fresh_db):
    cur = ms.cursor()
    cur.execute("CREATE TABLE dbo.tx (id int NOT NULL PRIMARY KEY)")
    cur.execute("BEGIN TRAN")
    cur.execute("INSERT INTO dbo.tx (id) VALUES (1)")
    cur.execute("SELECT @@TRANCOUNT")
    assert cur.fetchone() == (1,)
    cur.execute("ROLLBACK")
    cur.execute("SELECT @@TRANCOUNT, COUNT(*) FROM dbo.tx")
    assert cur.fetchone() == (0, 0)
    cur.execute("BEGIN TRANSACTION; INSERT INTO dbo.tx (id) VALUES (2); COMMIT TRANSACTION")
    cur.execute("SELECT id FROM dbo.tx")
    assert cur.fetchall() == [(2,)]
    with pytest.raises(pymssql.exceptions.OperationalError) as ei:
        cur.execute("COMMIT")
    assert ei.value.args[0] == 3902  # no corresponding BEGIN TRANSACTION


def test_pymssql_autocommit_off_commit_and_rollback(standin, fresh_db):
    setup = standin.connect_pymssql(database=fresh_db, autocommit=True)
    setup.cursor().execute("CREATE TABLE dbo.tx (id int NOT NULL PRIMARY KEY)")
    conn = standin.connect_pymssql(database=fresh_db)  # pymssql default: autocommit off
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@TRANCOUNT")
        assert cur.fetchone() == (1,)  # pymssql runs BEGIN TRAN right after login
        cur.execute("INSERT INTO dbo.tx (id) VALUES (1)")
        conn.rollback()
        cur.execute("SELECT COUNT(*) FROM dbo.tx")
        assert cur.fetchone() == (0,)
        cur.execute("INSERT INTO dbo.tx (id) VALUES (2)")
        conn.commit()
        other = setup.cursor()
        other.execute("SELECT id FROM dbo.tx")
        assert other.fetchall() == [(2,)]
        conn.autocommit(True)
        cur.execute("SELECT @@TRANCOUNT")
        assert cur.fetchone() == (0,)
    finally:
        conn.close()
        setup.close()


def test_pytds_transaction_manager_commit_and_rollback(standin, fresh_db):
    setup = standin.connect_pytds(database=fresh_db, autocommit=True)
    setup.cursor().execute("CREATE TABLE dbo.tx (id int NOT NULL PRIMARY KEY)")
    conn = standin.connect_pytds(database=fresh_db, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO dbo.tx (id) VALUES (1)")
        cur.execute("SELECT @@TRANCOUNT")
        assert cur.fetchone() == (1,)
        conn.rollback()
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM dbo.tx")
        assert cur.fetchone() == (0,)
        cur.execute("INSERT INTO dbo.tx (id) VALUES (2)")
        conn.commit()
        other = setup.cursor()
        other.execute("SELECT id FROM dbo.tx")
        assert other.fetchall() == [(2,)]
    finally:
        conn.close()
        setup.close()


def test_nolock_reads_only_committed_rows_documented_difference(standin, fresh_db):
    """Pins a documented difference: real SQL Server's NOLOCK would see the uncommitted
    row (dirty read, count 1) and a plain SELECT would block; the stand-in reads the
    last committed state (DuckDB MVCC) and never blocks."""
    setup = standin.connect_pytds(database=fresh_db, autocommit=True)
    setup.cursor().execute("CREATE TABLE dbo.tx (id int NOT NULL PRIMARY KEY)")
    writer = standin.connect_pytds(database=fresh_db, autocommit=False)
    try:
        writer.cursor().execute("INSERT INTO dbo.tx (id) VALUES (1)")
        cur = setup.cursor()
        cur.execute("SELECT COUNT_BIG(*) FROM dbo.tx WITH (NOLOCK)")
        assert cur.fetchall() == [(0,)]
        writer.rollback()
    finally:
        writer.close()
        setup.close()


# --------------------------------------------------------------------------- parameters

PARAM_COLUMNS = (
    "id int NOT NULL PRIMARY KEY, i int NULL, bi bigint NULL, f float NULL, d decimal(18,4) NULL, "
    "s nvarchar(50) NULL, b varbinary(20) NULL, bt bit NULL, d2 datetime2(7) NULL, dd date NULL, "
    "tm time(7) NULL, g uniqueidentifier NULL, dto datetimeoffset(7) NULL, dtm datetime NULL"
)
PARAM_VALUES = (
    1, -2147483648, 9223372036854775807, 0.1, D("12.3400"), "it's 日本 \U00020BB7\U0001F600",
    b"\x00\xff\x10", True, dt.datetime(2024, 2, 29, 12, 34, 56, 123456), dt.date(2024, 2, 29),
    dt.time(12, 34, 56, 123456), uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
    dt.datetime(2024, 3, 10, 12, 34, 56, 123456, tzinfo=tz(540)),
    dt.datetime(2024, 1, 1, 23, 59, 59, 997000),
)
PARAM_NAMES = ["id", "i", "bi", "f", "d", "s", "b", "bt", "d2", "dd", "tm", "g", "dto", "dtm"]


def test_pymssql_client_side_parameters_round_trip(ms):
    cur = ms.cursor()
    cur.execute(f"CREATE TABLE dbo.p ({PARAM_COLUMNS})")
    placeholders = ", ".join(["%s"] * len(PARAM_VALUES))
    cur.execute(f"INSERT INTO dbo.p VALUES ({placeholders})", PARAM_VALUES)
    cur.execute("INSERT INTO dbo.p (id) VALUES (%(id)s)", {"id": 2})
    cur.execute("SELECT * FROM dbo.p ORDER BY id")
    rows = cur.fetchall()
    # pymssql formats a naive datetime with milliseconds only: .123456 arrives as .123.
    expected = list(PARAM_VALUES)
    expected[4] = D("12.3400")
    expected[8] = dt.datetime(2024, 2, 29, 12, 34, 56, 123000)
    assert mismatches(list(rows[0]), expected, PARAM_NAMES) == []
    assert rows[1] == (2,) + (None,) * (len(PARAM_VALUES) - 1)
    cur.execute("SELECT id FROM dbo.p WHERE s = %s AND i = %s", (PARAM_VALUES[5], -2147483648))
    assert cur.fetchall() == [(1,)]


def test_pytds_sp_executesql_parameters_round_trip(td):
    cur = td.cursor()
    cur.execute(f"CREATE TABLE dbo.p ({PARAM_COLUMNS})")
    values = list(PARAM_VALUES)
    values[6] = pytds.Binary(values[6])
    cur.execute(f"INSERT INTO dbo.p VALUES ({', '.join(['%s'] * len(values))})", values)
    cur.execute(
        "INSERT INTO dbo.p (id, s, i) VALUES (%(id)s, %(s)s, %(i)s)",
        {"id": 2, "s": None, "i": None},
    )
    cur.execute("SELECT * FROM dbo.p ORDER BY id")
    rows = cur.fetchall()
    expected = list(PARAM_VALUES)
    expected[4] = D("12.34")  # pytds drops trailing zeros of decimal(18,4)
    assert mismatches(list(rows[0]), expected, PARAM_NAMES) == []
    assert rows[1] == (2,) + (None,) * (len(PARAM_VALUES) - 1)
    cur.execute(
        "SELECT COUNT(*) FROM dbo.p WHERE dto = %s AND g = %s", (PARAM_VALUES[12], PARAM_VALUES[11])
    )
    assert cur.fetchall() == [(1,)]
    cur.execute("SELECT %s, %s, %s", (None, 5, "x"))
    assert cur.fetchall() == [(None, 5, "x")]


# --------------------------------------------------------------------------- TEXTSIZE

# SQL Server's TEXTSIZE cuts varchar(max)/nvarchar(max)/varbinary(max)/text/ntext/image
# values in SELECT results to that many BYTES.  A LOGIN7 with the fODBC flag (pytds)
# makes it unlimited; FreeTDS (pymssql) does not set that flag, so the server default
# of 4096 bytes applies until a SET TEXTSIZE -- pymssql sends SET TEXTSIZE 2147483647
# right after login unless conn_properties replaces its SET batch.
DEFAULT_TEXTSIZE = 4096
LOB_COLUMNS = (
    "id int NOT NULL PRIMARY KEY, nvm nvarchar(max) NULL, vm varchar(max) NULL, "
    "vbm varbinary(max) NULL, t text NULL, nt ntext NULL, im image NULL, nv nvarchar(4000) NULL"
)
LOB_VALUES = (
    1, "日本" * 2500, "a" * 9000, bytes(range(256)) * 40, "b" * 5000, "c" * 5000,
    bytes(range(250)) * 20, "d" * 3000,
)
LOB_LABELS = ["id", "nvm", "vm", "vbm", "t", "nt", "im", "nv"]


def _fill_lobs(td) -> None:
    cur = td.cursor()
    cur.execute(f"CREATE TABLE dbo.lob ({LOB_COLUMNS})")
    values = [pytds.Binary(v) if isinstance(v, bytes) else v for v in LOB_VALUES]
    cur.execute(f"INSERT INTO dbo.lob VALUES ({', '.join(['%s'] * len(values))})", values)


def _truncated(textsize: int) -> list:
    """LOB_VALUES as SQL Server returns them under TEXTSIZE ``textsize`` (bytes)."""
    nvm, vm, vbm, t, nt, im = LOB_VALUES[1:7]
    return [1, nvm[: textsize // 2], vm[:textsize], vbm[:textsize], t[:textsize],
            nt[: textsize // 2], im[:textsize], LOB_VALUES[7]]


def test_pymssql_without_its_set_batch_gets_the_4096_byte_textsize(standin, fresh_db, td):
    _fill_lobs(td)
    conn = pymssql.connect(
        server=standin.host, port=str(standin.port), user=standin.user, password=standin.password,
        database=fresh_db, tds_version="7.4", autocommit=True, conn_properties="",
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@TEXTSIZE")
        assert cur.fetchone() == (DEFAULT_TEXTSIZE,)
        cur.execute("SELECT * FROM dbo.lob")
        assert mismatches(list(cur.fetchone()), _truncated(DEFAULT_TEXTSIZE), LOB_LABELS) == []
        # DATALENGTH is computed server-side: the stored values are whole.
        cur.execute("SELECT DATALENGTH(nvm), DATALENGTH(vbm) FROM dbo.lob")
        assert cur.fetchone() == (10000, 10240)
        cur.execute("SET TEXTSIZE 2147483647")
        cur.execute("SELECT * FROM dbo.lob")
        assert mismatches(list(cur.fetchone()), list(LOB_VALUES), LOB_LABELS) == []
    finally:
        conn.close()


def test_pymssql_default_and_pytds_read_whole_lob_values(standin, fresh_db, td, ms):
    _fill_lobs(td)
    mcur = ms.cursor()
    mcur.execute("SELECT @@TEXTSIZE")
    assert mcur.fetchone() == (2147483647,)
    mcur.execute("SELECT * FROM dbo.lob")
    assert mismatches(list(mcur.fetchone()), list(LOB_VALUES), LOB_LABELS) == []
    cur = td.cursor()
    cur.execute("SELECT * FROM dbo.lob")
    assert mismatches(list(cur.fetchone()), list(LOB_VALUES), LOB_LABELS) == []


def test_set_textsize_limits_lob_values_in_bytes(td):
    _fill_lobs(td)
    cur = td.cursor()
    cur.execute("SET TEXTSIZE 10")
    cur.execute("SELECT * FROM dbo.lob")
    assert mismatches(list(cur.fetchone()), _truncated(10), LOB_LABELS) == []
    cur.execute("SET TEXTSIZE 0")  # 0 restores the default
    cur.execute("SELECT @@TEXTSIZE")
    assert cur.fetchone() == (DEFAULT_TEXTSIZE,)
    cur.execute("SELECT nvm FROM dbo.lob")
    assert cur.fetchone() == (LOB_VALUES[1][: DEFAULT_TEXTSIZE // 2],)


def test_canonical_helper_distinguishes_offsets():
    """Guard for the suite itself: equal instants with different offsets must differ."""
    a = dt.datetime(2024, 1, 1, 9, tzinfo=tz(540))
    b = dt.datetime(2024, 1, 1, 0, tzinfo=tz(0))
    assert a == b and canonical(a) != canonical(b)
    assert canonical(D("1.50")) != canonical(D("1.5"))
    assert canonical(True) != canonical(1)


# --------------------------------------------------------------------------- @@PACK_SENT


def test_pack_sent_counts_the_servers_output_packets(ms):
    """``@@PACK_SENT``: output packets written since the server started, every session's
    (the benchmarks read it around a copy to give the source's work), and the stand-in's
    own ``@@STANDIN_BYTES_SENT``, their bytes."""
    cur = ms.cursor()
    cur.execute("SELECT @@PACK_SENT, @@STANDIN_BYTES_SENT")
    before, bytes_before = cur.fetchone()
    cur.execute("SELECT REPLICATE(CAST(N'x' AS nvarchar(max)), 100000)")  # 200,000 bytes as UTF-16
    assert len(cur.fetchone()[0]) == 100_000
    cur.execute("SELECT @@PACK_SENT, @@STANDIN_BYTES_SENT")
    after, bytes_after = cur.fetchone()
    # the stand-in's own byte count: the reply's 200,000 bytes and its packets' 8-byte headers
    assert 200_000 + 8 * (after - before) <= bytes_after - bytes_before < 200_000 + 9 * 4096
    cur.execute("SELECT net_packet_size FROM sys.dm_exec_connections WHERE session_id = @@SPID")
    size = cur.fetchone()[0]
    # the big reply needed at least 200,000 / size packets, plus one for the first count's
    # reply (and a few for token framing); a packet counted twice would double it
    least = 200_000 // size + 1
    assert least <= after - before < 1.5 * least
