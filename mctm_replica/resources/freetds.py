"""pymssql's connection arguments for a source's TLS settings, through its bundled FreeTDS.

pymssql takes ``encryption`` (``off``/``request``/``require``) and ``read_only`` itself.
What it cannot take -- TDS 8.0 ``strict`` encryption and a CA file to validate the
server's certificate against -- FreeTDS reads from a ``freetds.conf`` server section. For
those sources this module writes one process-wide file (``FREETDSCONF``) holding a
section per distinct setting, named by a hash of it, and connects with that section as
the server name. The file holds host, port and TLS settings only: never a user or a
password. It is only ever appended to (rewritten atomically with every section it had),
so a connection opening in another thread always finds its section.

A ``FREETDSCONF`` the operator set already is read and kept: its sections stay, ours are
added after it.

Every connection, plain ones included, also asks for TDS packets of :data:`PACKET_SIZE`
bytes: pymssql has no argument for it, so the file starts with a ``[global]`` section
(``initial block size``) that FreeTDS applies before any server's own. An operator's
``[global]`` comes after ours and wins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from mctm_replica.connection_settings import SourceConnection

FREETDSCONF_ENV = "FREETDSCONF"
# TDS 7.4 explicitly: below 7.3 FreeTDS hands date/time types to pymssql as strings.
TDS_VERSION = "7.4"

# 4x fewer packets to frame and read than the 4,096-byte default: ~8% less client CPU in the
# copy's fetch (issue 15). Not SQL Server's largest, 32,767: its documented maximum for an
# encrypted connection is 16,383 (one TLS record per packet), and whether a session is
# encrypted is the server's choice too. A server configured smaller answers with its own.
PACKET_SIZE = 16383
_GLOBAL = f"[global]\n\tinitial block size = {PACKET_SIZE}\n"

_lock = threading.Lock()
_sections: dict[str, str] = {}
_conf_path: Path | None = None
_inherited = ""


def connect_kwargs(conn: SourceConnection, *, host: str, port: int) -> dict[str, Any]:
    """``server``/``port``/``encryption``/``read_only``/``tds_version`` for ``pymssql.connect``."""
    base: dict[str, Any] = {"read_only": conn.read_only_intent, "tds_version": TDS_VERSION}
    if conn.encryption != "strict" and conn.ca_file is None:
        _ensure_conf()  # for the [global] packet size
        return {**base, "server": host, "port": str(port), "encryption": conn.encryption}
    section = _ensure_section(conn, host=host, port=port)
    # The port is in the section; pymssql appends `:port` only when the name has none.
    return {**base, "server": f"{section}:{port}", "port": str(port)}


def section_text(conn: SourceConnection, *, name: str, host: str, port: int) -> str:
    """One ``freetds.conf`` section (pure; what the file holds for this source)."""
    lines = [f"[{name}]", f"\thost = {host}", f"\tport = {port}", f"\ttds version = {TDS_VERSION}",
             f"\tencryption = {conn.encryption}"]
    if conn.ca_file is not None:
        lines += [f"\tca file = {conn.ca_file}", "\tcheck certificate hostname = yes"]
    return "\n".join(lines) + "\n"


def _ensure_section(conn: SourceConnection, *, host: str, port: int) -> str:
    key = repr((conn.encryption, conn.ca_file, host, port))
    name = "mctm_replica_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    with _lock:
        if name not in _sections:
            _sections[name] = section_text(conn, name=name, host=host, port=port)
            _write()
    return name


def _ensure_conf() -> None:
    """Our file exists and FREETDSCONF names it (the env may have been changed since)."""
    with _lock:
        if _conf_path is None or os.environ.get(FREETDSCONF_ENV) != str(_conf_path):
            _write()


def _write() -> None:
    global _conf_path, _inherited
    if _conf_path is None:
        existing = os.environ.get(FREETDSCONF_ENV)
        if existing and Path(existing).is_file():
            _inherited = Path(existing).read_text(encoding="utf-8") + "\n"
        _conf_path = Path(tempfile.mkdtemp(prefix="mctm_replica_freetds_")) / "freetds.conf"
    body = _GLOBAL + _inherited + "".join(_sections.values())
    tmp = _conf_path.with_suffix(".tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, _conf_path)
    os.environ[FREETDSCONF_ENV] = str(_conf_path)
