"""Fixtures of the browser and daemon tier: one ``dagster dev`` stack and one Chromium per session.

Chromium is Debian's (``apt-get install chromium chromium-driver``), driven by Playwright's
Python package; no browser is downloaded (``playwright install`` is never run). Without
it the tier fails in CI (``CI=true``) with the command to install it, and is skipped
with that reason elsewhere; ``pytest -m "not browser"`` deselects it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mctm_replica.local.services import REPO_ROOT
from mctm_replica_tests.browser.stack import Stack, dagster_dev_stack
from mctm_replica_tests.integration.webhook import Receiver

# Debian's package; MCTM_CHROMIUM points elsewhere (the test of the missing-browser message).
CHROMIUM = Path(os.environ.get("MCTM_CHROMIUM") or "/usr/bin/chromium")
# The network is closed: no first-run, sync, component updates, QUIC or background requests.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
# The UI is a React app over GraphQL on two busy cores: be patient with it.
UI_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1600, "height": 1000}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The browser, or a failure (CI) / skip (elsewhere) that says how to install it --
    before anything else of the tier is set up."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (f"browser tier: Chromium is not installed ({CHROMIUM} is missing). Install Debian's browser with "
               f"`apt-get update && apt-get install -y chromium chromium-driver` (as root), "
               f"or deselect the tier with -m \"not browser\".")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts(chromium: Path) -> Path:
    """test-artifacts/browser/, emptied at the start so every file in it is this run's."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def alert_receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="session")
def stack(chromium: Path, alert_receiver: Receiver, artifacts: Path) -> Iterator[Stack]:
    with dagster_dev_stack(alert_receiver.url()) as s:
        try:
            yield s
        finally:
            # Webserver, daemon and code-server output, for a failure in CI.
            shutil.copyfile(s.log, artifacts / "dagster-dev.log")


@pytest.fixture(scope="session")
def browser_context(chromium: Path, stack: Stack):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    profile = Path(tempfile.mkdtemp(prefix="mctm-chromium-"))  # a fresh user-data-dir
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(profile), executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True,
                viewport=VIEWPORT,
            )
            context.set_default_timeout(UI_TIMEOUT_MS)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    # A first visit shows a "Join the Dagster community" dialog over whatever is open.
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_role("button", name="Skip").click())
    yield page
    page.close()
