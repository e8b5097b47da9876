"""SNS Publish refuses what AWS refuses (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from challenger.local.lambda_runtime import MOTO_CONFIG
from tests.support.inprocess_lambda import LocalLambdaRuntime

MAX_MESSAGE_BYTES = 262_144


@pytest.fixture
def publish() -> Iterator[Any]:
    with mock_aws(config=MOTO_CONFIG), LocalLambdaRuntime():
        sns = boto3.client("sns", region_name="us-east-1")
        topic_arn = sns.create_topic(Name="notifications")["TopicArn"]

        def send(message: str = "body", **fields: Any) -> Any:
            return sns.publish(TopicArn=topic_arn, Message=message, **fields)

        send.exceptions = sns.exceptions  # type: ignore[attr-defined]
        yield send


@pytest.mark.parametrize(
    "subject",
    [
        "s" * 100,  # "must be less than 100 characters long"
        "deployed ✓",  # "must be ASCII text"
        "line\nbreak",  # "must not include line breaks or control characters"
        "bell\x07",
    ],
)
def test_subjects_aws_refuses_are_invalid_parameter(publish: Any, subject: str) -> None:
    with pytest.raises(publish.exceptions.InvalidParameterException) as raised:
        publish(Subject=subject)

    assert "Subject" in raised.value.response["Error"]["Message"]


def test_a_99_character_ascii_subject_is_accepted(publish: Any) -> None:
    assert publish(Subject="[Challenger prod] " + "s" * 81)["MessageId"]


def test_the_message_limit_is_256_kib_of_utf8_bytes(publish: Any) -> None:
    # "at most 256 KB in size (262,144 bytes, not 262,144 characters)"
    assert publish("x" * MAX_MESSAGE_BYTES)["MessageId"]
    with pytest.raises(publish.exceptions.InvalidParameterException):
        publish("é" * (MAX_MESSAGE_BYTES // 2 + 1))  # fewer characters than the limit, more bytes
