"""Adapters around boto3. The domain never sees boto3 types: every `ClientError` becomes a core error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from challenger_core.errors import ConflictError, NotFoundError, ServiceError, TransientServiceError

_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalServerError",
    "InternalFailure",
    "SlowDown",
    "TransactionInProgressException",
    # sagemaker-runtime: a serverless endpoint still starting (cold) or being updated
    "ModelNotReadyException",
}
_NOT_FOUND_CODES = {
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NotFound",
    "404",
    "ExecutionDoesNotExist",  # Step Functions: an unknown or expired execution
}
_CONFLICT_CODES = {
    "ConditionalCheckFailedException",
    "TransactionCanceledException",
    "ExecutionAlreadyExists",
    "ResourceInUse",
}


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Run an AWS call, re-raising its failure as the matching core error with the operation named."""
    # Imported by the call, not at init: botocore's exceptions pull in its vendored requests/urllib3 and are
    # loaded anyway by the `import boto3` that building the call's client does (challenger_core.clients).
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError  # noqa: PLC0415

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{operation}: {code}: {message}"
        if code in _TRANSIENT_CODES or status >= 500:
            raise TransientServiceError(text) from exc
        if code in _NOT_FOUND_CODES or "Could not find" in message or "Requested resource not found" in message:
            raise NotFoundError(text) from exc
        if code in _CONFLICT_CODES:
            raise ConflictError(text) from exc
        raise ServiceError(text) from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise TransientServiceError(f"{operation}: {exc}") from exc
