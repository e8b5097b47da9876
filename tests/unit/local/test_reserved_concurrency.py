"""Each function's reserved concurrency comes from template.yaml, resolved as CloudFormation would (issue 16)."""

from __future__ import annotations

from pathlib import Path

from challenger.local.provision import local_functions
from challenger.local.template import LocalTemplate

API = "ApiFunction"


def reserved(template: LocalTemplate) -> dict[str, int | None]:
    return {spec.logical_id: spec.reserved_concurrency for spec in template.functions()}


def test_without_a_reservation_every_function_gets_the_local_default() -> None:
    # ApiReservedConcurrency defaults to 0, which the template turns into AWS::NoValue: no reservation at all.
    template = LocalTemplate()

    assert set(reserved(template).values()) == {None}
    assert {function.concurrency for function in local_functions(template)} == {None}


def test_the_api_functions_reservation_is_the_parameter() -> None:
    template = LocalTemplate(parameters={"ApiReservedConcurrency": "3"})

    by_name = {function.name: function.concurrency for function in local_functions(template)}

    assert reserved(template)[API] == 3
    assert by_name[template.name(API)] == 3
    assert {value for name, value in by_name.items() if name != template.name(API)} == {None}


def test_a_reservation_of_zero_is_kept_as_zero(tmp_path: Path) -> None:
    # 0 is a real setting (the function is throttled), not "absent".
    (tmp_path / "template.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  OffFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: off/\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.13\n"
        "      ReservedConcurrentExecutions: 0\n"
    )

    assert reserved(LocalTemplate(path=tmp_path / "template.yaml")) == {"OffFunction": 0}
