"""A SageMaker test double at the adapter boundary, for the behaviours moto's SageMaker cannot produce.

moto completes training jobs instantly without artifacts, has no UpdateEndpoint and answers
InvokeEndpoint with a fixed body. This double keeps the same interface as
`challenger_core.adapters.sagemaker.SageMaker` and lets a test script each outcome: a job that
completes (writing a real model.tar.gz/output.tar.gz with evaluation.json and golden.json to moto's S3) or
fails, an endpoint update that becomes healthy or is reverted by SageMaker, a model that answers right or wrong.

Like the recipe kit, a job given a `champion` channel reports a paired comparison: the challenger's scripted
metrics minus the champion's (read from the champion artifact's own evaluation.json), with an interval of
± `interval` around each difference, and the champion artifact's SHA-256. Without the channel: no comparison.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from challenger_core.adapters.sagemaker import EndpointInfo, TrainingSpec, TrainingStatus
from challenger_core.adapters.storage import split_s3_uri
from challenger_core.errors import ConflictError, NotFoundError, ServiceError


def tar_gz(files: dict[str, bytes]) -> bytes:
    """Deterministic (gzip header without a timestamp): the same files are the same archive, the same digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def evaluation(f1: float, accuracy: float | None = None, roc_auc: float | None = None) -> dict[str, Any]:
    accuracy = f1 if accuracy is None else accuracy
    return {
        "metrics": {
            "accuracy": accuracy,
            "precision": f1,
            "recall": f1,
            "f1": f1,
            "roc_auc": roc_auc if roc_auc is not None else min(1.0, f1 + 0.04),
        },
        "confusion_matrix": [[90, 10], [10, 90]],
        "n_train": 600,
        "n_test": 200,
        "eval_set": {"fingerprint": "e" * 64, "rows": 200},
    }


# What every fake model is asked by its smoke test (recorded as its golden set).
GOLDEN_INSTANCES: list[Any] = [{"text": f"golden example {i}"} for i in range(4)]


def fake_predict(instance: Any, *, wrong: bool = False) -> dict[str, Any]:
    """The fake model: a deterministic answer for any record, flipped when `wrong`."""
    label = (len(json.dumps(instance, sort_keys=True)) % 2) ^ int(wrong)
    return {"label": label, "label_name": ("no", "yes")[label], "score": 0.2 + 0.6 * label}


def model_files(report: dict[str, Any], *, golden: bool = True) -> dict[str, bytes]:
    """What a fake job leaves in /opt/ml/model."""
    files = {"model.npz": b"fake", "evaluation.json": json.dumps(report).encode()}
    if golden:
        files["golden.json"] = json.dumps(
            {
                "instances": GOLDEN_INSTANCES,
                "predictions": [fake_predict(i) for i in GOLDEN_INSTANCES],
                "score_tolerance": 1e-6,
            }
        ).encode()
    return files


def model_artifact(report: dict[str, Any], *, golden: bool = True) -> bytes:
    return tar_gz(model_files(report, golden=golden))


