"""Read template.yaml (with its intrinsic-function tags) so tests build resources from the real properties."""

from __future__ import annotations

from functools import cache
from typing import Any

from cfnlint.decode import decode

from tests.support.events import ROOT


@cache
def template() -> dict[str, Any]:
    parsed, problems = decode(str(ROOT / "template.yaml"))
    if parsed is None:
        raise RuntimeError(f"template.yaml does not parse: {problems}")
    return dict(parsed)


def resource(logical_id: str) -> dict[str, Any]:
    return dict(template()["Resources"][logical_id])


def table_definition(logical_id: str, table_name: str) -> dict[str, Any]:
    """CreateTable arguments from a table's template properties (keys cannot drift between template and tests)."""
    props = resource(logical_id)["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return definition
