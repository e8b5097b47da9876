"""Issue 22: the dashboard tells the truth about what is live, and where you stand.

One local cloud (manual approval) walked in order: the first model waits and is accepted on its own version page →
a second challenger is rejected by a person on its run page → a third goes live → a rollback to v1 with a reason →
the endpoint dies and the header turns red. Every defect the issue lists has a test here that failed before its
fix; each test names the behaviour.
"""

from __future__ import annotations

import itertools
import json
import re
import time

import boto3
import pytest
from playwright.sync_api import Browser, Page, expect

from challenger.cli import Target, data_push, latest_run_id, runs_wait
from challenger.local.cloud import LocalCloud
from tests.e2e.conftest import ROOT
from tests.e2e.test_dashboard import (
    DATA,
    DESKTOP,
    PHONE,
    RUN_TIMEOUT,
    dashboard_url,
    horizontal_overflow,
    serious_accessibility_violations,
    wait_for_polls,
)

DOCS = ROOT / "docs"


def open_page(
    browser: Browser,
    cloud: LocalCloud,
    request: pytest.FixtureRequest,
    viewport: dict[str, int],
    hash_: str = "",
    poll_ms: int = 700,
) -> Page:
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    page.goto(dashboard_url(cloud, poll_ms))
    expect(page.get_by_test_id("champion")).not_to_have_text("Loading…")
    if hash_:
        page.evaluate(f"location.hash = {json.dumps(hash_)}")
    return page


def push(target: Target, train: str, *, test: str | None = None) -> str:
    runs = target.call("GET", "/runs")
    before = str(runs[0]["run_id"]) if runs else ""
    data_push(target, DATA / train, "reviews", DATA / test if test else None)
    return latest_run_id(target, newer_than=before)


