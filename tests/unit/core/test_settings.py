"""Settings: what names the stack's resources is required, and every function's template environment has it."""

from __future__ import annotations

import pytest

from challenger.local.template import LocalTemplate
from challenger_core.settings import Settings
from tests.support.stack import BASE_ENV


def test_a_function_without_the_stacks_names_fails_naming_the_variables() -> None:
    with pytest.raises(ValueError, match="lacks STACK_NAME, MODELS_TABLE, ARTIFACT_BUCKET, RECIPE, ENDPOINT_NAME"):
        Settings.from_env({})


def test_names_only_some_functions_get_are_empty_when_unset_never_a_guess() -> None:
    settings = Settings.from_env(
        {name: value for name, value in BASE_ENV.items() if name not in {"DATA_BUCKET", "API_URL", "IDEMPOTENCY_TABLE"}}
    )
    assert (settings.data_bucket, settings.api_url, settings.idempotency_table) == ("", "", "")


@pytest.mark.parametrize("function", LocalTemplate().functions(), ids=lambda spec: spec.logical_id)
def test_every_functions_template_environment_makes_its_settings(function: object) -> None:
    settings = Settings.from_env(function.environment)  # type: ignore[attr-defined]
    assert settings.models_table
    assert settings.artifact_bucket
