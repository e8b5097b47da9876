"""The one settings object, read from the function's environment (set by template.yaml)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from challenger_core.naming import endpoint_name


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Settings(BaseModel):
    """Everything a handler may need to know about its deployment.

    What names the stack's own resources and every function needs has no default: template.yaml's Globals set it,
    and a function without it fails at init naming the variable, instead of quietly using a real-looking name.
    What only some functions get (their own environment) is empty when unset, never a guess.
    """

    stack_name: str
    # The first 8 hex digits of the stack id (template: from AWS::StackId): different for every stack, and for a
    # stack deleted and deployed again under the same name. Part of every SageMaker model and config name.
    stack_uid: str = ""
    models_table: str
    idempotency_table: str = ""
    data_bucket: str = ""
    artifact_bucket: str
    topic_arn: str = ""
    training_pipeline_arn: str = ""
    deployment_pipeline_arn: str = ""
    approval_secret_arn: str = ""
    api_url: str = ""
    # The API's CORS origin: the dashboard behind CloudFront (https://<domain>); empty where the dashboard is
    # served from the API's own origin (the local cloud).
    dashboard_origin: str = ""

    # Training
    training_image_uri: str = ""
    sagemaker_role_arn: str = ""
    training_instance_type: str = "ml.m5.large"
    batch_instance_type: str = "ml.m5.large"
    use_spot_training: bool = False
    max_training_seconds: int = 3600
    recipe: str  # the template's Recipe parameter: the task (recipes/<Recipe>/recipe.json in the artifact bucket)
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    bootstrap_samples: int = Field(default=2000, ge=100, le=100_000)

    # Serving
    # ENDPOINT_NAME is the EndpointName parameter or, left empty, the stack name; a name SageMaker cannot use as
    # its ARN spells it becomes `<stack[:20]>-<uid>-endpoint` (naming.endpoint_name, the rule IAM is written for).
    endpoint_name: str
    serverless_memory_mb: int = 2048
    max_concurrency: int = 5
    configs_to_keep: int = 3

    # Promotion policy
    # Empty (None) = the recipe's own choice (recipe.json: primary_metric, floor, guardrails).
    approval_mode: str = "auto"
    primary_metric: str | None = None
    min_improvement: float = 0.0
    floor_metric: str | None = None
    metric_floor: float | None = None
    guardrail_metrics: list[str] | None = None  # "none" in the environment = no guardrails
    guardrail_tolerance: float = 0.02
    promotion_confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    approval_ttl_seconds: int = 86400

    # Monitoring (capture in the API function, the scheduled drift check)
    capture_sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    capture_flush_seconds: float = 30.0
    drift_threshold: float = 0.2
    drift_min_samples: int = 100
    drift_window_days: int = Field(default=1, ge=1, le=31)
    retrain_on_drift: bool = False

    # Shadow stage before the swap (issue 23): `replay` the last `shadow_sample_size` captured requests, or `mirror`
    # a `shadow_share` of live /predict requests for `shadow_minutes`, on a serverless shadow endpoint; `off`.
    shadow_mode: Literal["off", "replay", "mirror"] = "replay"
    shadow_sample_size: int = Field(default=200, ge=1, le=2000)
    shadow_minutes: int = Field(default=10, ge=1, le=1440)
    shadow_share: float = Field(default=0.1, ge=0.0, le=1.0)
    shadow_rate_per_second: float = Field(default=10.0, gt=0, le=100)  # replay's pace: the shadow's, not traffic's

    # Bounded polling
    poll_seconds: int = 30
    max_polls: int = 240

    @model_validator(mode="after")
    def _usable_endpoint_name(self) -> Settings:
        self.endpoint_name = endpoint_name(self.endpoint_name, self.stack_uid)
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str] | None = None) -> Settings:
        """Build settings from `CHALLENGER_*`-free plain upper-case variables (see template.yaml Globals)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(name.upper())
            if raw is None or (raw.strip() == "" and not field.is_required() and field.default is None):
                continue  # an empty template parameter means "not set": the default (or the recipe's) applies
            if field.annotation in (list[str], list[str] | None):
                values[name] = [] if raw.strip().lower() == "none" else _csv(raw)
            elif name == "hyperparameters":
                values[name] = dict(pair.split("=", 1) for pair in _csv(raw) if "=" in pair)
            else:
                values[name] = raw
        missing = [
            name.upper() for name, field in cls.model_fields.items() if field.is_required() and name not in values
        ]
        if missing:
            raise ValueError(f"the function's environment lacks {', '.join(missing)} (template.yaml Globals set them)")
        return cls.model_validate(values)


def get_settings() -> Settings:
    """This function's settings. Handlers call it once, at import: one read per Lambda sandbox.

    Deliberately not cached in the layer: the unit tests load several functions, under different environments,
    into one process (and this module). (The local cloud gives each function its own processes, as Lambda does.)
    """
    return Settings.from_env()
