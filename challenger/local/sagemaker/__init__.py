"""The local cloud's SageMaker service: training jobs, serverless endpoints with blue/green updates, InvokeEndpoint.

See README.md in this package for the design decisions and `LocalSageMaker` for the API. The service is imported
on first use, so `python -m challenger.local.sagemaker.images` (the image builder) loads nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from challenger.local.sagemaker.service import FAULT_KINDS, FaultKind, LocalSageMaker

__all__ = ["FAULT_KINDS", "FaultKind", "LocalSageMaker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from challenger.local.sagemaker import service  # noqa: PLC0415  # lazy on purpose, see above

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
