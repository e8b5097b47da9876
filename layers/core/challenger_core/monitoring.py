"""After deployment: serving counters, drift results, and the scheduled drift check.

Stored in ModelsTable next to the registry's items (its own partitions, so the registry is untouched):
- `STATS` / `V#000007#2026-12-01T18`   one version's counters for one hour (atomic ADDs from the API)
- `RECENT` / `V#000007#2026-12-01T18:05`  the same for one 5-minute window, deleted by DynamoDB TTL after two days
- `DRIFT` / `2026-12-01#V#000007`      the day's latest drift check of a version
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from challenger_core.adapters import translate_errors
from challenger_core.capture import LATENCY_BUCKETS_MS, ServingStats, capture_prefix, recent_window
from challenger_core.cost import serving_usd
from challenger_core.drift import Captures, DriftReport, check
from challenger_core.errors import NotFoundError
from challenger_core.models import Model, RunStatus, TriggerSource

if TYPE_CHECKING:  # annotations only: the API imports this module at init for MonitoringOverview
    from mypy_boto3_dynamodb import DynamoDBClient

    from challenger_core.adapters.storage import Storage
    from challenger_core.adapters.workflow import Workflow
    from challenger_core.registry import Registry
    from challenger_core.settings import Settings
else:
    DynamoDBClient = Any

BASELINE_FILE = "baseline.json"
RECENT_KEEP_SECONDS = 2 * 24 * 3600  # the 5-minute windows' TTL (ModelsTable's TimeToLiveSpecification: `ttl`)
MAX_CAPTURE_OBJECTS = 500  # bounds one check's reads; at the default batch size ~250k rows


class DriftPolicy(Model):
    """How the drift check decides (template parameters → function environment)."""

    threshold: float = 0.2
    min_samples: int = 100
    window_days: int = 1
    retrain: bool = False


class MonitoringStore:
    """Serving counters and drift results in ModelsTable."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def add_stats(self, version: int, hour: str, counts: list[int]) -> None:
        """Add one batch of counters (`[invocations, errors, *latency buckets]`) to the hour's item, or to a 5-minute
        window's (`hour` with minutes, capture.recent_window), which DynamoDB deletes after RECENT_KEEP_SECONDS."""
        names = {"#n": "invocations", "#e": "errors"}
        values: dict[str, Any] = {":n": {"N": str(counts[0])}, ":e": {"N": str(counts[1])}}
        adds = ["#n :n", "#e :e"]
        recent = ":" in hour
        if recent:
            names["#ttl"] = "ttl"
            values[":ttl"] = {"N": str(int(datetime.now(UTC).timestamp()) + RECENT_KEEP_SECONDS)}
        for index, count in enumerate(counts[2:]):
            if count:
                names[f"#b{index}"] = f"b{index}"
                values[f":b{index}"] = {"N": str(count)}
                adds.append(f"#b{index} :b{index}")
        with translate_errors(f"dynamodb UpdateItem stats v{version}"):
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": "RECENT" if recent else "STATS"}, "sk": {"S": f"V#{version:06d}#{hour}"}},
                UpdateExpression="ADD " + ", ".join(adds) + (" SET #ttl = if_not_exists(#ttl, :ttl)" if recent else ""),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def stats(self, since_hour: str, *, recent: bool = False) -> list[ServingStats]:
        """Every version's hourly counters from `since_hour` on (oldest first); with `recent`, the 5-minute windows'
        from the window `since_hour` names (`2026-12-01T18:05`) on."""
        items = self._query("RECENT" if recent else "STATS")
        result = []
        for item in items:
            _, version, hour = item["sk"]["S"].split("#", 2)
            if hour < since_hour:
                continue
            buckets = [int(item.get(f"b{i}", {"N": "0"})["N"]) for i in range(len(LATENCY_BUCKETS_MS) + 1)]
            result.append(
                ServingStats(
                    version=int(version),
                    hour=hour,
                    invocations=int(item.get("invocations", {"N": "0"})["N"]),
                    errors=int(item.get("errors", {"N": "0"})["N"]),
                    latency_buckets=buckets,
                )
            )
        return sorted(result, key=lambda s: (s.hour, s.version))

    def put_drift(self, report: DriftReport) -> None:
        day = report.checked_at[:10]
        body = report.model_dump_json()
        with translate_errors(f"dynamodb PutItem drift v{report.version}"):
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": "DRIFT"},
                    "sk": {"S": f"{day}#V#{report.version:06d}"},
                    "report": {"S": body},
                    "score": {"N": str(Decimal(str(report.score)))},
                },
            )

    def drift_history(self, limit: int = 90) -> list[DriftReport]:
        """The latest drift check per day and version, newest first."""
        return [DriftReport.model_validate_json(item["report"]["S"]) for item in self._query("DRIFT", limit)]

    def _query(self, pk: str, limit: int | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": False,
        }
        while True:
            with translate_errors(f"dynamodb Query {pk}"):
                response = self._ddb.query(**kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def read_captures(storage: Storage, bucket: str, version: int, *, days: int, now: datetime | None = None) -> Captures:
    """The captured rows of one version over the last `days` UTC days (today included), newest objects first.

    Bad lines and unreadable objects are counted and skipped (drift.Captures), never fatal.
    """
    today = (now or datetime.now(UTC)).date()
    captures = Captures()
    objects = []
    for offset in range(days):
        day = (today - timedelta(days=offset)).isoformat()
        objects.extend(storage.list(bucket, capture_prefix(version, day)))
    for info in objects[:MAX_CAPTURE_OBJECTS]:
        try:
            captures.add_object(storage.read(bucket, info.key))
        except NotFoundError:  # expired by the lifecycle rule since the listing
            captures.skip_object()
    return captures


def check_drift(
    *,
    registry: Registry,
    store: MonitoringStore,
    storage: Storage,
    artifact_bucket: str,
    policy: DriftPolicy,
    now: datetime | None = None,
) -> DriftReport | None:
    """Compare the champion's recent captures with its baseline and store the day's result (None: no champion)."""
    champion = registry.get_champion()
    if champion is None:
        return None
    model = registry.get_model(champion.version)
    report = DriftReport(
        version=champion.version, samples=0, min_samples=policy.min_samples, threshold=policy.threshold
    )
    baseline: dict[str, Any] | None = None
    if model.model_data_url:
        try:
            baseline = json.loads(storage.read_tar_member(model.model_data_url, BASELINE_FILE))
        except NotFoundError:
            baseline = None
    if baseline is None:
        report = report.model_copy(update={"skipped": f"v{champion.version} has no {BASELINE_FILE} in its artifact"})
    else:
        captures = read_captures(storage, artifact_bucket, champion.version, days=policy.window_days, now=now)
        report = check(
            baseline,
            captures.rows,
            version=champion.version,
            threshold=policy.threshold,
            min_samples=policy.min_samples,
            skipped_lines=captures.skipped_lines,
            skipped_objects=captures.skipped_objects,
        )
    store.put_drift(report)
    return report


def retrain_on_drift(
    report: DriftReport,
    *,
    storage: Storage,
    registry: Registry,
    workflow: Workflow,
    settings: Settings,
) -> str:
    """Start one training run on the latest data after a drift alert; say what was done.

    Never more than one run in flight, and at most one drift retrain a day: a drift that persists while the
    retrained challenger loses (or waits for approval) must not start a run on every check.
    """
    from challenger_core import triggering  # noqa: PLC0415  # the drift check's path, not the API's init

    today = report.checked_at[:10]
    for run in registry.list_runs(limit=200):
        if run.status is RunStatus.RUNNING:
            return f"no retrain: run {run.run_id} is in flight"
        if run.trigger is TriggerSource.DRIFT and run.started_at.date().isoformat() == today:
            return f"no retrain: run {run.run_id} already retrained on today's drift"
    dataset = triggering.latest_dataset(storage, settings.data_bucket)
    request = triggering.prepare_run(
        storage, settings.data_bucket, dataset, TriggerSource.DRIFT, requested_by="drift-check", force=True
    )
    result = triggering.start_run(request, registry, workflow, settings)
    return f"retraining on dataset '{dataset}': run {result.run_id} ({result.reason})"


class VersionHealth(Model):
    """One version's serving over the window: what the dashboard's serving-health table shows."""

    version: int
    invocations: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    # Requests (API Gateway, API function) and endpoint GB-seconds at the median latency (an upper bound of the
    # model's time: the API's own latency includes it); us-east-1 list prices (challenger_core.cost).
    cost_usd: float | None = None


class ServingHour(ServingStats):
    """One version's hour with its latency percentiles (ms, bucket upper bounds; None above the last bound)."""

    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, stats: ServingStats) -> ServingHour:
        return cls(**stats.model_dump(), p50_ms=_finite(stats.percentile(0.5)), p99_ms=_finite(stats.percentile(0.99)))


