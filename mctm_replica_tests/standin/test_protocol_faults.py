"""Fault injection over SQL: drop_after_rows, delay, refuse_logins, clearing."""

from __future__ import annotations

import time

import pymssql
import pytds
import pytest

# drop_after_rows must cut long before this many rows were streamed.
BIG = 200_000
# A delay no test waits out, a client timeout that ends it, and a generous client timeout
# for batches that must not be delayed (they fail with a timeout if they are).
NEVER_S = 3600
WAIT_FOR_TIMEOUT_S = 2
GENEROUS_S = 60


@pytest.fixture(autouse=True)
def _clear(fake_standin):
    fake_standin.clear_faults()
    yield
    fake_standin.clear_faults()


def _spid(conn) -> int:
    cur = conn.cursor()
    cur.execute("select @@spid")
    return cur.fetchall()[0][0]


def test_drop_after_rows_pytds(fake_standin):
    fake_standin.inject_fault("drop_after_rows", rows=1500, match="range", times=1)
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    cur = conn.cursor()
    cur.execute("select @@spid")  # does not match: unaffected
    assert cur.fetchall()[0][0] >= 51
    cur.execute(f"RANGE {BIG}")
    got = []
    with pytest.raises((pytds.Error, OSError)):
        while (row := cur.fetchone()) is not None:
            got.append(row[0])
    assert got == list(range(1500))
    conn2 = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    cur2 = conn2.cursor()
    cur2.execute(f"RANGE {BIG}")  # times=1: used up
    assert len(cur2.fetchall()) == BIG
    conn2.close()


def test_drop_after_rows_pymssql(fake_standin):
    fake_standin.inject_fault("drop_after_rows", rows=10, match="", times=1)
    conn = fake_standin.connect_pymssql(database="fakedb", login_timeout=5, timeout=10)
    cur = conn.cursor()
    with pytest.raises(pymssql.OperationalError):
        cur.execute(f"RANGE {BIG}")
        cur.fetchall()
    conn2 = fake_standin.connect_pymssql(database="fakedb")
    assert _spid(conn2) >= 51
    conn2.close()


def test_drop_fault_waits_for_a_long_enough_result(fake_standin):
    fake_standin.inject_fault("drop_after_rows", rows=100, times=1)
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    cur = conn.cursor()
    cur.execute("RANGE 50")  # shorter than @rows: passes, fault stays armed
    assert len(cur.fetchall()) == 50
    with pytest.raises((pytds.Error, OSError)):
        cur.execute("RANGE 5000")
        cur.fetchall()


def test_delay_fault(fake_standin):
    fake_standin.inject_fault("delay", seconds=0.6, match="range 7", times=1)
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    try:
        cur = conn.cursor()
        start = time.monotonic()
        cur.execute("RANGE 7")
        assert len(cur.fetchall()) == 7
        assert time.monotonic() - start >= 0.6  # a lower bound: the delay happened
    finally:
        conn.close()


def test_delay_fault_skips_other_batches_and_is_used_up(fake_standin):
    """No upper bound on time: the delay is far longer than a generous client timeout, so
    a batch it wrongly delayed fails with a timeout instead of merely being slow."""
    fake_standin.inject_fault("delay", seconds=NEVER_S, match="range 7", times=1)
    for sql, timeout, delayed in (("RANGE 3", GENEROUS_S, False), ("RANGE 7", WAIT_FOR_TIMEOUT_S, True),
                                  ("RANGE 7", GENEROUS_S, False)):  # the last: @times = 1 used up
        conn = fake_standin.connect_pytds(database="fakedb", autocommit=True, timeout=timeout)
        try:
            cur = conn.cursor()
            if delayed:
                with pytest.raises(pytds.TimeoutError):
                    cur.execute(sql)
            else:
                cur.execute(sql)
                assert len(cur.fetchall()) == int(sql.split()[1])
        finally:
            conn.close()


def test_delay_is_interrupted_by_client_timeout(fake_standin):
    fake_standin.inject_fault("delay", seconds=30, times=0)
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True, timeout=1)
    try:
        with pytest.raises(pytds.TimeoutError):  # not the fault's 30 s: the attention ends it
            conn.cursor().execute("RANGE 3")
    finally:
        conn.close()


def test_clear_faults(fake_standin):
    fake_standin.inject_fault("delay", seconds=NEVER_S, match="range", times=0)
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True, timeout=WAIT_FOR_TIMEOUT_S)
    try:
        with pytest.raises(pytds.TimeoutError):  # armed: held until the client gives up
            conn.cursor().execute("RANGE 1")
    finally:
        conn.close()
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True, timeout=GENEROUS_S)
    try:
        cur = conn.cursor()
        cur.execute("EXEC sp_standin_clear_faults")
        cur.execute("RANGE 1")  # cleared: answered (a delay would time out)
        assert cur.fetchall() == [(0,)]
    finally:
        conn.close()


def test_unlimited_login_refusal_can_still_be_cleared(fake_standin):
    fake_standin.inject_fault("refuse_logins", times=0)
    for _ in range(2):
        with pytest.raises(pytds.OperationalError) as ei:
            fake_standin.connect_pytds(database="fakedb")
        assert ei.value.msg_no == 18456
    fake_standin.clear_faults()  # its own connection is exempt from the refusal
    conn = fake_standin.connect_pytds(database="fakedb")
    assert _spid(conn) >= 51
    conn.close()


def test_unknown_fault_kind_is_an_error(fake_standin):
    with pytest.raises(pytds.OperationalError) as ei:
        fake_standin.inject_fault("explode")
    assert ei.value.msg_no == 50000
