"""What a first `sam deploy` in a new or small account meets (issue 17): the stack's defaults and the shipped
configurations must deploy within the default quotas."""

from __future__ import annotations

import tomllib
from pathlib import Path

from challenger.local.template import LocalTemplate

ROOT = Path(__file__).resolve().parents[2]
SERVERLESS_QUOTA = 10  # total serverless concurrency per account and region many accounts report
LAMBDA_UNRESERVED_MINIMUM = 100  # Lambda refuses a reservation that leaves fewer unreserved executions
NEW_ACCOUNT_LAMBDA_LIMIT = 10


def overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    pairs = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in pairs)


def reserved(template: LocalTemplate) -> int:
    """ApiFunction's ReservedConcurrentExecutions (`!If [ApiConcurrencyReserved, ..., AWS::NoValue]`)."""
    condition, value, _ = template.resources["ApiFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"]
    return int(template.resolve(value)) if template.condition(condition) else 0


def test_the_default_stack_reserves_no_lambda_concurrency() -> None:
    """A reservation of N needs an account limit of 100 + N; new accounts have 10 (the deploy would fail)."""
    assert reserved(LocalTemplate()) == 0
    assert reserved(LocalTemplate(parameters={"ApiReservedConcurrency": "20"})) == 20
    for environment in ("dev", "prod"):  # a shipped configuration must deploy in a new account too
        wanted = int(overrides(environment).get("ApiReservedConcurrency", "0"))
        assert wanted == 0 or wanted + LAMBDA_UNRESERVED_MINIMUM <= NEW_ACCOUNT_LAMBDA_LIMIT, environment


def test_dev_and_prod_fit_the_serverless_quota_while_prod_swaps_blue_green() -> None:
    """UpdateEndpoint holds the old and the new config at once: prod counts twice during its swap, dev once."""
    dev, prod = (int(overrides(env)["MaxConcurrency"]) for env in ("dev", "prod"))
    assert dev + 2 * prod <= SERVERLESS_QUOTA
    assert 2 * dev + prod <= SERVERLESS_QUOTA
    default = int(LocalTemplate().template["Parameters"]["MaxConcurrency"]["Default"])
    assert 2 * default <= SERVERLESS_QUOTA