class MonitoringOverview(Model):
    """GET /monitoring: serving health per version, hourly counts and latency, and the drift history."""

    since_hour: str
    versions: list[VersionHealth]
    hourly: list[ServingHour]
    drift: list[DriftReport]
    capture_sample_rate: float
    drift_threshold: float


def overview(
    store: MonitoringStore,
    *,
    hours: int,
    sample_rate: float,
    threshold: float,
    memory_mb: int = 2048,
    minutes: int | None = None,
) -> MonitoringOverview:
    """Aggregate the hourly counters of the last `hours` hours per version (latency percentiles from buckets); with
    `minutes`, the 5-minute windows that overlap the last `minutes` instead (`hourly` then lists those windows)."""
    now = datetime.now(UTC)
    if minutes is not None:
        since = recent_window(now - timedelta(minutes=minutes))
        hourly = store.stats(since, recent=True)
    else:
        since = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H")
        hourly = store.stats(since)
    merged: dict[int, ServingStats] = {}
    for stats in hourly:
        total = merged.setdefault(
            stats.version,
            ServingStats(version=stats.version, hour=since, latency_buckets=[0] * (len(LATENCY_BUCKETS_MS) + 1)),
        )
        total.invocations += stats.invocations
        total.errors += stats.errors
        total.latency_buckets = [a + b for a, b in zip(total.latency_buckets, stats.latency_buckets, strict=True)]
    versions = [
        VersionHealth(
            version=s.version,
            invocations=s.invocations,
            errors=s.errors,
            error_rate=round(s.errors / s.invocations, 6) if s.invocations else 0.0,
            p50_ms=_finite(s.percentile(0.5)),
            p90_ms=_finite(s.percentile(0.9)),
            p99_ms=_finite(s.percentile(0.99)),
            cost_usd=serving_usd(
                predictions=s.invocations, mean_latency_ms=_finite(s.percentile(0.5)) or 0.0, memory_mb=memory_mb
            ),
        )
        for s in sorted(merged.values(), key=lambda s: -s.version)
    ]
    return MonitoringOverview(
        since_hour=since,
        versions=versions,
        hourly=[ServingHour.of(stats) for stats in hourly],
        drift=store.drift_history(),
        capture_sample_rate=sample_rate,
        drift_threshold=threshold,
    )


def _finite(value: float | None) -> float | None:
    # The open-ended last bucket has no upper bound; JSON has no infinity: say "above the last bound".
    if value is None:
        return None
    return value if value != float("inf") else float(LATENCY_BUCKETS_MS[-1]) + 1
