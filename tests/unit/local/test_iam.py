"""challenger.local.iam's rewriting of a role's policy into what moto 5.2.5 can evaluate (no moto, no process)."""

from __future__ import annotations

from typing import Any

from challenger.local.iam import for_moto

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/challenger-models"
BUCKET = "arn:aws:s3:::challenger-artifactbucket"


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(for_moto(document)["Statement"])


def test_a_statement_on_a_service_moto_authorizes_against_star_applies_to_star() -> None:
    # moto authorizes DynamoDB calls against "*", which a table ARN never matches: kept as is, it would deny all.
    (statement,) = _statements({"Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": TABLE}]})
    assert statement["Resource"] == "*"
    assert statement["Action"] == ["dynamodb:Query"]


def test_an_s3_statement_keeps_its_resource_and_is_split_from_other_services() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": [f"{BUCKET}/training/*"]}
        ]
    }
    by_action = {tuple(s["Action"]): s["Resource"] for s in _statements(document)}
    assert by_action == {("s3:GetObject",): [f"{BUCKET}/training/*"], ("kms:Decrypt",): "*"}


def test_lambda_invoke_function_also_allows_the_operation_name_moto_checks() -> None:
    (statement,) = _statements({"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "x"}]})
    assert statement["Action"] == ["lambda:InvokeFunction", "lambda:Invoke"]


def test_a_sam_policy_without_version_gets_the_one_moto_accepts() -> None:
    rewritten = for_moto({"Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]})
    assert rewritten["Version"] == "2012-10-17"
    assert for_moto({"Version": "2008-10-17", "Statement": []})["Version"] == "2008-10-17"


def test_a_deny_on_s3_stays_a_deny_on_its_resource() -> None:
    deny = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"}
    assert _statements({"Statement": deny}) == [{**deny, "Action": ["s3:DeleteObject"]}]
