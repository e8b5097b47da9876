"""The dashboard, as an ML engineer uses it: manual approval mode, from an empty registry to a rollback.

One local cloud for the module, walked in order: empty state → data arrives → the run's steps progress → the
pending approval compares challenger and champion → Accept → v1 live, charted as champion, answering predictions →
better data, v2 approved and live → roll back to v1 through the confirmation dialog → v1 live again.

Each test names the step of that story it starts from (`v1_live`, `v2_live`, `rolled_back_to_v1`): when the tests
before it took the cloud there through the dashboard, the fixture finds it done; run alone, the fixture gets there
through the API. Any single test passes on its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from challenger.cli import Target, data_push, latest_run_id, rollback, runs_wait
from challenger.local.cloud import LocalCloud
from challenger_core.models import NotificationKind
from tests.e2e.conftest import ROOT, new_page

DATA = ROOT / "recipes" / "sentiment" / "data"
# The README's screenshot is refreshed on demand (UPDATE_SCREENSHOTS=1 make test-e2e); by default the
# suite writes it under test-results/ so a test run never modifies tracked files.
SCREENSHOT = (
    ROOT / "docs" / "images" / "dashboard.png"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else ROOT / "test-results" / "dashboard.png"
)
POSITIVE = "Absolutely love it, works perfectly and the battery lasts for days."
RUN_TIMEOUT = 90_000  # ms: a whole training run on the local cloud takes a few seconds; generous for slow CI


def dashboard_url(cloud: LocalCloud, poll_ms: int = 700) -> str:
    """The URL `challenger local up` prints (token in the fragment), polling faster than a person needs."""
    url = json.loads((cloud.state_dir / "local.json").read_text())["dashboard_url"]
    base, fragment = url.split("#", 1)
    return f"{base}?poll={poll_ms}#{fragment}"


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = new_page(browser, request)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def dashboard(browser: Browser, cloud: LocalCloud) -> Iterator[Page]:
    """One tab kept open through the scenario, as on an engineer's screen."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.goto(dashboard_url(cloud))
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> None:
    if "dashboard" in request.fixturenames:
        request.node.e2e_page = request.getfixturevalue("dashboard")


def run_item(page: Page, run_id: str) -> Locator:
    return page.locator(f'[data-testid="run"][data-run-id="{run_id}"]')


def push(target: Target, train: Path, *, test: Path | None = None) -> str:
    runs = target.call("GET", "/runs")
    before = str(runs[0]["run_id"]) if runs else ""
    data_push(target, train, "reviews", test)
    return latest_run_id(target, newer_than=before)


def approve_pending(page: Page, version: int, comment: str) -> None:
    card = page.get_by_test_id("approval-card")
    expect(card).to_have_attribute("data-version", str(version), timeout=RUN_TIMEOUT)
    card.get_by_label("Comment").fill(comment)
    card.get_by_role("button", name=f"Accept v{version}").click()
    expect(page.get_by_test_id("no-approvals")).to_be_visible()


def save_screenshot(page: Page) -> None:
    page.mouse.move(0, 0)  # no tooltip in the picture, and no toast
    page.evaluate("document.querySelectorAll('[data-testid=toast]').forEach((toast) => toast.remove())")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def signed(value: float) -> str:
    """A difference as the dashboard prints it (+0.012, −0.004, ±0.000)."""
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value):.3f}"


def chart(page: Page, metric: str) -> Locator:
    return page.get_by_test_id(f"chart-{metric}")


# The steps of the story a test starts from ------------------------------------------------------------------------


def versions(target: Target) -> set[int]:
    return {int(model["version"]) for model in target.call("GET", "/models")}


