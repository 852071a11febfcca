"""Retry policy and transient-error classification (pure logic).

The driver errors are built with the exact arguments pymssql and psycopg2 produced
against the stand-in and the embedded PostgreSQL (captured once, written out here).
"""

from __future__ import annotations

import psycopg2
import pymssql
import pytest

from mctm_replica.resources.mssql import SourceError
from mctm_replica.resources.postgres import TargetError
from mctm_replica.retry import RetryPolicy, call_with_retries, is_transient

DROPPED = pymssql.OperationalError(20017, b"DB-Lib error message 20017, severity 9:\nUnexpected EOF from the server\n")
TIMED_OUT = pymssql.OperationalError(
    20047, b"DB-Lib error message 20003, severity 6:\nTDS server connection timed out\n"
    b"DB-Lib error message 20047, severity 9:\nDBPROCESS is dead or not enabled\n")
REFUSED = pymssql.OperationalError((18456, b"DB-Lib error message 20009, severity 9:\nUnable to connect: "
                                    b"TDS server is unavailable or does not exist (127.0.0.1)\n"),)
BAD_PASSWORD = pymssql.OperationalError((18456, b"Login failed for user 'sa'.DB-Lib error message 20018, "
                                         b"severity 14:\nDB-Lib error message 20002, severity 9:\n"
                                         b"TDS server connection failed (127.0.0.1)\n"),)
NO_TABLE = pymssql.ProgrammingError(208, b"Invalid object name 'nope'.")


def wrapped(cause: BaseException, outer: type[Exception] = SourceError) -> Exception:
    try:
        try:
            raise cause
        except BaseException as e:
            raise outer("reading `dbo.t` failed") from e
    except Exception as outer_e:
        return outer_e


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (DROPPED, True),
        (TIMED_OUT, True),
        (REFUSED, True),
        (BAD_PASSWORD, False),
        (NO_TABLE, False),
        (psycopg2.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg2.InterfaceError("connection already closed"), True),
        (psycopg2.OperationalError('password authentication failed for user "x"'), False),
        (ValueError("bad data"), False),
        (ConnectionResetError(), True),
    ],
)
def test_classification_follows_the_cause_chain(error, transient):
    assert is_transient(error) is transient
    assert is_transient(wrapped(error)) is transient
    assert is_transient(wrapped(error, TargetError)) is transient


def test_postgres_sqlstates():
    admin_shutdown = psycopg2.errors.lookup("57P01")("terminating connection due to administrator command")
    lock_timeout = psycopg2.errors.lookup("55P03")("canceling statement due to lock timeout")
    undefined = psycopg2.errors.lookup("42P01")("relation does not exist")
    assert is_transient(admin_shutdown) is True  # server restarted under us
    assert is_transient(lock_timeout) is False  # the swap already waited lock_timeout_s
    assert is_transient(undefined) is False


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(max_attempts=6, base_delay_s=2.0, max_delay_s=10.0)
    assert list(policy.delays(rng=lambda: 0.0)) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert list(policy.delays(rng=lambda: 1.0)) == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_transient_failures_are_retried_and_attempts_reported():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise wrapped(DROPPED)
        return "ok"

    result = call_with_retries(flaky, what="t", policy=RetryPolicy(max_attempts=3, base_delay_s=1.0),
                               sleep=sleeps.append, rng=lambda: 0.5)
    assert result == ("ok", 3)
    assert sleeps == [0.75, 1.5]


def test_permanent_failure_is_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise wrapped(NO_TABLE)

    with pytest.raises(SourceError) as info:
        call_with_retries(broken, what="t", policy=RetryPolicy(), sleep=lambda s: None)
    assert len(calls) == 1
    assert info.value.__cause__ is NO_TABLE


def test_attempts_are_bounded_and_the_last_error_is_raised():
    calls = []

    def down():
        calls.append(1)
        raise wrapped(DROPPED)

    with pytest.raises(SourceError):
        call_with_retries(down, what="t", policy=RetryPolicy(max_attempts=4, base_delay_s=0), sleep=lambda s: None)
    assert len(calls) == 4


def test_policy_from_environment(monkeypatch):
    monkeypatch.setenv("REPLICA_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("REPLICA_RETRY_BASE_DELAY_S", "0.25")
    assert RetryPolicy.from_env() == RetryPolicy(max_attempts=5, base_delay_s=0.25)
    monkeypatch.setenv("REPLICA_RETRY_ATTEMPTS", "many")
    with pytest.raises(ValueError, match="REPLICA_RETRY_ATTEMPTS"):
        RetryPolicy.from_env()
    monkeypatch.setenv("REPLICA_RETRY_ATTEMPTS", "0")
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy.from_env()
