"""The model container's environment and start-up checks (no process started: fast)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from challenger.local.sagemaker import images
from challenger.local.sagemaker.hosting import Backend, ContainerError, ContainerSpec, container_environment
from challenger_core.adapters.sagemaker import MODEL_ENVIRONMENT

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def _env(tmp_path: Path) -> images.Environment:
    image = images.get_image("sklearn", "1.9-0")
    return images.Environment(image, tmp_path / "image", Path("/py/3.12.1/bin/python3"), "3.12.1")


def test_the_models_environment_wins_over_the_images_as_on_sagemaker(tmp_path: Path) -> None:
    env = _env(tmp_path)
    spec = ContainerSpec("c", "m", "s3://b/model.tar.gz", {**MODEL_ENVIRONMENT, "LANG": "en_US.UTF-8"}, image=IMAGE)
    variables = container_environment(env.image, env, spec)
    # The image's ENV (aws/deep-learning-containers docker/sklearn/1.9-0/Dockerfile) ...
    assert variables["SAGEMAKER_SERVING_MODULE"] == "sagemaker_sklearn_container.serving:main"
    assert variables["PYTHONDONTWRITEBYTECODE"] == "1"
    # ... the image environment first on PATH (gunicorn is found there), gunicorn serving the port itself ...
    assert variables["PATH"].startswith(f"{env.root / 'bin'}:")
    assert variables["SAGEMAKER_USE_NGINX"] == "false"
    # ... and the model's own Environment last.
    assert variables["LANG"] == "en_US.UTF-8"
    assert {name: variables[name] for name in MODEL_ENVIRONMENT} == MODEL_ENVIRONMENT
    assert not {"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "HOME"} & set(variables)


def test_a_state_directory_under_opt_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = _env(tmp_path)
    monkeypatch.setattr(images, "ensure_environment", lambda image, root=None: env)
    state = Path("/opt/challenger-test-state")
    backend = Backend(ContainerSpec("c", "m", "s3://b/model.tar.gz", {}, image=IMAGE), state / "ep")
    s3: Any = object()
    with pytest.raises(ContainerError, match="cannot use paths under /opt"):
        backend.start(s3, timeout=1, stopping=threading.Event())
    assert not state.exists()  # refused before anything is written


def test_the_image_entry_point_is_placed_where_it_lies_inside_the_container() -> None:
    # The container's /tmp and /opt are its own: a checkout under /tmp (as CI clones) hid serve.py and every model
    # container exited with "can't open file .../serve.py". The launch script bind-mounts the entry point's directory
    # read-only and places it back at its own path after /tmp is replaced.
    from challenger.local.sagemaker import hosting

    launch = hosting._LAUNCH
    assert 'mount --bind -o ro "$entry" /opt/.s/entry' in launch
    assert launch.index("mount --rbind /opt/.s/tmp /tmp") < launch.index('mount --rbind /opt/.s/entry "$entry"')
