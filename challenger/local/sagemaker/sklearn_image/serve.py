"""The image's `serve` command (console script of the sagemaker_sklearn_container wheel), for the local SageMaker.

SageMaker starts a hosting container as `docker run <image> serve`. Run with the image environment's Python, this
file's directory is first on `sys.path`, so the stand-in `sagemaker_sklearn_container` package beside it is
importable here and, through the `--pythonpath` sagemaker-containers hands to gunicorn, in every worker.
"""

from sagemaker_sklearn_container.serving import serving_entrypoint

if __name__ == "__main__":
    serving_entrypoint()
