"""Bounded retries with exponential backoff and jitter, for transient failures only.

A replica refresh talks to two servers over the network; a login that times out, a
connection dropped in the middle of a transfer or a PostgreSQL backend that was restarted
are worth another try a few seconds later. A wrong password, a missing table, a type
that has no mapping or a replica whose layout changed are not: retrying those only delays
the failure, so they fail at once.

:func:`is_transient` decides by walking the exception's cause chain down to the driver
error (our own ``SourceError``/``TargetError`` wrap pymssql and psycopg2 errors with
``raise ... from``). :func:`call_with_retries` runs a callable under a
:class:`RetryPolicy` and reports how many attempts it took, which the IO manager stores
in the materialization metadata (``attempts``).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import pymssql

T = TypeVar("T")

ATTEMPTS_ENV = "REPLICA_RETRY_ATTEMPTS"
BASE_DELAY_ENV = "REPLICA_RETRY_BASE_DELAY_S"

# FreeTDS DB-Lib errors that mean the network or the server went away, not that the
# request was wrong: 20002 connection failed, 20003 timed out, 20004 read failed,
# 20006 write failed, 20009 unable to connect, 20017 unexpected EOF, 20047 DBPROCESS dead.
# SQL Server 1205 (deadlock victim) is transient by definition.
_MSSQL_TRANSIENT = re.compile(r"\b(2000[2346]|20009|20017|20047|1205)\b")
# "Login failed" travels with 20002: wrong credentials are configuration, not weather.
_MSSQL_PERMANENT = re.compile(r"Login failed", re.IGNORECASE)

# PostgreSQL SQLSTATEs worth a retry: class 08 (connection exception), 57P01-57P03
# (server shutting down / starting up), 53300 (too many connections), 40001/40P01
# (serialization failure, deadlock). 55P03 (lock_timeout) is *not* here: the refresh
# already waited `lock_timeout_s`, and the message tells the operator what to do.
_PG_TRANSIENT_CODES = {"57P01", "57P02", "57P03", "53300", "40001", "40P01"}
# The same by class (psycopg2 picks the class from the SQLSTATE, so this also covers
# errors whose pgcode attribute is empty).
_PG_TRANSIENT = tuple(psycopg2.errors.lookup(c) for c in sorted(_PG_TRANSIENT_CODES))
_PG_PERMANENT = (
    psycopg2.errors.LockNotAvailable,
    psycopg2.errors.InvalidPassword,
    psycopg2.errors.InvalidAuthorizationSpecification,
)


@dataclass(frozen=True)
class RetryPolicy:
    # 3 attempts: a blip (failover, restarted backend, dropped NAT entry) clears within
    # one or two tries; a longer outage should fail the run and alert instead of hiding.
    max_attempts: int = 3
    # 2 s doubling (2, 4, ... capped at 30) spreads the tries over a few seconds, long
    # enough for a server restart's listener to come back, short against a 3-hourly schedule.
    base_delay_s: float = 2.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays must be >= 0")

    def delays(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """The wait before attempt 2, 3, ...: exponential, capped, with 'equal jitter'.

        Half of each step is fixed and half random, so retries from parallel tables do
        not hit a recovering server at the same instant, yet every wait is at least half
        the nominal one.
        """
        for n in range(self.max_attempts - 1):
            step = min(self.max_delay_s, self.base_delay_s * (2**n))
            yield step / 2 + rng() * step / 2

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The default policy, overridable by ``REPLICA_RETRY_ATTEMPTS`` / ``..._BASE_DELAY_S``."""
        try:
            attempts = int(os.environ.get(ATTEMPTS_ENV) or cls.max_attempts)
            base = float(os.environ.get(BASE_DELAY_ENV) or cls.base_delay_s)
        except ValueError as e:
            raise ValueError(
                f"{ATTEMPTS_ENV} must be a whole number and {BASE_DELAY_ENV} a number of seconds"
            ) from e
        return cls(max_attempts=attempts, base_delay_s=base)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _mssql_text(e: pymssql.Error) -> str:
    parts = []
    for a in e.args:
        if isinstance(a, tuple):  # connect() wraps (code, message) in one more tuple
            parts.extend(a)
        else:
            parts.append(a)
    return " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts)


def is_transient(exc: BaseException) -> bool:
    """True when the failure is the network's or a server's state, not the request's."""
    for e in _chain(exc):
        if isinstance(e, (pymssql.OperationalError, pymssql.InterfaceError)):
            text = _mssql_text(e)
            if _MSSQL_PERMANENT.search(text):
                return False
            return bool(_MSSQL_TRANSIENT.search(text))
        if isinstance(e, pymssql.Error):
            return False  # programming / data / integrity errors
        if isinstance(e, psycopg2.Error):
            if isinstance(e, _PG_PERMANENT):
                return False
            if isinstance(e, _PG_TRANSIENT):
                return True
            code = e.pgcode
            if code is None:
                # No SQLSTATE: libpq itself failed -- could not connect, server closed the
                # connection, connection already closed. A password failure carries 28P01.
                return isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)) and \
                    "password authentication failed" not in str(e)
            return code.startswith("08") or code in _PG_TRANSIENT_CODES
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
    return False


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    log: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> tuple[T, int]:
    """Run ``fn`` until it succeeds, fails permanently or runs out of attempts.

    Returns ``(result, attempts)``. Only :func:`is_transient` failures are retried; the
    final failure is re-raised unchanged (with its cause chain), after a log line saying
    how many attempts were made. ``log`` is anything with ``warning``/``error`` methods
    (a ``logging.Logger`` or Dagster's ``context.log``).
    """
    delays = policy.delays(rng)
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(), attempt
        except Exception as e:
            if not is_transient(e):
                raise
            delay = next(delays, None)
            if delay is None:
                if log is not None and attempt > 1:
                    log.error(f"{what}: giving up after {attempt} attempts: {_first_line(e)}")
                raise
            if log is not None:
                log.warning(
                    f"{what}: transient failure on attempt {attempt}/{policy.max_attempts} "
                    f"({_first_line(e)}); retrying in {delay:.1f}s"
                )
            sleep(delay)


# Retry log lines stay one readable line even for multi-line driver messages.
_MAX_REASON_CHARS = 400


def _first_line(e: BaseException) -> str:
    """The error on one line, plus its root cause when that says more (the driver's text)."""

    def one_line(x: BaseException) -> str:
        return " ".join(str(x).split()) or type(x).__name__

    text = one_line(e)
    root = list(_chain(e))[-1]
    if root is not e and one_line(root) not in text:
        text += f" <- {one_line(root)}"
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"
