"""Injected faults (drop_after_rows, refuse_logins, delay, error) and recovery, both clients.

The stand-in's faults stand for what a real network or server does to the
replicator: a connection cut mid-result, a refused login, a slow answer.  Each test
checks the client sees an error (or the delay) and that a new connection works.
"""

from __future__ import annotations

import time

import pymssql
import pytds
import pytest

from expected_values import BIG_ROWS, create_big

# A delay no test waits out, a client timeout that ends it, and a generous client timeout
# for batches that must not be delayed (they fail with a timeout if they are).
NEVER_S = 3600
WAIT_FOR_TIMEOUT_S = 2
GENEROUS_S = 60


# --------------------------------------------------------------------------- faults


@pytest.fixture
def faults(standin):
    yield standin
    try:
        standin.clear_faults()
    except Exception:  # a refuse_logins fault still armed refuses this login once
        standin.clear_faults()


def test_drop_after_rows_cuts_connection_then_new_connection_recovers(faults, fresh_db, td, ms):
    create_big(td.cursor(), "customer_drop")
    faults.inject_fault("drop_after_rows", rows=500, match="customer_drop", times=1)
    cur = ms.cursor()
    got = 0
    with pytest.raises(pymssql.exceptions.OperationalError) as ei:
        cur.execute("SELECT id FROM dbo.customer_drop ORDER BY id")
        while cur.fetchone() is not None:
            got += 1
    # FreeTDS reports a connection closed under it as DB-Lib 20017.
    assert ei.value.args[0] == 20017
    assert b"Unexpected EOF from the server" in ei.value.args[1]
    assert got == 500

    # The fault was one-shot: a new connection reads the whole result.
    fresh = faults.connect_pymssql(database=fresh_db)
    try:
        fcur = fresh.cursor()
        fcur.execute("SELECT id FROM dbo.customer_drop ORDER BY id")
        ids = [r[0] for r in fcur.fetchall()]
        assert ids == list(range(1, BIG_ROWS + 1))
    finally:
        fresh.close()


def test_drop_after_rows_with_pytds(faults, fresh_db, td):
    create_big(td.cursor(), "customer_drop")
    faults.inject_fault("drop_after_rows", rows=500, match="customer_drop", times=1)
    conn = faults.connect_pytds(database=fresh_db, autocommit=True)
    got = []
    try:
        with pytest.raises(pytds.tds_base.ClosedConnectionError):
            cur = conn.cursor()
            cur.execute("SELECT id FROM dbo.customer_drop ORDER BY id")
            while (row := cur.fetchone()) is not None:
                got.append(row[0])
    finally:
        conn.close()
    assert got == list(range(1, 501))
    cur = td.cursor()
    cur.execute("SELECT COUNT(*) FROM dbo.customer_drop")
    assert cur.fetchall() == [(BIG_ROWS,)]


def test_refuse_logins_then_recover(faults, fresh_db):
    faults.inject_fault("refuse_logins", times=1)
    with pytest.raises(pymssql.exceptions.OperationalError) as mi:
        faults.connect_pymssql(database=fresh_db)
    assert mi.value.args[0][0] == 18456
    conn = faults.connect_pytds(database=fresh_db, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
    finally:
        conn.close()


def test_delay_fault_delays_matching_batch_only(faults, td):
    faults.inject_fault("delay", seconds=1, match="delay_marker", times=1)
    cur = td.cursor()
    t0 = time.monotonic()
    cur.execute("SELECT 1 AS delay_marker")
    assert cur.fetchall() == [(1,)]
    assert time.monotonic() - t0 >= 1.0  # the delay happened (a lower bound: never flaky)


def test_delay_fault_is_used_up_and_skips_other_batches(faults, fresh_db):
    """No upper bound on time: the fault is far longer than the client's generous timeout,
    so a batch it wrongly delayed fails with a timeout instead of merely being slow."""
    faults.inject_fault("delay", seconds=NEVER_S, match="delay_marker", times=1)
    conn = faults.connect_pytds(database=fresh_db, autocommit=True, timeout=GENEROUS_S)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 0 AS other")  # not matching: answered
        assert cur.fetchall() == [(0,)]
    finally:
        conn.close()
    conn = faults.connect_pytds(database=fresh_db, autocommit=True, timeout=WAIT_FOR_TIMEOUT_S)
    try:
        with pytest.raises(pytds.TimeoutError):  # matching: held until the client gives up
            conn.cursor().execute("SELECT 1 AS delay_marker")
    finally:
        conn.close()
    conn = faults.connect_pytds(database=fresh_db, autocommit=True, timeout=GENEROUS_S)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 2 AS delay_marker")  # @times = 1 used up: answered
        assert cur.fetchall() == [(2,)]
    finally:
        conn.close()


def test_error_fault_fails_matching_statements_with_the_given_error(faults, td, ms):
    faults.inject_fault("error", match="error_marker", number=281, times=2,
                        message="3 is not a valid style number when converting from float to a character string.")
    with pytest.raises(pymssql.exceptions.DatabaseError) as mi:
        ms.cursor().execute("SELECT 1 AS error_marker")
    assert mi.value.args[0] == 281 and b"not a valid style number" in mi.value.args[1]
    cur = td.cursor()
    with pytest.raises(pytds.OperationalError) as ti:
        cur.execute("SELECT 1 AS error_marker WHERE 1 = %s", (1,))  # an RPC (sp_executesql)
    assert ti.value.msg_no == 281
    cur.execute("SELECT 2 AS error_marker")  # used up after two
    assert cur.fetchall() == [(2,)]
    cur.execute("SELECT 3")
    assert cur.fetchall() == [(3,)]