def trained_and_approved(target: Target, train: Path, *, test: Path | None = None) -> None:
    """A run on `train`, approved through the API once it asks (what Accept on the dashboard does), to its end."""
    run_id = push(target, train, test=test)
    deadline = time.monotonic() + RUN_TIMEOUT / 1000
    while not any(pending["run_id"] == run_id for pending in target.call("GET", "/approvals")):
        assert time.monotonic() < deadline, f"run {run_id} never asked for approval"
        time.sleep(0.5)
    decision = {"decision": "approve", "comment": "the test's starting point"}
    target.call("POST", f"/runs/{run_id}/approval", decision, operator=True)
    run = runs_wait(target, run_id, timeout=RUN_TIMEOUT / 1000, echo=lambda _: None)
    assert run["outcome"] == "DEPLOYED", run


@pytest.fixture
def v1_live(target: Target) -> None:
    """v1 was approved and went live (test_first_model_waits_for_approval_then_goes_live, on the dashboard)."""
    if 1 not in versions(target):
        trained_and_approved(target, DATA / "train_v1.csv", test=DATA / "test.csv")


@pytest.fixture
def v2_live(target: Target, v1_live: None) -> None:
    """Better data: v2 was approved and replaced v1 (test_a_better_model_is_approved_against_the_champion)."""
    if 2 not in versions(target):
        trained_and_approved(target, DATA / "train_v2.csv")


@pytest.fixture
def rolled_back_to_v1(target: Target, v2_live: None) -> None:
    """v1 serves again, v2 retired after serving (test_rollback_to_v1_after_confirmation)."""
    if target.call("GET", "/health")["champion_version"] != 1:
        rollback(target, 1, timeout=RUN_TIMEOUT / 1000)


# -------------------------------------------------------------------------------------------------


def test_empty_dashboard_says_no_model_yet(dashboard: Page) -> None:
    expect(dashboard.get_by_test_id("empty-models")).to_contain_text("No model yet")
    expect(dashboard.get_by_test_id("empty-runs")).to_contain_text("No runs yet")
    expect(dashboard.get_by_test_id("champion")).to_have_text("No model live")
    expect(dashboard.get_by_test_id("no-approvals")).to_be_visible()
    expect(dashboard.get_by_test_id("stage")).to_have_text("local")
    assert "token=" not in dashboard.url  # the token left the address bar (it lives in sessionStorage)
    # Predicting with nothing live shows the API's reason, not a blank.
    dashboard.get_by_test_id("predict-submit").click()
    expect(dashboard.get_by_test_id("predict-error")).to_contain_text("no model is live yet")
    # Retrain now without any data: the API's reason, not a silent no-op.
    dashboard.get_by_role("button", name="Retrain now").click()
    expect(dashboard.get_by_test_id("toast").last).to_contain_text("no dataset under s3://")
    expect(dashboard.get_by_test_id("empty-runs")).to_be_visible()


