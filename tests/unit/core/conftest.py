from __future__ import annotations

import pytest

from challenger_core.recipe import RecipeSpec
from tests.support.recipes import bundled, tabular


@pytest.fixture
def sentiment_recipe() -> RecipeSpec:
    return bundled("sentiment")


@pytest.fixture
def tabular_recipe() -> RecipeSpec:
    return tabular()
