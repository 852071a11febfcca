"""The browser tier's services: demo sources, PostgreSQL, a webhook receiver and ``dagster dev``.

:func:`dagster_dev_stack` starts what ``make dev`` starts -- the SQL Server stand-in with
its demo databases and an embedded PostgreSQL for the replica and Dagster's storage
(:func:`mctm_replica.local.services.local_services`) -- then ``dagster dev`` (webserver,
daemon, code server) on a free port, with a temporary ``DAGSTER_HOME`` and alerts going to
a local webhook receiver. Everything is stopped on exit, also when a test failed.
"""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from mctm_replica.local.postgres import free_port
from mctm_replica.local.services import REPO_ROOT, local_services
from mctm_replica_tests.dagster_runs import environ

# `dagster dev` loads the project's definitions (one process per code location, the
# daemon and the webserver): on two busy cores that can take a minute.
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 60
#: The browser tier's code location; the daemon tier serves its own (``module=``).
BROWSER_MODULE = "mctm_replica_tests.browser.workspace_defs"
WORKSPACE = """\
load_from:
  - python_module:
      module_name: {module}
      working_directory: {root}
      location_name: mctm_replica
"""


@dataclass
class Stack:
    url: str  # the webserver, e.g. http://127.0.0.1:PORT
    env: dict[str, str]  # what dagster dev was given (connections, DAGSTER_HOME, alerts)
    workdir: Path
    log: Path  # dagster dev's own output (webserver, daemon, code server)
    workspace: Path  # the workspace.yaml dagster dev serves (the CLI's `-w` for the same code location)
    instance: DagsterInstance  # the same instance, for reading runs and events

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _wait_for_webserver(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise RuntimeError(f"dagster dev did not answer on {url} within {START_TIMEOUT_S} s:\n"
                       f"{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop dagster dev and everything it started (its own process group: webserver,
    daemon, code server and the runs it launched)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: dagster dev shuts its services down
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever outlived the shutdown (a run mid-step)
    except ProcessLookupError:
        pass
    proc.wait()



@contextmanager
def dagster_dev_stack(alert_url: str, module: str = BROWSER_MODULE) -> Iterator[Stack]:
    """The stack serving code location ``mctm_replica`` from ``module``'s ``defs``."""
    # Not pytest's tmp_path: its base directory is mode 0700, which PostgreSQL's
    # unprivileged service user cannot enter (see test_demo).
    base = Path(tempfile.mkdtemp(prefix="mctm-browser-"))
    try:
        with local_services(base / "local") as services:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            workspace = base / "workspace.yaml"
            workspace.write_text(WORKSPACE.format(module=module, root=REPO_ROOT))
            env = {**services, "REPLICA_ALERT_URLS": alert_url, "DAGSTER_WEBSERVER_URL": url}
            log = base / "dagster-dev.log"
            # The UI's first-visit "Join the Dagster community" dialog covers the page at a
            # random moment; Dagster skips it once this marker exists in DAGSTER_HOME.
            nux = Path(services["DAGSTER_HOME"]) / ".nux"
            nux.mkdir(exist_ok=True)
            (nux / "nux.yaml").write_text("seen: 1\n")
            dagster = Path(sys.executable).with_name("dagster")
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
                    env={**os.environ, **env}, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            try:
                _wait_for_webserver(url, proc, log)
                # The test process reads the same instance (dagster.yaml reads its
                # connection from the environment).
                with environ(env), DagsterInstance.get() as instance:
                    yield Stack(url=url, env=env, workdir=base, log=log, workspace=workspace, instance=instance)
            finally:
                _stop(proc)
    finally:
        shutil.rmtree(base, ignore_errors=True)