def wait_pending(target: Target, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + RUN_TIMEOUT / 1000
    while True:
        for pending in target.call("GET", "/approvals"):
            if pending["run_id"] == run_id:
                return dict(pending)
        assert time.monotonic() < deadline, f"run {run_id} never asked for approval"
        time.sleep(0.5)


def focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement === document.body ? 'BODY' : document.activeElement.tagName"))


# 1. Before any data ---------------------------------------------------------------------------------------------


def test_nothing_is_said_about_approvals_before_the_data_arrives(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    seen: list[bool] = []

    def slow(route):  # type: ignore[no-untyped-def]
        seen.append(page.get_by_test_id("no-approvals").is_visible())
        time.sleep(1.2)
        route.continue_()

    page.route("**/v1/console/approvals*", slow)
    page.goto(dashboard_url(cloud))
    expect(page.get_by_test_id("approvals-loading")).to_be_visible()
    expect(page.get_by_test_id("no-approvals")).to_be_visible(timeout=15_000)
    assert seen
    assert not any(seen)  # while the first answer was on its way, no "Nothing is waiting"
    context.close()


# 2. The first model: accepted on its own version page -----------------------------------------------------------


def test_a_pending_version_page_has_accept_and_reject_with_its_expiry(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest
) -> None:
    run_id = push(target, "train_v1.csv", test="test.csv")
    wait_pending(target, run_id)
    page = open_page(browser, cloud, request, DESKTOP, "#/versions/1")
    expect(page).to_have_title(re.compile(r"^\(1 pending\) v1 · Challenger"))
    expect(page.get_by_test_id("pending-count")).to_have_text("1 waiting for approval")
    here = page.get_by_test_id("pending-here")
    expect(here.get_by_test_id("approval-times")).to_contain_text("expires")
    expect(here.get_by_test_id("approval-times")).to_contain_text(re.compile(r"\(in \d+ (h|d|min)"))
    assert serious_accessibility_violations(page) == []  # the pending state
    here.get_by_label("Comment").fill("first model, from its own page")
    here.get_by_role("button", name="Accept v1").click()
    expect(page.get_by_test_id("toast").last).to_contain_text("v1 approved")
    expect(page.get_by_test_id("pending-here")).to_have_count(0)
    page.wait_for_timeout(1500)  # the poll after the decision has rendered: focus is still on the page
    assert focused(page) != "BODY"  # focus went to the page's heading, not nowhere
    assert page.url.endswith("#/versions/1")
    runs_wait(target, run_id, timeout=RUN_TIMEOUT / 1000, echo=lambda _: None)
    expect(page.get_by_test_id("champion")).to_have_text("Champion: v1")
    expect(page.get_by_test_id("endpoint-state")).to_have_text("Endpoint InService")
    expect(page.get_by_test_id("topbar")).to_have_attribute("data-health", "ok")
    page.context.close()


# 3. A second challenger, rejected by a person on its run page ----------------------------------------------------


def test_a_human_rejection_says_who_rejected_and_why(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest
) -> None:
    run_id = push(target, "train_v2.csv")
    wait_pending(target, run_id)
    page = open_page(browser, cloud, request, DESKTOP, f"#/runs/{run_id}")
    here = page.get_by_test_id("pending-here")
    expect(here.get_by_test_id("approval-card")).to_have_attribute("data-version", "2")
    here.get_by_label("Comment").fill("not on a Friday")
    here.get_by_role("button", name="Reject v2").click()
    expect(page.get_by_test_id("toast").last).to_contain_text("v2 rejected")
    page.wait_for_timeout(1500)  # the poll after the decision has rendered: focus is still on the page
    assert focused(page) != "BODY"
    runs_wait(target, run_id, timeout=RUN_TIMEOUT / 1000, echo=lambda _: None)
    page.evaluate("location.hash = '#/versions/2'")
    rejection = page.get_by_test_id("human-rejection")
    expect(rejection).to_contain_text("Rejected by")
    expect(rejection).to_contain_text("not on a Friday")
    # The policy's rules (all passed) are not presented as the reason it was rejected.
    expect(page.get_by_test_id("version-verdict").get_by_role("heading")).to_have_text("The policy's verdict")
    page.context.close()


# 4. v3 live, then a rollback to v1 with a reason -----------------------------------------------------------------


@pytest.fixture(scope="module")
def v3_live(target: Target) -> None:
    if 3 not in {int(model["version"]) for model in target.call("GET", "/models")}:
        # The data of the rejected v2 again: unchanged, so retrained only when forced.
        data_push(target, DATA / "train_v2.csv", "reviews", None)
        started = target.call("POST", "/runs", {"force": True}, operator=True)
        assert started["started"], started
        run_id = str(started["run_id"])
        wait_pending(target, run_id)
        target.call("POST", f"/runs/{run_id}/approval", {"decision": "approve", "comment": "again"}, operator=True)
        assert runs_wait(target, run_id, timeout=RUN_TIMEOUT / 1000, echo=lambda _: None)["outcome"] == "DEPLOYED"


def test_compare_shows_each_versions_own_numbers_in_one_column_order(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest, v3_live: None
) -> None:
    # v2 and v3 were each judged against v1; neither against the other: no paired numbers between them.
    v2, v3 = target.call("GET", "/models/2"), target.call("GET", "/models/3")
    page = open_page(browser, cloud, request, DESKTOP, "#/compare/2/3")
    expect(page.get_by_test_id("detail-title")).to_have_text("v2 and v3 side by side")
    expect(page).to_have_title("v2 vs v3 · Challenger")
    metrics = page.get_by_test_id("compare-metrics")
    for name in ("accuracy", "f1"):
        row = metrics.get_by_test_id(f"compare-{name}")
        expect(row.get_by_test_id("challenger-value")).to_have_text(f"{v2['metrics'][name]:.3f}")
        expect(row.get_by_test_id("champion-value")).to_have_text(f"{v3['metrics'][name]:.3f}")
        expect(row.get_by_test_id("ci")).to_have_count(0)  # no interval that belongs to another comparison
    heads = metrics.locator("thead th").all_inner_texts()
    provenance = page.get_by_test_id("compare-facts").locator("thead th").all_inner_texts()
    assert heads[1:3] == provenance == ["v2", "v3"]
    page.context.close()


def test_a_rollback_records_its_reason_and_the_chart_draws_it(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest, v3_live: None
) -> None:
    page = open_page(browser, cloud, request, DESKTOP)
    page.get_by_test_id("rollback-1").click()
    dialog = page.get_by_test_id("rollback-dialog")
    dialog.get_by_label("Reason").fill("v3 misreads sarcasm")
    dialog.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_test_id("deploying")).to_be_focused()  # not <body>: the banner says what happens
    expect(page.get_by_test_id("champion")).to_have_text("Champion: v1", timeout=RUN_TIMEOUT)
    audit = target.call("GET", "/audit", operator=True)["entries"]
    rollback = next(entry for entry in audit if entry["action"].lower() == "rollback")
    assert rollback["comment"] == "v3 misreads sarcasm"
    # The champions' line goes back to v1: the rollback is on the chart.
    expect(page.get_by_test_id("chart-f1")).to_have_attribute("data-history", "1,3,1")
    ticks = page.get_by_test_id("chart-f1").get_attribute("data-y-ticks") or ""
    labels = ticks.split("|")
    assert len(labels) <= 7, ticks
    assert len(set(labels)) == len(labels), ticks
    gaps = {round(float(b) - float(a), 3) for a, b in itertools.pairwise(labels)}
    assert len(gaps) == 1, ticks  # evenly spaced, the ends included: no two labels crowd each other
    page.context.close()


def test_the_chart_time_axis_is_local_like_the_tables(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None
) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Asia/Tokyo")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    page.goto(dashboard_url(cloud))
    page.get_by_label("training time").check()
    chart = page.get_by_test_id("chart-f1")
    expect(chart).to_have_attribute("data-x-ticks", re.compile(r"\d"))
    hours = {
        int(label.split(" ")[-1].split(":")[0]) for label in (chart.get_attribute("data-x-ticks") or "").split("|")
    }
    utc_hour = time.gmtime().tm_hour
    assert (utc_hour + 9) % 24 in hours or (utc_hour + 8) % 24 in hours, hours  # Tokyo time, not UTC
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_the_live_block_says_what_serves_how_it_got_there_and_whether_it_is_ok(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None, viewport: dict[str, int]
) -> None:
    page = open_page(browser, cloud, request, viewport)
    live = page.get_by_test_id("live")
    expect(live.get_by_test_id("live-champion")).to_contain_text("v1")
    expect(live.get_by_test_id("live-how")).to_contain_text("rolled back to by")
    expect(live.get_by_test_id("live-how")).to_contain_text("v3 misreads sarcasm")
    expect(live.get_by_test_id("live-endpoint")).to_contain_text("InService")
    expect(live.get_by_test_id("live-endpoint")).to_have_attribute("data-bad", "false")
    expect(live).to_have_attribute("data-state", "ok")
    assert horizontal_overflow(page) == 0
    assert serious_accessibility_violations(page) == []
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_activity_is_one_filterable_timeline_with_each_versions_live_periods(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None, viewport: dict[str, int]
) -> None:
    page = open_page(browser, cloud, request, viewport)
    page.get_by_test_id("nav-activity").click()
    expect(page).to_have_title("Activity · Challenger")
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    rows = page.get_by_test_id("happening")
    expect(rows.filter(has_text="not on a Friday")).to_have_count(1)  # the human rejection, with its comment
    expect(rows.filter(has_text="v3 misreads sarcasm")).to_have_count(1)  # the rollback, with its reason
    expect(page.locator('[data-testid="happening"][data-kind="run"]').first).to_be_visible()
    # Who served when: v1, then v3, then v1 again (newest first); the rejected v2 never served.
    expect(page.get_by_test_id("live-period").first).to_contain_text("live now")
    versions = page.get_by_test_id("live-period").evaluate_all("els => els.map(e => e.dataset.version)")
    assert versions == ["1", "3", "1"], versions
    page.get_by_test_id("activity-kind").select_option("deployment")
    expect(rows.first).to_be_visible()
    assert set(rows.evaluate_all("els => els.map(e => e.dataset.kind)")) == {"deployment"}
    page.get_by_test_id("activity-kind").select_option("all")
    page.get_by_test_id("activity-text").fill("sarcasm")
    expect(rows).to_have_count(1)
    assert horizontal_overflow(page) == 0
    assert serious_accessibility_violations(page) == []
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_monitoring_shows_requests_per_hour_and_version_and_the_drift_checks(
    browser: Browser,
    cloud: LocalCloud,
    target: Target,
    request: pytest.FixtureRequest,
    v3_live: None,
    viewport: dict[str, int],
) -> None:
    target.call("POST", "/predict", {"instances": ["great phone", "broke in a day"]})
    page = open_page(browser, cloud, request, viewport)
    page.get_by_test_id("nav-monitoring").click()
    expect(page).to_have_title("Monitoring · Challenger")
    expect(page.get_by_test_id("drift-history")).to_be_visible()
    expect(page.get_by_test_id("hourly").get_by_role("heading")).to_have_text("Requests per hour and version")
    expect(page.get_by_test_id("hour-row").first).to_be_visible()
    assert horizontal_overflow(page) == 0
    assert serious_accessibility_violations(page) == []
    page.context.close()


# 5. Reading and deciding on a phone, with a keyboard, with a screen reader --------------------------------------


def test_outbox_emails_stay_open_across_polls(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None
) -> None:
    page = open_page(browser, cloud, request, DESKTOP, poll_ms=400)
    email = page.get_by_test_id("outbox-item").first.locator("details")
    email.locator("summary").click()
    expect(email).to_have_attribute("open", "")
    wait_for_polls(page, 3)
    expect(email).to_have_attribute("open", "")
    page.context.close()


def test_route_changes_and_the_skip_link_keep_focus_on_the_page(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None
) -> None:
    page = open_page(browser, cloud, request, DESKTOP, poll_ms=400)
    page.get_by_test_id("model-row").filter(has_text="v2").get_by_test_id("version-link").click()
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    wait_for_polls(page, 2)  # a poll's morph keeps the heading focusable and focused
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    expect(page).to_have_title("v2 · Challenger")
    page.keyboard.press("Shift+Tab")  # back to the top, then the skip link
    page.evaluate("document.querySelector('.skip').focus()")
    page.keyboard.press("Enter")
    assert page.url.endswith("#/versions/2")  # still the detail page, not the overview
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    page.context.close()


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast of an element's text colour against its own background."""
    return float(
        page.evaluate(
            """(selector) => {
                const el = document.querySelector(selector); const style = getComputedStyle(el);
                const lum = (css) => { const [r, g, b] = css.match(/\\d+/g).slice(0, 3).map(Number).map((v) => {
                    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
                const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
                return (a + 0.05) / (b + 0.05);
            }""",
            selector,
        )
    )


def test_status_badges_and_the_running_pulse_keep_their_contrast(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None
) -> None:
    page = open_page(browser, cloud, request, DESKTOP)
    page.evaluate(
        """() => { const b = document.createElement('span'); b.className = 'badge staged'; b.id = 'probe-staged';
                   b.textContent = 'STAGED'; document.body.append(b);
                   const s = document.createElement('li'); s.className = 'step entered'; s.id = 'probe-step';
                   s.textContent = 'Train'; document.body.append(s); }"""
    )
    assert contrast(page, "#probe-staged") >= 4.5
    opacities = set()
    for _ in range(8):
        opacities.add(page.evaluate("getComputedStyle(document.querySelector('#probe-step')).opacity"))
        page.wait_for_timeout(180)
    assert opacities == {"1"}, opacities  # the pulse never fades the text
    assert contrast(page, "#probe-step") >= 4.5
    page.context.close()


def test_a_phone_shows_the_deciding_column_and_big_enough_targets(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest, v3_live: None
) -> None:
    page = open_page(browser, cloud, request, PHONE, "#/compare/3/1")
    for hash_ in ("#/compare/3/1", "#/versions/3", "#/versions/2"):
        page.evaluate(f"location.hash = {json.dumps(hash_)}")
        expect(page.get_by_test_id("detail-title")).to_be_visible()
        delta = page.get_by_test_id("compare-f1").first.get_by_test_id("delta")
        expect(delta).to_be_visible()
        box = delta.bounding_box()
        assert box is not None
        assert box["x"] >= 0, (hash_, box)
        assert box["x"] + box["width"] <= PHONE["width"], (hash_, box)
        assert horizontal_overflow(page) == 0, hash_
        assert serious_accessibility_violations(page) == [], hash_
    page.evaluate("location.hash = '#/'")
    expect(page.get_by_test_id("overview")).to_be_visible()
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, select, summary, input, a')]
            .filter((el) => el.offsetParent !== null && !el.closest('p, pre, .skip, .visually-hidden, dialog'))
            .filter((el) => { const r = el.getBoundingClientRect(); return r.width < 24 || r.height < 24; })
            .map((el) => `${el.parentElement?.className}>${el.outerHTML.slice(0, 80)}`)"""
    )
    assert small == [], small
    page.context.close()


# 6. Cheap polling ------------------------------------------------------------------------------------------------


def test_an_idle_tab_polls_a_bounded_number_of_times_and_a_hidden_tab_none(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, v3_live: None
) -> None:
    poll_ms, seconds = 1000, 12
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    stamps: list[float] = []
    not_modified: list[str] = []
    page.on("request", lambda r: stamps.append(time.monotonic()) if "/v1/" in r.url or "/_local/" in r.url else None)
    page.on("response", lambda r: not_modified.append(r.url) if r.status == 304 else None)
    page.goto(dashboard_url(cloud, poll_ms))
    expect(page.get_by_test_id("champion")).to_have_text(re.compile(r"Champion: v\d"))
    page.wait_for_timeout(2000)  # the first poll's extra requests (details, monitoring) are over
    start, count = time.monotonic(), len(stamps)
    page.wait_for_timeout(seconds * 1000)
    per_minute = (len(stamps) - count) * 60 / (time.monotonic() - start)
    assert per_minute <= 5 * 60_000 / poll_ms * 1.2, per_minute  # five list requests per poll at most
    # Nothing changed: the lists came back as empty 304s, and after 10 such polls the page polls 5x less often.
    polled = {url.split("?")[0].rsplit("/", 1)[-1] for url in not_modified}  # /models?limit=50: paginated (#22)
    assert polled >= {"health", "models", "runs", "approvals"}, not_modified
    print(f"idle requests per minute at poll={poll_ms} ms: {per_minute:.0f}")
    # After 10 unchanged polls the page polls 5x less often (docs/dashboard.md: the idle cost per tab per day).
    start, count = time.monotonic(), len(stamps)
    page.wait_for_timeout(10_000)
    quiet_per_minute = (len(stamps) - count) * 60 / (time.monotonic() - start)
    print(f"quiet requests per minute at poll={poll_ms} ms: {quiet_per_minute:.0f}")
    assert quiet_per_minute <= 5 * 60_000 / (poll_ms * 5) * 1.5, quiet_per_minute
    # Hidden: no request at all.
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
                   Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    page.wait_for_timeout(1500)  # a poll already in flight ends
    hidden_from = len(stamps)
    page.wait_for_timeout(5 * poll_ms)
    assert len(stamps) == hidden_from, len(stamps) - hidden_from
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
                   Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
                   document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    page.wait_for_timeout(500)
    assert len(stamps) > hidden_from  # visible again: it polls at once
    context.close()


# 7. Last: the endpoint dies ---------------------------------------------------------------------------------------


def test_a_dead_endpoint_turns_the_header_red_within_one_poll(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest, v3_live: None
) -> None:
    poll_ms = 1000
    page = open_page(browser, cloud, request, DESKTOP, poll_ms=poll_ms)
    expect(page.get_by_test_id("topbar")).to_have_attribute("data-health", "ok")
    name = target.call("GET", "/health")["endpoint"]["name"]
    sagemaker = boto3.client("sagemaker", endpoint_url=cloud.sagemaker.url, region_name=cloud.region)
    sagemaker.delete_endpoint(EndpointName=name)
    killed = time.monotonic()
    expect(page.get_by_test_id("topbar")).to_have_attribute("data-health", "degraded", timeout=2 * poll_ms + 3000)
    assert time.monotonic() - killed <= 2 * poll_ms + 3, "not within one poll"
    expect(page.get_by_test_id("endpoint-state")).not_to_have_text("Endpoint InService")
    expect(page.get_by_test_id("live-endpoint")).to_have_attribute("data-bad", "true")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "bad")
    expect(page.get_by_test_id("champion")).to_have_text(re.compile(r"Champion: v\d"))  # the registry's pointer
    assert target.call("GET", "/health")["status"] == "degraded"
    assert serious_accessibility_violations(page) == []  # the degraded state
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_no_serious_accessibility_violation_while_running_failed_or_offline(
    browser: Browser, cloud: LocalCloud, target: Target, request: pytest.FixtureRequest, viewport: dict[str, int]
) -> None:
    page = open_page(browser, cloud, request, viewport, poll_ms=400)
    run_id = push(target, "bad_missing_column.csv")
    run = page.locator(f'[data-testid="run"][data-run-id="{run_id}"]')
    expect(run).to_be_visible()
    assert serious_accessibility_violations(page) == []  # running, or already failed: whichever it is now
    expect(run).to_have_attribute("data-status", "FAILED", timeout=RUN_TIMEOUT)
    assert serious_accessibility_violations(page) == []  # failed
    page.route("**/v1/console/**", lambda route: route.abort("connectionrefused"))
    expect(page.get_by_test_id("api-unreachable")).to_contain_text("etrying in")  # "Showing the last data; retrying…"
    assert serious_accessibility_violations(page) == []  # offline
    page.context.close()