def test_first_model_waits_for_approval_then_goes_live(dashboard: Page, target: Target) -> None:
    run_id = push(target, DATA / "train_v1.csv", test=DATA / "test.csv")
    run = run_item(dashboard, run_id)
    expect(run).to_have_attribute("data-status", "RUNNING")
    # Per-state progress: validation done, training done, and the run parked at the approval step.
    expect(run.locator('[data-step="ValidateData"]')).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)
    expect(run.locator('[data-step="Evaluate"]')).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)
    expect(run.locator('[data-step="RequestApproval"]')).to_have_attribute("data-status", "entered")

    card = dashboard.get_by_test_id("approval-card")
    expect(card).to_contain_text("Challenger v1")
    expect(card).to_contain_text("first model")
    f1 = target.call("GET", "/models/1")["metrics"]["f1"]
    expect(card.get_by_test_id("compare-f1").get_by_test_id("challenger-value")).to_have_text(f"{f1:.3f}")
    expect(dashboard.get_by_test_id("champion")).to_have_text("No model live")

    approve_pending(dashboard, 1, "first model, looks fine")
    expect(run).to_have_attribute("data-status", "SUCCEEDED", timeout=RUN_TIMEOUT)
    expect(run.get_by_test_id("outcome")).to_have_text("DEPLOYED")
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v1")
    expect(chart(dashboard, "f1")).to_have_attribute("data-versions", "1")
    expect(chart(dashboard, "f1")).to_have_attribute("data-champion", "1")
    expect(chart(dashboard, "f1")).to_have_attribute("data-point-styles", "star")  # what Chart.js draws
    expect(dashboard.get_by_test_id("chart-canvas-f1")).to_have_attribute(
        "aria-label", re.compile(r"v1 [\d.]+ \(champion\)")
    )
    expect(dashboard.locator('[data-testid="model-row"][data-version="1"]')).to_have_attribute("data-status", "LIVE")

    # The form starts with the recipe's own example (recipe.json request.example via GET /health).
    expect(dashboard.get_by_test_id("predict-text")).to_have_value("Absolutely love it, works perfectly.")
    dashboard.get_by_test_id("predict-text").fill(POSITIVE)
    dashboard.get_by_test_id("predict-submit").click()
    expect(dashboard.get_by_test_id("predict-version")).to_have_text("v1")
    expect(dashboard.get_by_test_id("prediction-label_name")).to_have_text("positive")
    score_heading = dashboard.get_by_test_id("score-heading")
    expect(score_heading).to_have_text("Score: probability of the positive class (positive)")
    score = float(dashboard.get_by_test_id("prediction-score").inner_text())
    assert 0.5 < score <= 1.0

    # Retrain now on unchanged data starts nothing, and says why.
    dashboard.get_by_role("button", name="Retrain now").click()
    expect(dashboard.get_by_test_id("toast").last).to_contain_text("No run started")
    assert len(target.call("GET", "/runs")) == 1

    # The local outbox shows the emails the run sent: the approval request and the deployment.
    outbox = dashboard.get_by_test_id("outbox")
    for kind in (NotificationKind.APPROVAL_REQUEST, NotificationKind.DEPLOYED):
        expect(outbox.locator(f'[data-testid="outbox-item"][data-kind="{kind}"]')).to_contain_text("v1")
    # The email's links can be clicked (the approval page, the dashboard).
    expect(outbox.get_by_test_id("outbox-link").first).to_have_attribute(
        "href", re.compile(r"^http://127\.0\.0\.1:\d+/")
    )


def test_a_better_model_is_approved_against_the_champion(dashboard: Page, target: Target, v1_live: None) -> None:
    run_id = push(target, DATA / "train_v2.csv")
    card = dashboard.get_by_test_id("approval-card")
    expect(card).to_have_attribute("data-version", "2", timeout=RUN_TIMEOUT)
    expect(card).to_contain_text("Challenger v2 vs champion v1")
    # Side by side on the same unseen rows (the training job's paired comparison, which every challenger of a live
    # champion has): the registry's numbers and intervals, not the dashboard's guess.
    paired = target.call("GET", "/models/2")["comparison"]
    assert paired is not None
    assert paired["champion_version"] == 1
    expect(card.get_by_test_id("paired-note")).to_contain_text(f"the same {paired['rows']} unseen rows")
    for metric in ("accuracy", "f1", "roc_auc"):
        row = card.get_by_test_id(f"compare-{metric}")
        expect(row.get_by_test_id("challenger-value")).to_have_text(f"{paired['challenger_metrics'][metric]:.3f}")
        expect(row.get_by_test_id("champion-value")).to_have_text(f"{paired['champion_metrics'][metric]:.3f}")
        low, high = (paired["differences"][metric][end] for end in ("low", "high"))
        expect(row.get_by_test_id("ci")).to_have_text(f"[{signed(low)}, {signed(high)}]")
    expect(card.get_by_test_id("approval-verdict")).to_contain_text("pass")

    # The README's picture: two versions charted, the challenger waiting with its comparison, the run's steps.
    expect(chart(dashboard, "f1")).to_have_attribute("data-versions", "1,2")
    save_screenshot(dashboard)

    # A challenger that was never live is reached through approval, not rollback.
    expect(dashboard.get_by_test_id("rollback-2")).to_have_count(0)
    approve_pending(dashboard, 2, "better data")
    expect(run_item(dashboard, run_id)).to_have_attribute("data-status", "SUCCEEDED", timeout=RUN_TIMEOUT)
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v2")
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        expect(chart(dashboard, metric)).to_have_attribute("data-versions", "1,2")
        expect(chart(dashboard, metric)).to_have_attribute("data-champion", "2")
        expect(chart(dashboard, metric)).to_have_attribute("data-point-styles", "rectRot,star")
    expect(dashboard.locator('[data-testid="model-row"][data-version="1"]')).to_have_attribute("data-status", "RETIRED")

    dashboard.get_by_test_id("predict-submit").click()
    expect(dashboard.get_by_test_id("predict-version")).to_have_text("v2")


