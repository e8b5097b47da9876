"""Parameters AWS constrains are validated at deploy time (AllowedPattern/MaxLength), and names follow the
stack: the endpoint defaults to the stack name, SageMaker models/configs carry the stack id (issue 7 §3-4)."""

from __future__ import annotations

import re

import pytest

from challenger.local.template import LocalTemplate

TEMPLATE = LocalTemplate()
LAYER = "AWSLambdaPowertoolsPythonV3-python313-arm64"


def allowed(parameter: str, value: str) -> bool:
    spec = TEMPLATE.template["Parameters"][parameter]
    return len(value) <= spec.get("MaxLength", 10**6) and re.fullmatch(spec["AllowedPattern"], value) is not None


@pytest.mark.parametrize(
    ("parameter", "value", "ok"),
    [
        ("EndpointName", "", True),
        ("EndpointName", "churn-prod", True),
        ("EndpointName", "Churn", False),  # SageMaker lower-cases ARNs; IAM would not match
        ("EndpointName", "a" * 64, False),
        ("CognitoDomainPrefix", "", True),
        ("CognitoDomainPrefix", "acme-ml-dashboard", True),
        ("CognitoDomainPrefix", "Acme", False),
        ("CognitoDomainPrefix", "-acme", False),
        ("CognitoDomainPrefix", "a" * 64, False),
        ("PowertoolsLayerArn", "", True),
        ("PowertoolsLayerArn", f"arn:aws:lambda:eu-south-2:017000801446:layer:{LAYER}:18", True),
        ("PowertoolsLayerArn", "AWSLambdaPowertoolsPythonV3", False),
    ],
)  # fmt: skip
def test_constrained_parameters_are_checked_at_deploy_time(parameter: str, value: str, ok: bool) -> None:
    assert allowed(parameter, value) is ok


def test_the_endpoint_defaults_to_the_stack_name_and_names_carry_the_stack_id() -> None:
    template = LocalTemplate(stack_name="churn-prod")
    environment = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")
    assert environment["ENDPOINT_NAME"] == "churn-prod"
    assert re.fullmatch(r"[0-9a-f]{8}", environment["STACK_UID"])
    named = LocalTemplate(stack_name="churn-prod", parameters={"EndpointName": "churn"})
    assert next(f for f in named.functions() if f.logical_id == "ApiFunction").environment["ENDPOINT_NAME"] == "churn"


def test_iam_reaches_only_this_stacks_models_and_configs() -> None:
    template = LocalTemplate(stack_name="churn-prod")
    uid = next(f.environment for f in template.functions() if f.logical_id == "StartDeploymentFunction")["STACK_UID"]
    statements = template.resolve(template.resources["StartDeploymentFunction"]["Properties"]["Policies"])[-1]
    resources = {s["Sid"]: s["Resource"] for s in statements["Statement"]}
    assert resources["CreateModels"] == f"arn:aws:sagemaker:us-east-1:123456789012:model/*-{uid}-*"
    assert resources["CreateEndpointConfigs"] == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/*-{uid}-*"


def test_the_operator_door_serves_every_route_of_the_dashboards_door() -> None:
    """/operator/* (IAM, the CLI and automation) and /console/* (Cognito) are the same operations (PLAN: issue 8)."""
    events = TEMPLATE.resources["ApiFunction"]["Properties"]["Events"].values()
    routes = [(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events if e["Type"] == "Api"]

    def door(prefix: str) -> set[tuple[str, str]]:
        return {(path.removeprefix(prefix), method) for path, method in routes if path.startswith(prefix + "/")}

    assert door("/console")
    assert door("/operator") == door("/console")
