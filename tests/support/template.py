"""Tables for the handler tests, built from template.yaml's own properties (keys cannot drift)."""

from __future__ import annotations

from functools import cache
from typing import Any

from challenger.local.provision import table_definition as _from_template
from challenger.local.template import LocalTemplate


@cache
def _template() -> LocalTemplate:
    return LocalTemplate()


def table_definition(logical_id: str, table_name: str) -> dict[str, Any]:
    """CreateTable arguments for a template table, under the name the test stack uses."""
    return {**_from_template(_template(), logical_id), "TableName": table_name}
