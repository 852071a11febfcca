"""The PostgreSQL target connection, shared by the IO manager and the checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from dagster import ConfigurableResource
from pydantic import Field


class TargetError(RuntimeError):
    """The PostgreSQL target could not be reached or written; the message names the table."""


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
            conn = psycopg2.connect(
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
