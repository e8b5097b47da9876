"""Artifacts are what was evaluated: a model archive deploys only if its SHA-256 is the one registered.

RegisterCandidate records the SHA-256 of `model.tar.gz` when the candidate is evaluated (`artifact_sha256`).
StartDeployment recomputes it from the bucket before it creates the SageMaker model: an archive replaced after
evaluation (a tampered or swapped `model.tar.gz`) is refused, the version's record gets the reason, the failure
email says why, and the champion keeps serving because nothing on the endpoint changed.
The artifact bucket's policy also denies overwrites under `training/` to everyone but the training role, and
versioning keeps any replaced object (docs/security.md): the digest check is what holds when both fail.
"""

from __future__ import annotations

from challenger_core.adapters.storage import Storage
from challenger_core.errors import ArtifactIntegrityError
from challenger_core.models import DeploymentState, ModelVersion
from challenger_core.observability import logger
from challenger_core.registry import Registry


def verify(model: ModelVersion, storage: Storage) -> None:
    """Raise ArtifactIntegrityError unless `model.tar.gz` hashes to the registered digest."""
    if not model.model_data_url:
        raise ArtifactIntegrityError(f"v{model.version} has no model artifact to deploy")
    if not model.artifact_sha256:
        # Versions registered before digests were recorded; their records come from the same registry that
        # would hold the digest, so refusing them protects against nothing an attacker with S3 access does.
        logger.warning("no registered digest: deploying unverified", extra={"version": model.version})
        return
    actual = storage.sha256(model.model_data_url)
    if actual != model.artifact_sha256:
        raise ArtifactIntegrityError(
            f"refusing to deploy v{model.version}: its archive {model.model_data_url} has SHA-256 {actual}, not "
            f"the {model.artifact_sha256} registered when it was evaluated. It was replaced after evaluation; "
            "the champion keeps serving. Restore the registered object version (the bucket is versioned) or retrain."
        )


def check_before_deploy(state: DeploymentState, registry: Registry, storage: Storage) -> None:
    """StartDeployment's first step: refuse a version whose archive is not the evaluated one (reason recorded)."""
    model = registry.get_model(state.request.version)
    try:
        verify(model, storage)
    except ArtifactIntegrityError as exc:
        logger.error("artifact digest mismatch", extra={"version": model.version, "reason": str(exc)})
        # The reason goes on the record; the status stays (a FAILED version could not be rolled back to once
        # the evaluated archive is restored).
        registry.update_model(model.version, failure_reason=str(exc))
        raise
