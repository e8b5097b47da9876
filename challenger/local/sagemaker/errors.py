"""SageMaker API errors as the real service words them (codes and messages our adapters and botocore parse)."""

from __future__ import annotations

import functools
from typing import Any

import botocore.session


class ApiError(Exception):
    """An error response: a code botocore maps to an exception class, a message, an HTTP status, extra fields."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


def validation(message: str) -> ApiError:
    """ValidationException: SageMaker's answer to almost every bad request, including "Could not find ..."."""
    return ApiError("ValidationException", message)


def not_found(kind: str, arn_or_name: str) -> ApiError:
    """What Describe/Delete/CreateEndpoint answer for a missing model, endpoint configuration or endpoint.

    SageMaker uses ValidationException here, not ResourceNotFound; the "Could not find" wording is what
    `challenger_core.adapters.translate_errors` turns into NotFoundError.
    """
    return validation(f'Could not find {kind} "{arn_or_name}".')


def already_exists(kind: str, arn: str) -> ApiError:
    """Duplicate model / endpoint configuration / endpoint names are a ValidationException in SageMaker."""
    return validation(f'Cannot create already existing {kind} "{arn}".')


def job_in_use(noun: str, arn: str) -> ApiError:
    """A duplicate job name (noun: Training, Transform, ...): ResourceInUse (our adapter: "already started")."""
    return ApiError(
        "ResourceInUse",
        f"{noun} job names must be unique within an AWS account and region, and a {noun.lower()} job with this "
        f"name already exists ({arn})",
    )


@functools.cache
def name_constraint(member: str) -> tuple[str, int]:
    """A resource name's pattern and maximum length (`trainingJobName` → shape TrainingJobName) from the SageMaker API
    model botocore ships. SageMaker quotes the pattern with a leading "^" in its validation messages."""
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(member[0].upper() + member[1:])
    return str(shape.metadata["pattern"]), int(shape.metadata["max"])


def service_unavailable(message: str) -> ApiError:
    """InvokeEndpoint's transient failure (HTTP 503, `ServiceUnavailable`): a client retries it."""
    return ApiError("ServiceUnavailable", message or "The service is unavailable. Please try again later.", status=503)
