"""Login over TDS with both real clients: success, failures, defaults, encryption."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import time

import pymssql
import pytds
import pytest

from mctm_replica.standin import StandIn

# Generous deadline for something that must happen (never a bound on how fast it happens).
GENEROUS_S = 60


def _spid(conn) -> int:
    cur = conn.cursor()
    cur.execute("select @@spid")
    return cur.fetchall()[0][0]


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_login_ok_and_database_from_login(fake_standin, fake_engine, client):
    conn = getattr(fake_standin, f"connect_{client}")(database="fakedb")
    try:
        assert fake_engine.sessions[_spid(conn)].database == "fakedb"
    finally:
        conn.close()


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_empty_database_defaults_to_master(fake_standin, fake_engine, client):
    conn = getattr(fake_standin, f"connect_{client}")(database="")
    try:
        assert fake_engine.sessions[_spid(conn)].database == "master"
    finally:
        conn.close()


def test_wrong_password_pytds(fake_standin):
    with pytest.raises(pytds.OperationalError) as ei:
        pytds.connect(server=fake_standin.host, port=fake_standin.port, user="sa", password="nope", database="fakedb")
    assert ei.value.msg_no == 18456
    assert ei.value.args[0] == "Login failed for user 'sa'."


# pymssql keeps the severity of a failed login's message in a module global that
# its clr_err() never resets (a Cython local shadows it), so in a process that
# already saw a failed login the next one loses its message text.  The text is
# checked in a fresh interpreter, where this is the first failure.
_WRONG_USER_SCRIPT = """
import sys, pymssql
try:
    pymssql.connect(server=sys.argv[1], port=sys.argv[2], user="bob", password=sys.argv[3],
                    database="fakedb", tds_version="7.4", login_timeout=5)
except pymssql.OperationalError as e:
    print(repr(e.args[0]))
"""


def test_wrong_user_pymssql(fake_standin):
    with pytest.raises(pymssql.OperationalError) as ei:
        pymssql.connect(
            server=fake_standin.host, port=fake_standin.port, user="bob", password=fake_standin.password,
            database="fakedb", tds_version="7.4", login_timeout=5,
        )
    assert ei.value.args[0][0] == 18456
    out = subprocess.run(
        [sys.executable, "-c", _WRONG_USER_SCRIPT, fake_standin.host, str(fake_standin.port),
         fake_standin.password],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    number, text = ast.literal_eval(out.strip())
    assert number == 18456
    assert b"Login failed for user 'bob'." in text


def test_unknown_database_pytds(fake_standin):
    with pytest.raises(pytds.OperationalError) as ei:
        fake_standin.connect_pytds(database="nope")
    # python-tds raises with the last number and joins both messages, as with SQL Server.
    assert ei.value.msg_no == 18456
    assert ei.value.args[0] == (
        'Cannot open database "nope" requested by the login. The login failed. Login failed for user \'sa\'.'
    )


def test_unknown_database_pymssql(fake_standin):
    with pytest.raises(pymssql.OperationalError) as ei:
        fake_standin.connect_pymssql(database="nope", login_timeout=5)
    assert ei.value.args[0][0] == 18456


def test_encryption_required_by_client_fails_fast_and_is_logged(fake_engine, caplog):
    """With --encryption off (no certificate) the stand-in answers NOT_SUP, as SQL Server without TLS."""
    caplog.set_level(logging.WARNING, logger="mctm_replica.standin")
    with StandIn(port=0, engine=fake_engine, encryption="off") as s, \
            pytest.raises(pymssql.OperationalError) as ei:
        s.connect_pymssql(database="fakedb", encryption="require", login_timeout=GENEROUS_S)
    assert "timed out" not in str(ei.value).lower()  # refused by the server, not left to time out
    deadline = time.monotonic() + GENEROUS_S
    while "asked for TLS encryption" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "asked for TLS encryption" in caplog.text


@pytest.mark.parametrize("client", ["pytds", "pymssql"])
def test_refuse_logins_fault(fake_standin, client):
    fake_standin.inject_fault("refuse_logins", times=1)
    error = pytds.OperationalError if client == "pytds" else pymssql.OperationalError
    with pytest.raises(error):
        getattr(fake_standin, f"connect_{client}")(database="fakedb")
    conn = getattr(fake_standin, f"connect_{client}")(database="fakedb")  # used up: next login works
    assert _spid(conn) >= 51
    conn.close()