def manifest(files: dict[str, bytes]) -> bytes:
    """The kit's model_manifest.json for those files (what RegisterCandidate checks the archive against)."""
    return json.dumps({"files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}).encode()


@dataclass
class Job:
    spec: TrainingSpec
    polls_left: int
    fail_reason: str | None
    evaluation: dict[str, Any]


@dataclass
class FakeSageMaker:
    s3: Any  # a boto3 S3 client (moto)
    # Scripted outcomes, consumed in order by each new training job / endpoint change.
    training_results: list[dict[str, Any] | str] = field(default_factory=list)
    polls_to_complete: int = 1
    # Per endpoint change, in order: how many describes it stays Creating/Updating before settling (default 0).
    endpoint_polls_to_settle: list[int] = field(default_factory=list)
    endpoint_polls_to_delete: int = 1  # describes a deleted endpoint stays Deleting
    update_failures: list[str | None] = field(default_factory=list)
    wrong_answers_for: set[str] = field(default_factory=set)  # config names or variant names ("v2")
    invoke_error: str | None = None
    # Raised, in order, by the next invocations (e.g. a TransientServiceError for a cold endpoint).
    invoke_failures: list[Exception] = field(default_factory=list)
    # A shadow endpoint (issue 23: a config named `...-shadow-config`) answers ModelError to a body containing this.
    shadow_fails_on: str | None = None
    interval: float = 0.01  # half-width of the paired comparison's interval
    holdout_csv: bytes | None = None  # the kit's holdout.csv in output.tar.gz (seeds the trusted set; issue 19)
    trusted_report: dict[str, Any] | None = None  # evaluation.json's "trusted" when the job has a trusted channel
    jobs: dict[str, Job] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    # Training -------------------------------------------------------------------------------------
    def start_training(self, spec: TrainingSpec) -> None:
        self.calls.append(f"CreateTrainingJob {spec.job_name}")
        if spec.job_name in self.jobs:
            raise ConflictError(f"training job {spec.job_name} already exists")
        result = self.training_results.pop(0) if self.training_results else evaluation(0.9)
        fail = result if isinstance(result, str) else None
        self.jobs[spec.job_name] = Job(spec, self.polls_to_complete, fail, result if isinstance(result, dict) else {})

    def training_status(self, job_name: str) -> TrainingStatus:
        job = self.jobs.get(job_name)
        if job is None:
            raise NotFoundError(f"Could not find training job {job_name}")
        if job.polls_left > 0:
            job.polls_left -= 1
            return TrainingStatus("InProgress", "Training", None, None)
        if job.fail_reason:
            return TrainingStatus("Failed", "Failed", None, job.fail_reason)
        refused = self._refused_champion(job)
        if refused:
            return TrainingStatus("Failed", "Failed", None, refused)
        base = f"{job.spec.output_uri.rstrip('/')}/{job_name}/output"
        bucket, key = split_s3_uri(f"{base}/model.tar.gz")
        report = {**job.evaluation, "comparison": self._comparison(job)}
        if job.spec.trusted_uri and self.trusted_report is not None:
            report["trusted"] = self.trusted_report
        files = model_files(report)
        self.s3.put_object(Bucket=bucket, Key=key, Body=tar_gz(files))
        output = {"evaluation.json": json.dumps(report).encode(), "model_manifest.json": manifest(files)}
        if self.holdout_csv is not None:
            output["holdout.csv"] = self.holdout_csv
        self.s3.put_object(Bucket=bucket, Key=key.replace("model.tar.gz", "output.tar.gz"), Body=tar_gz(output))
        return TrainingStatus(
            "Completed",
            "Completed",
            f"{base}/model.tar.gz",
            None,
            training_seconds=42,
            billable_seconds=42,
            instance_type="ml.m5.large",
        )

    def _refused_champion(self, job: Job) -> str | None:
        """What the kit does first with a champion channel: its digest must be the champion-sha256 hyperparameter."""
        if not job.spec.champion_uri:
            return None
        bucket, key = split_s3_uri(job.spec.champion_uri)
        actual = hashlib.sha256(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
        expected = job.spec.hyperparameters.get("champion-sha256")
        if actual == expected:
            return None
        self.calls.append(f"ChampionRefused {job.spec.job_name}")
        return f"AlgorithmError: the champion's model.tar.gz has SHA-256 {actual}, not the registered {expected}"

    def _comparison(self, job: Job) -> dict[str, Any] | None:
        if not job.spec.champion_uri or "metrics" not in job.evaluation:
            return None
        bucket, key = split_s3_uri(job.spec.champion_uri)
        artifact = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
            member = tar.extractfile("evaluation.json")
            assert member is not None
            champion = json.loads(member.read())["metrics"]
        challenger = job.evaluation["metrics"]
        shared = sorted(set(champion) & set(challenger))
        return {
            "champion_artifact_sha256": hashlib.sha256(artifact).hexdigest(),
            "rows": 180,
            "fingerprint": "c" * 64,
            "champion_metrics": {name: champion[name] for name in shared},
            "challenger_metrics": {name: challenger[name] for name in shared},
            "differences": {
                name: {
                    "delta": round(challenger[name] - champion[name], 6),
                    "low": round(challenger[name] - champion[name] - self.interval, 6),
                    "high": round(challenger[name] - champion[name] + self.interval, 6),
                }
                for name in shared
            },
            "confidence": float(job.spec.hyperparameters.get("promotion-confidence", "0.95")),
            "method": "paired bootstrap, 2000 resamples",
            "excluded_champion_training_rows": 0,
        }

    def stop_training(self, job_name: str) -> None:
        job = self.jobs.get(job_name)
        if job is not None and job.polls_left > 0:
            self.calls.append(f"StopTrainingJob {job_name}")
            job.polls_left, job.fail_reason = 0, "Stopped by user"

    # Serving --------------------------------------------------------------------------------------
    def create_model(self, name: str, image_uri: str, model_data_url: str, role_arn: str) -> None:
        self.models.setdefault(name, model_data_url)

    def create_serverless_config(
        self, name: str, model_name: str, memory_mb: int, max_concurrency: int, *, variant: str = "AllTraffic"
    ) -> None:
        if model_name not in self.models:
            raise ServiceError(f"model {model_name} does not exist")
        self.configs.setdefault(name, model_name)
        self.variants.setdefault(name, variant)

    def endpoint(self, name: str) -> EndpointInfo | None:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return None
        if endpoint["status"] == "Deleting":
            if endpoint["deleting_polls"] == 0:
                del self.endpoints[name]
                return None
            endpoint["deleting_polls"] -= 1
        # Each describe moves a pending change one step: Creating/Updating → settled.
        if endpoint["status"] in ("Creating", "Updating") and endpoint.get("polls_left", 0) > 0:
            endpoint["polls_left"] -= 1
        elif endpoint["status"] in ("Creating", "Updating"):
            failure = endpoint.pop("pending_failure", None)
            if failure is None:
                endpoint.update(status="InService", config=endpoint.pop("target"), failure=None)
            elif endpoint["status"] == "Creating":
                endpoint.update(status="Failed", failure=failure)
            else:  # SageMaker keeps blue serving when green fails
                endpoint.pop("target")
                endpoint.update(status="InService", failure=failure)
        return EndpointInfo(endpoint["status"], endpoint.get("config"), endpoint.get("failure"), endpoint.get("target"))

    def _change(self, name: str, config: str, status: str) -> None:
        if config not in self.configs:
            raise ServiceError(f"endpoint config {config} does not exist")
        failure = self.update_failures.pop(0) if self.update_failures else None
        endpoint = self.endpoints.setdefault(name, {"config": None})
        settle = self.endpoint_polls_to_settle.pop(0) if self.endpoint_polls_to_settle else 0
        endpoint.update(status=status, target=config, polls_left=settle)
        if failure is not None:
            endpoint["pending_failure"] = failure

    def create_endpoint(self, name: str, config_name: str) -> None:
        self.calls.append(f"CreateEndpoint {config_name}")
        if name in self.endpoints:  # including one still Deleting, as SageMaker refuses it
            raise ServiceError(f"Cannot create already existing endpoint {name}")
        self._change(name, config_name, "Creating")

    def update_endpoint(self, name: str, config_name: str) -> None:
        self.calls.append(f"UpdateEndpoint {config_name}")
        if name not in self.endpoints:
            raise NotFoundError(f"Could not find endpoint {name}")
        self._change(name, config_name, "Updating")

    def delete_endpoint(self, name: str) -> None:
        # Asynchronous, as in SageMaker: Deleting on the next describe, gone on the one after.
        self.calls.append(f"DeleteEndpoint {name}")
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise NotFoundError(f"Could not find endpoint {name}")
        if endpoint["status"] in ("Creating", "Updating", "Deleting"):
            raise ServiceError(f"Cannot delete in-progress endpoint {name}")
        endpoint.update(status="Deleting", deleting_polls=self.endpoint_polls_to_delete)

    def delete_config_and_model(self, config_name: str, model_name: str) -> None:
        self.calls.append(f"DeleteEndpointConfig {config_name}")
        self.configs.pop(config_name, None)
        self.models.pop(model_name, None)

    def delete_config(self, config_name: str) -> None:
        self.calls.append(f"DeleteEndpointConfig {config_name}")
        self.configs.pop(config_name, None)

    def delete_model(self, model_name: str) -> None:
        self.calls.append(f"DeleteModel {model_name}")
        self.models.pop(model_name, None)

    def invoke(self, endpoint_name: str, body: bytes, content_type: str = "application/json") -> bytes:
        return self.invoke_with_variant(endpoint_name, body, content_type)[0]

    def invoke_with_variant(
        self, endpoint_name: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[bytes, str | None]:
        if self.invoke_failures:
            raise self.invoke_failures.pop(0)
        if self.invoke_error:
            raise ServiceError(self.invoke_error)
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None or endpoint["status"] != "InService":
            raise NotFoundError(f"Endpoint {endpoint_name} not found or not InService")
        variant = self.variants.get(endpoint["config"])
        shadow = str(endpoint["config"]).endswith("-shadow-config")
        if shadow and self.shadow_fails_on is not None and self.shadow_fails_on.encode() in body:
            # What InvokeEndpoint says when the container answers 5xx (translate_errors' wording).
            raise ServiceError(
                f"sagemaker-runtime InvokeEndpoint {endpoint_name}: ModelError: Received server error (500)"
            )
        wrong = endpoint["config"] in self.wrong_answers_for or variant in self.wrong_answers_for
        predictions = [fake_predict(instance, wrong=wrong) for instance in json.loads(body)["instances"]]
        return json.dumps({"predictions": predictions}).encode(), variant

    def serving_config(self, name: str = "challenger") -> str | None:
        endpoint = self.endpoints.get(name)
        return None if endpoint is None else endpoint.get("config")
