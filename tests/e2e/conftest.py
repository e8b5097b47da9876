"""End-to-end tests: the built dashboard (frontend/dist) in Debian's headless Chromium, driven by Playwright, against
a local cloud brought up in-process.

Playwright never downloads a browser here: it launches the system Chromium (`make e2e-deps` installs it). A failing
test leaves a full-page screenshot in test-results/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from challenger.cli import Target, local_target
from challenger.local.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist"
RESULTS = ROOT / "test-results"
CHROMIUM = Path(os.environ.get("CHALLENGER_CHROMIUM", "/usr/bin/chromium"))
# What this machine needs: no sandbox as root, no GPU, and no background calls to Google (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

expect.set_options(timeout=10_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        page = getattr(item, "e2e_page", None)
        if page is not None and not page.is_closed():
            RESULTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
            path = RESULTS / f"{name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                report.sections.append(("e2e screenshot", str(path)))
            except Exception as error:  # the test's own failure matters more than its picture
                report.sections.append(("e2e screenshot", f"failed: {error!r}"))
    return report


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """One local cloud in manual approval mode per test module (each module walks its own history in order)."""
    cloud = LocalCloud(
        parameters={"ApprovalMode": "manual"}, state_dir=tmp_path_factory.mktemp("e2e"), progress=lambda _: None
    )
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="module")
def target(cloud: LocalCloud) -> Target:
    return local_target(cloud.state_dir)


@pytest.fixture(scope="module")  # not session: the driver's event loop must not outlive the browser tests
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make e2e-deps` (Debian's chromium)")
    if not (DIST / "index.html").exists():
        pytest.fail(f"{DIST} is missing: run `make frontend` (npm ci && npm run build)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_page(browser: Browser, request: pytest.FixtureRequest) -> Page:
    """A fresh browser context (own sessionStorage) whose page a failing test screenshots."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    request.node.e2e_page = page
    return page
