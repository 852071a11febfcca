"""The deployed topology as processes: code server, webserver, daemon, read-only webserver.

:func:`topology_stack` starts the demo's local services (SQL Server stand-in with the demo
databases, embedded PostgreSQL holding the replica and Dagster's storage, through the
project's ``dagster.yaml`` -- the file the image bakes in), then the services of
``docker-compose.yaml`` with exactly their commands (read from the file, ``${VAR:-default}``
interpolated as compose does) in the repository root, where ``deploy/workspace.yaml``
resolves as in the image's working directory. What differs from the containers, and only
through the variables the compose file declares: ``DAGSTER_CODE_SERVER_HOST`` is
127.0.0.1 instead of the ``code-server`` service name, ports are free ones, processes bind
to 127.0.0.1, and the code server's module is the test code location (``workspace_defs``:
the one-minute schedule). Every process has its own process group and log file; all are
stopped on exit, also when a test failed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance

from mctm_replica.local.postgres import free_port
from mctm_replica.local.services import REPO_ROOT, local_services
from mctm_replica_tests.dagster_runs import environ
from mctm_replica_tests.deploy.compose import command, healthcheck

PRODUCT_MODULE = "mctm_replica.definitions"
TEST_MODULE = "mctm_replica_tests.topology.workspace_defs"
LOCATION = "mctm_replica"
# Loading the definitions in three processes at once on two busy cores can take a minute.
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60
SERVICES = ("code-server", "webserver", "daemon", "webserver-readonly")


class TopologyError(RuntimeError):
    """A process of the topology did not start or died."""


@dataclass
class Stack:
    env: dict[str, str]  # what every process was given
    workdir: Path
    ports: dict[str, int]
    instance: DagsterInstance
    commands: dict[str, list[str]]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, service: str = "webserver") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, service: str) -> Path:
        return self.workdir / f"{service}.log"

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {s} ---\n{self.log(s).read_text(errors='replace')[-chars:]}"
                         for s in SERVICES if self.log(s).exists())

    # -- processes -------------------------------------------------------------------------

    def start(self, service: str) -> None:
        with open(self.log(service), "ab") as out:
            self.procs[service] = subprocess.Popen(
                self.commands[service], env=self.env, cwd=REPO_ROOT, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def stop(self, service: str) -> None:
        proc = self.procs.pop(service, None)
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # what `docker stop` sends
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived it (a run worker)
        except ProcessLookupError:
            pass
        proc.wait()

    def healthy(self, service: str) -> bool:
        """The service's compose health check, run as compose runs it (exit status 0)."""
        try:
            return subprocess.run(healthcheck(service, self.env), env=self.env, cwd=REPO_ROOT,
                                  capture_output=True, timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_healthy(self, service: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise TopologyError(f"{service} exited with {proc.returncode}:\n{self.log_tail()}")
            if self.healthy(service):
                return
            time.sleep(2)
        raise TopologyError(f"{service} not healthy within {timeout:.0f} s:\n{self.log_tail()}")

    # -- the webserver's GraphQL API ---------------------------------------------------------

    def graphql(self, query: str, variables: dict | None = None, service: str = "webserver") -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url(service)}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise TopologyError(f"GraphQL errors from {service}: {answer['errors']}")
        return answer["data"]


def _commands(env: dict[str, str]) -> dict[str, list[str]]:
    commands = {s: command(s, env) for s in SERVICES}
    code = commands["code-server"]
    # The one argument the tier changes: the test code location instead of the product's.
    i = code.index("-m") + 1
    assert code[i] == PRODUCT_MODULE, f"compose's code server no longer serves {PRODUCT_MODULE}: {code}"
    code[i] = TEST_MODULE
    return commands



@contextmanager
def topology_stack(alert_url: str) -> Iterator[Stack]:
    # Not pytest's tmp_path: its base directory is mode 0700, which PostgreSQL's
    # unprivileged service user cannot enter (see test_demo).
    base = Path(tempfile.mkdtemp(prefix="mctm-topology-"))
    try:
        with local_services(base / "local") as services:
            ports = {s: free_port() for s in ("code-server", "webserver", "webserver-readonly")}
            env = {
                **os.environ, **services,
                # The compose file's own variables (see docker-compose.yaml).
                "DAGSTER_BIND_HOST": "127.0.0.1",
                "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
                "DAGSTER_CODE_SERVER_PORT": str(ports["code-server"]),
                "DAGSTER_WEBSERVER_PORT": str(ports["webserver"]),
                "DAGSTER_READONLY_PORT": str(ports["webserver-readonly"]),
                "REPLICA_ALERT_URLS": alert_url,
                "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{ports['webserver']}",
                # The image's PATH: its virtualenv's entry points come first.
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            stack = Stack(env=env, workdir=base, ports=ports, instance=None,  # type: ignore[arg-type]
                          commands=_commands(env))
            try:
                stack.start("code-server")
                stack.wait_healthy("code-server")
                for s in ("webserver", "daemon", "webserver-readonly"):
                    stack.start(s)
                for s in ("webserver", "webserver-readonly"):
                    stack.wait_healthy(s)
                # The test reads the same instance (dagster.yaml reads its connection from
                # the environment).
                with environ({k: v for k, v in env.items() if k != "PATH"}), \
                        DagsterInstance.get() as instance:
                    stack.instance = instance
                    yield stack
            finally:
                for s in reversed(SERVICES):
                    stack.stop(s)
                artifacts = REPO_ROOT / "test-artifacts" / "topology"
                shutil.rmtree(artifacts, ignore_errors=True)
                artifacts.mkdir(parents=True)
                for s in SERVICES:
                    if stack.log(s).exists():
                        shutil.copyfile(stack.log(s), artifacts / f"{s}.log")
    finally:
        shutil.rmtree(base, ignore_errors=True)
