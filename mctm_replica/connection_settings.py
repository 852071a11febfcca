"""How a source's SQL Server connection is secured: the ``sources.<name>`` keys
``encryption``, ``trust_server_certificate``, ``ca_file`` and ``read_only_intent``.

They are validated when tables.yaml loads, so a contradictory combination (validating a
certificate on a connection that is never encrypted, trusting every certificate while
also naming a CA) fails before Dagster builds an asset, naming the source and the key.

``encryption`` follows FreeTDS's own levels, the driver pymssql bundles:

* ``off``: TLS not requested (FreeTDS still complies with a server that forces it);
* ``request`` (default, FreeTDS's default): "can encrypt, not asking" -- the login packet
  is encrypted, the rest of the session only if the server forces encryption;
* ``require``: the whole session over TLS, or no connection;
* ``strict``: TDS 8.0 (SQL Server 2022 "Force Strict Encryption"): TLS before the first TDS
  byte, the server's certificate always validated (``ca_file``, or ``system`` for the
  operating system's trust store).

Certificate validation, as FreeTDS does it: only when a CA file is configured. Neither key
set keeps FreeTDS's default (the session is encrypted but the certificate is not
validated); ``trust_server_certificate: true`` says so explicitly; ``ca_file: <path>``
validates the chain and the host name against that PEM bundle (``system``: the OS store).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Encryption = Literal["off", "request", "require", "strict"]
ENCRYPTION_LEVELS: tuple[Encryption, ...] = ("off", "request", "require", "strict")
#: FreeTDS's ``ca file = system``: validate against the operating system's trust store.
SYSTEM_CA = "system"
CONNECTION_KEYS = {"encryption", "trust_server_certificate", "ca_file", "read_only_intent"}


class ConnectionConfigError(ValueError):
    """A source's connection keys contradict each other; the message names source and key."""


@dataclass(frozen=True)
class SourceConnection:
    encryption: Encryption = "request"
    trust_server_certificate: bool | None = None  # None: FreeTDS's default (no validation)
    ca_file: str | None = None  # absolute path, or "system"; None: no validation
    read_only_intent: bool = False  # ApplicationIntent=ReadOnly (AG readable secondaries)

    @property
    def validates_certificate(self) -> bool:
        return self.ca_file is not None

    def describe(self) -> str:
        """One line for logs and `verify-source`; names no secret."""
        tls = {"off": "TLS not requested", "request": "TLS for the login (the session too if the "
               "server forces it)", "require": "TLS for the whole session",
               "strict": "TDS 8.0 strict TLS"}[self.encryption]
        if self.encryption != "off":
            tls += (f", certificate validated against {self.ca_file}" if self.ca_file
                    else ", certificate not validated")
        return tls + (", read-only intent" if self.read_only_intent else "")


def parse_connection(body: dict[str, Any], where: str, base_dir: Path) -> SourceConnection:
    """The connection keys of one ``sources.<name>`` mapping (``where`` names it)."""
    encryption = body.get("encryption", "request")
    if encryption not in ENCRYPTION_LEVELS:
        raise ConnectionConfigError(
            f"{where}: `encryption` must be one of {', '.join(ENCRYPTION_LEVELS)}, not {encryption!r}")
    trust = body.get("trust_server_certificate")
    if trust is not None and not isinstance(trust, bool):
        raise ConnectionConfigError(f"{where}: `trust_server_certificate` must be true or false")
    read_only = body.get("read_only_intent", False)
    if not isinstance(read_only, bool):
        raise ConnectionConfigError(f"{where}: `read_only_intent` must be true or false")
    ca_raw = body.get("ca_file")
    if ca_raw is not None and (not isinstance(ca_raw, str) or not ca_raw.strip()):
        raise ConnectionConfigError(
            f"{where}: `ca_file` must be the path of a PEM file of CA certificates, or `system`")
    ca_file = None if ca_raw is None else (
        SYSTEM_CA if ca_raw == SYSTEM_CA else str((base_dir / Path(ca_raw).expanduser()).resolve()))
    if encryption == "off" and (ca_file is not None or trust is not None):
        key = "ca_file" if ca_file is not None else "trust_server_certificate"
        raise ConnectionConfigError(
            f"{where}: `{key}` needs an encrypted connection but `encryption` is `off`; "
            f"set `encryption: require` (or remove `{key}`)")
    if ca_file is not None and trust:
        raise ConnectionConfigError(
            f"{where}: `trust_server_certificate: true` skips the certificate check that "
            f"`ca_file` asks for; keep one of them")
    if trust is False and ca_file is None:
        raise ConnectionConfigError(
            f"{where}: `trust_server_certificate: false` needs `ca_file` (a PEM bundle, or "
            f"`system` for the operating system's store): FreeTDS validates only against one")
    if encryption == "strict" and ca_file is None:
        raise ConnectionConfigError(
            f"{where}: `encryption: strict` always validates the server's certificate; set "
            f"`ca_file` to the CA's PEM file (or `system`)")
    return SourceConnection(encryption, trust, ca_file, read_only)
