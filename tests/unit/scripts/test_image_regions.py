"""Any region (issue 17): the framework image is resolved per region inside the template, from a table
scripts/image_regions.py generates from the committed scripts/image_regions.json (the SDK's account map), and a
deploy in a region without the 1.9-0 image stops at the template's Rules, before any resource is created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from challenger.local.template import LocalTemplate
from scripts.image_regions import SOURCE, main

ACCOUNTS: dict[str, str] = json.loads(SOURCE.read_text(encoding="utf-8"))["accounts"]
WITHOUT_IMAGE: dict[str, str] = json.loads(SOURCE.read_text(encoding="utf-8"))["without_image"]


def image_uri(template: LocalTemplate, function: str = "StartTrainingFunction") -> str:
    return next(f.environment["TRAINING_IMAGE_URI"] for f in template.functions() if f.logical_id == function)


def rule_allows(template: LocalTemplate) -> bool:
    """The FrameworkImageInRegion rule as CloudFormation evaluates it (Fn::Equals, Fn::Contains, Ref)."""
    rule: dict[str, Any] = template.template["Rules"]["FrameworkImageInRegion"]
    if not template.resolve(rule["RuleCondition"]):
        return True
    regions, region = rule["Assertions"][0]["Assert"]["Fn::Contains"]
    return template.resolve(region) in regions


def test_the_templates_image_table_matches_the_committed_source_json() -> None:
    assert main(["--check"]) == 0
    table = LocalTemplate().template["Mappings"]["FrameworkImage"]
    assert {region: row["Account"] for region, row in table.items()} == ACCOUNTS


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1", "il-central-1"])
def test_an_empty_training_image_resolves_to_the_regions_own_image(region: str) -> None:
    template = LocalTemplate(region=region)
    expected = f"{ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    assert image_uri(template) == expected
    assert image_uri(template, "StartDeploymentFunction") == expected  # models serve on the same image
    assert rule_allows(template)


@pytest.mark.parametrize("region", sorted(WITHOUT_IMAGE))
def test_a_region_without_the_image_stops_the_deploy_unless_an_image_is_given(region: str) -> None:
    assert not rule_allows(LocalTemplate(region=region))
    own = f"{ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    given = LocalTemplate(region=region, parameters={"TrainingImageUri": own})
    assert rule_allows(given)
    assert image_uri(given) == own


def test_the_image_uri_uses_the_partitions_url_suffix() -> None:
    """China's ECR is *.amazonaws.com.cn: the URI takes AWS::URLSuffix, not a literal amazonaws.com."""
    variables = LocalTemplate().resources["StartTrainingFunction"]["Properties"]["Environment"]["Variables"]
    built = variables["TRAINING_IMAGE_URI"]["Fn::If"][2]["Fn::Sub"][0]
    assert built.startswith("${Account}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/")
