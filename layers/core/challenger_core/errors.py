"""One error hierarchy for the whole core.

Step Functions sees a Lambda error's class name as the error name, so these names are part of the ASL
contract: `TransientServiceError` is retried, everything else goes to the failure path.

Every message is bounded (`MAX_MESSAGE_CHARS`): a Catch puts the error's cause into the execution's state,
the run record and an email, and Step Functions fails a state over 256 KB with `States.DataLimitExceeded`,
which no `States.ALL` Catch sees — a run would stay RUNNING for ever. A few KB say what is wrong.
"""

MAX_MESSAGE_CHARS = 2048


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f" … [{len(text) - limit} more characters]"
    return text[: max(0, limit - len(note))] + note


class ChallengerError(Exception):
    """Base of every error the core raises on purpose; its message is bounded."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (bounded(args[0]), *args[1:])
        super().__init__(*args)


class DataValidationError(ChallengerError):
    """The dropped dataset cannot be trained on; the message says exactly why."""

    def __init__(self, problems: list[str], *, source: str = "") -> None:
        # One problem may quote a whole cell (a 1 MB label): each is cut on its own so the others still show.
        self.problems = [bounded(problem, MAX_MESSAGE_CHARS // 4) for problem in problems]
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class NotFoundError(ChallengerError):
    """A model version, run, approval or endpoint that should exist does not."""


class ConflictError(ChallengerError):
    """A conditional write lost a race, or the request contradicts the current state."""


class TaskClosedError(ConflictError):
    """A task token's task no longer waits (answered already, or timed out)."""


class TrainingFailedError(ChallengerError):
    """SageMaker reports the training job Failed or Stopped."""


class PollingExhaustedError(ChallengerError):
    """A bounded poll loop ran out of attempts."""


class DeploymentFailedError(ChallengerError):
    """The new endpoint config never became healthy; the previous one keeps serving."""


class RollbackFailedError(ChallengerError):
    """The endpoint did not settle back on the previous config; what it serves is not verified."""


class ArtifactIntegrityError(ChallengerError):
    """A model archive is not the one that was evaluated (its SHA-256 differs from the registered digest)."""


class ApprovalLinkError(ChallengerError):
    """An approval link is tampered with, expired or already used."""


class InvalidCursorError(ChallengerError):
    """A list's `cursor` is not one this list gave out (corrupt, cut, or from another list)."""


class TransientServiceError(ChallengerError):
    """An AWS call was throttled or hit a 5xx; safe to retry (the ASL does)."""


class ServiceError(ChallengerError):
    """An AWS call failed for a reason a retry will not fix (permissions, validation)."""
