from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from challenger_core.models import Approval, AuditAction, ModelStatus, utcnow
from challenger_core.registry import Registry
from tests.support.events import load_event
from tests.support.fake_sagemaker import fake_predict
from tests.support.lambda_context import context
from tests.support.recipes import recipe_json, tabular
from tests.support.stack import ROOT, Stack
from tests.unit.functions.api_support import (
    call,
    live_model,
    put_model,
    settings_with,
    signed_fields,
    waiting_approval,
    workflow_with,
)


def test_health_reports_the_champion(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "health"))
    assert (status, body["status"], body["champion_version"]) == (200, "ok", None)
    assert body["policy"]["approval_mode"] == stack.env.get("APPROVAL_MODE", "auto")
    assert body["prediction"]["score"] == "probability of the positive class (positive)"  # the recipe's words
    live_model(stack)
    assert call(stack, load_event("api", "health"))[1]["champion_version"] == 3


def test_health_is_degraded_when_the_champions_endpoint_is_dead(stack: Stack) -> None:
    # Issue 22: the registry still names a champion, but its endpoint is gone or failed: not "ok".
    live_model(stack)
    body = call(stack, load_event("api", "health"))[1]
    assert (body["status"], body["endpoint"]["status"]) == ("ok", "InService")
    stack.sagemaker.endpoints["challenger"]["status"] = "Failed"
    body = call(stack, load_event("api", "health"))[1]
    assert (body["status"], body["endpoint"]["status"], body["champion_version"]) == ("degraded", "Failed", 3)
    del stack.sagemaker.endpoints["challenger"]
    body = call(stack, load_event("api", "health"))[1]
    assert (body["status"], body["endpoint"]["status"]) == ("degraded", "Missing")


def test_health_names_the_recipes_classes_in_its_order(stack: Stack) -> None:
    # The CLI labels predictions and confusion matrices with these (issue 21), whatever the recipe.
    status, body = call(stack, load_event("api", "health"))
    assert (status, body["prediction"]["labels"]) == (200, {"0": "negative", "1": "positive"})
    assert body["prediction"]["class_names"] == ["negative", "positive"]  # the confusion matrix's order, as a list


def test_health_serves_the_recipes_example_for_the_dashboards_form(stack: Stack) -> None:
    # The dashboard's inference form starts with these (issue 21): the recipe's, not a product review for every task.
    _, body = call(stack, load_event("api", "health"))
    example = json.loads((ROOT / "recipes" / "sentiment" / "recipe.json").read_text())["request"]["example"]
    assert body["prediction"]["example"] == example


def test_predict_without_a_live_model_is_503_with_a_reason(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "predict"))
    assert status == 503
    assert body["message"].startswith("no model is live yet")


def test_predict_answers_with_the_version(stack: Stack) -> None:
    live_model(stack)
    status, body = call(stack, load_event("api", "predict"))
    assert status == 200
    assert body["model_version"] == 3
    # The shorthand (a bare string) is sent to the endpoint as the recipe's record.
    sent = [{"review_text": "I love this, it works great!"}, {"review_text": "Broke after a day. Awful."}]
    assert body["predictions"] == [fake_predict(instance) for instance in sent]


def test_predict_refuses_an_answer_without_the_recipes_prediction_fields(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_model(stack)
    monkeypatch.setattr(
        stack.sagemaker,
        "invoke_with_variant",
        lambda *_args, **_kw: (json.dumps({"predictions": [{"label": 1}] * 2}).encode(), None),
    )
    status, _body = call(stack, load_event("api", "predict"))
    assert status == 502


def test_predict_rejects_empty_instances(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "predict_empty"))
    assert status == 422
    assert "instances" in json.dumps(body)


def test_predict_rejects_malformed_json(stack: Stack) -> None:
    status, _ = call(stack, load_event("api", "predict_malformed"))
    assert status == 422


def test_predict_rejects_records_the_recipe_cannot_read(stack: Stack) -> None:
    event = load_event("api", "predict")
    event["body"] = json.dumps({"instances": [{"text": "wrong field"}]})
    status, body = call(stack, event)
    assert status == 422
    assert "review_text" in json.dumps(body)


