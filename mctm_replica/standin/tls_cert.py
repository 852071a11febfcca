"""The stand-in's TLS certificate: given PEM files, or a self-signed one made at start.

SQL Server without a configured certificate makes a self-signed one at start
("SSL_Self_Signed_Fallback"); the stand-in does the same, but names the loopback
host in it (CN and subjectAltName) so clients that validate the certificate can
trust it by pinning the file the stand-in prints.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# RSA 2048 as SQL Server's own self-signed certificates; every client's TLS
# stack accepts it. Generating it takes ~0.1 s, so one is made per process.
KEY_BITS = 2048
# Long enough for any test run or demo; short enough not to look like a real CA.
VALID_DAYS = 365
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


class TlsConfigError(ValueError):
    """A certificate or key file that cannot be used (named in the message)."""


@dataclass(frozen=True)
class CertFiles:
    cert_path: Path  # PEM certificate the server presents (what a client trusts or pins)
    key_path: Path  # PEM private key, unencrypted


def generate_self_signed(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> CertFiles:
    """Write a self-signed certificate (CA:TRUE, so it is its own trust anchor) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mctm_replica SQL Server stand-in")])
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True, content_commitment=False,
                          data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "standin-cert.pem"
    key_path = directory / "standin-key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertFiles(cert_path, key_path)


_lock = threading.Lock()
_default: CertFiles | None = None


def default_certificate() -> CertFiles:
    """The process's self-signed certificate, made on first use and deleted at exit."""
    global _default
    with _lock:
        if _default is None or not _default.cert_path.exists():
            directory = Path(tempfile.mkdtemp(prefix="mctm-standin-tls-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            _default = generate_self_signed(directory)
        return _default


def resolve_certificate(cert: str | Path | None, key: str | Path | None) -> CertFiles:
    """The given PEM pair (both or neither), else the generated self-signed one."""
    if cert is None and key is None:
        return default_certificate()
    if cert is None or key is None:
        raise TlsConfigError("give both --tls-cert and --tls-key (PEM files), or neither for a self-signed certificate")
    files = CertFiles(Path(cert), Path(key))
    for label, p in (("--tls-cert", files.cert_path), ("--tls-key", files.key_path)):
        if not p.is_file():
            raise TlsConfigError(f"{label} {p}: no such file (expected a PEM file)")
    return files
