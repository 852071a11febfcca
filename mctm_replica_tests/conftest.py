"""Shared fixtures: a real PostgreSQL and the SQL Server stand-in, per test worker.

Both servers start once per pytest worker (a second or two each). Every test gets its
own PostgreSQL schema and its own stand-in database with unique names, and drops them
afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from mctm_replica.io_managers.state import STATE_SCHEMA, STATE_TABLE, state_table_exists
from mctm_replica.local.postgres import LocalPostgres
from mctm_replica.standin import StandIn
from mctm_replica_tests.integration.source_helpers import tsql

REPLICA_DB = "replica"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    with LocalPostgres(password="pg-test-secret-4711") as pg:
        pg.create_database(REPLICA_DB)
        yield pg


@pytest.fixture
def pg_conn(pg_server: LocalPostgres):
    conn = psycopg2.connect(pg_server.dsn(REPLICA_DB))
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def pg_schema(pg_conn) -> Iterator[str]:
    """A unique, empty PostgreSQL schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with pg_conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        # Incremental tables leave their watermark in the shared state table.
        if state_table_exists(cur):
            cur.execute(sql.SQL("DELETE FROM {}.{} WHERE target_table LIKE %s").format(
                sql.Identifier(STATE_SCHEMA), sql.Identifier(STATE_TABLE)), (f"{name}.%",))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def mssql_server() -> Iterator[StandIn]:
    """The SQL Server stand-in as its own process, reached over TCP like production."""
    with StandIn(mode="subprocess", password="mssql-test-secret-0815") as server:
        yield server


@pytest.fixture
def source_db(mssql_server: StandIn) -> Iterator[str]:
    """A unique, empty stand-in database for one test, dropped afterwards."""
    name = unique_name("src")
    tsql(mssql_server, "master", f"CREATE DATABASE [{name}]")
    yield name
    tsql(mssql_server, "master", f"DROP DATABASE [{name}]")
