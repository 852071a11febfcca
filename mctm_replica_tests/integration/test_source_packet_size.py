"""Every source connection asks for 16,383-byte TDS packets (FreeTDS's `initial block size`
from our freetds.conf's [global]; pymssql has no argument for it), plain and over TLS, and
large values arrive whole through them (real pymssql/FreeTDS against the stand-in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mctm_replica.connection_settings import SourceConnection
from mctm_replica.resources import freetds
from mctm_replica.resources.mssql import MssqlResource
from mctm_replica_tests.standin.tls_helpers import tls_standin_factory  # noqa: F401 (fixture)

LONG = "REPLICATE(CAST(N'長' AS nvarchar(max)), 100000)"
SQL = (f"SELECT c.net_packet_size, c.encrypt_option, DATALENGTH({LONG}), {LONG} "
       "FROM sys.dm_exec_connections AS c WHERE c.session_id = @@SPID")


def read(standin, conn: SourceConnection) -> tuple:
    resource = MssqlResource(host="127.0.0.1", port=standin.port, database="master",
                             user=standin.user, password=standin.password, source="mctm",
                             encryption=conn.encryption, ca_file=conn.ca_file, login_timeout=10,
                             retry_attempts=1)
    with resource.get_connection() as c, c.cursor() as cur:
        cur.execute(SQL)
        return cur.fetchone()


def test_plain_connection_gets_the_larger_packets(mssql_server):
    size, encrypted, nbytes, text = read(mssql_server, SourceConnection("off"))
    assert (size, str(encrypted).upper()) == (freetds.PACKET_SIZE, "FALSE")
    assert nbytes == 200_000 and text == "長" * 100_000
    conf = Path(os.environ[freetds.FREETDSCONF_ENV]).read_text()
    # ours first: an operator's own [global] later in the file overrides it
    assert conf.startswith(f"[global]\n\tinitial block size = {freetds.PACKET_SIZE}\n")


@pytest.mark.parametrize(("server", "encryption"), [("force", "require"), ("strict", "strict")])
def test_encrypted_sessions_get_them_too(tls_standin_factory, server, encryption):
    standin = tls_standin_factory(server)
    ca = str(standin.tls_cert_path) if encryption == "strict" else None
    size, encrypted, nbytes, text = read(standin, SourceConnection(encryption, None, ca))
    assert (size, str(encrypted).upper()) == (freetds.PACKET_SIZE, "TRUE")
    assert nbytes == 200_000 and text == "長" * 100_000
