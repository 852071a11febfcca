"""The PostgreSQL target connection, shared by the IO manager, the checks and the CLI.

Every connection sets ``client_encoding`` to UTF8, whatever the server's or the role's
default, so the text COPY sends and the values the checks read are never re-encoded. A
database whose server encoding cannot hold every character SQL Server's ``nvarchar``
can (anything but UTF8) is refused at the first connection, naming the database and its
encoding: a copy would otherwise fail mid-stream on the first such character, or store
mojibake under ``SQL_ASCII``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from dagster import ConfigurableResource
from pydantic import Field


class TargetError(RuntimeError):
    """The PostgreSQL target could not be reached or written; the message names the table."""


class UnicodeTargetError(TargetError):
    """The replica database's server encoding cannot hold Unicode text."""


#: The only server encoding that holds every character of SQL Server's nvarchar.
UNICODE_ENCODING = "UTF8"


def pg_connect(**kwargs: Any) -> psycopg2.extensions.connection:
    """``psycopg2.connect`` with ``client_encoding=UTF8``; refuses a non-UTF8 database."""
    conn = psycopg2.connect(client_encoding=UNICODE_ENCODING, **kwargs)
    # The server reports its encoding at startup (ParameterStatus): no round trip.
    encoding = conn.get_parameter_status("server_encoding") or "unknown"
    if encoding.upper() != UNICODE_ENCODING:
        conn.close()
        raise UnicodeTargetError(
            f"PostgreSQL database `{kwargs.get('dbname')}` has server encoding {encoding}, which "
            f"cannot hold every character of SQL Server's nvarchar; create the replica database "
            f"with `CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0` and point PG_DB at it")
    return conn


class PostgresResource(ConfigurableResource):
    """The replica database. Secrets come from ``EnvVar`` (PG_HOST, PG_PASSWORD, ...)."""

    host: str = Field(description="PostgreSQL host")
    port: int = Field(default=5432, description="PostgreSQL port")
    database: str = Field(description="Database holding the replica tables")
    user: str = Field(description="PostgreSQL role")
    password: str = Field(description="PostgreSQL password (set through EnvVar)")
    sslmode: str = Field(default="prefer", description="libpq sslmode")
    connect_timeout: int = Field(default=30, description="Seconds to wait for a connection")

    def describe(self) -> str:
        # Never the password: this text goes into error messages and logs.
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    @contextmanager
    def get_connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A psycopg2 connection (not autocommit) that is always closed."""
        try:
            conn = pg_connect(
                host=self.host,
                port=self.port,
                dbname=self.database,
                user=self.user,
                password=self.password,
                sslmode=self.sslmode,
                connect_timeout=self.connect_timeout,
                application_name="mctm_replica",
            )
        except psycopg2.OperationalError as e:
            raise TargetError(
                f"cannot connect to PostgreSQL {self.describe()}: "
                f"{str(e).strip().splitlines()[0]}; check the PG_* environment variables"
            ) from e
        try:
            yield conn
        finally:
            conn.close()
