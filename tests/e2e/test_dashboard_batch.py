"""Issue 22: the Batch page (score a file from the page, the list with status, rows, version, the scored file and the
failure reason with its rows), paginated lists with "Load more", and per-hour latency on the Monitoring page.

One local cloud (manual approval) walked in order: v1 goes live → the Batch page is empty → a file scored from the
page → a file with broken rows fails with their numbers → each list pages with "Load more" → Monitoring shows p50/p99
per hour. Every state is checked with axe-core at 1440×900 and 390×844.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from challenger.cli import Target
from challenger.local.cloud import LocalCloud
from tests.e2e.test_dashboard import (
    DATA,
    DESKTOP,
    PHONE,
    RUN_TIMEOUT,
    dashboard_url,
    horizontal_overflow,
    serious_accessibility_violations,
    trained_and_approved,
    versions,
)


@pytest.fixture
def v1_live(target: Target) -> None:
    if 1 not in versions(target):
        trained_and_approved(target, DATA / "train_v1.csv", test=DATA / "test.csv")


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1440", "390"])
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    return dict(request.param)


def open_batch(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, viewport: dict[str, int], page_size: int = 0
) -> Page:
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    url = dashboard_url(cloud, 700)
    if page_size:
        url = url.replace("?poll=700", f"?poll=700&page={page_size}")
    page.goto(url)
    expect(page.get_by_test_id("champion")).to_have_text("Champion: v1")
    page.get_by_test_id("nav-batch").click()
    expect(page).to_have_title("Batch jobs · Challenger")
    return page


def clean(page: Page) -> None:
    assert horizontal_overflow(page) == 0
    assert serious_accessibility_violations(page) == []


def score(page: Page, file: Path, name: str) -> None:
    page.get_by_test_id("batch-file").set_input_files(str(file))
    page.get_by_test_id("batch-name").fill(name)
    page.get_by_test_id("batch-submit").click()
    expect(page.get_by_test_id("batch-uploaded")).to_contain_text(f"batch/{name}.csv")


def test_the_batch_page_says_nothing_was_scored_yet(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v1_live: None, viewport: dict[str, int]
) -> None:
    page = open_batch(browser, cloud, request, viewport)
    expect(page.get_by_test_id("no-batches")).to_have_text("No batch file scored yet.")
    clean(page)
    page.context.close()


def test_a_file_scored_from_the_page_lists_its_rows_version_and_scored_file(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v1_live: None
) -> None:
    page = open_batch(browser, cloud, request, DESKTOP)
    score(page, DATA / "test.csv", "reviews-e2e")
    scored = page.get_by_test_id("batch-row").filter(has_text="batch/reviews-e2e.csv")
    expect(scored).to_have_attribute("data-status", "SUCCEEDED", timeout=RUN_TIMEOUT)
    expect(scored.get_by_test_id("batch-rows")).to_have_text("400")
    expect(scored.get_by_test_id("batch-version")).to_have_text("v1")
    clean(page)
    with page.expect_download() as downloading:
        scored.get_by_test_id("batch-download").click()
    download = downloading.value
    assert download.suggested_filename == "reviews-e2e.out.csv"
    text = Path(download.path()).read_text()
    assert text.splitlines()[0].startswith("review_text,sentiment,"), text[:200]
    assert text.splitlines()[0].endswith(",model_version")
    assert len(text.strip().splitlines()) == 401
    page.context.close()


def test_a_file_with_broken_rows_fails_with_their_numbers(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v1_live: None, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text('review_text\n"Great\nkettle"\nFine\n"Broke\r\nin a day"\n')
    page = open_batch(browser, cloud, request, PHONE)
    score(page, broken, "broken-e2e")
    failed = page.get_by_test_id("batch-row").filter(has_text="batch/broken-e2e.csv")
    expect(failed).to_have_attribute("data-status", "FAILED", timeout=RUN_TIMEOUT)
    expect(failed.get_by_test_id("batch-failure")).to_contain_text("data row(s) 1, 3")
    clean(page)
    page.context.close()


def test_each_list_pages_with_load_more(
    browser: Browser,
    cloud: LocalCloud,
    target: Target,
    request: pytest.FixtureRequest,
    v1_live: None,
    viewport: dict[str, int],
) -> None:
    assert len(target.every("/batch")) >= 2  # the two files above
    page = open_batch(browser, cloud, request, viewport, page_size=1)
    expect(page.get_by_test_id("batch-row")).to_have_count(1)
    clean(page)
    page.get_by_test_id("more-batch").click()
    expect(page.get_by_test_id("batch-row")).to_have_count(2)
    page.get_by_test_id("updated").wait_for()
    page.wait_for_timeout(2000)  # polls after "Load more" keep the older page under the first
    expect(page.get_by_test_id("batch-row")).to_have_count(2)
    page.get_by_test_id("back").click()
    expect(page.get_by_test_id("model-row")).to_have_count(1)
    runs = len(target.every("/runs"))
    expect(page.locator('[data-testid="run"]')).to_have_count(1)
    if runs > 1:
        page.get_by_test_id("more-runs").click()
        expect(page.locator('[data-testid="run"]')).to_have_count(min(2, runs))
    clean(page)
    page.context.close()


def test_monitoring_shows_each_hours_latency_per_version(
    browser: Browser,
    cloud: LocalCloud,
    target: Target,
    request: pytest.FixtureRequest,
    v1_live: None,
    viewport: dict[str, int],
) -> None:
    target.call("POST", "/predict", {"instances": ["great phone", "broke in a day"]})
    page = open_batch(browser, cloud, request, viewport)
    page.get_by_test_id("nav-monitoring").click()
    hour = page.get_by_test_id("hour-row").filter(has_text="v1").first
    # The API's counters land within its flush interval; the page asks for them every 10th poll.
    expect(hour.get_by_test_id("hour-p50")).to_have_text(re.compile(r"^≤ \d"), timeout=30_000)
    expect(hour.get_by_test_id("hour-p99")).to_have_text(re.compile(r"^≤ \d"))
    clean(page)
    page.context.close()
