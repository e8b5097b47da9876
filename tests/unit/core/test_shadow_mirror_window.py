"""The shadow stage opens the mirror window when its endpoint is InService and closes it before deleting it
(issue 23, `mirror` mode; CaptureFunction mirrors while the window is open: challenger_core.mirror)."""

from __future__ import annotations

from datetime import timedelta

from challenger_core import shadowing
from challenger_core.mirror import MirrorStore
from challenger_core.models import TrainingState, utcnow
from challenger_core.settings import Settings
from tests.support.events import load_event
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.stack import Stack


def mirror_stage(stack: Stack) -> tuple[TrainingState, FakeSageMaker, MirrorStore, Settings]:
    state = TrainingState.model_validate(load_event("shadow_stage", "check_mirror")["training"])
    assert state.shadow is not None
    fake = FakeSageMaker(s3=stack.s3)
    fake.endpoints[str(state.shadow.endpoint_name)] = {"status": "InService", "config": state.shadow.config_name}
    settings = Settings.from_env({**stack.env, "SHADOW_MODE": "mirror", "SHADOW_SHARE": "0.25"})
    return state, fake, MirrorStore(stack.ddb, stack.env["MODELS_TABLE"]), settings


def test_a_ready_mirror_shadow_opens_the_window_for_shadow_minutes(stack: Stack) -> None:
    state, fake, mirrors, settings = mirror_stage(stack)
    assert mirrors.active() is None

    state = shadowing.check_shadow(state, fake, mirrors, settings)  # type: ignore[arg-type]

    assert state.shadow is not None
    assert state.shadow.outcome == "ready"
    window = mirrors.active()
    assert window is not None
    assert (window.run_id, window.endpoint_name, window.share) == (state.run.run_id, state.shadow.endpoint_name, 0.25)
    assert utcnow() + timedelta(seconds=590) < window.until <= utcnow() + timedelta(seconds=600)


def test_deleting_the_shadow_closes_the_window_first(stack: Stack) -> None:
    state, fake, mirrors, settings = mirror_stage(stack)
    state = shadowing.check_shadow(state, fake, mirrors, settings)  # type: ignore[arg-type]

    state = shadowing.delete_shadow(state, fake, settings, mirrors)  # type: ignore[arg-type]

    assert mirrors.active() is None
    assert state.shadow is not None
    assert state.shadow.deleted
    assert f"DeleteEndpoint {state.shadow.endpoint_name}" in fake.calls
