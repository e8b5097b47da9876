"""SNS: the one topic every email goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from challenger_core.adapters import translate_errors
from challenger_core.notifications import Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
else:
    SNSClient = Any


class Notifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._sns = client
        self._topic_arn = topic_arn

    def send(self, message: Message) -> str:
        """Publish; returns the SNS message id."""
        with translate_errors("sns Publish"):
            response = self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=message.subject,
                Message=message.body,
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": message.kind},
                },
            )
        return response["MessageId"]