def tabular_stack(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack runs the tabular test recipe instead of the bundled one."""
    monkeypatch.setenv("RECIPE", "plants")
    stack.s3.put_object(
        Bucket=stack.env["ARTIFACT_BUCKET"], Key="recipes/plants/recipe.json", Body=recipe_json(tabular())
    )


def test_predict_checks_records_by_the_recipes_feature_types(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tabular_stack(stack, monkeypatch)
    live_model(stack)
    event = load_event("api", "predict")
    good = {"height": 12.5, "soil": "clay", "note": "tall"}
    event["body"] = json.dumps({"instances": [good]})
    status, body = call(stack, event)
    assert (status, body["predictions"]) == (200, [fake_predict(good)])
    bad = [
        {"height": 150, "soil": "clay", "note": "x"},  # above max
        {"height": 1, "soil": "gravel", "note": "x"},  # not one of the values
        {"height": 1, "soil": "sand", "note": "x" * 31},  # longer than max_length
        {"height": 1, "soil": "sand"},  # a feature missing
        "a bare value",  # this recipe declares no shorthand
    ]
    event["body"] = json.dumps({"instances": bad})
    status, body = call(stack, event)
    assert status == 422
    where = {tuple(item["loc"][:3]) for item in body["detail"]}
    assert {
        ("body", "instances", 0),
        ("body", "instances", 1),
        ("body", "instances", 2),
        ("body", "instances", 3),
        ("body", "instances", 4),
    } <= where
    event["body"] = json.dumps({"instances": [{**good, "height": "NaN"}]})
    assert call(stack, event)[0] == 422


def test_the_openapi_document_shows_the_recipes_records(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _, document = call(stack, load_event("api", "openapi"))
    schemas = document["components"]["schemas"]
    assert schemas["Instance"]["properties"]["review_text"]["maxLength"] == 20000
    assert schemas["PredictionRecord"]["required"] == ["label", "label_name", "score"]
    assert schemas["PredictResponse"]["properties"]["predictions"]["items"] == {
        "$ref": "#/components/schemas/PredictionRecord"
    }
    assert set(schemas["Prediction"]["properties"]) == {"fields", "score", "labels", "class_names", "example"}
    instances = schemas["PredictRequest"]["properties"]["instances"]["items"]["anyOf"]
    assert {"$ref": "#/components/schemas/Instance"} in instances
    assert any(item.get("type") == "string" for item in instances)  # the shorthand
    tabular_stack(stack, monkeypatch)
    stack.modules.clear()  # a new container of the other stack
    _status, document = call(stack, load_event("api", "openapi"))
    schemas = document["components"]["schemas"]
    assert set(schemas["Instance"]["properties"]) == {"height", "soil", "note"}
    assert schemas["Instance"]["properties"]["soil"]["enum"] == ["clay", "sand", "loam"]
    assert "review_text" not in json.dumps(document)


def test_predict_rejects_payloads_over_the_endpoint_limit(stack: Stack) -> None:
    live_model(stack)
    event = load_event("api", "predict")
    event["body"] = json.dumps({"instances": ["x" * 19_000] * 230})
    assert call(stack, event)[0] == 413


def test_endpoint_failure_is_a_502_without_internals(stack: Stack) -> None:
    live_model(stack)
    stack.sagemaker.invoke_error = "sagemaker-runtime InvokeEndpoint challenger: InternalFailure: boom"
    status, body = call(stack, load_event("api", "predict"))
    assert status == 502
    assert "boom" not in body["message"]


# Approval links ----------------------------------------------------------------------------------


@pytest.fixture
def pending(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> tuple[Approval, list[tuple[str, dict[str, Any]]]]:
    return waiting_approval(stack, monkeypatch)


def page(stack: Stack, fields: dict[str, str]) -> tuple[int, str]:
    event = load_event("api", "approval_page")
    event["queryStringParameters"] = fields
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in fields.items()}
    status, body = call(stack, event)
    return status, str(body)


def post(stack: Stack, fields: dict[str, str]) -> tuple[int, str]:
    event = load_event("api", "approval_decide")
    event["body"] = urlencode(fields)
    status, body = call(stack, event)
    return status, str(body)


def test_link_opens_a_confirmation_page_and_decides_nothing(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    status, body = page(stack, signed_fields(approval, "approve"))
    assert status == 200
    assert "<form method=post>" in body
    assert "Approve v4" in body
    assert f"expires {approval.expires_at:%Y-%m-%d %H:%M} UTC" in body  # what the person is deciding, and until when
    assert "v4 against no champion yet" in body
    assert "href='/#/versions/4'" in body  # the dashboard's page of the version (same origin locally)
    assert resumed == []
    assert Registry(stack.ddb, stack.env["MODELS_TABLE"]).get_approval(approval.approval_id).status.value == "PENDING"


def test_confirming_approves_once_and_resumes_the_pipeline(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    status, body = post(stack, signed_fields(approval, "approve"))
    assert status == 200
    assert "v4 approved" in body
    assert resumed == [("tok", {"approved": True, "actor": "email link", "comment": ""})]
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    assert registry.get_approval(approval.approval_id).status.value == "APPROVED"
    assert registry.get_model(4).status is ModelStatus.APPROVED


def test_the_confirmation_page_records_a_comment(stack: Stack, pending: Any) -> None:
    # Issue 22: the email's confirmation page has a comment field; the decision carries it.
    approval, resumed = pending
    assert "name=comment" in page(stack, signed_fields(approval, "reject"))[1]
    status, _ = post(stack, {**signed_fields(approval, "reject"), "comment": "labels look shuffled"})
    assert status == 200
    assert resumed == [("tok", {"approved": False, "actor": "email link", "comment": "labels look shuffled"})]


def test_replayed_link_is_refused_and_changes_nothing(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    post(stack, signed_fields(approval, "reject"))
    status, body = post(stack, signed_fields(approval, "approve"))
    assert status == 409
    assert "already decided" in body
    assert len(resumed) == 1
    assert Registry(stack.ddb, stack.env["MODELS_TABLE"]).get_approval(approval.approval_id).status.value == "REJECTED"


def test_tampered_link_is_refused_and_changes_nothing(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    fields = signed_fields(approval, "reject") | {"decision": "approve"}
    status, body = post(stack, fields)
    assert status == 403
    assert "signature does not match" in body
    assert resumed == []
    assert page(stack, fields)[0] == 403


def test_incomplete_link_is_refused(stack: Stack, pending: Any) -> None:
    status, body = post(stack, {"decision": "approve"})
    assert status == 403
    assert "incomplete" in body


def test_unknown_approval_is_404(stack: Stack, pending: Any) -> None:
    approval, _ = pending
    fields = signed_fields(approval.model_copy(update={"approval_id": "f" * 32}), "approve")
    event = load_event("api", "approval_decide")
    event["pathParameters"] = {"approval_id": "f" * 32}
    event["path"] = "/approvals/" + "f" * 32
    event["body"] = urlencode(fields)
    assert call(stack, event)[0] == 404


# Operations: retrain, decide, roll back, watch -------------------------------------------------------


def retired_and_live(stack: Stack) -> None:
    put_model(stack, 1, ModelStatus.RETIRED, model_data_url="s3://a/1.tar.gz")
    live_model(stack, version=2)


def test_model_by_version(stack: Stack) -> None:
    assert call(stack, load_event("api", "model"))[0] == 404
    retired_and_live(stack)
    status, body = call(stack, load_event("api", "model"))
    assert (status, body["version"], body["status"]) == (200, 1, "RETIRED")


def test_retrain_now_starts_a_run(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, str]] = []
    workflow_with(stack, start=lambda arn, name, _: started.append((arn, name)) or "x")
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\nok,1\n")
    status, body = call(stack, load_event("api", "operator_retrain"))
    assert status == 202
    assert body["started"] is True
    assert started[0][1] == body["run_id"]
    again = call(stack, load_event("api", "operator_retrain"))
    assert again[0] == 200
    assert "unchanged since run" in again[1]["reason"]


def test_retrain_unknown_dataset_is_404(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "operator_retrain"))
    assert status == 404
    assert "incoming/reviews/train.csv does not exist" in body["message"]


def test_rollback_redeploys_an_earlier_version(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    workflow_with(stack, start=lambda arn, name, payload: started.append(payload) or "arn:x")
    retired_and_live(stack)
    status, body = call(stack, load_event("api", "operator_rollback"))
    assert (status, body) == (202, {"version": 1, "execution_arn": "arn:x"})
    assert started == [
        {
            "request": {
                "version": 1,
                "reason": "rollback",
                "run_id": None,
                "requested_by": "arn:aws:iam::123456789012:user/ops-alice",
                "comment": "",
            }
        }
    ]


def test_rollback_records_its_reason_in_the_audit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 22: a rollback says why, like an approval or a rejection.
    workflow_with(stack, start=lambda *_: "arn:x")
    retired_and_live(stack)
    event = load_event("api", "operator_rollback")
    event["body"] = json.dumps({"version": 1, "reason": "v3 answers 502 since the restart"})
    assert call(stack, event)[0] == 202
    entries = Registry(stack.ddb, stack.env["MODELS_TABLE"]).list_audit(50)[0]
    entries = [entry for entry in entries if entry.action is AuditAction.ROLLBACK]
    assert [entry.comment for entry in entries] == ["v3 answers 502 since the restart"]


def test_rollback_without_version_picks_the_previous_champion(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow_with(stack, start=lambda *_: "arn:x")
    retired_and_live(stack)
    event = load_event("api", "operator_rollback")
    event["body"] = "{}"
    assert call(stack, event)[1]["version"] == 1


def test_rollback_to_the_live_version_is_a_conflict(stack: Stack) -> None:
    retired_and_live(stack)
    event = load_event("api", "operator_rollback")
    event["body"] = json.dumps({"version": 2})
    status, body = call(stack, event)
    assert (status, body["message"]) == (409, "v2 is already live")


def test_operator_decision_resumes_the_waiting_run(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    event = load_event("api", "operator_decide_run")
    event["pathParameters"] = {"run_id": approval.run_id}
    event["path"] = f"/operator/runs/{approval.run_id}/approval"
    status, body = call(stack, event)
    assert (status, body["decision"]) == (200, "APPROVED")
    assert resumed == [
        ("tok", {"approved": True, "actor": "arn:aws:iam::123456789012:user/ops-alice", "comment": "looks good"})
    ]
    assert call(stack, event)[0] == 404  # nothing is pending any more


def test_run_detail_lists_pipeline_steps(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from challenger_core.models import Run, RunStatus, TriggerSource

    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    run_id = "20261123T101500Z-reviews-3f9a1c2e"
    registry.put_run(
        Run(
            run_id=run_id,
            status=RunStatus.RUNNING,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="f",
            execution_arn="arn:exec",
        )
    )
    history = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "ValidateData"}},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "ValidateData"}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "StartTraining"}},
        {"type": "TaskFailed"},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "StartTraining"}},  # caught
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "RecordFailure"}},
    ]
    workflow_with(stack, history=lambda arn: history)
    status, body = call(stack, load_event("api", "run"))
    assert status == 200
    assert [(step["name"], step["status"]) for step in body["steps"]] == [
        ("ValidateData", "succeeded"),
        ("StartTraining", "failed"),
        ("RecordFailure", "entered"),
    ]


# The shadow stage's longest way (issue 23): poll the shadow endpoint, replay, judge, delete.
SHADOW_STAGE = [
    "StartShadow",
    "ShadowSkipped?",
    "WaitForShadow",
    "CheckShadow",
    "ShadowReady?",
    "ReplayShadow",
    "JudgeShadow",
    "DeleteShadow",
    "ShadowPassed?",
]


@pytest.mark.parametrize(
    ("approval_mode", "ahead"),
    [
        (
            "manual",
            ["Promote?", "RequestApproval", "Approved?", *SHADOW_STAGE, "DeployModel", "RecordDeployed", "Deployed"],
        ),
        # Auto mode never asks for approval (a known bug listed RequestApproval here all the same).
        ("auto", ["Promote?", "NotifyComparison", *SHADOW_STAGE, "DeployModel", "RecordDeployed", "Deployed"]),
    ],
)
def test_a_running_run_lists_the_steps_still_ahead_from_the_asl(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, approval_mode: str, ahead: list[str]
) -> None:
    from challenger_core.models import Run, RunStatus, TriggerSource

    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    registry.put_run(
        Run(
            run_id="20261123T101500Z-reviews-3f9a1c2e",
            status=RunStatus.RUNNING,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="f",
            execution_arn="arn:exec",
        )
    )
    settings_with(stack, approval_mode=approval_mode)
    entered = {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "CompareWithChampion"}}
    workflow_with(stack, history=lambda arn: [entered])
    asl = json.loads((ROOT / "statemachine" / "training_pipeline.asl.json").read_text())
    workflow_with(stack, definition=lambda arn: asl)
    status, body = call(stack, load_event("api", "run"))
    assert status == 200
    # The way to success, never the failure path; a loop's states once.
    assert body["plan"] == ahead


def test_run_whose_history_is_gone_is_410_with_the_reason(stack: Stack) -> None:
    from challenger_core.models import Run, RunStatus, TriggerSource

    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    run_id = "20261123T101500Z-reviews-3f9a1c2e"
    missing = "arn:aws:states:us-east-1:123456789012:execution:challenger-training:gone"  # e.g. a local restart
    registry.put_run(
        Run(
            run_id=run_id,
            status=RunStatus.SUCCEEDED,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="f",
            execution_arn=missing,
        )
    )
    status, body = call(stack, load_event("api", "run"))
    assert status == 410
    assert "execution history is no longer available" in body["message"]


def test_deployment_status_names_the_cause_of_a_failed_rollback(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def describe(arn: str) -> dict[str, Any]:
        seen.append(arn)
        return {"status": "FAILED", "error": "DeploymentFailed", "cause": "endpoint challenger is busy (Updating)"}

    workflow_with(stack, describe=describe)
    settings_with(stack, deployment_pipeline_arn="arn:aws:states:us-east-1:123456789012:stateMachine:c-deployment")
    event = load_event("api", "run")
    event["resource"] = event["requestContext"]["resourcePath"] = "/deployments/{name}"
    event["path"], event["pathParameters"] = (
        "/deployments/rollback-v1-20261201T000000Z",
        {"name": "rollback-v1-20261201T000000Z"},
    )
    status, body = call(stack, event)
    assert (status, body["status"], body["cause"]) == (200, "FAILED", "endpoint challenger is busy (Updating)")
    assert seen == ["arn:aws:states:us-east-1:123456789012:execution:c-deployment:rollback-v1-20261201T000000Z"]


# The dashboard's door (/console), pending approvals, the OpenAPI document -----------------------------


def test_console_routes_are_the_same_operations(stack: Stack) -> None:
    retired_and_live(stack)
    plain = call(stack, load_event("api", "models"))
    console = call(stack, load_event("api", "console_models"))
    assert console[0] == 200
    assert console == plain


def test_console_decision_is_recorded_as_the_signed_in_user(stack: Stack, pending: Any) -> None:
    approval, resumed = pending
    event = load_event("api", "console_decide_run")
    event["pathParameters"] = {"run_id": approval.run_id}
    event["path"] = f"/console/runs/{approval.run_id}/approval"
    status, body = call(stack, event)
    assert (status, body) == (200, {"run_id": "r4", "version": 4, "decision": "REJECTED"})
    assert resumed == [("tok", {"approved": False, "actor": "ops@example.com", "comment": "worse on negatives"})]


def test_pending_approvals_name_the_champion_they_would_replace(stack: Stack, pending: Any) -> None:
    approval, _ = pending
    assert call(stack, load_event("api", "approvals")) == (
        200,
        [
            {
                "approval_id": approval.approval_id,
                "run_id": "r4",
                "version": 4,
                "expires_at": approval.expires_at.isoformat().replace("+00:00", "Z"),
                "champion_version": None,
                "verdict": None,  # the model was put directly, not compared by the pipeline
            }
        ],
    )
    live_model(stack, version=3)
    status, body = call(stack, load_event("api", "approvals"))
    assert (status, body[0]["champion_version"]) == (200, 3)


def test_expired_or_decided_approvals_are_not_pending(stack: Stack, pending: Any) -> None:
    approval, _ = pending
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    registry.put_approval(
        approval.model_copy(update={"approval_id": "e" * 32, "expires_at": utcnow() - timedelta(seconds=1)})
    )
    post(stack, signed_fields(approval, "approve"))
    assert call(stack, load_event("api", "approvals")) == (200, [])


def test_openapi_document_describes_every_operation(stack: Stack) -> None:
    status, document = call(stack, load_event("api", "openapi"))
    assert status == 200
    assert document["info"]["title"] == "Challenger API"
    assert document["servers"] == [{"url": "/v1"}]
    assert document["security"] == [{"apiKey": []}]
    operations = {(method.upper(), path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    assert set(operations) == {  # the key's door: predictions, reads and the approval links, no decisions
        ("GET", "/health"),
        ("POST", "/predict"),
        ("GET", "/models"),
        ("GET", "/models/{version}"),
        ("GET", "/runs"),
        ("GET", "/runs/{run_id}"),
        ("GET", "/approvals"),
        ("GET", "/deployments/{name}"),
        ("GET", "/monitoring"),
        ("GET", "/datasets/{dataset}"),
        ("GET", "/batch"),
        ("GET", "/batch/{batch_id}"),
        ("GET", "/approvals/{approval_id}"),
        ("POST", "/approvals/{approval_id}"),
    }
    for key, operation in operations.items():
        assert operation["summary"], key
        assert operation["description"], key
        assert any(code.startswith("2") for code in operation["responses"]), key
    assert operations[("GET", "/approvals/{approval_id}")]["security"] == [{}]  # the signed link is the credential
    predict = operations[("POST", "/predict")]["responses"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict)


def test_openapi_document_under_console_points_at_console(stack: Stack) -> None:
    status, document = call(stack, load_event("api", "console_openapi"))
    assert status == 200
    assert document["servers"] == [{"url": "/v1/console"}]
    assert document["security"] == [{"cognito": []}]
    assert document["components"]["securitySchemes"]["cognito"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Dashboard, under /console: the signed-in user's Cognito ID token (API Gateway authorizer)",
    }
    assert "/approvals/{approval_id}" not in document["paths"]  # not exposed under /console
    assert {"/runs", "/rollback", "/audit", "/runs/{run_id}/approval"} <= set(document["paths"])


def test_openapi_document_under_operator_names_sigv4(stack: Stack) -> None:
    event = load_event("api", "operator_audit")
    event["path"] = event["resource"] = "/operator/openapi.json"
    status, document = call(stack, event)
    assert status == 200
    assert document["servers"] == [{"url": "/v1/operator"}]
    assert document["security"] == [{"sigv4": []}]
    assert "post" in document["paths"]["/rollback"]
    assert "/approvals/{approval_id}" not in document["paths"]


def test_swagger_ui(stack: Stack) -> None:
    response = stack.handler("api").lambda_handler(load_event("api", "swagger"), context("ApiFunction"))
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["text/html"]


# Bad input: a 4xx with a reason, never a stack trace ----------------------------------------------------


def test_wrong_content_type_is_415(stack: Stack) -> None:
    assert call(stack, load_event("api", "predict_wrong_content_type")) == (
        415,
        {"message": "Content-Type must be application/json"},
    )
    event = load_event("api", "operator_decide_run")
    event["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    event["body"] = "decision=approve"
    assert call(stack, event)[0] == 415


def test_content_type_with_charset_is_json(stack: Stack) -> None:
    event = load_event("api", "predict")
    event["headers"]["Content-Type"] = "application/json; charset=utf-8"
    assert call(stack, event)[0] == 503  # past the body checks: no model is live


def test_body_that_is_not_utf8_is_400(stack: Stack) -> None:
    assert call(stack, load_event("api", "predict_not_utf8")) == (400, {"message": "the body is not UTF-8 JSON"})


def test_malformed_json_says_so(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "predict_malformed"))
    assert (status, body["message"]) == (422, "the body is not valid JSON")


def test_validation_errors_name_the_field_and_the_rule(stack: Stack) -> None:
    event = load_event("api", "predict")
    event["body"] = json.dumps({"instances": [{"review_text": ""}]})
    status, body = call(stack, event)
    assert status == 422
    assert "instances" in body["message"]
    assert {"loc", "type", "msg"} <= set(body["detail"][0])
    assert "Traceback" not in json.dumps(body)


def test_records_the_model_cannot_read_are_400(stack: Stack) -> None:
    live_model(stack)
    stack.sagemaker.invoke_error = "sagemaker-runtime InvokeEndpoint challenger: ModelError: bad input"
    status, body = call(stack, load_event("api", "predict"))
    assert status == 400
    assert body["message"].startswith("the model could not read the instances")


def test_unknown_run_is_404(stack: Stack) -> None:
    status, body = call(stack, load_event("api", "run_unknown"))
    assert status == 404
    assert "20200101T000000Z-nope-00000000" in body["message"]


@pytest.mark.parametrize(("path", "version"), [("/models/0", "0"), ("/models/99999999999999", "99999999999999")])
def test_out_of_range_versions_are_422_not_a_service_error(stack: Stack, path: str, version: str) -> None:
    event = load_event("api", "model")
    event["path"], event["pathParameters"] = path, {"version": version}
    assert call(stack, event)[0] == 422


def test_run_ids_that_cannot_be_keys_are_422(stack: Stack) -> None:
    event = load_event("api", "run_unknown")
    event["path"], event["pathParameters"] = "/runs/" + "x" * 2000, {"run_id": "x" * 2000}
    assert call(stack, event)[0] == 422


def test_dataset_names_are_checked_at_the_edge(stack: Stack) -> None:
    event = load_event("api", "operator_retrain")
    event["body"] = json.dumps({"dataset": "../etc"})
    status, body = call(stack, event)
    assert status == 422
    assert "dataset" in body["message"]


# CORS: the dashboard's origin only ------------------------------------------------------------------------


def test_cors_allows_the_dashboard_origin_only(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_ORIGIN", "https://d111111abcdef8.cloudfront.net")
    module = stack.handler("api")
    preflight = module.lambda_handler(load_event("api", "console_preflight"), context("ApiFunction"))
    headers = {name: values[0] for name, values in preflight["multiValueHeaders"].items()}
    assert preflight["statusCode"] == 204
    assert headers["Access-Control-Allow-Origin"] == "https://d111111abcdef8.cloudfront.net"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]

    other = load_event("api", "console_models")
    other["headers"]["Origin"] = other["multiValueHeaders"]["Origin"][0] = "https://evil.example"
    response = module.lambda_handler(other, context("ApiFunction"))
    assert "Access-Control-Allow-Origin" not in response["multiValueHeaders"]


def test_the_approval_pages_cannot_be_framed(stack: Stack, pending: Any) -> None:
    # Issue 18: the one-click approval page could be framed by any site (clickjacking).
    approval, _ = pending
    for name, fields in (("approval_page", signed_fields(approval, "approve")), ("approval_decide", {})):
        event = load_event("api", name)
        if name == "approval_page":
            event["queryStringParameters"] = fields
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in fields.items()}
        response = stack.handler("api").lambda_handler(event, context("ApiFunction"))
        headers = {k: v[0] for k, v in response["multiValueHeaders"].items()}
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], name
        assert headers["X-Frame-Options"] == "DENY", name
