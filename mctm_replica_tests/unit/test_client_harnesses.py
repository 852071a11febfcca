"""The conformance client harnesses: a missing toolchain skips locally, fails under CI=true."""

from __future__ import annotations

import pytest

from mctm_replica_tests.clients import tedious_client
from mctm_replica_tests.clients.mssql_python_client import connection_string


def test_missing_node_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install nodejs npm"):
        tedious_client.ensure_installed()


def test_missing_node_skips_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install nodejs npm"):
        tedious_client.ensure_installed()


def test_odbc_connection_string_carries_tls_options():
    s = connection_string("127.0.0.1", 1433, "sa", "p;w}d", "db", encrypt="strict",
                          server_certificate="/tmp/c.pem", host_name_in_certificate="localhost")
    assert s.split(";")[0] == "Server=tcp:127.0.0.1,1433"
    assert "PWD={p;w}}d}" in s and "Encrypt=strict" in s and "TrustServerCertificate=no" in s
    assert "ServerCertificate={/tmp/c.pem}" in s and s.endswith("HostNameInCertificate=localhost")
