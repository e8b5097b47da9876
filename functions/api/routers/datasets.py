"""How a dataset is judged (its trusted evaluation set and promotion policy) and a person overruling a verdict.

Issue 19: each change is an operator's, with a mandatory comment, versioned and audited; never the inference key.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from challenger_core import judging
from challenger_core.models import DatasetPolicy, TrustedSet
from routers.deps import RecipeDep, RegistryDep, SettingsDep, StorageDep, WorkflowDep
from routers.doors import DECISION, Operator
from routers.errors import BAD_BODY, CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, json_response

router = Router()

DatasetPath = Annotated[str, Path(pattern=judging.DATASET_PATTERN, description="dataset name")]


@router.get(
    "/datasets/<dataset>",
    summary="How a dataset is judged",
    description="The dataset's trusted evaluation set (the rows every comparison also scores both models on) and "
    "its promotion policy version (none: the stack's parameters).",
    responses={200: json_response("OK", judging.DatasetJudging), 422: INVALID},
)
def get_dataset(dataset: DatasetPath, *, registry: RegistryDep) -> judging.DatasetJudging:
    return judging.judging(dataset, registry=registry)


@router.post(
    "/datasets/<dataset>/trusted-set",
    summary="Replace the trusted evaluation set",
    description="A CSV with the recipe's columns becomes the dataset's next trusted-set version: every later "
    "comparison scores champion and challenger on it, and its rows are never trained on. An ordinary upload never "
    "changes it. Operators only; the comment is mandatory; audited.",
    security=DECISION,
    responses={
        **BAD_BODY,
        201: json_response("The new trusted-set version", TrustedSet),
        403: FORBIDDEN,
        409: CONFLICT,
    },
)
def set_trusted_set(
    dataset: DatasetPath,
    request: judging.TrustedSetRequest,
    *,
    caller: Operator,
    registry: RegistryDep,
    storage: StorageDep,
    recipe: RecipeDep,
    settings: SettingsDep,
) -> Response[TrustedSet]:
    trusted = judging.set_trusted_set(
        dataset, request, caller=caller, storage=storage, registry=registry, recipe=recipe, settings=settings
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=trusted)


@router.post(
    "/datasets/<dataset>/policy",
    summary="Set the promotion policy",
    description="The dataset's next promotion-policy version (a field left out keeps the stack's parameter). The "
    "next comparison uses it and its verdict names the version. Operators only; the comment is mandatory; audited.",
    security=DECISION,
    responses={**BAD_BODY, 201: json_response("The new policy version", DatasetPolicy), 403: FORBIDDEN, 409: CONFLICT},
)
def set_policy(
    dataset: DatasetPath,
    request: judging.PolicyRequest,
    *,
    caller: Operator,
    registry: RegistryDep,
) -> Response[DatasetPolicy]:
    chosen = judging.set_policy(dataset, request, caller=caller, registry=registry)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=chosen)


@router.post(
    "/deploy",
    summary="Deploy against the verdict",
    description="Deploy a version that never was live (STAGED or REJECTED: the policy said KEEP, or nobody decided) "
    "through the blue/green deployment pipeline. A person overrules the verdict: the comment is mandatory and the "
    "audit log keeps it with what the policy had said. Operators only.",
    security=DECISION,
    responses={
        **BAD_BODY,
        202: json_response("The deployment started", judging.OverruleStarted),
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: json_response("Already live, was live before (use rollback), or not deployable (the reason says which)"),
    },
)
def deploy(
    request: judging.OverruleRequest,
    *,
    caller: Operator,
    registry: RegistryDep,
    workflow: WorkflowDep,
    settings: SettingsDep,
) -> Response[judging.OverruleStarted]:
    started = judging.overrule(request, caller=caller, registry=registry, workflow=workflow, settings=settings)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)
