"""`mirror` shadow mode (issue 23): a share of live `/predict` requests also answered by the shadow endpoint, off
the request path.

While a shadow stage mirrors, its window is one ModelsTable item (`SHADOW` / `MIRROR`: run id, shadow endpoint,
share, until). The API does nothing more than capture: CaptureFunction, which receives the API's capture log lines
through the log group's subscription, sends the mirrored share of them to the shadow endpoint and records each row
as a `ShadowObservation` (source "mirror") beside what the champion answered, under the run's observations prefix.
Callers never wait for the shadow: it is asked after they were answered, by another function.

Which requests are mirrored is decided by the request id's hash, not a random draw, so a redelivered log batch
mirrors the same requests and rewrites the same observation object (`observations_key` of a delivery).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from challenger_core.adapters import translate_errors
from challenger_core.errors import ChallengerError, ConflictError, TransientServiceError
from challenger_core.models import Model, utcnow
from challenger_core.shadow import ShadowObservation, observations_prefix

if TYPE_CHECKING:
    from challenger_core.capture import CaptureLine

MIRROR_KEY = {"pk": {"S": "SHADOW"}, "sk": {"S": "MIRROR"}}
# At most this many requests are sent to the shadow per log delivery, one after another: a bounded rate on a
# serverless endpoint whose concurrency is small; the rest of a burst is not mirrored (counted).
MAX_MIRRORED_PER_DELIVERY = 100


class MirrorWindow(Model):
    """A shadow stage that mirrors: which run, which shadow endpoint, what share of requests, until when."""

    run_id: str
    endpoint_name: str
    share: float = Field(ge=0.0, le=1.0)
    until: datetime


class MirrorStore:
    """The mirror window in ModelsTable: opened and closed by the shadow stage, read by CaptureFunction."""

    def __init__(self, ddb: Any, table: str) -> None:
        self._ddb = ddb
        self._table = table

    def open(self, window: MirrorWindow) -> None:
        """Start mirroring a share of live requests to `window.endpoint_name` until `window.until`."""
        item = {
            **MIRROR_KEY,
            "run_id": {"S": window.run_id},
            "endpoint_name": {"S": window.endpoint_name},
            "share": {"N": repr(window.share)},
            "until": {"S": window.until.isoformat()},
        }
        with translate_errors("dynamodb PutItem mirror window"):
            self._ddb.put_item(TableName=self._table, Item=item)

    def close(self, run_id: str) -> None:
        """Stop mirroring for `run_id` (a window another run opened since is left alone); safe to repeat."""
        with contextlib.suppress(ConflictError), translate_errors("dynamodb DeleteItem mirror window"):
            self._ddb.delete_item(
                TableName=self._table,
                Key=MIRROR_KEY,
                ConditionExpression="attribute_not_exists(pk) OR run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )

    def active(self, now: datetime | None = None) -> MirrorWindow | None:
        """The window in force now, or None (none open, or past its `until`)."""
        with translate_errors("dynamodb GetItem mirror window"):
            item = self._ddb.get_item(TableName=self._table, Key=MIRROR_KEY).get("Item")
        if not item:
            return None
        window = MirrorWindow(
            run_id=item["run_id"]["S"],
            endpoint_name=item["endpoint_name"]["S"],
            share=float(item["share"]["N"]),
            until=datetime.fromisoformat(item["until"]["S"]),
        )
        return window if (now or utcnow()) < window.until else None


def is_mirrored(request_id: str, share: float) -> bool:
    """Whether a request falls in the mirrored share: the same answer for the same request on every delivery."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def mirror_key(run_id: str, delivery_id: str) -> str:
    """The observation object of one log delivery (redelivered: the same key, the same rows)."""
    return f"{observations_prefix(run_id)}mirror-{delivery_id}.jsonl"


def _kind(exc: ChallengerError) -> str:
    if type(exc.__cause__).__name__ == "ReadTimeoutError":  # botocore's, as the SageMaker adapter lets it through
        return "timeout"
    return "throttled" if isinstance(exc, TransientServiceError) else "model_error"


def mirror(
    lines: Iterable[CaptureLine],
    window: MirrorWindow,
    invoke: Callable[[str, bytes], tuple[bytes, str | None]],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[ShadowObservation], int]:
    """Send the mirrored share of the captured requests to the shadow endpoint, one request at a time as the
    champion got it (`{"instances": [...]}`), and pair each row's answers. Returns the observations and how many
    requests of the share were left out (over `MAX_MIRRORED_PER_DELIVERY`)."""
    from challenger_core.serving import PayloadTooLargeError, endpoint_body  # noqa: PLC0415

    observations: list[ShadowObservation] = []
    sent = left_out = 0
    for line in lines:
        if not line.rows or not is_mirrored(line.request_id, window.share):
            continue
        if sent >= MAX_MIRRORED_PER_DELIVERY:
            left_out += 1
            continue
        sent += 1
        answers: list[Any] = [None] * len(line.rows)
        error: str | None = None
        started = clock()
        try:
            raw, _ = invoke(window.endpoint_name, endpoint_body([row.instance for row in line.rows]))
            latency: float | None = round((clock() - started) * 1000, 3)
            try:
                answers = list(json.loads(raw)["predictions"])
                if len(answers) != len(line.rows):
                    raise ValueError("not one prediction per instance")
            except (ValueError, KeyError, TypeError):
                answers, error = [None] * len(line.rows), "invalid_output"
        except PayloadTooLargeError:
            latency, error = None, "client_error"
        except ChallengerError as exc:
            latency, error = round((clock() - started) * 1000, 3), _kind(exc)
        for record, answer in zip(line.records(), answers, strict=True):
            observations.append(
                ShadowObservation(
                    request_id=str(record["request_id"]),
                    source="mirror",
                    instance=record["instance"] if isinstance(record["instance"], dict) else {},
                    champion_prediction=record["prediction"],
                    champion_latency_ms=record["latency_ms"],
                    champion_error=record["error"],
                    shadow_prediction=answer,
                    shadow_latency_ms=latency,
                    shadow_error=error,
                )
            )
    return observations, left_out
