"""Names vs IAM (issue 17): every SageMaker resource the stack creates is named by one function
(challenger_core.naming) and reached by one IAM pattern, for any stack name CloudFormation accepts.

A CloudFormation stack name is 1-128 characters, `[a-zA-Z][-a-zA-Z0-9]*`; a SageMaker name is at most 63
characters of `[a-zA-Z0-9](-*[a-zA-Z0-9])*`, and SageMaker lower-cases it in the resource's ARN, which IAM matches
case-sensitively. The IAM patterns are read from template.yaml, resolved for each stack name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from challenger.local.template import LocalTemplate
from challenger_core.batch import BatchRequest, _job_name
from challenger_core.deployment import resource_names
from challenger_core.models import ModelStatus, ModelVersion
from challenger_core.settings import Settings
from challenger_core.shadowing import shadow_endpoint_name, shadow_resource_names
from challenger_core.training import job_name

SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # CreateTrainingJob/CreateModel/... name pattern
ARN = re.compile(r"arn:aws:sagemaker:us-east-1:123456789012:(training-job|model|endpoint-config|transform-job)/(.+)")
STACK_NAMES = [
    "a",
    "Z",
    "challenger",
    "Churn-Prod",
    "ABCDEFGHIJKLMNOPQRSTU",  # 21: the old batch prefix cut 20 characters while IAM allowed the whole name
    "churn-prod-eu-west-1-main-v2-x",  # 30
    "Ab-" * 21,  # 63, ends with '-'
    "a" + "B" * 63,  # 64
    "x" + "-Y" * 63 + "z",  # 128, mixed case, a dash every other character
    "M" * 128,
]


def iam_resources(template: LocalTemplate, value: Any) -> Iterator[str]:
    """Every Resource ARN of an Allow statement in (resolved) policy documents."""
    if isinstance(value, dict):
        if value.get("Effect") == "Allow" and "Resource" in value:
            resources = value["Resource"]
            yield from [resources] if isinstance(resources, str) else resources
        for item in value.values():
            yield from iam_resources(template, item)
    elif isinstance(value, list):
        for item in value:
            yield from iam_resources(template, item)


def iam_patterns(template: LocalTemplate) -> dict[str, list[str]]:
    """SageMaker resource type → the ARN patterns the template's policies allow for it."""
    patterns: dict[str, list[str]] = {}
    for resource in template.resources.values():
        policies = resource.get("Properties", {}).get("Policies")
        for arn in iam_resources(template, template.resolve(policies)) if policies else ():
            if match := ARN.fullmatch(arn):
                patterns.setdefault(match.group(1), []).append(arn)
    return patterns


def iam_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `*` any run of characters, `?` one, everything else literal and case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def generated_names(settings: Settings) -> dict[str, list[str]]:
    """The longest names each generator makes: a version past a million, a forced run id, a 60-character batch."""
    run_id = "20261207T205825Z-Reviews_Multilingual-0123abcd-9f8e7d"
    model = ModelVersion(
        version=1_000_000,
        status=ModelStatus.STAGED,
        run_id=run_id,
        dataset="reviews",
        data_fingerprint="0" * 64,
        training_job_name=job_name(settings, 1_000_000, run_id),
    )
    model_name, config_name = resource_names(settings, model)
    shadow_model, shadow_config = shadow_resource_names(settings, model)
    batch = BatchRequest(bucket="b", key="batch/x.csv", name="Q3_" + "Scores-" * 8 + "z", sequencer="0055AED6DCD9028")
    return {
        "training-job": [job_name(settings, 1_000_000, run_id), job_name(settings, 1, "r")],
        "model": [model_name, shadow_model],
        "endpoint-config": [config_name, shadow_config],
        "transform-job": [_job_name(settings, batch)],
    }


def applies(pattern: str, name: str) -> bool:
    """The shadow stage's role is narrowed to the shadow's own names (`*-shadow`, `*-shadow-config`); every other
    pattern is the stack's `*-<uid>-*` and must let every generated name through."""
    return "shadow" not in pattern or "shadow" in name


@pytest.mark.parametrize("stack_name", STACK_NAMES, ids=lambda name: f"{len(name)}-{name[:12]}")
def test_every_generated_name_is_sagemaker_legal_and_allowed_by_the_templates_iam(stack_name: str) -> None:
    template = LocalTemplate(stack_name=stack_name)
    environment = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")
    settings = Settings.from_env(dict(environment))
    patterns = iam_patterns(template)
    assert set(patterns) == {"training-job", "model", "endpoint-config", "transform-job"}
    for kind, names in generated_names(settings).items():
        for name in names:
            assert len(name) <= 63, name
            assert SAGEMAKER_NAME.fullmatch(name), name
            arn = f"arn:aws:sagemaker:us-east-1:123456789012:{kind}/{name.lower()}"  # SageMaker's ARN casing
            denied = [p for p in patterns[kind] if applies(p, name) and not iam_matches(p, arn)]
            assert not denied, f"{arn} is not reached by {denied}"


