"""One error hierarchy for the whole core.

Step Functions sees a Lambda error's class name as the error name, so these names are part of the ASL
contract: `TransientServiceError` is retried, everything else goes to the failure path.
"""


class ChallengerError(Exception):
    """Base of every error the core raises on purpose."""


class DataValidationError(ChallengerError):
    """The dropped dataset cannot be trained on; the message says exactly why."""

    def __init__(self, problems: list[str], *, source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(problems))


class NotFoundError(ChallengerError):
    """A model version, run, approval or endpoint that should exist does not."""


class ConflictError(ChallengerError):
    """A conditional write lost a race, or the request contradicts the current state."""


class TrainingFailedError(ChallengerError):
    """SageMaker reports the training job Failed or Stopped."""


class PollingExhaustedError(ChallengerError):
    """A bounded poll loop ran out of attempts."""


class DeploymentFailedError(ChallengerError):
    """The new endpoint config never became healthy; the previous one keeps serving."""


class SmokeTestFailedError(ChallengerError):
    """The deployed model answered the smoke test wrongly."""


class ArtifactIntegrityError(ChallengerError):
    """A model archive is not the one that was evaluated (its SHA-256 differs from the registered digest)."""


class ApprovalLinkError(ChallengerError):
    """An approval link is tampered with, expired or already used."""


class TransientServiceError(ChallengerError):
    """An AWS call was throttled or hit a 5xx; safe to retry (the ASL does)."""


class ServiceError(ChallengerError):
    """An AWS call failed for a reason a retry will not fix (permissions, validation)."""