def test_rollback_to_v1_after_confirmation(dashboard: Page, target: Target, v2_live: None) -> None:
    dashboard.get_by_test_id("rollback-1").click()
    dialog = dashboard.get_by_test_id("rollback-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Deploy v1 again in place of v2")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert target.call("GET", "/health")["champion_version"] == 2  # cancelling changed nothing

    dashboard.get_by_test_id("rollback-1").click()
    dialog.get_by_role("button", name="Roll back to v1").click()
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v1", timeout=RUN_TIMEOUT)
    expect(dashboard.locator('[data-testid="model-row"][data-version="1"]')).to_have_attribute("data-status", "LIVE")
    expect(chart(dashboard, "f1")).to_have_attribute("data-champion", "1")
    expect(chart(dashboard, "f1")).to_have_attribute("data-point-styles", "star,rectRot")
    dashboard.get_by_test_id("predict-submit").click()
    expect(dashboard.get_by_test_id("predict-version")).to_have_text("v1")


def test_a_bad_file_fails_its_run_with_the_reason_on_screen(
    dashboard: Page, target: Target, rolled_back_to_v1: None
) -> None:
    run_id = push(target, DATA / "bad_missing_column.csv")
    run = run_item(dashboard, run_id)
    expect(run).to_have_attribute("data-status", "FAILED", timeout=RUN_TIMEOUT)
    expect(run.get_by_test_id("run-error")).to_contain_text("missing column(s) 'sentiment'")
    expect(run.locator('[data-step="PipelineFailed"]')).to_have_attribute("data-status", "failed")
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v1")  # the champion keeps serving


def test_a_wrong_token_asks_to_sign_in_again(page: Page, cloud: LocalCloud) -> None:
    page.goto(re.sub(r"#token=.*$", "#token=not-the-token", dashboard_url(cloud)))
    expect(page.get_by_test_id("auth-required")).to_contain_text("Sign in again")
    expect(page.get_by_test_id("auth-message")).to_contain_text("dashboard_url")
    expect(page.get_by_test_id("dashboard")).to_be_hidden()


def test_an_unreachable_api_is_reported_and_retried(page: Page, cloud: LocalCloud, rolled_back_to_v1: None) -> None:
    blocked: list[str] = []

    def refuse(route: object) -> None:
        blocked.append(route.request.url)  # type: ignore[attr-defined]
        route.abort("connectionrefused")  # type: ignore[attr-defined]

    page.route("**/v1/console/**", refuse)
    page.goto(dashboard_url(cloud))
    expect(page.get_by_test_id("api-unreachable")).to_contain_text("cannot be reached")
    page.unroute("**/v1/console/**")
    expect(page.get_by_test_id("api-unreachable")).to_be_hidden()
    expect(page.get_by_test_id("champion")).to_have_text("Champion: v1")
    assert blocked


def test_no_asset_comes_from_outside(page: Page, cloud: LocalCloud, v1_live: None) -> None:
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(re.sub(r"^(\w+://[^/]+).*$", r"\1", request.url)))
    page.goto(dashboard_url(cloud))
    expect(page.get_by_test_id("champion")).to_have_text(re.compile(r"Champion: v\d"))
    assert origins == {cloud.gateway.url}


