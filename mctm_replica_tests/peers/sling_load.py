"""Sling (the engine behind dagster-sling) copying a SQL Server table into PostgreSQL.

Run as its users run it: the ``sling`` binary as its own process, connections given as
URLs in environment variables, ``sling run --mode full-refresh``. The binary comes from
PyPI's ``sling-linux-amd64`` wheel (the platform wheel the ``sling`` package installs);
it never downloads anything. Sling reads through go-mssqldb, a TDS client nobody on the
project wrote, so it is also one more client the stand-in must serve.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from mctm_replica_tests.peers.endpoints import Endpoint

# A generous bound for one copy: a run that hangs fails with its output instead of
# stalling the benchmark or the test tier forever.
TIMEOUT_S = 1800


class SlingError(RuntimeError):
    """Sling exited non-zero (its output's tail is in the message)."""


def sling_binary() -> Path | None:
    try:
        import sling_linux_amd64
    except ImportError:
        return None
    path = Path(sling_linux_amd64.__file__).parent / "bin" / "sling-linux-amd64"
    return path if path.exists() else None


def _mssql_url(source: Endpoint, *, encrypt: bool) -> str:
    # go-mssqldb's URL: encrypt=true negotiates TLS as production does; the stand-in's
    # certificate is self-signed, so it is trusted explicitly (as a user with a private CA would).
    tls = "encrypt=true&TrustServerCertificate=true" if encrypt else "encrypt=disable"
    return (f"sqlserver://{quote(source.user, safe='')}:{quote(source.password, safe='')}"
            f"@{source.host}:{source.port}?database={quote(source.database, safe='')}&{tls}")


def load_with_sling(source: Endpoint, table: str, target: Endpoint, dataset: str, *,
                    schema: str = "dbo", encrypt: bool = True) -> str:
    """Copy ``schema.table`` into PostgreSQL ``dataset.table`` (full refresh); returns Sling's log."""
    binary = sling_binary()
    if binary is None:
        raise SlingError("the sling binary is missing: install the `dev` extra (sling-linux-amd64 from PyPI)")
    with tempfile.TemporaryDirectory(prefix="mctm-sling-") as home:
        env = {**os.environ,
               "MCTM_SLING_SOURCE": _mssql_url(source, encrypt=encrypt),
               "MCTM_SLING_TARGET": target.url("postgresql") + "?sslmode=disable",
               # Sling keeps its env file and logs under SLING_HOME_DIR; a throwaway one per run.
               "SLING_HOME_DIR": home,
               # No telemetry calls from tests or benchmarks.
               "SLING_DISABLE_TELEMETRY": "true"}
        cmd = [str(binary), "run", "--src-conn", "MCTM_SLING_SOURCE", "--src-stream", f"{schema}.{table}",
               "--tgt-conn", "MCTM_SLING_TARGET", "--tgt-object", f"{dataset}.{table}", "--mode", "full-refresh"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SlingError(f"sling exited with {proc.returncode} copying {schema}.{table}:\n{output[-3000:]}")
    return output
