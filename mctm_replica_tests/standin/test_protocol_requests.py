"""Request handling over TDS: batches, DONE counts, errors, attention, RPC and transactions.

Uses the scripted engine (conftest.FakeEngine) so each protocol rule is tested
on its own; end-to-end runs against the DuckDB engine live in test_protocol_e2e.
"""

from __future__ import annotations

import threading
import time

import pymssql
import pytds
import pytest

# Generous deadline for something that must happen (never a bound on how fast it happens).
GENEROUS_S = 60


@pytest.fixture
def pytds_conn(fake_standin):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def pymssql_conn(fake_standin):
    conn = fake_standin.connect_pymssql(database="fakedb", login_timeout=10, timeout=30)
    yield conn
    conn.close()


def _spid(cur) -> int:
    cur.execute("select @@spid")
    return cur.fetchall()[0][0]


def test_several_result_sets_in_one_batch_pytds(pytds_conn):
    cur = pytds_conn.cursor()
    cur.execute("RANGE 3; RANGE 2")
    assert cur.fetchall() == [(0,), (1,), (2,)]
    assert cur.nextset() is True
    assert cur.fetchall() == [(0,), (1,)]
    assert cur.nextset() is False


def test_several_result_sets_in_one_batch_pymssql(pymssql_conn):
    cur = pymssql_conn.cursor()
    cur.execute("RANGE 3; RANGE 2")
    assert cur.fetchall() == [(0,), (1,), (2,)]
    assert cur.nextset() == 1
    assert cur.fetchall() == [(0,), (1,)]
    assert cur.nextset() is None


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_done_count_is_rowcount(request, client):
    conn = request.getfixturevalue(f"{client}_conn")
    cur = conn.cursor()
    cur.execute("COUNT 7")
    assert cur.rowcount == 7
    cur.execute("COUNT 0")
    assert cur.rowcount == 0


def test_error_then_connection_usable_pytds(pytds_conn):
    cur = pytds_conn.cursor()
    with pytest.raises(pytds.ProgrammingError) as ei:
        cur.execute("ERROR 208")
    assert ei.value.msg_no == 208
    assert ei.value.args[0] == "scripted error 208"
    assert _spid(cur) >= 51


def test_error_then_connection_usable_pymssql(pymssql_conn):
    cur = pymssql_conn.cursor()
    with pytest.raises(pymssql.ProgrammingError) as ei:
        cur.execute("ERROR 208")
    assert ei.value.args[0] == 208
    assert ei.value.args[1].startswith(b"scripted error 208")
    assert _spid(cur) >= 51


def test_statements_before_an_error_are_answered(pytds_conn):
    cur = pytds_conn.cursor()
    cur.execute("RANGE 2; ERROR 2627")
    assert cur.fetchall() == [(0,), (1,)]
    with pytest.raises(pytds.IntegrityError) as ei:
        cur.nextset()
    assert ei.value.msg_no == 2627
    assert _spid(cur) >= 51


@pytest.mark.parametrize("rpc", [False, True])
def test_error_raised_by_execute_itself(pytds_conn, rpc):
    cur = pytds_conn.cursor()
    with pytest.raises(pytds.ProgrammingError) as ei:
        cur.execute("EAGER %s", (1,)) if rpc else cur.execute("EAGER")
    assert ei.value.msg_no == 102
    assert _spid(cur) >= 51


def test_error_mid_stream_pytds(pytds_conn):
    cur = pytds_conn.cursor()
    cur.execute("FAILAFTER 3")
    rows = []
    with pytest.raises(pytds.OperationalError) as ei:
        while (row := cur.fetchone()) is not None:
            rows.append(row)
    assert rows == [(0,), (1,), (2,)]
    assert ei.value.msg_no == 245
    assert _spid(cur) >= 51


def test_error_mid_stream_pymssql(pymssql_conn):
    cur = pymssql_conn.cursor()
    with pytest.raises(pymssql.OperationalError) as ei:
        cur.execute("FAILAFTER 3")
        cur.fetchall()
    assert ei.value.args[0] == 245
    assert _spid(cur) >= 51


def test_engine_bug_mid_stream_is_an_error_not_a_dropped_connection(pytds_conn):
    cur = pytds_conn.cursor()
    cur.execute("BUGAFTER 2")
    with pytest.raises(pytds.OperationalError) as ei:
        cur.fetchall()
    assert ei.value.msg_no == 50000
    assert ei.value.args[0] == "The SQL Server stand-in failed internally: RuntimeError('engine bug')"
    assert _spid(cur) >= 51


def test_cancel_mid_stream_pytds(pytds_conn, fake_engine):
    closed_before = fake_engine.closed_iterators
    cur = pytds_conn.cursor()
    cur.execute("RANGE 100000000")
    assert cur.fetchone() == (0,)
    cur.cancel()  # returns without reading the 100,000,000 rows: the iterator is closed
    assert _spid(cur) >= 51
    assert fake_engine.closed_iterators == closed_before + 1


def test_cancel_mid_stream_pymssql(pymssql_conn, fake_engine):
    closed_before = fake_engine.closed_iterators
    cur = pymssql_conn.cursor()
    cur.execute("RANGE 100000000")
    assert cur.fetchone() == (0,)
    pymssql_conn._conn.cancel()  # returns without reading the rest: the iterator is closed
    assert _spid(cur) >= 51
    assert fake_engine.closed_iterators == closed_before + 1



def test_pymssql_connect_does_not_hang(fake_standin):
    # A hang would surface as the client's own timeout error, not as a slow pass.
    conn = fake_standin.connect_pymssql(database="fakedb", login_timeout=GENEROUS_S, timeout=GENEROUS_S)
    try:
        assert _spid(conn.cursor()) >= 51
    finally:
        conn.close()


