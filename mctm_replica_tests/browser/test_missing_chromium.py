"""Without Chromium the browser tier fails in CI with the install command, and skips elsewhere.

The tier runs in a child pytest with ``MCTM_CHROMIUM`` pointing at a path that does not
exist; the check happens before any service starts, so this takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys

from mctm_replica.local.services import REPO_ROOT

INSTALL = "apt-get install -y chromium chromium-driver"


def run_tier(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MCTM_CHROMIUM"] = str(tmp_path / "no-chromium-here")
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "-rsE",
         "mctm_replica_tests/browser/test_ui_and_daemon.py"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_ci_fails_with_the_install_command(tmp_path):
    proc = run_tier(tmp_path, "true")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Chromium is not installed" in out and INSTALL in out, out
    assert "1 error" in out, out


def test_elsewhere_it_is_skipped_with_the_reason(tmp_path):
    proc = run_tier(tmp_path, None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 skipped" in out and INSTALL in out, out
