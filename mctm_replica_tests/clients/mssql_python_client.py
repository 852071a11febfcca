"""Connect Microsoft's ``mssql-python`` driver (bundled ODBC Driver 18) to a server.

Its bundled driver needs Debian's libltdl7 (``.ci/run`` installs it); without it the
tests skip, except under ``CI=true`` where they fail with the install instruction.
"""

from __future__ import annotations

import ctypes.util
import os

import pytest

MISSING = ("mssql-python's bundled ODBC Driver 18 needs libltdl.so.7: apt-get install libltdl7 "
           "(.ci/run installs it)")


def ensure_available() -> None:
    if ctypes.util.find_library("ltdl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)


def connection_string(host: str, port: int, user: str, password: str, database: str = "master", *,
                      encrypt: str = "no", trust_server_certificate: bool = False,
                      server_certificate: str | None = None,
                      host_name_in_certificate: str | None = None) -> str:
    """ODBC Driver 18 keywords: Encrypt=no|yes|strict (strict is TDS 8.0); ServerCertificate
    pins a certificate file (yes/strict); TrustServerCertificate skips validation."""
    def braced(v: str) -> str:
        return "{" + v.replace("}", "}}") + "}"

    parts = [f"Server=tcp:{host},{port}", f"Database={braced(database)}", f"UID={braced(user)}",
             f"PWD={braced(password)}", f"Encrypt={encrypt}",
             f"TrustServerCertificate={'yes' if trust_server_certificate else 'no'}"]
    if server_certificate:
        parts.append(f"ServerCertificate={braced(server_certificate)}")
    if host_name_in_certificate:
        parts.append(f"HostNameInCertificate={host_name_in_certificate}")
    return ";".join(parts)


def connect(host: str, port: int, user: str, password: str, database: str = "master", *,
            autocommit: bool = True, **tls):
    """An mssql-python connection; ``tls`` as for :func:`connection_string`."""
    ensure_available()
    import mssql_python

    # Pooling is on by default: close() would keep the session open on the server (a test
    # could not drop its database) and the next connect would reuse it.
    mssql_python.pooling(enabled=False)
    return mssql_python.connect(connection_string(host, port, user, password, database, **tls),
                                autocommit=autocommit)