def test_use_database_changes_context(pytds_conn, fake_engine):
    cur = pytds_conn.cursor()
    spid = _spid(cur)
    cur.execute("USE master")
    assert [m[1].msg_no for m in cur.messages] == [5701]
    assert cur.messages[0][1].args[0] == "Changed database context to 'master'."
    assert fake_engine.sessions[spid].database == "master"


def test_batch_transactions_send_envchange(pytds_conn):
    tds = pytds_conn._tds_socket.main_session._tds
    cur = pytds_conn.cursor()
    assert tds.tds72_transaction == 0
    cur.execute("BEGIN TRAN")
    first = tds.tds72_transaction
    assert first != 0
    cur.execute("COMMIT")
    assert tds.tds72_transaction == 0
    cur.execute("BEGIN TRAN")
    assert tds.tds72_transaction not in (0, first)
    cur.execute("ROLLBACK")
    assert tds.tds72_transaction == 0


def test_error_that_ends_the_transaction_sends_rollback_envchange(pytds_conn):
    tds = pytds_conn._tds_socket.main_session._tds
    cur = pytds_conn.cursor()
    cur.execute("BEGIN TRAN")
    assert tds.tds72_transaction != 0
    with pytest.raises(pytds.IntegrityError):
        cur.execute("XABORT")
    assert tds.tds72_transaction == 0


def test_transaction_manager_requests(fake_standin, fake_engine):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=False)
    try:
        cur = conn.cursor()
        spid = _spid(cur)  # pytds sends TM_BEGIN_XACT before the first query
        session = fake_engine.sessions[spid]
        assert session.trancount == 1
        conn.commit()  # TM_COMMIT_XACT with "begin new": a new transaction at once
        assert session.trancount == 1
        conn.rollback()
        assert session.trancount == 1
        conn.autocommit = True  # TM_ROLLBACK_XACT without a new transaction
        assert session.trancount == 0
        assert _spid(cur) == spid
    finally:
        conn.close()


def test_unknown_procedure_is_2812(pytds_conn):
    cur = pytds_conn.cursor()
    with pytest.raises(pytds.ProgrammingError) as ei:
        cur.callproc("no_such_proc", ())
    assert ei.value.msg_no == 2812
    assert ei.value.args[0] == "Could not find stored procedure 'no_such_proc'."
    assert _spid(cur) >= 51


def test_other_system_procedures_are_refused_clearly(pytds_conn):
    cur = pytds_conn.cursor()
    with pytest.raises(pytds.OperationalError) as ei:
        cur.callproc("sp_cursoropen", ())
    assert ei.value.msg_no == 50000
    assert ei.value.args[0] == "The SQL Server stand-in does not support the system procedure sp_cursoropen."
    assert _spid(cur) >= 51


def test_rpc_errors_are_reported(pytds_conn):
    cur = pytds_conn.cursor()
    with pytest.raises(pytds.ProgrammingError) as ei:
        cur.execute("ERROR %s", (208,))
    assert ei.value.msg_no == 208
    cur.execute("RANGE %s", (2,))  # scripted engine ignores the parameter value
    assert _spid(cur) >= 51


def test_engine_session_closed_with_connection(fake_standin, fake_engine):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
    spid = _spid(conn.cursor())
    conn.close()
    deadline = time.monotonic() + GENEROUS_S
    while not fake_engine.sessions[spid].closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_engine.sessions[spid].closed


def test_output_parameters_come_back(pytds_conn):
    cur = pytds_conn.cursor()
    out = cur.callproc("sp_executesql", ("ECHO @P1", "@P1 int OUTPUT", pytds.output(value=7, param_type=int)))
    assert out[2] == 7  # RETURNVALUE, ordinal 2 of the call, typed as declared
    assert _spid(cur) >= 51


def test_concurrent_connections_stream_independently(fake_standin):
    import threading

    results: dict[int, int] = {}

    def work(k: int) -> None:
        conn = fake_standin.connect_pytds(database="fakedb", autocommit=True)
        cur = conn.cursor()
        cur.execute(f"RANGE {20000 + k}")
        results[k] = sum(1 for _ in cur.fetchall())
        conn.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {k: 20000 + k for k in range(4)}


def test_stop_with_open_connections_is_prompt(new_fake_standin):
    s = new_fake_standin().start()
    conn = s.connect_pytds(database="fakedb", autocommit=True)
    assert _spid(conn.cursor()) >= 51
    stopper = threading.Thread(target=s.stop, daemon=True)
    stopper.start()
    stopper.join(GENEROUS_S)  # a stop that waited for the open connection would never end
    assert not stopper.is_alive(), "stop() is waiting for the client to disconnect"
    with pytest.raises((pytds.Error, OSError)):
        conn.cursor().execute("select @@spid")


def test_pytds_with_32767_byte_packets(fake_standin):
    conn = fake_standin.connect_pytds(database="fakedb", autocommit=True, blocksize=32767)
    try:
        cur = conn.cursor()
        cur.execute("RANGE 50000")
        assert [r[0] for r in cur.fetchall()] == list(range(50000))
    finally:
        conn.close()


def test_client_closing_mid_stream_releases_engine_rows(fake_standin, fake_engine):
    closed_before = fake_engine.closed_iterators
    conn = fake_standin.connect_pymssql(database="fakedb")
    cur = conn.cursor()
    cur.execute("RANGE 100000000")
    assert cur.fetchone() == (0,)
    conn.close()
    deadline = time.monotonic() + GENEROUS_S
    while fake_engine.closed_iterators == closed_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_engine.closed_iterators == closed_before + 1
