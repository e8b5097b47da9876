"""The model registry on DynamoDB (ModelsTable): versions, runs, approvals, the champion pointer.

One table, `pk`/`sk` keys:
- `MODEL` / `V#000042`       a model version (metrics stored as numbers)
- `RUN` / `<run id>`          a pipeline run
- `APPROVAL` / `<id>`         a pending or decided approval (single use)
- `CHAMPION` / `CHAMPION`     the live version; changed only by conditional write
- `AUDIT` / `<time>#<id>`     a decision (approve, reject, rollback, retrain): who, when, from where; copied to
                              `AUDIT#RUN#<run id>` and `AUDIT#V#000042` for the run and the version it is about
- `COUNTER` / `MODEL`         the version sequence
- `BATCH` / `<batch id>`      a batch file's scoring (BatchPipeline); the id starts with the upload time

Lists page with an opaque `cursor` (the last key of a page, encoded and checked on the way back in).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from challenger_core.adapters import translate_errors
from challenger_core.errors import ConflictError, InvalidCursorError, NotFoundError, TransientServiceError
from challenger_core.models import (
    BATCH_ID_PATTERN,
    Approval,
    ApprovalStatus,
    AuditEntry,
    BatchJobRecord,
    Champion,
    DatasetPolicy,
    ModelStatus,
    ModelVersion,
    Run,
    TrustedSet,
    utcnow,
)

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any


@functools.cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's DynamoDB type codec, imported on first use: `boto3.dynamodb.types` imports boto3 itself (~0.15 s),
    which a handler's init must not pay before a code path calls AWS."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

    return TypeSerializer(), TypeDeserializer()


@dataclass(frozen=True)
class ClaimedApproval:
    approval: Approval
    fresh: bool  # False: this decision had claimed it before (the call is a retry)


def _approval_key(approval_id: str) -> dict[str, Any]:
    return {"pk": {"S": "APPROVAL"}, "sk": {"S": approval_id}}


def _version_key(version: int) -> dict[str, Any]:
    return {"pk": {"S": "MODEL"}, "sk": {"S": f"V#{version:06d}"}}


# TransactWriteItems cancellation reasons a retry can get past
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
_TRANSIENT_CANCELLATIONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def _status_update(table: str, version: int, status: ModelStatus, now: str, *, goes_live: bool = False) -> Any:
    values: dict[str, Any] = {":status": {"S": status.value}, ":now": {"S": now}}
    expression = "SET #s = :status, updated_at = :now"
    if goes_live:
        # was_live/live_since make the version a rollback target from now on (operations.rollback).
        expression += ", was_live = :true, live_since = :now REMOVE failure_reason"
        values[":true"] = {"BOOL": True}
    return {
        "Update": {
            "TableName": table,
            "Key": _version_key(version),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
        }
    }


# DynamoDB's smallest positive number is 1E-130: PutItem refuses a smaller magnitude ("Number underflow"), which a
# float can hold (an operator's policy field of 6e-133 turned POST /datasets/{dataset}/policy into a 502).
_DYNAMODB_TINIEST = Decimal("1E-130")


def _number(text: str) -> Decimal:
    """A JSON float as a DynamoDB number; a magnitude below DynamoDB's range is stored as 0 (nearer than any step)."""
    number = Decimal(text)
    return Decimal(0) if number and abs(number) < _DYNAMODB_TINIEST else number


def _to_item(pk: str, sk: str, model: BaseModel) -> dict[str, Any]:
    # JSON first so datetimes/enums become strings, then floats become Decimal (DynamoDB numbers).
    plain = json.loads(model.model_dump_json(exclude_none=True), parse_float=_number)
    plain.update(pk=pk, sk=sk)
    return {name: _codec()[0].serialize(value) for name, value in plain.items()}


def _from_item[T: BaseModel](model: type[T], item: dict[str, Any]) -> T:
    plain = {name: _codec()[1].deserialize(value) for name, value in item.items() if name not in ("pk", "sk")}
    return model.model_validate(json.loads(json.dumps(plain, default=_json_number)))


