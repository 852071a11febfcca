"""Connection strings the peers get: percent-encoding for SQLAlchemy/dlt, pgloader's own quoting."""

from __future__ import annotations

import sqlalchemy as sa

from mctm_replica_tests.peers.endpoints import Endpoint
from mctm_replica_tests.peers.pgloader_load import pgloader_url

E = Endpoint("127.0.0.1", 1433, "sa", "p@ss:w/rd!%", "src_db")


def test_sqlalchemy_url_round_trips_every_character():
    url = sa.engine.make_url(E.url("mssql+pymssql"))
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "sa", "p@ss:w/rd!%", "127.0.0.1", 1433, "src_db")


def test_pgloader_url_doubles_at_signs_and_never_percent_encodes():
    # pgloader's URI grammar: the password runs to the first single "@"; "@@" stands for "@"
    assert pgloader_url(E, "mssql") == "mssql://sa:p@@ss:w/rd!%@127.0.0.1:1433/src_db"
