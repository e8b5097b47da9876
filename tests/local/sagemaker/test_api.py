"""Local SageMaker control plane: SageMaker's validation, codes and wording, as botocore and our adapter see them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from challenger.local.sagemaker import LocalSageMaker
from challenger_core.adapters.sagemaker import SageMaker, TrainingSpec
from challenger_core.errors import ConflictError, NotFoundError
from tests.local.sagemaker.helpers import IMAGE, ROLE_ARN, SOURCE_URI, clients_for

pytestmark = pytest.mark.enable_socket

ARN = "arn:aws:sagemaker:us-east-1:123456789012"


@pytest.fixture
def sm(trainer: LocalSageMaker) -> Any:
    return clients_for(trainer).sm


@pytest.fixture
def adapter(sm: Any) -> SageMaker:
    return SageMaker(sm)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def serverless_variant(model: str, **serverless: Any) -> dict[str, Any]:
    config = {"MemorySizeInMB": 2048, "MaxConcurrency": 5, **serverless}
    return {"VariantName": "AllTraffic", "ModelName": model, "ServerlessConfig": config}


def test_models_are_created_once_and_described(sm: Any, adapter: SageMaker) -> None:
    adapter.create_model("api-model", IMAGE, "s3://bucket/model.tar.gz", ROLE_ARN)
    adapter.create_model("api-model", IMAGE, "s3://bucket/other.tar.gz", ROLE_ARN)  # idempotent: reused
    described = sm.describe_model(ModelName="api-model")
    assert described["ModelArn"] == f"{ARN}:model/api-model"
    assert described["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket/model.tar.gz"
    assert described["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    with pytest.raises(ClientError) as duplicate:
        sm.create_model(ModelName="api-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    assert error_of(duplicate) == (
        "ValidationException",
        f'Cannot create already existing model "{ARN}:model/api-model".',
    )
    with pytest.raises(ClientError) as missing:
        sm.describe_model(ModelName="api-no-model")
    assert error_of(missing) == ("ValidationException", f'Could not find model "{ARN}:model/api-no-model".')


def test_endpoint_configs_must_be_serverless_and_reference_a_model(sm: Any, adapter: SageMaker) -> None:
    adapter.create_model("api-config-model", IMAGE, "s3://bucket/model.tar.gz", ROLE_ARN)
    adapter.create_serverless_config("api-config", "api-config-model", 2048, 5)
    adapter.create_serverless_config("api-config", "api-config-model", 2048, 5)  # idempotent
    described = sm.describe_endpoint_config(EndpointConfigName="api-config")
    assert described["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    instance_variant = {"VariantName": "AllTraffic", "ModelName": "api-config-model", "InstanceType": "ml.m5.large"}
    cases = [
        ([instance_variant], "ServerlessConfig is required"),
        ([serverless_variant("api-config-model", MemorySizeInMB=1500)], "memorySizeInMB"),
        ([serverless_variant("api-config-model", MaxConcurrency=500)], "maxConcurrency"),
        ([serverless_variant("api-no-model")], f'Could not find model "{ARN}:model/api-no-model".'),
    ]
    for variants, message in cases:
        with pytest.raises(ClientError) as excinfo:
            sm.create_endpoint_config(EndpointConfigName="api-bad-config", ProductionVariants=variants)
        code, text = error_of(excinfo)
        assert code == "ValidationException"
        assert message in text
    with pytest.raises(ClientError) as duplicate:
        sm.create_endpoint_config(
            EndpointConfigName="api-config", ProductionVariants=[serverless_variant("api-config-model")]
        )
    assert "Cannot create already existing endpoint configuration" in error_of(duplicate)[1]
    adapter.delete_config_and_model("api-config", "api-config-model")
    adapter.delete_config_and_model("api-config", "api-config-model")  # already gone: fine
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.describe_endpoint_config(EndpointConfigName="api-config")


def test_models_and_configs_are_listed_by_name_in_pages_newest_first(sm: Any, adapter: SageMaker) -> None:
    # What `sam delete`'s clean-up lists (deployment.remove_stack_resources): more than one page of this stack's.
    names = [f"api-list-{i:02d}" for i in range(12)]
    for name in names:
        adapter.create_model(name, IMAGE, "s3://bucket/model.tar.gz", ROLE_ARN)
    adapter.create_model("api-other-00", IMAGE, "s3://bucket/model.tar.gz", ROLE_ARN)
    sm.create_endpoint_config(EndpointConfigName="api-list-config", ProductionVariants=[serverless_variant(names[0])])

    first = sm.list_models(NameContains="api-list-")
    assert [m["ModelName"] for m in first["Models"]] == names[::-1][:10]  # 10 a page, newest first
    assert set(first["Models"][0]) == {"ModelName", "ModelArn", "CreationTime"}
    rest = sm.list_models(NameContains="api-list-", NextToken=first["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == names[::-1][10:]
    assert "NextToken" not in rest
    assert sorted(adapter.names_containing("model", "api-list-")) == names  # the adapter follows the pages
    by_name = sm.list_models(NameContains="api-list-", SortBy="Name", SortOrder="Ascending", MaxResults=3)
    assert [m["ModelName"] for m in by_name["Models"]] == names[:3]
    assert adapter.names_containing("endpoint-config", "api-list-") == ["api-list-config"]
    with pytest.raises(ClientError) as excinfo:
        sm.list_models(MaxResults=101)
    assert error_of(excinfo)[0] == "ValidationException"


def test_missing_resources_map_to_not_found(sm: Any, adapter: SageMaker) -> None:
    assert adapter.endpoint("api-no-endpoint") is None
    with pytest.raises(NotFoundError, match="Could not find endpoint configuration"):
        adapter.create_endpoint("api-endpoint", "api-no-config")
    with pytest.raises(NotFoundError, match="Could not find endpoint"):
        adapter.update_endpoint("api-no-endpoint", "api-no-config")
    with pytest.raises(NotFoundError):
        adapter.delete_endpoint("api-no-endpoint")
    with pytest.raises(ClientError) as excinfo:
        sm.delete_model(ModelName="api-no-model")
    assert error_of(excinfo)[0] == "ValidationException"


def test_training_through_the_adapter(adapter: SageMaker, trained: dict[str, dict[str, Any]]) -> None:
    status = adapter.training_status("job-a")
    assert (status.status, status.secondary_status, status.failure_reason) == ("Completed", "Completed", None)
    assert status.model_data_url == trained["a"]["ModelArtifacts"]["S3ModelArtifacts"]
    adapter.stop_training("job-a")  # a finished job: nothing to stop, no error
    spec = TrainingSpec(
        job_name="job-a",
        image_uri=IMAGE,
        role_arn=ROLE_ARN,
        instance_type="ml.m5.large",
        source_uri=SOURCE_URI,
        train_uri="s3://bucket/train.csv",
        test_uri=None,
        output_uri="s3://bucket/training/",
        hyperparameters={},
        max_seconds=60,
        use_spot=False,
        tags={},
    )
    with pytest.raises(ConflictError, match="ResourceInUse"):  # a retried StartTraining treats this as started
        adapter.start_training(spec)


def test_protocol_edges(trainer: LocalSageMaker) -> None:
    assert requests.get(f"{trainer.url}/_local/health", timeout=5).json() == {"status": "ok"}
    unknown = requests.post(
        f"{trainer.url}/",
        data="{}",
        headers={"X-Amz-Target": "SageMaker.ListEndpoints", "Content-Type": "application/x-amz-json-1.1"},
        timeout=5,
    )
    assert unknown.status_code == 400
    assert unknown.json()["__type"] == "UnknownOperationException"
    garbage = requests.post(f"{trainer.url}/", data="{", headers={"X-Amz-Target": "SageMaker.DescribeModel"}, timeout=5)
    assert garbage.json()["__type"] == "SerializationException"
    missing_member = requests.post(
        f"{trainer.url}/", data="{}", headers={"X-Amz-Target": "SageMaker.DescribeModel"}, timeout=5
    )
    assert (missing_member.status_code, missing_member.json()["__type"]) == (400, "ValidationException")
    assert requests.get(f"{trainer.url}/nothing", timeout=5).status_code == 404


def test_browser_requests_are_refused_before_any_operation(trainer: LocalSageMaker) -> None:
    # Issue 18 #22: a DNS-rebound page called CreateModel/UpdateEndpoint and made a REJECTED model serve.
    target = {"X-Amz-Target": "SageMaker.CreateModel", "Content-Type": "application/x-amz-json-1.1"}
    body = '{"ModelName": "rebound", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x"}'
    port = trainer.url.rpartition(":")[2]
    for browser in ({"Origin": "http://evil.test"}, {"Sec-Fetch-Mode": "no-cors"}, {"Host": f"evil.test:{port}"}):
        refused = requests.post(f"{trainer.url}/", data=body, headers=target | browser, timeout=5)
        assert refused.status_code == 403, browser
        assert "the local cloud refuses this request" in refused.json()["message"]
    describe = {"X-Amz-Target": "SageMaker.DescribeModel", "Content-Type": "application/x-amz-json-1.1"}
    missing = requests.post(f"{trainer.url}/", data='{"ModelName": "rebound"}', headers=describe, timeout=5)
    assert missing.json()["__type"] == "ValidationException"  # never created
