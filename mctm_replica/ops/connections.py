"""``mctm-replica check-connections``: can we reach and log in to every database?

Every configured source and the target are probed in parallel, each in three steps so a
failure has its own plain message instead of a driver's stack trace: resolve the host
name, open a TCP connection to the port, then log in with the configured credentials and
time a round trip. The settings come from the same environment variables the Dagster
definitions read; passwords never appear in the output.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import psycopg2
import pymssql

from mctm_replica.config import ReplicaConfig
from mctm_replica.connection_settings import SourceConnection
from mctm_replica.resources.freetds import connect_kwargs
from mctm_replica.resources.postgres import UnicodeTargetError, pg_connect
from mctm_replica.resources.prelogin import encryption_hint
from mctm_replica.tsql.catalog import VERSION_SQL

# A probe that cannot connect within this many seconds reports a timeout, not a hang.
TIMEOUT_S = 10


@dataclass
class Endpoint:
    name: str  # source name, or "target"
    kind: str  # "SQL Server" or "PostgreSQL"
    env_prefix: str
    host: str | None
    port: int
    database: str | None
    user: str | None
    password: str | None  # never printed
    default_port: int
    sslmode: str = "prefer"
    connection: SourceConnection = field(default_factory=SourceConnection)  # SQL Server TLS

    @property
    def where(self) -> str:
        return f"{self.host or '-'}:{self.port}/{self.database or '-'}"


@dataclass
class Probe:
    name: str
    kind: str
    where: str
    ok: bool
    message: str  # server version when ok, the plain reason otherwise
    login_ms: float | None = None
    round_trip_ms: float | None = None

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        timing = (
            f"  login {self.login_ms:.0f} ms, round trip {self.round_trip_ms:.1f} ms"
            if self.ok and self.login_ms is not None else ""
        )
        return f"{status} {self.name:<10} {self.kind:<10} {self.where:<36} {self.message}{timing}"


def endpoints(config: ReplicaConfig, env: dict[str, str] | None = None) -> list[Endpoint]:
    env = dict(os.environ if env is None else env)

    def read(prefix: str, kind: str, name: str, default_port: int) -> Endpoint:
        port = env.get(f"{prefix}_PORT") or str(default_port)
        return Endpoint(
            name, kind, prefix, env.get(f"{prefix}_HOST"), int(port) if port.isdigit() else -1,
            env.get(f"{prefix}_DB"), env.get(f"{prefix}_USER"), env.get(f"{prefix}_PASSWORD"),
            default_port,
        )

    sources = []
    for s in config.sources.values():
        sources.append(read(s.env_prefix, "SQL Server", s.name, 1433))
        sources[-1].connection = s.connection
    target = read("PG", "PostgreSQL", "target", 5432)
    target.sslmode = env.get("PG_SSLMODE") or "prefer"
    return [*sources, target]


def probe(ep: Endpoint) -> Probe:
    def fail(message: str) -> Probe:
        return Probe(ep.name, ep.kind, ep.where, False, message)

    missing = [f"{ep.env_prefix}_{k}" for k, v in
               (("HOST", ep.host), ("DB", ep.database), ("USER", ep.user), ("PASSWORD", ep.password))
               if not v]
    if missing:
        return fail(f"not configured: set {', '.join(missing)}")
    if ep.port <= 0:
        return fail(f"{ep.env_prefix}_PORT is not a port number")
    try:
        socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return fail(f"unknown host `{ep.host}`: check {ep.env_prefix}_HOST")
    try:
        socket.create_connection((ep.host, ep.port), timeout=TIMEOUT_S).close()
    except ConnectionRefusedError:
        return fail(f"connection refused on port {ep.port}: is the server running? "
                    f"check {ep.env_prefix}_PORT")
    except OSError as e:
        return fail(f"cannot reach {ep.host}:{ep.port} ({e.strerror or type(e).__name__})")
    login = _login_mssql if ep.kind == "SQL Server" else _login_postgres
    return login(ep, fail)


def mssql_connect(ep: Endpoint, database: str):
    return pymssql.connect(**connect_kwargs(ep.connection, host=ep.host, port=ep.port),
                           user=ep.user, password=ep.password, database=database,
                           login_timeout=TIMEOUT_S, timeout=TIMEOUT_S,
                           appname="mctm_replica check-connections")


def mssql_error_number(e: pymssql.Error) -> int | None:
    # pymssql nests it: e.args == ((18456, b"Login failed ..."),) for a failed login.
    first = e.args[0] if e.args else None
    if isinstance(first, tuple) and first:
        first = first[0]
    return first if isinstance(first, int) else None


def _login_mssql(ep: Endpoint, fail: Callable[[str], Probe]) -> Probe:
    started = time.perf_counter()
    try:
        conn = mssql_connect(ep, ep.database)
    except pymssql.Error as e:
        number = mssql_error_number(e)
        if number != 18456:
            hint = encryption_hint(ep.connection, source=ep.name, host=ep.host, port=ep.port,
                                   timeout_s=TIMEOUT_S)
            return fail(f"login failed (SQL Server error {number}): "
                        + (hint or f"check {ep.env_prefix}_* settings"))
        # pymssql reports only the most severe error, so an unknown database (4060) also
        # arrives as 18456: if the same login works on master, the database is the problem.
        try:
            mssql_connect(ep, "master").close()
        except pymssql.Error:
            return fail(f"login failed for user `{ep.user}`: check {ep.env_prefix}_USER and "
                        f"{ep.env_prefix}_PASSWORD")
        return fail(f"database `{ep.database}` cannot be opened by `{ep.user}`: "
                    f"check {ep.env_prefix}_DB")
    login_ms = (time.perf_counter() - started) * 1000
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchall()
            rtt_ms = (time.perf_counter() - started) * 1000
            cur.execute(VERSION_SQL)
            version = f"SQL Server {cur.fetchone()[0]}"
    finally:
        conn.close()
    return Probe(ep.name, ep.kind, ep.where, True, version, login_ms, rtt_ms)


def _login_postgres(ep: Endpoint, fail: Callable[[str], Probe]) -> Probe:
    started = time.perf_counter()
    try:
        conn = pg_connect(host=ep.host, port=ep.port, dbname=ep.database, user=ep.user,
                          password=ep.password, connect_timeout=TIMEOUT_S, sslmode=ep.sslmode,
                          application_name="mctm_replica check-connections")
    except UnicodeTargetError as e:
        return fail(str(e))
    except psycopg2.OperationalError as e:
        text = str(e)
        if "password authentication failed" in text:
            return fail(f"login failed for user `{ep.user}`: check PG_USER and PG_PASSWORD")
        if "does not exist" in text and "database" in text:
            return fail(f"database `{ep.database}` does not exist: check PG_DB")
        return fail(f"login failed: {text.strip().splitlines()[0]}")
    login_ms = (time.perf_counter() - started) * 1000
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute("SELECT 1")
            rtt_ms = (time.perf_counter() - started) * 1000
            cur.execute("SHOW server_version")
            version = f"PostgreSQL {cur.fetchone()[0]}"
    finally:
        conn.close()
    return Probe(ep.name, ep.kind, ep.where, True, version, login_ms, rtt_ms)


def check_connections(config: ReplicaConfig, env: dict[str, str] | None = None) -> list[Probe]:
    eps = endpoints(config, env)
    with ThreadPoolExecutor(max_workers=len(eps)) as pool:
        return list(pool.map(probe, eps))


def as_dicts(probes: list[Probe]) -> list[dict]:
    return [asdict(p) for p in probes]
