"""What `sagemaker_sklearn_container.serving` does in the scikit-learn image, for the local SageMaker.

Only what aws/sagemaker-scikit-learn-container `src/sagemaker_sklearn_container/serving.py` does (its wheel is built
into the image, not on PyPI: aws/deep-learning-containers docker/sklearn/1.9-0/Dockerfile); the rest is the image's
sagemaker-containers 2.8.6.post2 (README.md, "Hosting"). Runs inside the image environment, never the repo's venv.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sagemaker_containers.beta.framework import content_types, encoders, env, modules, server, transformer, worker

logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
logger = logging.getLogger(__name__)


class UserError(Exception):
    """A user module the image refuses (sagemaker_sklearn_container.exceptions.UserError)."""


def default_model_fn(model_dir: str) -> Any:
    """The image has no default: sagemaker-containers' default raises NotImplementedError."""
    return transformer.default_model_fn(model_dir)


def default_input_fn(input_data: Any, content_type: str) -> Any:
    """sagemaker-containers' decoder; text bodies (CSV, JSON) become float32 arrays, as in the image."""
    array = encoders.decode(input_data, content_type)
    return array.astype("float32") if content_type in content_types.UTF8_TYPES else array


def default_predict_fn(input_data: Any, model: Any) -> Any:
    """`model.predict`, as in the image."""
    return model.predict(input_data)


def default_output_fn(prediction: Any, accept: str) -> Any:
    """sagemaker-containers' encoder into a Flask response of the Accept type."""
    return worker.Response(encoders.encode(prediction, accept), mimetype=accept)


def _user_module_transformer(user_module: ModuleType) -> Any:
    functions: dict[str, Callable[..., Any] | None] = {
        name: getattr(user_module, name, None) for name in ("input_fn", "predict_fn", "output_fn", "transform_fn")
    }
    model_fn = getattr(user_module, "model_fn", default_model_fn)
    if functions["transform_fn"] is not None:
        if functions["input_fn"] or functions["predict_fn"] or functions["output_fn"]:
            raise UserError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
        return transformer.Transformer(model_fn=model_fn, transform_fn=functions["transform_fn"])
    return transformer.Transformer(
        model_fn=model_fn,
        input_fn=functions["input_fn"] or default_input_fn,
        predict_fn=functions["predict_fn"] or default_predict_fn,
        output_fn=functions["output_fn"] or default_output_fn,
    )


def import_module(module_name: str, module_dir: str) -> tuple[Any, Callable[..., Any] | None]:
    """Import the user module (installing it first when it is not importable yet) and load the model."""
    try:
        user_module = importlib.import_module(module_name)
    except ImportError:
        user_module = modules.import_module(module_dir, module_name)
    user_transformer = _user_module_transformer(user_module)
    user_transformer.initialize()
    return user_transformer, getattr(user_module, "execution_parameters_fn", None)


_app: dict[str, Any] = {}  # this worker's Flask app, once built


def main(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """The WSGI app gunicorn serves: built on a worker's first request (the model loads then), then reused."""
    if "app" not in _app:
        serving_env = env.ServingEnv()
        user_transformer, execution_parameters_fn = import_module(serving_env.module_name, serving_env.module_dir)
        _app["app"] = worker.Worker(
            transform_fn=user_transformer.transform,
            module_name=serving_env.module_name,
            execution_parameters_fn=execution_parameters_fn,
        )
    return _app["app"](environ, start_response)


def serving_entrypoint() -> None:
    """The image's `serve` command: sagemaker-containers' server with this module as the framework module."""
    if os.environ.get("SAGEMAKER_MULTI_MODEL"):
        raise UserError("multi-model endpoints (Multi Model Server) are not emulated by the local SageMaker")
    server.start(env.ServingEnv().framework_module)
