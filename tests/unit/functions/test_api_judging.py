"""Issue 19 through the API: a dataset's trusted set and policy change only through an operator, with a comment,
versioned and audited; a person may deploy a version the policy kept out, with a reason; the API key cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from challenger_core.models import ModelStatus, RuleOutcome, Verdict
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import (
    OPERATOR_ARN,
    call,
    live_model,
    put_model,
    registry_of,
    through_key_door,
    waiting_approval,
    workflow_with,
)

TRUSTED_CSV = "review_text,sentiment\n" + "".join(
    f"trusted review {i} {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(30)
)
KEEP = Verdict(
    promote=False,
    rules=[RuleOutcome(rule="label-shift", metric="f1", passed=False, detail="apart")],
    decided_by="label-shift f1",
    comparisons=[],
    champion_version=3,
    challenger_version=4,
    label_shift="the new labels disagree with the live model: apart",
    requires_approval=True,
)


@pytest.fixture
def started(stack: Stack) -> list[dict[str, Any]]:
    payloads: list[dict[str, Any]] = []
    workflow_with(stack, start=lambda arn, name, payload: payloads.append(payload) or f"arn:{name}")
    return payloads


def operator(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """An operator-door POST (SigV4 identity) to `path` with a JSON body."""
    event = load_event("api", "operator_rollback")
    event["path"] = event["resource"] = f"/operator{path}"
    event["body"] = json.dumps(body)
    return event


def test_an_operator_replaces_the_trusted_set_with_a_comment_and_the_audit_log_shows_it(stack: Stack) -> None:
    status, body = call(stack, operator("/datasets/reviews/trusted-set", {"csv": TRUSTED_CSV, "comment": "relabelled"}))

    assert status == 201, body
    assert (body["version"], body["rows"], body["set_by"]) == (1, 30, OPERATOR_ARN)
    assert registry_of(stack).get_trusted_set("reviews") is not None
    entries, _ = registry_of(stack).list_audit(10)
    assert [(e.action.value, e.comment) for e in entries] == [("trusted-set", "relabelled")]
    assert "trusted set v1, 30 rows" in entries[0].detail
    status, body = call(stack, operator("/datasets/reviews/trusted-set", {"csv": TRUSTED_CSV, "comment": "again"}))
    assert (status, body["version"]) == (201, 2)  # a new version; v1 stays where it was


def test_a_trusted_set_needs_a_comment_and_valid_rows(stack: Stack) -> None:
    assert call(stack, operator("/datasets/reviews/trusted-set", {"csv": TRUSTED_CSV}))[0] == 422
    status, body = call(stack, operator("/datasets/reviews/trusted-set", {"csv": "a,b\n1,2\n", "comment": "oops"}))
    assert status == 422, body
    assert registry_of(stack).get_trusted_set("reviews") is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/datasets/reviews/trusted-set", {"csv": TRUSTED_CSV, "comment": "sneaky"}),
        ("/datasets/reviews/policy", {"primary_metric": "accuracy", "comment": "sneaky"}),
        ("/deploy", {"version": 4, "comment": "sneaky"}),
    ],
)
def test_the_api_key_cannot_change_how_a_dataset_is_judged_nor_overrule(
    stack: Stack, started: list[dict[str, Any]], path: str, body: dict[str, Any]
) -> None:
    put_model(stack, 4, ModelStatus.REJECTED, model_data_url="s3://a/4.tar.gz", artifact_sha256="a" * 64)
    status, answer = call(stack, through_key_door(operator(path, body)))
    assert status == 403, answer
    assert started == []
    assert registry_of(stack).list_audit(10) == ([], None)


def test_a_policy_version_is_audited_and_read_back(stack: Stack) -> None:
    status, body = call(
        stack,
        operator("/datasets/reviews/policy", {"primary_metric": "accuracy", "comment": "f1 hides the rare class"}),
    )
    assert status == 201, body
    assert (body["version"], body["primary_metric"], body["min_improvement"]) == (1, "accuracy", None)
    read = load_event("api", "models")
    read["path"] = read["resource"] = "/datasets/reviews"
    status, judged = call(stack, read)
    assert (status, judged["policy"]["version"], judged["trusted_set"]) == (200, 1, None)
    entries, _ = registry_of(stack).list_audit(10)
    assert [(e.action.value, e.comment) for e in entries] == [("policy", "f1 hides the rare class")]


def test_a_person_deploys_a_kept_version_with_a_reason_and_the_audit_keeps_what_the_policy_said(
    stack: Stack, started: list[dict[str, Any]]
) -> None:
    live_model(stack)
    put_model(stack, 4, ModelStatus.REJECTED, model_data_url="s3://a/4.tar.gz", artifact_sha256="a" * 64, verdict=KEEP)

    assert call(stack, operator("/deploy", {"version": 4}))[0] == 422  # no comment, no overrule
    status, body = call(
        stack, operator("/deploy", {"version": 4, "comment": "the world changed: new labels are right"})
    )

    assert status == 202, body
    assert started[0]["request"] == {
        "version": 4,
        "reason": "promote",
        "run_id": "r4",
        "requested_by": OPERATOR_ARN,
        "comment": "the world changed: new labels are right",
    }
    entries = registry_of(stack).audit_of(version=4)
    assert [(e.action.value, e.comment) for e in entries] == [("deploy", "the world changed: new labels are right")]
    assert "the policy said KEEP (label-shift f1)" in entries[0].detail


def test_approving_a_label_shift_needs_a_comment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    approval, resumed = waiting_approval(stack, monkeypatch)
    registry_of(stack).update_model(4, verdict=KEEP)
    event = load_event("api", "operator_decide_run")
    event["pathParameters"] = {"run_id": approval.run_id}
    event["path"] = f"/operator/runs/{approval.run_id}/approval"
    event["body"] = json.dumps({"decision": "approve"})

    status, body = call(stack, event)

    assert status == 422, body
    assert "approving overrules it and needs a comment" in body["message"]
    assert resumed == []
    event["body"] = json.dumps({"decision": "approve", "comment": "checked 20 rows by hand: the labels are right"})
    assert call(stack, event)[0] == 200
    assert len(resumed) == 1


def test_the_emailed_page_warns_of_the_label_shift_shows_the_trusted_set_and_needs_a_comment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challenger_core.models import PairedComparison, TrustedEvaluation
    from tests.unit.functions.api_support import signed_fields
    from tests.unit.functions.test_api import page, post

    approval, resumed = waiting_approval(stack, monkeypatch)
    on_trusted = PairedComparison(
        rows=29,
        fingerprint="t" * 64,
        champion_metrics={"f1": 0.828},
        challenger_metrics={"f1": 0.656},
        differences={"f1": {"delta": -0.172, "low": -0.379, "high": 0.034}},
        confidence=0.95,
    )
    registry_of(stack).update_model(
        4,
        verdict=KEEP,
        trusted=TrustedEvaluation(fingerprint="t" * 64, rows=29, comparison=on_trusted, set_version=1),
    )

    status, body = page(stack, signed_fields(approval, "approve"))

    assert status == 200
    assert "Warning: the new labels disagree with the live model" in body
    assert "on the trusted evaluation set v1 (29 rows)" in body
    assert "-0.172 [-0.379, +0.034]" in body
    status, body = post(stack, signed_fields(approval, "approve"))
    assert status == 422
    assert "needs a comment" in body
    assert resumed == []
    assert post(stack, {**signed_fields(approval, "approve"), "comment": "checked by hand"})[0] == 200


def test_policy_numbers_outside_dynamodbs_range_are_a_422_or_stored_as_zero_never_a_502(stack: Stack) -> None:
    """Found by the schema fuzz (tests/integration/test_api_schema.py): metric_floor 6e-133 is a valid float but
    below DynamoDB's smallest magnitude (1E-130), and PutItem's "Number underflow" came back as a 502."""
    status, body = call(stack, operator("/datasets/reviews/policy", {"metric_floor": 6e-133, "comment": "tiny"}))
    assert (status, body["metric_floor"]) == (201, 6e-133), body
    assert registry_of(stack).get_dataset_policy("reviews").metric_floor == 0  # type: ignore[union-attr]
    status, body = call(stack, operator("/datasets/reviews/policy", {"min_improvement": 1e200, "comment": "huge"}))
    assert status == 422, body
