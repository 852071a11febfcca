"""A source's `encryption` / `ca_file` against stand-ins negotiating TLS as SQL Server 2022
does (`on`, `force`, `strict`): each combination connects or fails as SQL Server would, and
a failure names the source, the key and the fix (real pymssql/FreeTDS over TLS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mctm_replica.connection_settings import SourceConnection
from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.standin.tls_cert import generate_self_signed
from mctm_replica_tests.standin.tls_helpers import tls_standin_factory  # noqa: F401 (fixture)

SESSION_SQL = ("SELECT encrypt_option, protocol_version FROM sys.dm_exec_connections "
               "WHERE session_id = @@SPID")


def resource(standin, conn: SourceConnection) -> MssqlResource:
    return MssqlResource(host="127.0.0.1", port=standin.port, database="master", user=standin.user,
                         password=standin.password, source="mctm", encryption=conn.encryption,
                         ca_file=conn.ca_file, trust_server_certificate=conn.trust_server_certificate,
                         login_timeout=10, retry_attempts=1)


def session(standin, conn: SourceConnection) -> tuple[str, int]:
    with resource(standin, conn).get_connection() as c, c.cursor() as cur:
        cur.execute(SESSION_SQL)
        encrypt, protocol = cur.fetchone()
        return str(encrypt).upper(), int(protocol)


TDS74, TDS80 = 0x74000004, 0x08000000


@pytest.mark.parametrize(("server", "encryption", "expected"), [
    ("on", "off", ("FALSE", TDS74)),       # only the login packet is encrypted
    # FreeTDS's `off` does not ask for TLS, but complies when the server requires it, as
    # it would with SQL Server: the session is encrypted, never refused.
    ("force", "off", ("TRUE", TDS74)),
    # FreeTDS's default `request` says "can encrypt, not asking": a server that does not
    # force encryption then encrypts the login packet only, as SQL Server does.
    ("on", "request", ("FALSE", TDS74)),
    ("on", "require", ("TRUE", TDS74)),
    ("force", "request", ("TRUE", TDS74)),
    ("force", "require", ("TRUE", TDS74)),
    ("strict", "strict", ("TRUE", TDS74)),  # see the README: the stand-in reports LOGIN7's version
    ("on", "strict", ("TRUE", TDS74)),      # SQL Server 2022 takes TDS 8.0 even when not forced
    ("force", "strict", ("TRUE", TDS74)),
])
def test_combinations_that_connect(tls_standin_factory, server, encryption, expected):
    standin = tls_standin_factory(server)
    ca = str(standin.tls_cert_path) if encryption == "strict" else None
    assert session(standin, SourceConnection(encryption, None, ca)) == expected


@pytest.mark.parametrize(("server", "encryption", "named"), [
    ("off", "require", "the server cannot encrypt (it has no certificate) but `encryption` is `require`"),
    ("strict", "request", "set `encryption: strict` and `ca_file` for source `mctm`"),
    ("strict", "off", "set `encryption: strict` and `ca_file` for source `mctm`"),
])
def test_combinations_that_fail_name_the_source_the_key_and_the_fix(tls_standin_factory, server,
                                                                     encryption, named):
    standin = tls_standin_factory(server)
    with pytest.raises(SourceError) as e:
        session(standin, SourceConnection(encryption))
    assert named in str(e.value)
    assert standin.password not in str(e.value)


def test_ca_file_accepts_the_servers_certificate_and_refuses_another(tls_standin_factory, tmp_path):
    standin = tls_standin_factory("force")
    ok = SourceConnection("require", None, str(standin.tls_cert_path))
    assert session(standin, ok)[0] == "TRUE"
    other = generate_self_signed(tmp_path)
    with pytest.raises(SourceError) as e:
        session(standin, SourceConnection("require", None, str(other.cert_path)))
    assert "check `ca_file`" in str(e.value) and str(other.cert_path) in str(e.value)


def test_a_missing_ca_file_is_named(tls_standin_factory, tmp_path):
    standin = tls_standin_factory("on")
    with pytest.raises(SourceError, match="`ca_file` .*missing.pem does not exist"):
        session(standin, SourceConnection("require", None, str(Path(tmp_path) / "missing.pem")))
