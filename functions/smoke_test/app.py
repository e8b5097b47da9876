"""SmokeTestFunction: replay the deployed version's golden set against the freshly deployed config."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from challenger_core import smoke
from challenger_core.adapters.sagemaker import SageMaker
from challenger_core.adapters.storage import Storage
from challenger_core.clients import SMOKE_TEST_RUNTIME, client
from challenger_core.models import DeploymentState
from challenger_core.observability import logger, metrics, to_state, tracer
from challenger_core.registry import Registry
from challenger_core.settings import get_settings

registry = Registry(client("dynamodb"), get_settings().models_table)
storage = Storage(client("s3"))
sagemaker = SageMaker(client("sagemaker"), client("sagemaker-runtime", SMOKE_TEST_RUNTIME))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DeploymentState)
def lambda_handler(event: DeploymentState, context: LambdaContext) -> dict[str, Any]:
    state = smoke.smoke_test(event, registry, storage, sagemaker)
    assert state.smoke is not None
    logger.info("smoke test", extra={"passed": state.smoke.passed, "detail": state.smoke.detail})
    return to_state(state)
