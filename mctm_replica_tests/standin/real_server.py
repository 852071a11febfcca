"""The conformance suite against a real SQL Server: ``MSSQL_TEST_HOST``, ``MSSQL_TEST_PORT``
(default 1433), ``MSSQL_TEST_USER`` and ``MSSQL_TEST_PASSWORD`` make the ``standin``
fixture a :class:`RealServer` with the same connect methods, so every
``test_conformance_*`` test runs unchanged against it and confirms (or refutes) what the
stand-in claims:

* tests that pin a known stand-in difference (``xfail(strict=True)`` whose reason says
  so) assert SQL Server's behaviour, so against the real server they run as plain tests;
* what only the stand-in can do -- faults, the scripted engine, TLS modes it is started
  in, Change Tracking cleanup, engine and protocol internals -- skips with the reason.

The login must be able to CREATE and DROP DATABASE (dbcreator): each test makes its own.
Use a disposable server, never a production one.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ENV = ("MSSQL_TEST_HOST", "MSSQL_TEST_PORT", "MSSQL_TEST_USER", "MSSQL_TEST_PASSWORD")
STANDIN_ONLY = "stand-in only: needs {what}, which a real SQL Server (MSSQL_TEST_HOST) does not have"


def configured() -> bool:
    return bool(os.environ.get("MSSQL_TEST_HOST"))


class RealServer:
    """A real SQL Server with the connect methods of :class:`~mctm_replica.standin.StandIn`."""

    is_real = True
    tls_cert_path = None

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password

    @classmethod
    def from_env(cls) -> RealServer:
        missing = [k for k in ENV[2:] if not os.environ.get(k)]
        if missing:
            raise pytest.UsageError(f"MSSQL_TEST_HOST is set: also set {', '.join(missing)}")
        return cls(os.environ["MSSQL_TEST_HOST"], int(os.environ.get("MSSQL_TEST_PORT") or 1433),
                   os.environ["MSSQL_TEST_USER"], os.environ["MSSQL_TEST_PASSWORD"])

    def connect_pymssql(self, database: str = "master", **kw: Any) -> Any:
        import pymssql

        kw.setdefault("tds_version", "7.4")
        return pymssql.connect(server=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, **kw)

    def connect_pytds(self, database: str = "master", **kw: Any) -> Any:
        import pytds

        return pytds.connect(server=self.host, port=self.port, user=self.user, password=self.password,
                             database=database, **kw)

    def inject_fault(self, kind: str, **options: object) -> None:
        pytest.skip(STANDIN_ONLY.format(what=f"the stand-in's `{kind}` fault"))

    def clear_faults(self) -> None:
        pass

    def change_tracking_cleanup(self, *args: object, **kw: object) -> None:
        pytest.skip(STANDIN_ONLY.format(what="the stand-in's Change Tracking cleanup procedure"))


def adapt_items(items: list[pytest.Item]) -> None:
    """Against a real server: stand-in differences become plain tests; stand-in-only ones skip."""
    for item in items:
        path = str(item.path)
        if "/standin/" not in path.replace("\\", "/"):
            continue
        if not item.path.name.startswith("test_conformance_"):
            item.add_marker(pytest.mark.skip(reason=STANDIN_ONLY.format(what="the stand-in's internals")))
            continue
        if {"fake_standin", "fake_engine", "new_fake_standin", "tls_standin", "tls_standin_factory"} & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.skip(reason=STANDIN_ONLY.format(what="a stand-in started for the test")))
            continue
        item.own_markers[:] = [m for m in item.own_markers
                               if not (m.name == "xfail" and _is_difference(m.kwargs.get("reason", "")))]


def _is_difference(reason: str) -> bool:
    reason = reason.lower()
    return "stand-in" in reason or "known difference" in reason
