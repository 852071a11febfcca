"""Microsoft's driver (mssql-python, ODBC Driver 18) and tedious over the stand-in's TLS:
each encrypts as it would against SQL Server 2022 in `on`, `force` and `strict`, validates
the stand-in's certificate when told to trust it, refuses another, and a parameterized
query (prepared statement / sp_executesql) works inside the encrypted session."""

from __future__ import annotations

import pytest

from mctm_replica.standin.tls_cert import generate_self_signed
from mctm_replica_tests.clients import mssql_python_client as odbc
from mctm_replica_tests.clients import tedious_client as ted

SESSION = ("SELECT encrypt_option, protocol_version FROM sys.dm_exec_connections "
           "WHERE session_id = @@SPID")
TDS74 = 0x74000004


def odbc_session(standin, **tls) -> tuple:
    conn = odbc.connect("127.0.0.1", standin.port, standin.user, standin.password, **tls)
    try:
        cur = conn.cursor()
        cur.execute(SESSION)
        encrypt, protocol = cur.fetchone()
        cur.execute("SELECT CAST(? AS decimal(18,4)) + 1", 1.5)  # sp_prepexec inside TLS
        return str(encrypt).upper(), int(protocol), float(cur.fetchone()[0])
    finally:
        conn.close()


# ODBC Driver 18 pins a certificate file (ServerCertificate) only with Encrypt=strict; with
# yes (or a server forcing TLS) it validates against the system store, where a self-signed
# certificate -- the stand-in's, or a SQL Server's own -- is trusted only with
# TrustServerCertificate=yes.
@pytest.mark.parametrize(("server", "tls", "expected"), [
    ("on", {"encrypt": "no"}, "FALSE"),  # Encrypt=no still encrypts LOGIN7 only
    ("on", {"encrypt": "yes", "trust_server_certificate": True}, "TRUE"),
    ("force", {"encrypt": "no", "trust_server_certificate": True}, "TRUE"),  # the server forces it
    ("force", {"encrypt": "yes", "trust_server_certificate": True}, "TRUE"),
    ("strict", {"encrypt": "strict"}, "TRUE"),
    ("on", {"encrypt": "strict"}, "TRUE"),  # SQL Server 2022 takes TDS 8.0 unforced too
])
def test_mssql_python_encrypts_as_against_sql_server(tls_standin_factory, server, tls, expected):
    standin = tls_standin_factory(server)
    if tls["encrypt"] == "strict":
        tls = {**tls, "server_certificate": str(standin.tls_cert_path)}
    assert odbc_session(standin, **tls) == (expected, TDS74, 2.5)


@pytest.mark.parametrize("tls", [{"encrypt": "yes"}, {"encrypt": "strict", "server_certificate": None}])
def test_mssql_python_refuses_a_certificate_it_was_not_told_to_trust(tls_standin_factory, tmp_path, tls):
    standin = tls_standin_factory("force" if tls["encrypt"] == "yes" else "strict")
    if "server_certificate" in tls:
        tls = {**tls, "server_certificate": str(generate_self_signed(tmp_path).cert_path)}
    with pytest.raises(Exception, match="(?i)certificate"):
        odbc_session(standin, **tls)


def tedious_session(standin, **tls) -> dict:
    conn = ted.TediousConnection("127.0.0.1", standin.port, standin.user, standin.password, **tls)
    return ted.run(conn, [ted.batch(SESSION),
                          ted.sql("SELECT @p + 1 AS v", [{"name": "p", "type": "Int", "value": 41}])])


@pytest.mark.parametrize(("server", "encrypt", "expected"), [
    ("on", True, "TRUE"),
    ("force", True, "TRUE"),
    ("strict", "strict", "TRUE"),
])
def test_tedious_encrypts_as_against_sql_server(tls_standin_factory, server, encrypt, expected):
    standin = tls_standin_factory(server)
    out = tedious_session(standin, encrypt=encrypt, ca=str(standin.tls_cert_path))
    assert out.get("connectError") is None, out
    session, param = out["results"]
    assert session["error"] is None and param["error"] is None, out
    assert session["resultSets"][0]["rows"][0][0].upper() == expected
    assert param["resultSets"][0]["rows"] == [[42]]


def test_tedious_refuses_a_certificate_it_was_not_told_to_trust(tls_standin_factory, tmp_path):
    standin = tls_standin_factory("force")
    other = generate_self_signed(tmp_path)
    out = tedious_session(standin, encrypt=True, ca=str(other.cert_path))
    assert out["results"] == [] and "self-signed certificate" in out["connectError"]["message"]


@pytest.mark.parametrize("server", ["on", "force"])
def test_sqlalchemy_reflects_and_reads_over_tls(tls_standin_factory, server):
    """SQLAlchemy's mssql+pymssql dialect with `encryption=require` (a pymssql argument):
    the whole session is encrypted, reflection and pandas work inside it."""
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    standin = tls_standin_factory(server)
    url = sa.engine.URL.create("mssql+pymssql", username=standin.user, password=standin.password,
                               host="127.0.0.1", port=standin.port, database="master")
    eng = sa.create_engine(url, poolclass=NullPool, connect_args={"encryption": "require"})
    try:
        with eng.begin() as c:
            c.execute(sa.text("CREATE TABLE dbo.tls_t (id int PRIMARY KEY, v nvarchar(10))"))
            c.execute(sa.text("INSERT INTO dbo.tls_t VALUES (1, N'暗号')"))
        with eng.connect() as c:
            assert c.execute(sa.text(SESSION)).one()[0].upper() == "TRUE"
            assert pd.read_sql("SELECT v FROM dbo.tls_t", c)["v"].tolist() == ["暗号"]
        assert [col["name"] for col in sa.inspect(eng).get_columns("tls_t")] == ["id", "v"]
    finally:
        eng.dispose()
