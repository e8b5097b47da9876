"""CaptureFunction: the API's inference captures, delivered by the CloudWatch Logs subscription on its log group.

Each sampled `/predict` request is one log line of the API function (challenger_core.capture); the subscription
filter sends batches of them here. They become JSON Lines under `captures/model=v<version>/date=<day>/`, one object
per version and day of a delivery, named by the delivery, so Lambda's retry of an asynchronous invocation rewrites
the same objects. While a shadow stage mirrors (challenger_core.mirror), the mirrored share of the requests is sent
to the shadow endpoint too, and each row recorded beside the champion's answer.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import capture, mirror
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.clients import API_RUNTIME, client
from challenger_core.observability import logger, metrics, tracer
from challenger_core.settings import get_settings
from challenger_core.shadow import dump_observations

settings = get_settings()


@cache
def _storage() -> Storage:
    return Storage(client("s3"))


@cache
def _mirrors() -> mirror.MirrorStore:
    return mirror.MirrorStore(client("dynamodb"), settings.models_table)


@cache
def _sagemaker() -> SageMaker:
    # One attempt, as /predict makes: a throttled or failed shadow answer is what the shadow stage measures.
    return SageMaker(client("sagemaker"), client("sagemaker-runtime", API_RUNTIME))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=CloudWatchLogsModel)
def lambda_handler(event: CloudWatchLogsModel, context: LambdaContext) -> dict[str, Any]:
    data = event.awslogs.decoded_data
    parsed = [capture.parse_capture_message(str(log_event.message)) for log_event in data.logEvents]
    lines = [line for line in parsed if line is not None]
    ids = [log_event.id for log_event in data.logEvents]
    delivery = hashlib.sha256(f"{data.logGroup}\n{data.logStream}\n{ids[0]}\n{ids[-1]}".encode()).hexdigest()[:32]
    objects = capture.capture_objects(lines, delivery)
    for key, body in objects.items():
        _storage().write(settings.artifact_bucket, key, body, "application/x-ndjson")
    rows = sum(len(line.rows) for line in lines)
    omitted = sum(line.omitted for line in lines)
    metrics.add_metric(name="CapturesStored", unit=MetricUnit.Count, value=rows)
    if omitted:  # a row over the log event limit cannot be captured (challenger_core.capture)
        metrics.add_metric(name="CapturesOmitted", unit=MetricUnit.Count, value=omitted)
    result: dict[str, Any] = {"events": len(ids), "captured": rows, "omitted": omitted, "objects": sorted(objects)}
    window = _mirrors().active() if lines else None
    if window is not None:
        observations, left_out = mirror.mirror(lines, window, _sagemaker().invoke_with_variant)
        if observations:
            key = mirror.mirror_key(window.run_id, delivery)
            _storage().write(settings.artifact_bucket, key, dump_observations(observations), "application/x-ndjson")
        metrics.add_metric(name="MirroredRows", unit=MetricUnit.Count, value=len(observations))
        result |= {"mirrored": len(observations), "mirror_left_out": left_out, "run_id": window.run_id}
    logger.info("captures stored", extra=result)
    return result