def test_one_iam_pattern_for_every_sagemaker_resource_type() -> None:
    template = LocalTemplate(stack_name="Churn-Prod")
    uid = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")["STACK_UID"]
    resources = {arn.split(":", 5)[5].split("/", 1)[1] for arns in iam_patterns(template).values() for arn in arns}
    # One stack-wide pattern, plus the shadow stage's narrower ones inside it.
    assert resources == {f"*-{uid}-*", f"*-{uid}-v*-shadow", f"*-{uid}-v*-shadow-config"}


def test_every_length_from_1_to_128_characters_in_mixed_case() -> None:
    """The template's patterns do not depend on the stack name (above), so one resolution serves every length."""
    template = LocalTemplate(stack_name="Churn-Prod")
    environment = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")
    settings = Settings.from_env(dict(environment))
    patterns = iam_patterns(template)
    for length in range(1, 129):
        stack_name = ("Ab-C" * 32)[:length].rstrip("-") or "A"
        for kind, names in generated_names(settings.model_copy(update={"stack_name": stack_name})).items():
            for name in names:
                assert len(name) <= 63, (stack_name, name)
                assert SAGEMAKER_NAME.fullmatch(name), (stack_name, name)
                arn = f"arn:aws:sagemaker:us-east-1:123456789012:{kind}/{name.lower()}"
                assert all(iam_matches(p, arn) for p in patterns[kind] if applies(p, name)), (stack_name, arn)


ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"


def endpoint_statements(template: LocalTemplate) -> list[list[str]]:
    """The endpoint ARN patterns of each Allow statement that names an endpoint (any one of them lets it through)."""
    statements: list[list[str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("Effect") == "Allow" and "Resource" in value:
                resources = [value["Resource"]] if isinstance(value["Resource"], str) else value["Resource"]
                if endpoints := [arn for arn in resources if arn.startswith(ENDPOINT_ARN)]:
                    statements.append(endpoints)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for resource in template.resources.values():
        if policies := resource.get("Properties", {}).get("Policies"):
            walk(template.resolve(policies))
    return statements


def endpoint_name_of(stack_name: str, parameters: dict[str, str] | None = None) -> tuple[str, list[list[str]]]:
    """The endpoint name a function of this stack uses (its settings) and the template's endpoint IAM statements."""
    template = LocalTemplate(stack_name=stack_name, parameters=parameters or {})
    environment = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")
    return Settings.from_env(dict(environment)).endpoint_name, endpoint_statements(template)


def test_the_default_endpoint_is_legal_and_allowed_for_every_stack_name_of_1_to_128_characters() -> None:
    """Issue 17: an upper-case stack name, or one over 63 characters, used to name an endpoint IAM never matched
    (SageMaker lower-cases the ARN) or SageMaker refused. Every statement naming the endpoint must reach it."""
    placeholder = "StackNamePlaceholder"  # one resolution: only ${AWS::StackName} differs between stacks
    template = LocalTemplate(stack_name=placeholder)
    environment = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")
    assert environment["ENDPOINT_NAME"] == placeholder
    for stack_name in [*STACK_NAMES, *(("Ab-C" * 32)[:length] for length in range(1, 129))]:
        settings = Settings.from_env({**environment, "STACK_NAME": stack_name, "ENDPOINT_NAME": stack_name})
        name = settings.endpoint_name
        assert len(name) <= 63, (stack_name, name)
        assert SAGEMAKER_NAME.fullmatch(name), (stack_name, name)
        statements = [[p.replace(placeholder, stack_name) for p in ps] for ps in endpoint_statements(template)]
        assert len(statements) >= 5, statements  # deploy, rollback, smoke test, predict, clean-up, ...
        arn = ENDPOINT_ARN + name.lower()
        shadow = ENDPOINT_ARN + shadow_endpoint_name(settings)  # the shadow stage's statements name only that one
        for patterns in statements:
            target = shadow if all(p.endswith("-shadow") for p in patterns) else arn
            assert any(iam_matches(pattern, target) for pattern in patterns), (stack_name, target, patterns)


@pytest.mark.parametrize(
    ("stack_name", "parameters", "expected"),
    [
        ("challenger", {}, "challenger"),  # the local cloud's and the tests' stack keeps its endpoint name
        ("churn-prod", {}, "churn-prod"),
        ("churn-prod", {"EndpointName": "churn"}, "churn"),
        ("Churn-Prod", {}, "churn-prod-{uid}-endpoint"),
        ("a" * 64, {}, "a" * 20 + "-{uid}-endpoint"),
        ("trailing-", {}, "trailing-{uid}-endpoint"),
    ],
)  # fmt: skip
def test_the_endpoint_is_the_stack_name_when_sagemaker_can_use_it(
    stack_name: str, parameters: dict[str, str], expected: str
) -> None:
    template = LocalTemplate(stack_name=stack_name, parameters=parameters)
    uid = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")["STACK_UID"]
    assert endpoint_name_of(stack_name, parameters)[0] == expected.format(uid=uid)
