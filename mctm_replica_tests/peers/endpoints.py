"""Where the peers connect: a SQL Server (the stand-in or a real one) and a PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str
    database: str

    def url(self, scheme: str) -> str:
        """``scheme://user:password@host:port/database`` with user and password percent-encoded."""
        return (f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@{self.host}:{self.port}/{quote(self.database, safe='')}")


def standin_endpoint(server, database: str) -> Endpoint:
    """The stand-in (mctm_replica.standin.StandIn) as an Endpoint."""
    return Endpoint(server.host, server.port, server.user, server.password, database)


def postgres_endpoint(pg, database: str) -> Endpoint:
    """A LocalPostgres (mctm_replica.local.postgres) as an Endpoint."""
    return Endpoint(pg.host, pg.port, pg.user, pg.password, database)
