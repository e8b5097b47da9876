"""The local cloud's SageMaker service: training jobs, serverless endpoints with blue/green updates, InvokeEndpoint.

See README.md in this package for the design decisions and `LocalSageMaker` for the API.
"""

from challenger.local.sagemaker.service import FAULT_KINDS, FaultKind, LocalSageMaker

__all__ = ["FAULT_KINDS", "FaultKind", "LocalSageMaker"]
