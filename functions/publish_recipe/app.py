"""PublishRecipeFunction: the `Custom::RecipeBundle` custom resource — `sam deploy` publishes the stack's recipe.

On Create and Update it puts `recipes/<Recipe>/sha256/<digest>/sourcedir.tar.gz` (the recipe plus the kit, built by
the kit's deterministic bundle code), `recipes/<Recipe>/bundle.json` (that digest and the object's VersionId) and
`recipes/<Recipe>/recipe.json` into the artifact bucket; training jobs run the bundle once StartTraining has checked
it against the record (challenger_core.artifacts), and every function reads the declaration. Only this function may
write `recipes/*` (the artifact bucket's policy). The recipe files reach this function in the RecipesLayer
(template.yaml): the repository's `recipes/`, every recipe and the kit, as /opt/recipes (the root Makefile's
`build-RecipesLayer` copies it for `sam build`). The resource's properties carry that layer's version and the
function's, so a stack update that changes any recipe file, or this code, publishes again. Delete leaves the objects
(the artifact bucket is retained, and a model in it may still be trained from them).

The local cloud publishes through `publish()` too (challenger/local/provision.py), at `challenger local up`, from
the repository's `recipes/`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from challenger_core import artifacts
from challenger_core.clients import client
from challenger_core.custom_resource import CustomResourceEvent, respond
from challenger_core.observability import logger
from challenger_core.recipe import RECIPE_FILE, RecipeError, parse_recipe, recipe_key

# Where Lambda extracts the RecipesLayer (a layer's content goes to /opt; this one holds a recipes/ folder).
RECIPES = Path("/opt/recipes")


class RecipeBundleProperties(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    bucket: str = Field(alias="Bucket")
    recipe: str = Field(alias="Recipe", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


@cache
def _bundle_module(recipes: Path) -> ModuleType:
    """recipes/kit/bundle.py: the one definition of a source bundle (shared with the local cloud)."""
    path = recipes / "kit" / "bundle.py"
    spec = importlib.util.spec_from_file_location("challenger_recipe_bundle", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RecipeError(f"the recipe kit is not in {recipes} (no kit/bundle.py)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def publish(s3: Any, bucket: str, recipe: str, recipes: Path) -> dict[str, str]:
    """Check `<recipes>/<recipe>/recipe.json`, then put the source bundle and the declaration into `bucket`.

    Returns what was published (keys and the bundle's SHA-256), which the custom resource reports as its data.
    """
    folder = recipes / recipe
    declaration = folder / RECIPE_FILE
    if not declaration.is_file():
        known = sorted(p.parent.name for p in recipes.glob(f"*/{RECIPE_FILE}"))
        raise RecipeError(f"no recipe {recipe!r} in {recipes} (recipes: {', '.join(known) or 'none'})")
    raw = declaration.read_bytes()
    spec = parse_recipe(raw, source=f"recipes/{recipe}/{RECIPE_FILE}")
    if spec.name != recipe:
        raise RecipeError(f"recipes/{recipe}/{RECIPE_FILE} names itself {spec.name!r}; the folder and name must match")
    bundle = _bundle_module(recipes).build_source_bundle(folder)
    digest = hashlib.sha256(bundle).hexdigest()
    key = artifacts.bundle_key(recipe, digest)
    # The bundle first, content-addressed and with its checksum (S3 refuses other bytes); then the record of what was
    # published, which StartTraining checks the bundle against (issue 18, F2); then the declaration: a reader that
    # finds the declaration can rely on the code being there.
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=bundle,
        ContentType="application/gzip",
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode("ascii"),
    )
    record = artifacts.BundleRecord(sha256=digest, key=key, version_id=put.get("VersionId"))
    s3.put_object(
        Bucket=bucket,
        Key=artifacts.bundle_record_key(recipe),
        Body=record.model_dump_json().encode(),
        ContentType="application/json",
    )
    s3.put_object(Bucket=bucket, Key=recipe_key(recipe), Body=raw, ContentType="application/json")
    return {"BundleKey": key, "RecipeKey": recipe_key(recipe), "BundleSha256": digest}


@logger.inject_lambda_context
def lambda_handler(raw: dict[str, Any], context: LambdaContext) -> None:
    event = CustomResourceEvent.model_validate(raw)
    # Every path answers CloudFormation, or the stack would wait an hour for a reply that never comes.
    try:
        if event.request_type == "Delete":
            respond(event, "SUCCESS", "recipe objects kept in the retained artifact bucket", resource="recipe")
            return
        properties = RecipeBundleProperties.model_validate(event.properties)
        data = publish(client("s3"), properties.bucket, properties.recipe, RECIPES)
        logger.info("recipe published", extra=data)
        respond(event, "SUCCESS", f"published recipe {properties.recipe}", resource="recipe", data=data)
    except Exception as exc:
        logger.exception("recipe publishing failed")
        respond(event, "FAILED", f"{type(exc).__name__}: {exc}", resource="recipe")
