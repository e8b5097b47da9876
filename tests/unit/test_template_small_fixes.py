"""The smaller first-deploy findings of issue 17, each read from template.yaml (or the request it makes)."""

from __future__ import annotations

from typing import Any

import pytest

from challenger.local.template import LocalTemplate
from challenger_core.adapters.sagemaker import SageMaker, TrainingSpec
from challenger_core.settings import Settings
from challenger_core.training import training_polls

TEMPLATE = LocalTemplate()
DEAD_LETTER_QUEUE = {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}
EVENT_RULE_TYPES = {"EventBridgeRule", "Schedule"}


def test_every_rule_that_dead_letters_to_the_trigger_queue_may_send_to_it() -> None:
    """EventBridge delivers to a DLQ only if the queue policy allows the rule (aws:SourceArn); SAM names the rule
    it generates for an event <resource><event id>: the batch upload rule was missing (its failures were lost)."""
    rules = {
        f"{logical_id}{event_id}"
        for logical_id, resource in TEMPLATE.resources.items()
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items()
        if event["Type"] in EVENT_RULE_TYPES
        and event["Properties"].get("DeadLetterConfig", {}).get("Arn") == DEAD_LETTER_QUEUE
    }
    assert "BatchPipelineBatchUpload" in rules
    [statement] = TEMPLATE.resources["TriggerDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {arn["Fn::GetAtt"][0] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert allowed == rules


def test_the_account_wide_api_gateway_logging_role_is_set_only_when_asked() -> None:
    """AWS::ApiGateway::Account is one setting per account and region: a stack that owns it takes it away from
    every other API when deleted. Not created unless ManageApiGatewayAccount=true."""
    for logical_id in ("ApiGatewayAccount", "ApiGatewayCloudWatchRole"):
        condition = TEMPLATE.resources[logical_id]["Condition"]
        assert not TEMPLATE.condition(condition)
        assert LocalTemplate(parameters={"ManageApiGatewayAccount": "true"}).condition(condition)
    assert TEMPLATE.template["Parameters"]["ManageApiGatewayAccount"]["Default"] == "false"


@pytest.mark.parametrize("stack_name", ["challenger", "A" + "b" * 127])
def test_cloudfront_names_differ_across_regions_and_fit_their_limits(stack_name: str) -> None:
    """CloudFront names are global to the account: the same stack name in two regions must not clash."""

    def names(region: str) -> dict[str, str]:
        template = LocalTemplate(stack_name=stack_name, region=region)
        oac = template.resolve(template.resources["FrontendOriginAccessControl"]["Properties"])
        headers = template.resolve(template.resources["FrontendSecurityHeaders"]["Properties"])
        distribution = template.resources["FrontendDistribution"]["Properties"]["DistributionConfig"]
        return {
            "oac": oac["OriginAccessControlConfig"]["Name"],
            "headers": headers["ResponseHeadersPolicyConfig"]["Name"],
            "comment": template.resolve(distribution["Comment"]),
        }

    east, west = names("us-east-1"), names("eu-west-1")
    assert east["oac"] != west["oac"]
    assert east["headers"] != west["headers"]
    assert len(east["oac"]) <= 64  # OriginAccessControlConfig.Name
    assert len(east["comment"]) <= 128  # DistributionConfig.Comment


def test_custom_resources_give_up_before_cloudformations_hour() -> None:
    """A function that fails at init never answers; without ServiceTimeout CloudFormation waits 3600 s."""
    for logical_id, resource in TEMPLATE.resources.items():
        if resource["Type"].startswith("Custom::"):
            function = resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
            timeout = int(TEMPLATE.resources[function]["Properties"]["Timeout"])
            service_timeout = int(resource["Properties"]["ServiceTimeout"])
            assert timeout < service_timeout < 3600, logical_id


class RecordingSageMakerClient:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def create_training_job(self, **request: Any) -> None:
        self.requests.append(request)


def test_spot_training_waits_longer_than_it_runs_and_the_pipeline_polls_past_both() -> None:
    """CreateTrainingJob StoppingCondition: MaxWaitTimeInSeconds must be >= MaxRuntimeInSeconds. With the defaults
    (3600 s, 30 s x 240 polls) the poll loop ran out at MaxWait exactly: a job still uploading was given up on."""
    environment = next(
        f
        for f in LocalTemplate(parameters={"UseSpotTraining": "true"}).functions()
        if f.logical_id == "StartTrainingFunction"
    ).environment
    settings = Settings.from_env(dict(environment))
    client = RecordingSageMakerClient()
    spec = TrainingSpec(
        job_name="j", image_uri="i", role_arn="r", instance_type="ml.m5.large", source_uri="s3://b/s", train_uri="s3://b/t",
        test_uri=None, output_uri="s3://b/o", hyperparameters={}, max_seconds=settings.max_training_seconds,
        use_spot=settings.use_spot_training, tags={},
    )  # fmt: skip
    SageMaker(client).start_training(spec)  # type: ignore[arg-type]
    stopping = client.requests[0]["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] > stopping["MaxRuntimeInSeconds"] == 3600
    assert training_polls(settings) * settings.poll_seconds >= stopping["MaxWaitTimeInSeconds"] + 600
