"""Run tedious (Node's TDS client) against a server through ``tedious/run.js``.

``npm ci`` installs the pinned tedious (package-lock.json) into ``tedious/node_modules``
once per test session. tedious stays on 19.x: 20.x needs Node 22, and Debian 12's
``nodejs`` (what ``.ci/run`` installs) is Node 18. Without node/npm the tests skip -- except under ``CI=true``,
where a missing toolchain fails with the install instruction (``.ci/run`` installs it).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "tedious"
RUNNER = HERE / "run.js"
# npm ci downloads ~70 small packages; generous for a slow mirror.
NPM_TIMEOUT = 600
# One runner call opens a connection and runs a handful of requests.
RUN_TIMEOUT = 120
MISSING = ("tedious tests need Node.js and npm: apt-get install nodejs npm "
           "(.ci/run installs them when missing)")


def ensure_installed() -> None:
    """npm ci once (skipped when node_modules matches the lockfile); fail/skip without node."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    # xdist workers share the directory: one installs while the others wait.
    with open(HERE / ".npm-install.lock", "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        stamp = HERE / "node_modules" / ".package-lock.json"
        lock = HERE / "package-lock.json"
        if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
            return
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT, check=False)
        if proc.returncode != 0:
            pytest.fail(f"npm ci in {HERE} failed:\n{proc.stderr[-2000:]}")


@dataclass
class TediousConnection:
    """Connection options for run.js (see its header for the JSON it reads)."""

    server: str
    port: int
    user: str
    password: str
    database: str = "master"
    encrypt: bool | str = False  # False, True or "strict" (TDS 8.0)
    trust_server_certificate: bool = False
    ca: str | None = None  # PEM file to trust (pinning a self-signed certificate)
    options: dict = field(default_factory=dict)  # any other tedious connection option

    def as_json(self) -> dict:
        return {"server": self.server, "port": self.port, "user": self.user, "password": self.password,
                "database": self.database, "encrypt": self.encrypt,
                "trustServerCertificate": self.trust_server_certificate, "ca": self.ca,
                "options": self.options}


def run(conn: TediousConnection, requests: list[dict]) -> dict:
    """Run ``requests`` over one tedious connection; the runner's JSON answer."""
    ensure_installed()
    payload = json.dumps({"connection": conn.as_json(), "requests": requests})
    proc = subprocess.run(["node", str(RUNNER)], input=payload, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False, cwd=HERE)
    if proc.returncode != 0:
        raise RuntimeError(f"tedious runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def batch(sql: str) -> dict:
    return {"mode": "batch", "sql": sql}


def sql(text: str, params: list[dict] | None = None) -> dict:
    """execSql: sp_executesql with typed parameters ({name, type, value, options})."""
    return {"mode": "sql", "sql": text, "params": params or []}


def prepared(text: str, params: list[dict], executions: list[list]) -> dict:
    """prepare (sp_prepare), execute once per value list (sp_execute), unprepare."""
    return {"mode": "prepare", "sql": text, "params": params, "executions": executions}
