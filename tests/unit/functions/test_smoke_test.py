"""SmokeTest: the deployed version's own golden set, replayed against the endpoint."""

from __future__ import annotations

import io
import json
import tarfile

from challenger_core.errors import ServiceError
from challenger_core.smoke import compare_predictions
from tests.support.fake_sagemaker import GOLDEN_INSTANCES, fake_predict, tar_gz
from tests.support.stack import Stack
from tests.unit.functions.test_deployment_steps import config_name, deploy_until_settled, invoke, registry, staged


def test_the_golden_set_reproduced_passes(stack: Stack) -> None:
    staged(stack, 2)
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert state["smoke"]["passed"] is True
    assert state["smoke"]["detail"] == "4 golden predictions reproduced (score tolerance 1e-06)"


def test_different_answers_fail_and_name_the_first_differences(stack: Stack) -> None:
    staged(stack, 2)
    stack.sagemaker.wrong_answers_for = {config_name(stack, 2)}
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert state["smoke"]["passed"] is False
    expected, served = fake_predict(GOLDEN_INSTANCES[0]), fake_predict(GOLDEN_INSTANCES[0], wrong=True)
    assert state["smoke"]["detail"].startswith(
        f"4 of 4 golden predictions differ: #0 label: expected {expected['label']}, got {served['label']}; "
        f"#0 label_name: expected {expected['label_name']!r}, got {served['label_name']!r}; "
    )


def test_a_version_without_a_golden_set_fails_the_smoke_test(stack: Stack) -> None:
    staged(stack, 2, golden=False)
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert state["smoke"]["passed"] is False
    assert state["smoke"]["detail"].startswith("no golden set: golden.json not found in s3://")


def test_an_unreadable_artifact_fails_the_smoke_test(stack: Stack) -> None:
    staged(stack, 2)
    url = registry(stack).get_model(2).model_data_url
    assert url is not None
    stack.s3.put_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=url.split("/", 3)[3], Body=b"not a tarball")
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert state["smoke"]["passed"] is False
    assert "is not a readable .tar.gz" in state["smoke"]["detail"]


def test_a_model_error_fails_the_smoke_test_at_once(stack: Stack) -> None:
    staged(stack, 2)
    state = deploy_until_settled(stack, 2)
    stack.sagemaker.invoke_failures = [ServiceError("sagemaker-runtime InvokeEndpoint: ModelError: boom")]
    state = invoke(stack, "smoke_test", state)
    assert state["smoke"]["passed"] is False
    assert state["smoke"]["detail"] == "invocation failed: sagemaker-runtime InvokeEndpoint: ModelError: boom"


def test_scores_compare_within_the_tolerance_and_labels_exactly() -> None:
    golden = [{"label": 1, "label_name": "yes", "score": 0.8}]
    assert compare_predictions(golden, [{"label": 1, "label_name": "yes", "score": 0.8 + 1e-9}], 1e-6) == []
    assert compare_predictions(golden, [{"label": 1, "label_name": "yes", "score": 0.81}], 1e-6) == [
        (0, "#0 score: expected 0.8, got 0.81")
    ]
    assert compare_predictions(golden, [{"label": "1", "label_name": "yes", "score": 0.8}], 1e-6) == [
        (0, "#0 label: expected 1, got '1'")
    ]
    assert compare_predictions(golden, [], 1e-6) == [(-1, "expected 1 predictions, the endpoint answered 0")]
    assert compare_predictions([{"value": 2.5}], [{"value": float("nan")}], 0.1) == [
        (0, "#0 value: expected 2.5, got nan")
    ]


def test_a_huge_golden_mismatch_gives_a_bounded_message(stack: Stack) -> None:
    staged(stack, 2)
    url = registry(stack).get_model(2).model_data_url
    assert url is not None
    instances = [{"text": "x" * 500} for _ in range(500)]
    golden = {"instances": instances, "predictions": [{"label": "L" * 500} for _ in instances]}
    stack.s3.put_object(
        Bucket=stack.env["ARTIFACT_BUCKET"],
        Key=url.split("/", 3)[3],
        Body=tar_gz({"golden.json": json.dumps(golden).encode()}),
    )
    state = invoke(stack, "smoke_test", deploy_until_settled(stack, 2))
    assert state["smoke"]["passed"] is False
    assert state["smoke"]["detail"].startswith("500 of 500 golden predictions differ")
    assert len(state["smoke"]["detail"]) <= 1500


def test_tar_helper_reads_members_by_name() -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_gz({"a": b"1"})), mode="r:gz") as tar:
        assert tar.getnames() == ["a"]
