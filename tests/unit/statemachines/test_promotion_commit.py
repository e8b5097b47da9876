"""A committed promotion is never rolled back half-way (issue 17): once PromoteModel's transaction moved the
champion pointer, a later failure (the clean-up of old configs, or the Lambda itself) leaves the version live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from challenger_core.errors import ServiceError
from challenger_core.models import Champion, ModelStatus, NotificationKind
from challenger_core.registry import Registry
from tests.support.fake_sagemaker import evaluation
from tests.unit.statemachines.conftest import Cloud
from tests.unit.statemachines.test_deployment_faults import deployment_states
from tests.unit.statemachines.test_training_pipeline import TEST, TRAIN_V2, config_of, first_model_live


def test_a_failing_clean_up_after_the_commit_leaves_the_promotion_live(cloud_factory: Callable[..., Cloud]) -> None:
    cloud = cloud_factory(ConfigsToKeep="0")  # v1's config is cleaned as soon as v2 is promoted
    first_model_live(cloud)

    def denied(config_name: str, model_name: str) -> None:
        # A stack upgraded from older names: its IAM no longer reaches the old configs.
        raise ServiceError(f"sagemaker DeleteEndpointConfig {config_name}: AccessDeniedException")

    cloud.sagemaker.delete_config_and_model = denied  # type: ignore[method-assign]
    cloud.sagemaker.training_results = [evaluation(0.91)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert "Rollback" not in deployment_states(cloud)
    assert cloud.sagemaker.serving_config() == config_of(cloud, 2)
    assert cloud.registry.get_champion().version == 2  # type: ignore[union-attr]
    assert cloud.registry.get_model(2).status is ModelStatus.LIVE


def test_rollback_checks_the_champion_pointer_before_undoing(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    first_model_live(cloud)
    commit = Registry.promote

    def commit_then_crash(self: Registry, champion: Champion, **kwargs: Any) -> None:
        commit(self, champion, **kwargs)
        raise RuntimeError("the Lambda died after the transaction")  # not retried: Catch → Rollback

    monkeypatch.setattr(Registry, "promote", commit_then_crash)
    cloud.sagemaker.training_results = [evaluation(0.91)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert deployment_states(cloud)[-5:] == ["PromoteModel", "Rollback", "RollbackNeeded?", "NotifyDeployed", "Live"]
    assert cloud.sagemaker.calls[-1] == f"UpdateEndpoint {config_of(cloud, 2)}"  # nothing undone
    assert cloud.sagemaker.serving_config() == config_of(cloud, 2)
    assert cloud.registry.get_champion().version == 2  # type: ignore[union-attr]
    assert cloud.registry.get_model(2).status is ModelStatus.LIVE
    kinds = [email.kind for email in cloud.wait_for_emails(2)]
    assert kinds == [NotificationKind.COMPARISON, NotificationKind.DEPLOYED]  # no rolled-back email
