"""PublishRecipeFunction (Custom::RecipeBundle): `sam deploy` publishes the stack's recipe, no manual step."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

import pytest

from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.recipes import RECIPES
from tests.support.stack import Stack


class CloudFormation:
    """Where the function PUTs its answer (the presigned ResponseURL)."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    def urlopen(self, request: Any, timeout: float) -> io.BytesIO:
        assert request.get_method() == "PUT"
        assert request.full_url.startswith("https://cloudformation-custom-resource-response")
        self.answers.append(json.loads(request.data))
        return io.BytesIO(b"")


@pytest.fixture
def cloudformation(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> CloudFormation:
    answers = CloudFormation()
    monkeypatch.setattr("urllib.request.urlopen", answers.urlopen)
    return answers


@pytest.fixture(autouse=True)
def recipes_layer(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The RecipesLayer the function reads at /opt/recipes: the repository's recipes/ (what the layer is built from)."""
    monkeypatch.setattr(stack.handler("publish_recipe"), "RECIPES", RECIPES)


def publish(stack: Stack, event: dict[str, Any]) -> None:
    stack.handler("publish_recipe").lambda_handler(event, context("PublishRecipeFunction"))


def objects(stack: Stack, prefix: str) -> dict[str, bytes]:
    bucket = stack.env["ARTIFACT_BUCKET"]
    listed = stack.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: stack.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_create_publishes_the_bundle_and_the_declaration(stack: Stack, cloudformation: CloudFormation) -> None:
    stack.s3.delete_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key="recipes/sentiment/recipe.json")
    publish(stack, load_event("publish_recipe", "create"))
    published = objects(stack, "recipes/sentiment/")
    record = json.loads(published["recipes/sentiment/bundle.json"])
    bundle = published[record["key"]]
    assert set(published) == {record["key"], "recipes/sentiment/bundle.json", "recipes/sentiment/recipe.json"}
    assert record["key"] == f"recipes/sentiment/sha256/{record['sha256']}/sourcedir.tar.gz"
    assert record["sha256"] == hashlib.sha256(bundle).hexdigest()
    assert record["version_id"]  # the versioned bucket's VersionId of that object
    assert published["recipes/sentiment/recipe.json"] == (RECIPES / "sentiment" / "recipe.json").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        names = tar.getnames()
    assert {"train.py", "inference.py", "recipe.json", "challenger_kit.py"} <= set(names)
    assert not any(name.startswith("data/") for name in names)
    [answer] = cloudformation.answers
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["BundleSha256"] == record["sha256"]
    assert (answer["LogicalResourceId"], answer["RequestId"]) == (
        "RecipeBundle",
        "5d8e3f1a-0000-0000-0000-000000000000",
    )


def test_an_update_to_another_recipe_publishes_that_one_the_same_way_every_time(
    stack: Stack, cloudformation: CloudFormation
) -> None:
    event = load_event("publish_recipe", "create")
    event.update(RequestType="Update", PhysicalResourceId="1a2b3c4d-recipe")
    event["ResourceProperties"]["Recipe"] = "penguins"
    publish(stack, event)
    publish(stack, event)
    first, second = cloudformation.answers
    assert first["Status"] == second["Status"] == "SUCCESS"
    assert first["PhysicalResourceId"] == "1a2b3c4d-recipe"
    assert first["Data"]["BundleSha256"] == second["Data"]["BundleSha256"]  # deterministic bundle
    assert "recipes/penguins/recipe.json" in objects(stack, "recipes/penguins/")


def test_an_unknown_recipe_fails_the_deploy_with_the_reason(stack: Stack, cloudformation: CloudFormation) -> None:
    event = load_event("publish_recipe", "create")
    event["ResourceProperties"]["Recipe"] = "weather"
    publish(stack, event)
    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(f"RecipeError: no recipe 'weather' in {RECIPES} (recipes: ")
    assert "sentiment" in answer["Reason"]
    assert objects(stack, "recipes/weather/") == {}


def test_delete_answers_and_keeps_the_objects(stack: Stack, cloudformation: CloudFormation) -> None:
    publish(stack, load_event("publish_recipe", "create"))
    event = load_event("publish_recipe", "create")
    event.update(RequestType="Delete", PhysicalResourceId="1a2b3c4d-recipe")
    publish(stack, event)
    assert [a["Status"] for a in cloudformation.answers] == ["SUCCESS", "SUCCESS"]
    assert "recipes/sentiment/bundle.json" in objects(stack, "recipes/sentiment/")
