"""/predict reads the champion pointer eventually consistently, kept a few seconds per container (issue 20).

Every DynamoDB GetItem is counted where botocore builds it (`before-parameter-build`), with its ConsistentRead.
"""

from __future__ import annotations

from typing import Any

import pytest

from challenger_core import serving
from challenger_core.models import Champion
from challenger_core.recipe import RecipeSpec
from challenger_core.registry import CHAMPION_CACHE_SECONDS, ChampionCache, Registry
from challenger_core.settings import get_settings
from tests.support.stack import Stack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counted_get_items(stack: Stack) -> list[bool]:
    """The ConsistentRead of each GetItem the stack's DynamoDB client makes from now on."""
    reads: list[bool] = []

    def count(params: dict[str, Any], **_kwargs: Any) -> None:
        reads.append(bool(params.get("ConsistentRead", False)))

    stack.ddb.meta.events.register("before-parameter-build.dynamodb.GetItem", count)
    return reads


def champion(version: int) -> Champion:
    return Champion(
        version=version, model_name=f"challenger-v{version}", endpoint_config_name=f"challenger-v{version}-config"
    )


def serve(stack: Stack, version: int) -> None:
    """The endpoint serves `version`'s config, whose variant is `v<version>` (deployment.variant_name)."""
    config = f"challenger-v{version}-config"
    stack.sagemaker.models[f"challenger-v{version}"] = "s3://a/m.tar.gz"
    stack.sagemaker.configs[config] = f"challenger-v{version}"
    stack.sagemaker.variants[config] = f"v{version}"
    stack.sagemaker.endpoints["challenger"] = {"status": "InService", "config": config}


@pytest.fixture
def registry(stack: Stack) -> Registry:
    return Registry(stack.ddb, stack.env["MODELS_TABLE"])


@pytest.fixture
def clock(registry: Registry) -> Clock:
    """The registry's cached pointer runs on this clock."""
    fake = Clock()
    registry.champion_cache = ChampionCache(registry, clock=fake)
    return fake


def predict(stack: Stack, registry: Registry, recipe: RecipeSpec) -> serving.PredictResponse:
    request = serving.PredictRequest(instances=["I love it"])
    return serving.predict(request, recipe, registry, stack.sagemaker, get_settings())


def test_the_pointer_is_read_once_eventually_consistently_within_the_ttl(
    stack: Stack, registry: Registry, clock: Clock
) -> None:
    champion_3 = champion(3)
    registry.set_champion(champion_3, expected_version=None)
    reads = counted_get_items(stack)
    for _ in range(4):
        assert registry.champion_cache.get() == champion_3
        clock.now += CHAMPION_CACHE_SECONDS / 4 - 0.01
    assert reads == [False]  # one read, eventually consistent


def test_the_pointer_is_read_again_after_the_ttl(stack: Stack, registry: Registry, clock: Clock) -> None:
    registry.set_champion(champion(3), expected_version=None)
    cache = registry.champion_cache
    assert cache.get().version == 3  # type: ignore[union-attr]
    registry.set_champion(champion(4), expected_version=3)
    clock.now += CHAMPION_CACHE_SECONDS - 0.01
    assert cache.get().version == 3  # type: ignore[union-attr]  # still within the TTL: the kept pointer
    reads = counted_get_items(stack)
    clock.now += 0.01
    assert cache.get().version == 4  # type: ignore[union-attr]
    assert reads == [False]


def test_no_champion_is_not_cached(stack: Stack, registry: Registry, clock: Clock) -> None:
    reads = counted_get_items(stack)
    assert registry.champion_cache.get() is None
    assert registry.champion_cache.get() is None
    assert reads == [False, False]  # "nothing live" is asked again every time
    registry.set_champion(champion(1), expected_version=None)
    assert registry.champion_cache.get().version == 1  # type: ignore[union-attr]  # no clock advance needed


def test_predict_makes_no_strongly_consistent_read_and_one_read_per_ttl(
    stack: Stack, registry: Registry, clock: Clock, sentiment_recipe: RecipeSpec
) -> None:
    registry.set_champion(champion(3), expected_version=None)
    serve(stack, 3)
    reads = counted_get_items(stack)
    for _ in range(5):
        assert predict(stack, registry, sentiment_recipe).model_version == 3
    assert reads == [False]
    clock.now += CHAMPION_CACHE_SECONDS
    assert predict(stack, registry, sentiment_recipe).model_version == 3
    assert reads == [False, False]


def test_the_first_promotion_is_served_at_once(
    stack: Stack, registry: Registry, clock: Clock, sentiment_recipe: RecipeSpec
) -> None:
    with pytest.raises(serving.NoModelLiveError):
        predict(stack, registry, sentiment_recipe)
    registry.set_champion(champion(1), expected_version=None)
    serve(stack, 1)
    assert predict(stack, registry, sentiment_recipe).model_version == 1  # no TTL to wait out


def test_the_variant_that_answered_wins_over_the_cached_pointer(
    stack: Stack, registry: Registry, clock: Clock, sentiment_recipe: RecipeSpec
) -> None:
    registry.set_champion(champion(3), expected_version=None)
    serve(stack, 3)
    assert predict(stack, registry, sentiment_recipe).model_version == 3  # the pointer (v3) is now cached
    # Blue/green swap, both ways within the TTL: the endpoint moves to v4, then back to v3 (a rollback), while
    # the cached pointer still says v3 and the table says v4.
    registry.set_champion(champion(4), expected_version=3)
    serve(stack, 4)
    assert predict(stack, registry, sentiment_recipe).model_version == 4
    assert registry.champion_cache.get().version == 3  # type: ignore[union-attr]  # the cache was not consulted
    serve(stack, 3)
    assert predict(stack, registry, sentiment_recipe).model_version == 3


def test_the_cached_pointer_labels_only_an_answer_whose_variant_names_no_version(
    stack: Stack, registry: Registry, clock: Clock, sentiment_recipe: RecipeSpec
) -> None:
    registry.set_champion(champion(3), expected_version=None)
    serve(stack, 3)
    stack.sagemaker.variants["challenger-v3-config"] = "AllTraffic"  # a config made elsewhere
    assert predict(stack, registry, sentiment_recipe).model_version == 3


def test_a_registry_keeps_one_cache(registry: Registry) -> None:
    assert registry.champion_cache is registry.champion_cache