def test_cognito_sign_in_is_the_code_flow_with_pkce(page: Page, cloud: LocalCloud, v1_live: None) -> None:
    """The AWS configuration, with Cognito's Hosted UI played by the test: authorize, token exchange, sign out."""
    domain = "https://challenger-e2e.auth.us-east-1.amazoncognito.com"
    config = {
        "apiBase": "/v1/console",
        "auth": {
            "mode": "cognito",
            "region": "us-east-1",
            "userPoolId": "us-east-1_e2e",
            "clientId": "e2e-client",
            "domain": domain.removeprefix("https://"),
        },
        "stage": "prod",
    }
    seen: dict[str, dict[str, str]] = {}

    def authorize(route: Route) -> None:
        query = dict(parse_qsl(urlsplit(route.request.url).query))
        seen["authorize"] = query
        location = f"{query['redirect_uri']}?code=the-code&state={query['state']}"
        route.fulfill(status=302, headers={"Location": location})

    def token(route: Route) -> None:
        seen["token"] = dict(parse_qsl(route.request.post_data or ""))
        # The local gateway's authorizer accepts the console token: it plays the ID token here.
        body = {"id_token": cloud.console_token, "access_token": "unused", "expires_in": 3600, "token_type": "Bearer"}
        route.fulfill(json=body, headers={"Access-Control-Allow-Origin": "*"})

    def logout(route: Route) -> None:
        query = dict(parse_qsl(urlsplit(route.request.url).query))
        seen["logout"] = query
        route.fulfill(status=302, headers={"Location": query["logout_uri"]})

    page.route("**/config.json", lambda route: route.fulfill(json=config))
    page.route(re.compile(r"^https://challenger-e2e\.auth\.[^/]+/oauth2/authorize\b"), authorize)
    page.route(re.compile(r"^https://challenger-e2e\.auth\.[^/]+/oauth2/token$"), token)
    page.route(re.compile(r"^https://challenger-e2e\.auth\.[^/]+/logout\b"), logout)
    page.goto(cloud.gateway.url + "/")
    expect(page.get_by_test_id("auth-required")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id("champion")).to_have_text(re.compile(r"Champion: v\d"))
    expect(page.get_by_test_id("stage")).to_have_text("prod")
    assert "code=" not in page.url
    assert "state=" not in page.url
    asked, exchanged = seen["authorize"], seen["token"]
    assert (asked["response_type"], asked["client_id"], asked["code_challenge_method"]) == (
        "code",
        "e2e-client",
        "S256",
    )
    assert asked["redirect_uri"] == cloud.gateway.url + "/"
    assert (exchanged["grant_type"], exchanged["code"], exchanged["client_id"]) == (
        "authorization_code",
        "the-code",
        "e2e-client",
    )
    challenge = base64.urlsafe_b64encode(hashlib.sha256(exchanged["code_verifier"].encode()).digest()).rstrip(b"=")
    assert challenge.decode() == asked["code_challenge"]  # the verifier proves the same browser asked

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("auth-required")).to_be_visible()
    assert seen["logout"] == {"client_id": "e2e-client", "logout_uri": cloud.gateway.url + "/"}


# What breaks for real users: phones, keyboards, screen readers, failures, restarts ---------------------------------

AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"  # pinned in frontend/package-lock.json
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PHONE_SCREENSHOT = SCREENSHOT.with_name("dashboard-phone.png")


def open_dashboard(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, viewport: dict[str, int], poll_ms: int = 700
) -> Page:
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    page.goto(dashboard_url(cloud, poll_ms))
    expect(page.get_by_test_id("champion")).to_have_text(re.compile(r"Champion: v\d"))
    return page