def _json_number(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _plain(value: object) -> Any:
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json(), parse_float=_number)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return _number(str(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# The sort keys a cursor may carry, per listed partition: a cursor is the last key of a page, so anything else is
# not one the API gave out (a key of another partition, a cut or edited cursor) and is refused, never queried.
CURSOR_KEYS = {
    "MODEL": re.compile(r"V#\d{6,10}"),
    "RUN": re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"),
    "AUDIT": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{32}"),
    "BATCH": re.compile(BATCH_ID_PATTERN.strip("^$")),
}
MAX_CURSOR_CHARS = 200


def encode_cursor(partition: str, sort_key: str) -> str:
    """The opaque cursor of the page after `sort_key` (DynamoDB's LastEvaluatedKey) in `partition`."""
    return base64.urlsafe_b64encode(f"{partition}\n{sort_key}".encode()).decode().rstrip("=")


def decode_cursor(partition: str, cursor: str) -> str:
    """The sort key a cursor of `partition` carries; InvalidCursorError (a 400) if this list did not give it out."""
    problem = "it is not a cursor this list gave out; start again without one"
    if len(cursor) > MAX_CURSOR_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise InvalidCursorError(f"cursor: {problem}")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError(f"cursor: {problem}") from exc
    pk, _, sk = text.partition("\n")
    if pk != partition:
        raise InvalidCursorError(f"cursor: it belongs to another list ({pk or 'none'}), not {partition.lower()}")
    if not CURSOR_KEYS[partition].fullmatch(sk):
        raise InvalidCursorError(f"cursor: {problem}")
    return sk


def audit_key(entry: AuditEntry) -> str:
    """The audit item's sort key: time first (to the microsecond, fixed width), so a Query lists the log in order."""
    return f"{entry.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}#{entry.audit_id}"


class Registry:
    """Typed access to ModelsTable; every write that guards an invariant is conditional."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    # Versions -------------------------------------------------------------------------------------
    def next_version(self) -> int:
        """Allocate the next model version number (atomic counter)."""
        with translate_errors("dynamodb UpdateItem counter"):
            response = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": "COUNTER"}, "sk": {"S": "MODEL"}},
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        return int(response["Attributes"]["value"]["N"])

    def put_model(self, model: ModelVersion) -> None:
        with translate_errors(f"dynamodb PutItem model v{model.version}"):
            self._ddb.put_item(TableName=self._table, Item=_to_item("MODEL", f"V#{model.version:06d}", model))

    def get_model(self, version: int) -> ModelVersion:
        return self._get(ModelVersion, _version_key(version), f"model v{version}", f"model version {version}")

    def list_models(self, limit: int = 100) -> list[ModelVersion]:
        """Newest first."""
        return [_from_item(ModelVersion, item) for item in self._query("MODEL", limit)]

    def models_page(self, limit: int, cursor: str | None = None) -> tuple[list[ModelVersion], str | None]:
        """One page of versions, newest first, and the cursor of the next page (None: this was the last)."""
        items, after = self._page("MODEL", limit, cursor)
        return [_from_item(ModelVersion, item) for item in items], after

    def update_model(self, version: int, *, expect_status: ModelStatus | None = None, **fields: Any) -> ModelVersion:
        """Set fields of a model version (status transitions optionally guarded by the current status)."""
        fields["updated_at"] = utcnow()
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": _codec()[0].serialize(_plain(value)) for name, value in fields.items()}
        condition = "attribute_exists(pk)"
        if expect_status is not None:
            names["#status_now"] = "status"
            values[":expected"] = {"S": expect_status.value}
            condition += " AND #status_now = :expected"
        try:
            with translate_errors(f"dynamodb UpdateItem model v{version}"):
                response = self._ddb.update_item(
                    TableName=self._table,
                    Key=_version_key(version),
                    UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in fields),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except ConflictError as exc:
            raise ConflictError(
                f"model version {version} is not in the expected state "
                f"({expect_status.value if expect_status else 'existing'})"
            ) from exc
        return _from_item(ModelVersion, response["Attributes"])

    # Runs -----------------------------------------------------------------------------------------
    def put_run(self, run: Run, *, create: bool = False) -> None:
        """Store a run; with `create`, refuse (ConflictError) to overwrite one with the same id."""
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"} if create else {}
        try:
            with translate_errors(f"dynamodb PutItem run {run.run_id}"):
                self._ddb.put_item(TableName=self._table, Item=_to_item("RUN", run.run_id, run), **condition)
        except ConflictError as exc:
            raise ConflictError(f"run {run.run_id} already exists") from exc

    def get_run(self, run_id: str) -> Run:
        return self._get(Run, {"pk": {"S": "RUN"}, "sk": {"S": run_id}}, f"run {run_id}")

    def list_runs(self, limit: int = 50) -> list[Run]:
        """Newest first (run ids start with a UTC timestamp)."""
        return [_from_item(Run, item) for item in self._query("RUN", limit)]

    def runs_page(self, limit: int, cursor: str | None = None) -> tuple[list[Run], str | None]:
        """One page of runs, newest first, and the cursor of the next page (None: this was the last)."""
        items, after = self._page("RUN", limit, cursor)
        return [_from_item(Run, item) for item in items], after

    # Batch scoring ---------------------------------------------------------------------------------
    def put_batch(self, record: BatchJobRecord) -> None:
        """Record a batch file's scoring as it stands (a whole-item put: a retried step writes the same)."""
        with translate_errors(f"dynamodb PutItem batch {record.batch_id}"):
            self._ddb.put_item(TableName=self._table, Item=_to_item("BATCH", record.batch_id, record))

    def get_batch(self, batch_id: str) -> BatchJobRecord:
        return self._get(BatchJobRecord, {"pk": {"S": "BATCH"}, "sk": {"S": batch_id}}, f"batch {batch_id}")

    def batches_page(self, limit: int, cursor: str | None = None) -> tuple[list[BatchJobRecord], str | None]:
        """One page of batch scorings, newest upload first, and the cursor of the next page."""
        items, after = self._page("BATCH", limit, cursor)
        return [_from_item(BatchJobRecord, item) for item in items], after

    def update_run(self, run_id: str, **fields: Any) -> None:
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": _codec()[0].serialize(_plain(value)) for name, value in fields.items()}
        with translate_errors(f"dynamodb UpdateItem run {run_id}"):
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": "RUN"}, "sk": {"S": run_id}},
                UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in fields),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    # Approvals ------------------------------------------------------------------------------------
    def put_approval(self, approval: Approval) -> None:
        with translate_errors(f"dynamodb PutItem approval {approval.approval_id}"):
            self._ddb.put_item(
                TableName=self._table,
                Item=_to_item("APPROVAL", approval.approval_id, approval),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get_approval(self, approval_id: str) -> Approval:
        return self._get(Approval, {"pk": {"S": "APPROVAL"}, "sk": {"S": approval_id}}, f"approval {approval_id}")

    def claim_approval(self, approval_id: str, *, decision: str, actor: str) -> ClaimedApproval:
        """Reserve a PENDING, unexpired approval for one decision before the pipeline hears it.

        The same decision may claim again (a retry); a different one, a decided or an expired approval is a
        ConflictError (a replayed link, or two people deciding at once).
        """
        try:
            with translate_errors(f"dynamodb UpdateItem approval {approval_id} claim"):
                response = self._ddb.update_item(
                    TableName=self._table,
                    Key=_approval_key(approval_id),
                    UpdateExpression="SET claimed_decision = :decision, claimed_by = :actor",
                    ConditionExpression=(
                        "#s = :pending AND expires_at > :now AND "
                        "(attribute_not_exists(claimed_decision) OR claimed_decision = :decision)"
                    ),
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":decision": {"S": decision},
                        ":actor": {"S": actor},
                        ":pending": {"S": ApprovalStatus.PENDING.value},
                        ":now": {"S": utcnow().isoformat()},
                    },
                    ReturnValues="ALL_OLD",
                )
        except ConflictError as exc:
            self.get_approval(approval_id)  # NotFoundError if there is no such approval at all
            raise ConflictError(f"approval {approval_id} was already decided or has expired") from exc
        old = response["Attributes"]
        claimed = _from_item(Approval, {**old, "claimed_decision": {"S": decision}, "claimed_by": {"S": actor}})
        return ClaimedApproval(approval=claimed, fresh="claimed_decision" not in old)

    def release_claim(self, approval_id: str, *, decision: str) -> None:
        """Undo a claim whose decision never reached the pipeline (its task had closed)."""
        with contextlib.suppress(ConflictError), translate_errors(f"dynamodb UpdateItem approval {approval_id}"):
            self._ddb.update_item(
                TableName=self._table,
                Key=_approval_key(approval_id),
                UpdateExpression="REMOVE claimed_decision, claimed_by",
                ConditionExpression="claimed_decision = :decision",
                ExpressionAttributeValues={":decision": {"S": decision}},
            )

    def decide_approval(self, approval_id: str, *, approved: bool, actor: str) -> Approval:
        """Record a claimed decision and the model's new status in ONE transaction, exactly once.

        A second decision (a replayed link) raises ConflictError; the approval must have been claimed for the
        same decision (`claim_approval`) — the pipeline has already been told.
        """
        decision = "approve" if approved else "reject"
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
        approval = self.get_approval(approval_id)
        now = utcnow()
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _approval_key(approval_id),
                    "UpdateExpression": "SET #s = :new, decided_at = :now, decided_by = :actor",
                    "ConditionExpression": "#s = :pending AND claimed_decision = :decision",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":new": {"S": status.value},
                        ":pending": {"S": ApprovalStatus.PENDING.value},
                        ":decision": {"S": decision},
                        ":now": {"S": now.isoformat()},
                        ":actor": {"S": actor},
                    },
                }
            },
            _status_update(
                self._table,
                approval.version,
                ModelStatus.APPROVED if approved else ModelStatus.REJECTED,
                now.isoformat(),
            ),
        ]
        try:
            with translate_errors(f"dynamodb TransactWriteItems approval {approval_id}"):
                self._ddb.transact_write_items(TransactItems=items)
        except ConflictError as exc:
            raise ConflictError(f"approval {approval_id} was already decided or has expired") from exc
        return approval.model_copy(update={"status": status, "decided_at": now, "decided_by": actor})

    def pending_approvals(self) -> list[Approval]:
        """Every pending approval, oldest first (all pages: a Limit would hide the ones beyond it)."""
        items: list[dict[str, Any]] = []
        page: dict[str, Any] = {}
        while True:
            with translate_errors("dynamodb Query APPROVAL"):
                response = self._ddb.query(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    FilterExpression="#s = :pending",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":pk": {"S": "APPROVAL"},
                        ":pending": {"S": ApprovalStatus.PENDING.value},
                    },
                    **page,
                )
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            page = {"ExclusiveStartKey": response["LastEvaluatedKey"]}
        approvals = [_from_item(Approval, item) for item in items]
        return sorted(approvals, key=lambda a: (a.expires_at, a.approval_id))

    # Audit ----------------------------------------------------------------------------------------
    def put_audit(self, entry: AuditEntry) -> None:
        """Append a decision to the audit log (never overwritten: the sort key is unique).

        One transaction writes the entry to the log and to the partitions of the run and the version it is about,
        so `audit_of` is one Query, not a scan of the whole log.
        """
        sk = audit_key(entry)
        partitions = ["AUDIT"]
        if entry.run_id is not None:
            partitions.append(f"AUDIT#RUN#{entry.run_id}")
        if entry.version is not None:
            partitions.append(f"AUDIT#V#{entry.version:06d}")
        with translate_errors(f"dynamodb TransactWriteItems audit {sk}"):
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _to_item(pk, sk, entry),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for pk in partitions
                ]
            )

    def audit_page(self, limit: int, cursor: str | None = None) -> tuple[list[AuditEntry], str | None]:
        """One page of the audit log, newest first, and the opaque cursor of the next page."""
        entries, after = self.list_audit(limit, decode_cursor("AUDIT", cursor) if cursor else None)
        return entries, (encode_cursor("AUDIT", after) if after else None)

    def list_audit(
        self, limit: int, after: str | None = None, *, partition: str = "AUDIT"
    ) -> tuple[list[AuditEntry], str | None]:
        """One page of the audit log, newest first; the second value is the cursor of the next page."""
        start: dict[str, Any] = {"ExclusiveStartKey": {"pk": {"S": partition}, "sk": {"S": after}}} if after else {}
        with translate_errors(f"dynamodb Query {partition}"):
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": partition}},
                ScanIndexForward=False,
                Limit=limit,
                **start,
            )
        entries = [_from_item(AuditEntry, item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return entries, (last["sk"]["S"] if last else None)

    def audit_of(self, *, run_id: str | None = None, version: int | None = None, limit: int = 50) -> list[AuditEntry]:
        """The decisions about one run or one model version, newest first (at most `limit`)."""
        partition = f"AUDIT#RUN#{run_id}" if run_id is not None else f"AUDIT#V#{version or 0:06d}"
        return self.list_audit(limit, partition=partition)[0]

    # Per-dataset versioned records (trusted evaluation set, promotion policy) ----------------------
    def get_trusted_set(self, dataset: str) -> TrustedSet | None:
        """The dataset's current trusted evaluation set (its newest version), or None."""
        item = self._latest(f"DATASET#{dataset}#TRUSTED")
        return _from_item(TrustedSet, item) if item else None

    def put_trusted_set(self, trusted: TrustedSet) -> None:
        """Add a version; fails with ConflictError if that version exists (versions are never overwritten)."""
        self._put_new(f"DATASET#{trusted.dataset}#TRUSTED", trusted.version, trusted)

    def get_dataset_policy(self, dataset: str) -> DatasetPolicy | None:
        """The dataset's current promotion policy (its newest version), or None: the stack's parameters."""
        item = self._latest(f"DATASET#{dataset}#POLICY")
        return _from_item(DatasetPolicy, item) if item else None

    def put_dataset_policy(self, policy: DatasetPolicy) -> None:
        """Add a version; fails with ConflictError if that version exists (versions are never overwritten)."""
        self._put_new(f"DATASET#{policy.dataset}#POLICY", policy.version, policy)

    def _latest(self, pk: str) -> dict[str, Any] | None:
        with translate_errors(f"dynamodb Query {pk}"):
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        items = response.get("Items", [])
        return items[0] if items else None

    def _put_new(self, pk: str, version: int, model: BaseModel) -> None:
        with translate_errors(f"dynamodb PutItem {pk} v{version}"):
            self._ddb.put_item(
                TableName=self._table,
                Item=_to_item(pk, f"V#{version:06d}", model),
                ConditionExpression="attribute_not_exists(pk)",
            )

    # Champion -------------------------------------------------------------------------------------
    def get_champion(self, *, consistent: bool = True) -> Champion | None:
        """The pointer. Strongly consistent by default: every decision (promote, roll back, compare) reads it so.
        `consistent=False` is half the read capacity and may miss a write of the last second or so; only
        ChampionCache (the /predict label) reads it that way."""
        with translate_errors("dynamodb GetItem champion"):
            item = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": {"S": "CHAMPION"}, "sk": {"S": "CHAMPION"}},
                ConsistentRead=consistent,
            )
        return _from_item(Champion, item["Item"]) if "Item" in item else None

    @functools.cached_property
    def champion_cache(self) -> ChampionCache:
        """The pointer cached for the hot path (ChampionCache); one per Registry, and handlers build their Registry
        once per container."""
        return ChampionCache(self)

    def set_champion(self, champion: Champion, *, expected_version: int | None) -> None:
        """Move the pointer only if it still points where the caller saw it (no lost updates)."""
        item = _to_item("CHAMPION", "CHAMPION", champion)
        try:
            with translate_errors("dynamodb PutItem champion"):
                if expected_version is None:
                    self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
                else:
                    self._ddb.put_item(
                        TableName=self._table,
                        Item=item,
                        ConditionExpression="version = :expected",
                        ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
                    )
        except ConflictError as exc:
            raise ConflictError(
                f"champion changed concurrently (expected v{expected_version}); refusing to promote v{champion.version}"
            ) from exc

    def promote(self, champion: Champion, *, expected_version: int | None) -> None:
        """In ONE transaction: move the champion pointer (only from `expected_version`), mark the new version
        LIVE and retire the one it replaces. All or nothing: no reader ever sees two LIVE versions or a pointer
        at a version that is not LIVE. A caller that finds the pointer already on `champion.version` is retrying
        a promotion that went through and has nothing to write.
        """
        now = utcnow().isoformat()
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        items: list[Any] = [
            {"Put": {"TableName": self._table, "Item": _to_item("CHAMPION", "CHAMPION", champion), **condition}},
            _status_update(self._table, champion.version, ModelStatus.LIVE, now, goes_live=True),
        ]
        if expected_version is not None and expected_version != champion.version:
            items.append(_status_update(self._table, expected_version, ModelStatus.RETIRED, now))
        try:
            with translate_errors(f"dynamodb TransactWriteItems promote v{champion.version}"):
                self._ddb.transact_write_items(TransactItems=items)
        except ConflictError as exc:
            reasons = [
                str(reason.get("Code", ""))
                for reason in getattr(exc.__cause__, "response", {}).get("CancellationReasons", [])
            ]
            if any(code in _TRANSIENT_CANCELLATIONS for code in reasons):
                raise TransientServiceError(f"promote v{champion.version}: transaction cancelled ({reasons})") from exc
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise ConflictError(
                    f"champion changed concurrently (expected v{expected_version}); "
                    f"refusing to promote v{champion.version}"
                ) from exc
            raise ConflictError(f"promote v{champion.version}: a version to update does not exist ({reasons})") from exc

    # ----------------------------------------------------------------------------------------------
    def _page(self, pk: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start: dict[str, Any] = (
            {"ExclusiveStartKey": {"pk": {"S": pk}, "sk": {"S": decode_cursor(pk, cursor)}}} if cursor else {}
        )
        with translate_errors(f"dynamodb Query {pk}"):
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ScanIndexForward=False,
                Limit=limit,
                **start,
            )
        last = response.get("LastEvaluatedKey")
        return list(response.get("Items", [])), (encode_cursor(pk, last["sk"]["S"]) if last else None)

    def _query(self, pk: str, limit: int) -> list[dict[str, Any]]:
        return self._page(pk, limit, None)[0]

    def _get[T: BaseModel](self, model: type[T], key: dict[str, Any], what: str, missing: str | None = None) -> T:
        """One item by its key, read consistently; NotFoundError names `missing` (default `what`)."""
        with translate_errors(f"dynamodb GetItem {what}"):
            item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        if "Item" not in item:
            raise NotFoundError(f"{missing or what} does not exist")
        return _from_item(model, item["Item"])


CHAMPION_CACHE_SECONDS = 5.0


class ChampionCache:
    """The champion pointer as the /predict hot path reads it: eventually consistent, kept `ttl` seconds.

    Never for a decision. /predict uses it only to answer "no model is live yet" and as the version label when
    the endpoint's answer names no version of ours (the variant that answered names it otherwise,
    deployment.version_of_variant, and every config Challenger makes has such a variant), so a pointer a few
    seconds old mislabels nothing during a swap. Only a champion is kept: "no champion" is read again on the next
    request, so the first promotion is served at once rather than a TTL later. No lock: two requests racing past
    the TTL both read, which is harmless (a Lambda container serves one request at a time anyway).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        ttl: float = CHAMPION_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._ttl = ttl
        self._clock = clock
        self._kept: tuple[float, Champion] | None = None  # (read at, champion)

    def get(self) -> Champion | None:
        now = self._clock()
        kept = self._kept
        if kept is not None and now - kept[0] < self._ttl:
            return kept[1]
        champion = self._registry.get_champion(consistent=False)
        self._kept = None if champion is None else (now, champion)  # the age counts from before the read
        return champion
