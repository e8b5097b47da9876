"""`challenger doctor`: each check's verdict from what the account answers, and it never changes anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from challenger import doctor
from challenger.cli import main
from challenger.doctor import DeployPlan, ReadOnlyViolation, Verdict

REGION = "us-east-1"


def _stubbable(service: str, region_name: str) -> Any:
    """A client for Stubber, from its own session: boto3's default session, made outside moto, would keep this
    test's credentials for whatever later runs in the process (the local cloud's tests)."""
    return boto3.Session(region_name=region_name).client(service)  # type: ignore[call-overload]


def _plan(**parameters: str) -> DeployPlan:
    return doctor.template_plan(REGION, overrides=parameters)


def _quotas(values: dict[str, int]) -> Any:
    client = _stubbable("service-quotas", region_name=REGION)
    stub = Stubber(client)
    rows = [{"QuotaName": name, "Value": value, "ServiceCode": "sagemaker"} for name, value in values.items()]
    stub.add_response("list_aws_default_service_quotas", {"Quotas": []})
    stub.add_response("list_service_quotas", {"Quotas": rows})
    stub.activate()
    return doctor._QuotaBook(lambda _: client)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_a_doctor_client_refuses_an_operation_that_is_not_a_read(aws: None) -> None:
    sns = doctor.read_only(boto3.client("sns", region_name=REGION))
    sns.list_topics()  # a read goes through
    with pytest.raises(ReadOnlyViolation, match="CreateTopic"):
        sns.create_topic(Name="x")
    assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []


def test_diagnose_calls_only_get_list_and_describe(aws: None) -> None:
    seen: list[str] = []

    def client(service: str) -> Any:
        made = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
        made.meta.events.register("before-call.*.*", lambda model, **_: seen.append(model.name))
        return made

    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="challenger-NotificationTopic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    report = doctor.diagnose(_plan().model_copy(update={"topic_arn": topic}), client)

    assert len(report.checks) == 11
    assert report.checks[-1].detail.startswith("about $2.10 a month with nothing running ($5.10 beyond")
    assert seen
    assert all(name.startswith(("Get", "List", "Describe")) for name in seen), seen


def test_the_us_east_1_default_image_fails_in_another_region() -> None:
    us_east_1 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    plan = doctor.template_plan("eu-west-1", overrides={"TrainingImageUri": us_east_1})
    assert doctor.check_image(plan).verdict is Verdict.FAIL
    assert doctor.check_image(plan.model_copy(update={"region": REGION})).verdict is Verdict.PASS


def test_an_empty_image_uri_fails_in_a_region_the_image_table_lacks() -> None:
    plan = DeployPlan(region="me-south-1", parameters={"TrainingImageUri": ""}, image_regions=["us-east-1"])
    assert doctor.check_image(plan).verdict is Verdict.FAIL
    assert doctor.check_image(plan.model_copy(update={"region": REGION})).verdict is Verdict.PASS


@pytest.mark.parametrize("region", ["me-south-1", "me-central-1", "us-gov-west-1", "us-iso-east-1"])
def test_a_region_the_templates_image_rule_refuses_fails_unless_an_image_is_given(region: str) -> None:
    """The FrameworkImage table lists these regions too (a given TrainingImageUri resolves there), but the
    FrameworkImageInRegion rule refuses a deploy there with the parameter empty: the doctor reads the rule."""
    plan = doctor.template_plan(region)
    assert region in doctor._template(doctor.ROOT)["Mappings"]["FrameworkImage"]
    assert doctor.check_image(plan).verdict is Verdict.FAIL
    own = f"123456789012.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    given = doctor.template_plan(region, overrides={"TrainingImageUri": own})
    assert doctor.check_image(given).verdict is Verdict.PASS
    assert doctor.check_image(doctor.template_plan("eu-west-1")).verdict is Verdict.PASS


def _apigateway_account(role: str | None) -> Any:
    client = _stubbable("apigateway", region_name=REGION)
    stub = Stubber(client)
    stub.add_response("get_account", {"cloudwatchRoleArn": role} if role else {})
    stub.activate()
    return client


@pytest.mark.parametrize(
    ("manage", "role", "deployed", "verdict"),
    [
        ("false", None, False, Verdict.FAIL),  # the stage's access logging is refused: the deploy fails
        ("false", None, True, Verdict.WARN),  # the role went away after the deploy: no access logs
        ("false", "arn:aws:iam::123456789012:role/apigw-logs", False, Verdict.PASS),
        ("true", None, False, Verdict.PASS),
        ("true", "arn:aws:iam::123456789012:role/apigw-logs", False, Verdict.WARN),  # would take it over
    ],
)  # fmt: skip
def test_the_api_gateway_logging_role_is_checked_when_the_stack_does_not_set_it(
    manage: str, role: str | None, deployed: bool, verdict: Verdict
) -> None:
    plan = _plan(ManageApiGatewayAccount=manage)
    if deployed:
        plan = plan.model_copy(update={"topic_arn": "arn:aws:sns:us-east-1:123456789012:challenger-NotificationTopic"})
    check = doctor.check_api_gateway_logging_role(plan, doctor.read_only(_apigateway_account(role)))
    assert check.verdict is verdict, check
    if verdict is not Verdict.PASS and manage == "false":
        assert "ManageApiGatewayAccount=true" in check.fix
        assert "update-account" in check.fix


def test_a_reservation_that_leaves_under_100_unreserved_executions_fails() -> None:
    client = _stubbable("lambda", region_name=REGION)
    with Stubber(client) as stub:
        limits = {"ConcurrentExecutions": 110, "UnreservedConcurrentExecutions": 110}
        stub.add_response("get_account_settings", {"AccountLimit": limits})
        stub.add_response("get_account_settings", {"AccountLimit": limits})
        assert doctor.check_lambda_concurrency(_plan(ApiReservedConcurrency="20"), client).verdict is Verdict.FAIL
        assert doctor.check_lambda_concurrency(_plan(ApiReservedConcurrency="0"), client).verdict is Verdict.PASS


def test_max_concurrency_twice_over_the_serverless_quota_fails() -> None:
    quota = {doctor.SERVERLESS_TOTAL: 10}
    assert doctor.check_serverless_concurrency(_plan(MaxConcurrency="20"), _quotas(quota)).verdict is Verdict.FAIL
    assert doctor.check_serverless_concurrency(_plan(MaxConcurrency="5"), _quotas(quota)).verdict is Verdict.PASS


def test_spot_training_reads_the_spot_quota_and_a_zero_quota_fails() -> None:
    quotas = {"ml.m5.large for training job usage": 2, "ml.m5.large for spot training job usage": 0}
    spot = _plan(TrainingInstanceType="ml.m5.large", UseSpotTraining="true")
    assert doctor.check_training_quota(spot, _quotas(quotas)).verdict is Verdict.FAIL
    on_demand = _plan(TrainingInstanceType="ml.m5.large", UseSpotTraining="false")
    assert doctor.check_training_quota(on_demand, _quotas(quotas)).verdict is Verdict.PASS


def test_a_pending_email_subscription_fails() -> None:
    sns = _stubbable("sns", region_name=REGION)
    topic = "arn:aws:sns:us-east-1:123456789012:challenger-NotificationTopic"
    pending = {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "ops@example.com"}
    with Stubber(sns) as stub:
        stub.add_response("list_subscriptions_by_topic", {"Subscriptions": [pending]})
        check = doctor.check_subscription(_plan().model_copy(update={"topic_arn": topic}), sns)
    assert check.verdict is Verdict.FAIL
    assert "ops@example.com" in check.detail


def test_a_region_without_the_powertools_parameter_fails(aws: None) -> None:
    check = doctor.check_powertools(_plan(), lambda service: boto3.client(service, region_name=REGION))  # type: ignore[call-overload]
    assert check.verdict is Verdict.FAIL
    assert "PowertoolsLayerArn" in check.fix


def test_samconfig_environment_overrides_the_template_defaults() -> None:
    plan = doctor.template_plan(REGION, "prod")
    assert plan.parameters["MaxConcurrency"] != doctor.template_plan(REGION).parameters["MaxConcurrency"]
    assert plan.parameters["RetrainSchedule"] == "cron(0 3 ? * MON *)"


def test_a_deployed_stack_is_checked_with_its_own_parameters_and_topic() -> None:
    cloudformation = _stubbable("cloudformation", region_name=REGION)
    topic = "arn:aws:sns:us-east-1:123456789012:shop-NotificationTopic-X"
    described = {
        "StackName": "shop",
        "CreationTime": "2026-12-01T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": "MaxConcurrency", "ParameterValue": "8"},
            {"ParameterKey": "PowertoolsLayerArn", "ParameterValue": "", "ResolvedValue": ""},
        ],
        "Outputs": [{"OutputKey": "NotificationTopicArn", "OutputValue": topic}],
    }
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [described]}, {"StackName": "shop"})
        plan = doctor.stack_plan(doctor.read_only(cloudformation), "shop", REGION)
    assert plan.deployed
    assert plan.topic_arn == topic
    assert plan.parameters["MaxConcurrency"] == "8"


def test_doctor_before_a_deploy_exits_1_when_a_check_fails(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    # moto has no Powertools parameter: the region "lacks" it, which fails the deploy; the rest warns or passes.
    assert main(["doctor", "--region", REGION, "--config-env", "dev"]) == 1
    out = capsys.readouterr().out
    assert "challenger doctor: before deploy in us-east-1" in out
    assert "FAIL  Powertools layer" in out
    assert "fix: set PowertoolsLayerArn" in out


def test_the_powertools_parameter_checked_is_the_one_the_template_resolves() -> None:
    template = (doctor.ROOT / "template.yaml").read_text()
    assert f"{{{{resolve:ssm:{doctor.POWERTOOLS_PARAMETER}}}}}" in template


class _Listing:
    """An S3 client whose ListObjectsV2 pages list these keys and sizes."""

    def __init__(self, objects: dict[str, int]) -> None:
        self.objects = objects

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_objects_v2"
        objects = self.objects

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:  # boto3's names
                return [{"Contents": [{"Key": k, "Size": v} for k, v in objects.items() if k.startswith(Prefix)]}]

        return Pages()


def test_the_doctor_says_when_the_training_instance_cannot_hold_the_largest_dataset_and_which_can() -> None:
    s3 = _Listing(
        {
            "incoming/flights/train/part-00000.csv": 1_000_000_000,
            "incoming/flights/train/part-00001.csv": 1_000_000_000,
            "incoming/flights/train/_SUCCESS": 0,
            "incoming/flights/train/_manifest.json": 10_000_000_000,  # not data
            "incoming/reviews/train.csv": 50_000_000,
            "incoming/reviews/test.csv": 9_000_000_000,  # a test file is not trained on
        }
    )
    deployed = {"data_bucket": "data"}
    rows = doctor.check_training_memory(_plan(Recipe="sentiment").model_copy(update=deployed), s3)
    assert rows.verdict is Verdict.WARN
    assert rows.detail.startswith("largest dataset 'flights': 2.00 GB; ml.m5.large has 8 GiB; training needs about")
    assert rows.fix == "deploy with TrainingInstanceType=ml.m5.4xlarge"

    batches = doctor.check_training_memory(_plan(Recipe="penguins").model_copy(update=deployed), s3)
    assert batches.verdict is Verdict.PASS  # penguins' train.py hands the kit fit_batches: a chunk at a time

    small = _Listing({"incoming/reviews/train.csv": 50_000_000})
    assert doctor.check_training_memory(_plan(Recipe="sentiment").model_copy(update=deployed), small).verdict is (
        Verdict.PASS
    )