def horizontal_overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def serious_accessibility_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's verdict on the page as it is now, keeping what it rates serious or critical."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations: list[dict[str, object]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
        }))"""
    )
    return [violation for violation in violations if violation["impact"] in ("serious", "critical")]


def wait_for_polls(page: Page, count: int = 2) -> None:
    """Let `count` polls land (each rewrites the "Updated …" time)."""
    for _ in range(count):
        before = page.get_by_test_id("updated").inner_text()
        expect(page.get_by_test_id("updated")).not_to_have_text(before, timeout=15_000)


def test_a_version_page_shows_what_was_measured_and_where_it_came_from(
    dashboard: Page, target: Target, rolled_back_to_v1: None
) -> None:
    v2 = target.call("GET", "/models/2")
    # Charts by training time instead of version number, and back.
    dashboard.get_by_label("training time").check()
    expect(dashboard.get_by_test_id("chart-canvas-f1")).to_have_attribute("aria-label", re.compile(r"by training time"))
    dashboard.get_by_label("version", exact=True).check()
    expect(dashboard.get_by_test_id("chart-canvas-f1")).to_have_attribute("aria-label", re.compile(r"by version"))
    dashboard.get_by_test_id("model-row").filter(has_text="v2").get_by_test_id("version-link").click()
    assert dashboard.url.endswith("#/versions/2")  # linkable
    expect(dashboard.get_by_test_id("detail-title")).to_have_text("Model version 2")
    expect(dashboard.get_by_test_id("version-status")).to_have_text("RETIRED")
    metrics = dashboard.get_by_test_id("version-metrics")
    expect(metrics.get_by_test_id("compare-f1").get_by_test_id("challenger-value")).to_have_text(
        f"{v2['metrics']['f1']:.3f}"
    )
    # Each field shows as soon as the registry records it.
    measured = "Measured on" if v2.get("eval_set") or v2.get("n_test") is not None else "not recorded"
    expect(metrics.get_by_test_id("eval-set")).to_contain_text(measured)
    expect(dashboard.get_by_test_id("confusion-matrix")).to_be_visible()
    matrix_rows = dashboard.get_by_test_id("confusion-matrix").locator("tbody th")
    expect(matrix_rows).to_have_text(["true negative", "true positive"])  # the recipe's class names
    expect(dashboard.get_by_test_id("training-facts")).to_contain_text(v2["training_job_name"])
    expect(dashboard.get_by_test_id("artifact-facts")).to_contain_text(v2["model_data_url"])
    # A retired version that was live can be deployed again: the way forward after a rollback.
    expect(dashboard.get_by_test_id("detail").get_by_test_id("rollback-2")).to_have_text("Deploy v2 again")

    dashboard.get_by_test_id("compare-champion").click()
    assert dashboard.url.endswith("#/compare/2/1")
    expect(dashboard.get_by_test_id("detail-title")).to_have_text("v2 and v1 side by side")
    expect(dashboard.get_by_test_id("compare-metrics").get_by_test_id("compare-f1")).to_be_visible()

    run_id = str(v2["run_id"])
    dashboard.goto(dashboard.url.split("#")[0] + f"#/runs/{run_id}")
    expect(dashboard.get_by_test_id("detail-title")).to_contain_text(run_id)
    steps = dashboard.get_by_test_id("run-steps")
    expect(steps.locator('[data-step="StartTraining"]')).to_contain_text("Start training")  # readable names
    expect(steps.locator('[data-step="TrainingDone?"]')).to_have_count(0)  # a Choice is not a step a person took
    dashboard.get_by_test_id("back").click()
    expect(dashboard.get_by_test_id("overview")).to_be_visible()


def test_keyboard_focus_survives_the_poll(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, rolled_back_to_v1: None
) -> None:
    page = open_dashboard(browser, cloud, request, DESKTOP, poll_ms=500)
    button = page.get_by_test_id("rollback-2")
    button.focus()
    wait_for_polls(page, 3)
    assert page.evaluate("document.activeElement?.dataset.testid") == "rollback-2"
    page.keyboard.press("Enter")  # still the same, working button
    expect(page.get_by_test_id("rollback-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("rollback-dialog")).to_be_hidden()
    # A link in the runs list keeps its focus too.
    page.get_by_test_id("run-link").first.focus()
    wait_for_polls(page, 2)
    assert page.evaluate("document.activeElement?.dataset.testid") == "run-link"
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_no_serious_accessibility_violation(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, viewport: dict[str, int], v1_live: None
) -> None:
    page = open_dashboard(browser, cloud, request, viewport)
    assert serious_accessibility_violations(page) == []
    page.evaluate("location.hash = '#/versions/1'")
    expect(page.get_by_test_id("detail-title")).to_contain_text("Model version 1")
    assert serious_accessibility_violations(page) == []
    page.context.close()


def test_a_phone_shows_everything_without_scrolling_sideways(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest, rolled_back_to_v1: None
) -> None:
    page = open_dashboard(browser, cloud, request, PHONE)
    assert horizontal_overflow(page) == 0
    oldest_run = page.get_by_test_id("run").last.get_attribute("data-run-id")
    for hash_ in ("#/versions/2", "#/compare/1/2", f"#/runs/{oldest_run}"):
        page.evaluate(f"location.hash = {json.dumps(hash_)}")
        expect(page.get_by_test_id("detail-title")).to_be_visible()
        assert horizontal_overflow(page) == 0, hash_
    page.evaluate("location.hash = '#/'")
    expect(page.get_by_test_id("overview")).to_be_visible()
    # Predict and roll back can be reached and clicked; the dialog's buttons are on screen.
    page.get_by_test_id("predict-submit").click()
    expect(page.get_by_test_id("predict-version")).to_have_text("v1")
    assert horizontal_overflow(page) == 0
    page.get_by_test_id("rollback-2").click()
    confirm = page.get_by_test_id("rollback-confirm")
    expect(confirm).to_be_in_viewport()
    box = confirm.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    page.get_by_test_id("rollback-cancel").click()
    page.mouse.move(0, 0)
    PHONE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)
    page.context.close()


def test_a_failed_rollback_clears_its_banner_and_says_why(
    dashboard: Page, target: Target, rolled_back_to_v1: None
) -> None:
    # Break v2's artifact in the bucket: deploying it again must fail, and v1 keep serving. Since issue 18 a deployment
    # loads the pinned copy (models/sha256/<digest>/) and re-copies the registered object version when that copy does
    # not hash right: both must go for the deployment to fail.
    v2 = target.call("GET", "/models/2")
    url = urlsplit(str(v2["model_data_url"]))
    target.s3.put_object(Bucket=url.netloc, Key=url.path.lstrip("/"), Body=b"not a model archive")
    if v2.get("artifact_version_id"):
        target.s3.delete_object(Bucket=url.netloc, Key=url.path.lstrip("/"), VersionId=v2["artifact_version_id"])
    if v2.get("artifact_sha256"):
        pinned = f"models/sha256/{v2['artifact_sha256']}/model.tar.gz"
        target.s3.put_object(Bucket=url.netloc, Key=pinned, Body=b"not the pinned archive")
    dashboard.evaluate("location.hash = '#/'")
    dashboard.get_by_test_id("rollback-2").click()
    dashboard.get_by_test_id("rollback-dialog").get_by_role("button", name="Deploy v2").click()
    banner = dashboard.get_by_test_id("deploying")
    expect(banner).to_contain_text("Deploying v2 again")
    # While it runs, no second rollback can start.
    for button in dashboard.locator('[data-action="rollback"]').all():
        expect(button).to_be_disabled()
    expect(banner).to_be_hidden(timeout=RUN_TIMEOUT)
    expect(dashboard.get_by_test_id("rollback-failed")).to_contain_text("Rollback to v2 failed")
    expect(dashboard.get_by_test_id("rollback-failed")).to_contain_text("v1 keeps serving")
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v1")
    assert target.call("GET", "/health")["champion_version"] == 1
    dashboard.get_by_role("button", name="Dismiss").click()
    expect(dashboard.get_by_test_id("rollback-failed")).to_be_hidden()


def test_a_rejected_challenger_shows_each_rule_passed_or_failed(
    dashboard: Page, target: Target, rolled_back_to_v1: None
) -> None:
    # The champion's own training data again (a forced retrain from the dashboard): the same model, so the primary
    # metric does not improve.
    before = str(target.call("GET", "/runs")[0]["run_id"])
    data_push(target, DATA / "train_v1.csv", "reviews", DATA / "test.csv")
    dashboard.get_by_test_id("retrain-force").check()
    dashboard.get_by_role("button", name="Retrain now").click()
    expect(dashboard.get_by_test_id("toast").last).to_contain_text("started")
    run_id = latest_run_id(target, newer_than=before)
    run = run_item(dashboard, run_id)
    expect(run).to_have_attribute("data-status", "SUCCEEDED", timeout=RUN_TIMEOUT)
    expect(run.get_by_test_id("outcome")).to_have_text("REJECTED")
    rules = run.get_by_test_id("rule")
    expect(rules.first).to_be_visible()
    expect(run.locator('[data-testid="rule"][data-passed="false"]').first).to_be_visible()  # what decided
    expect(run.locator('[data-testid="rule"][data-passed="true"]').first).to_be_visible()  # e.g. the floor
    version = run.get_by_test_id("run-version").inner_text().strip().removeprefix("v")
    expect(dashboard.get_by_test_id(f"rollback-{version}")).to_have_count(0)  # never live: no rollback to it
    expect(dashboard.get_by_test_id("champion")).to_have_text("Champion: v1")


def test_an_idle_page_polls_at_its_rate_even_after_failures_and_a_lost_history(
    browser: Browser, cloud: LocalCloud, request: pytest.FixtureRequest
) -> None:
    """The newest run's history is gone (as after a local restart): one 410, a message, and no request storm."""
    # The core layer is importable once the local cloud has put it on sys.path (as it does for its functions).
    from challenger_core.models import Run, RunOutcome, RunStatus, TriggerSource, utcnow
    from challenger_core.registry import Registry

    registry = Registry(cloud.clients["dynamodb"], cloud.template.ref("ModelsTable"))
    run_id = f"{utcnow():%Y%m%dT%H%M%SZ}-reviews-00000000"
    registry.put_run(
        Run(
            run_id=run_id,
            status=RunStatus.FAILED,
            outcome=RunOutcome.FAILED,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="0" * 64,
            execution_arn=cloud.template.ref("TrainingPipeline").replace(":stateMachine:", ":execution:") + ":gone",
            error="interrupted: the local cloud stopped while this run was in progress",
            ended_at=utcnow(),
        )
    )
    poll_ms, seconds = 1000, 30
    context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    request.node.e2e_page = page
    stamps: list[tuple[float, str]] = []
    page.on("request", lambda r: stamps.append((time.monotonic(), r.url)) if "/v1/" in r.url else None)
    # The API is down for the first polls: the page says so and backs off.
    page.route("**/v1/console/**", lambda route: route.abort("connectionrefused"))
    started = time.monotonic()
    page.goto(dashboard_url(cloud, poll_ms))
    expect(page.get_by_test_id("api-unreachable")).to_contain_text("Retrying in")
    page.wait_for_timeout(3 * poll_ms)
    page.unroute("**/v1/console/**")
    expect(page.get_by_test_id("api-unreachable")).to_be_hidden(timeout=15_000)
    gone = run_item(page, run_id).get_by_test_id("history-gone")
    expect(gone).to_contain_text("no longer available")
    page.wait_for_timeout(max(0, seconds - (time.monotonic() - started)) * 1000)
    window = [(at - started, url) for at, url in stamps if at - started <= seconds]
    per_poll = 5  # health, models, runs, approvals, outbox
    assert len(window) <= per_poll * (seconds * 1000 // poll_ms + 2), len(window)
    busiest = max(sum(1 for at, _ in window if second <= at < second + 1) for second in range(seconds))
    assert busiest <= 2 * per_poll + 2, busiest
    assert sum(1 for _, url in window if url.endswith(f"/runs/{run_id}")) == 1  # a 410 is not asked again
    context.close()
