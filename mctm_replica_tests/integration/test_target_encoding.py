"""Every PostgreSQL connection speaks UTF8; a replica database that cannot hold Unicode is
refused at the first connection, naming it and its encoding (real PostgreSQL)."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from psycopg2 import sql

from mctm_replica.config import load_config
from mctm_replica.definitions import postgres_resource
from mctm_replica.ops.connections import check_connections
from mctm_replica.resources.postgres import UnicodeTargetError


@pytest.fixture
def scratch_db(pg_server):
    """A database of this test's own, dropped afterwards."""
    name = f"enc_{uuid.uuid4().hex[:10]}"
    made = []

    def admin(statement: sql.Composable, params: tuple = ()) -> None:
        conn = psycopg2.connect(pg_server.dsn())
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def create(encoding: str) -> str:
        admin(sql.SQL("CREATE DATABASE {} ENCODING %s TEMPLATE template0 LC_COLLATE 'C' "
                      "LC_CTYPE 'C'").format(sql.Identifier(name)), (encoding,))
        made.append(name)
        return name

    yield create
    for db in made:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def test_client_encoding_is_utf8_even_where_the_database_defaults_otherwise(
        monkeypatch, pg_server, scratch_db):
    db = scratch_db("UTF8")
    plain = psycopg2.connect(pg_server.dsn(db))
    try:
        with plain.cursor() as cur:  # what a DBA's default would impose on every new session
            cur.execute(sql.SQL("ALTER DATABASE {} SET client_encoding TO 'LATIN1'").format(
                sql.Identifier(db)))
        plain.commit()
    finally:
        plain.close()
    plain = psycopg2.connect(pg_server.dsn(db))
    try:
        with plain.cursor() as cur:
            cur.execute("SHOW client_encoding")
            assert cur.fetchone()[0] == "LATIN1"  # the default really is in force
    finally:
        plain.close()
    for k, v in pg_server.env(db).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PG_SSLMODE", "disable")
    with postgres_resource().process_config_and_initialize().get_connection() as conn, conn.cursor() as cur:
        cur.execute("SHOW client_encoding")
        assert cur.fetchone()[0] == "UTF8"
        cur.execute("SELECT %s::text", ("ｶﾀｶﾅ 日本語 𠮷",))
        assert cur.fetchone()[0] == "ｶﾀｶﾅ 日本語 𠮷"


def test_a_non_unicode_database_is_refused_naming_it(monkeypatch, pg_server, scratch_db):
    db = scratch_db("LATIN1")
    for k, v in pg_server.env(db).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PG_SSLMODE", "disable")
    with pytest.raises(UnicodeTargetError) as e, postgres_resource().process_config_and_initialize().get_connection():
        pass
    assert f"`{db}`" in str(e.value) and "LATIN1" in str(e.value) and "ENCODING 'UTF8'" in str(e.value)
    target = check_connections(load_config(), env={**pg_server.env(db), "PG_SSLMODE": "disable"})[-1]
    assert not target.ok and "LATIN1" in target.message
