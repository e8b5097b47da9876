"""Framework images as local Python environments: the container's own packages, at its versions, built once.

An image is a virtualenv with exactly its pinned packages (`images/<framework>-<version>.txt`) and its own
post-install edits, on the image's Python minor version, built once under `cache_root()` (hash of pins and
interpreter, a lock serialises builds) and never changed; a training job gets a throw-away `overlay()`. Why:
README.md, "Images". `python -m challenger.local.sagemaker.images [--recipe recipes/<name>]` builds one.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
PINS_DIR = _HERE / "images"
# Bump when the way an environment is laid out changes: every cached environment is rebuilt.
BUILDER_VERSION = "2"
CACHE_ENV = "CHALLENGER_ENV_CACHE"
DEFAULT_FRAMEWORK = "sklearn"
DEFAULT_VERSION = "1.9-0"
# The ECR repository of each framework's SageMaker images; the tag is "<version>-cpu-py3".
_REPOSITORIES = {"sagemaker-scikit-learn": "sklearn"}
_TAG = re.compile(r"^(?P<version>.+)-cpu-py3$")


class ImageError(Exception):
    """The image is unknown or its environment cannot be built; the message says which and why."""


@dataclass(frozen=True)
class FrameworkImage:
    """One framework image: its name and version, its Python minor version, and its pinned packages."""

    framework: str
    version: str
    python: str
    pins: Path
    # A complete lock is installed with --no-deps; a requirements file with ranges is resolved by pip.
    locked: bool
    # The image's own edits of installed files after the install, as (path in site-packages, old, new) text
    # replacements, and its `ENV` lines (each from the Dockerfile the pins file cites).
    patches: tuple[tuple[str, str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.version}"


# aws/deep-learning-containers docker/sklearn/1.9-0/Dockerfile (commit 0d0d03b64d): `RUN sed -i
# 's/collections\.Mapping/collections.abc.Mapping/g' .../sagemaker_containers/_mapping.py` (sagemaker-containers
# 2.8.6 does not import on Python 3.10+ without it), and its ENV lines that the serving stack reads. The image's other
# patch (sagemaker_inference/decoder.py, no pickle) touches a package the scikit-learn serving path never imports.
_SKLEARN_1_9_0 = FrameworkImage(
    "sklearn",
    "1.9-0",
    "3.12",
    PINS_DIR / "sklearn-1.9-0.txt",
    True,
    patches=(("sagemaker_containers/_mapping.py", "collections.Mapping", "collections.abc.Mapping"),),
    environment=(
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONIOENCODING", "utf-8"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("SM_MODEL_DIR", "/opt/ml/model"),
        ("SAGEMAKER_TRAINING_MODULE", "sagemaker_sklearn_container.training:main"),
        ("SAGEMAKER_SERVING_MODULE", "sagemaker_sklearn_container.serving:main"),
        ("TEMP", "/home/model-server/tmp"),
    ),
)
IMAGES: dict[tuple[str, str], FrameworkImage] = {("sklearn", "1.9-0"): _SKLEARN_1_9_0}


def get_image(framework: str, version: str) -> FrameworkImage:
    """The image for a framework name and version (as in recipe.json); ImageError if there is none here."""
    image = IMAGES.get((framework, version))
    if image is None:
        known = ", ".join(f"{name} {ver}" for name, ver in IMAGES)
        raise ImageError(f"no local environment for framework {framework} {version} (known: {known})")
    return image


def image_for_uri(uri: str) -> FrameworkImage:
    """The image an ECR URI names (`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3`)."""
    repository, _, tag = uri.rpartition("/")[2].partition(":")
    framework = _REPOSITORIES.get(repository)
    match = _TAG.match(tag)
    if framework is None or match is None:
        raise ImageError(f"{uri} is not a SageMaker framework image this local cloud knows")
    return get_image(framework, match.group("version"))


def recipe_image(recipe_dir: Path) -> FrameworkImage:
    """The image `recipe.json` declares (`framework: {name, version}`), else the default image."""
    path = recipe_dir / "recipe.json"
    if not path.is_file():
        return get_image(DEFAULT_FRAMEWORK, DEFAULT_VERSION)
    framework = json.loads(path.read_text(encoding="utf-8")).get("framework") or {}
    return get_image(str(framework.get("name", DEFAULT_FRAMEWORK)), str(framework.get("version", DEFAULT_VERSION)))


# Interpreters ------------------------------------------------------------------------------------------------
@functools.cache
def find_python(minor: str) -> tuple[Path, str]:
    """pyenv's newest `minor` (e.g. "3.12"), else `python<minor>` on PATH, else the nearest minor there is.

    Returns (interpreter, its "X.Y.Z" version); the caller says when it is not the requested minor. Cached per
    process: every job and endpoint start asks.
    """
    candidates = _pythons(minor)
    if not candidates:
        raise ImageError("no CPython 3 interpreter found (pyenv or python3.X on PATH)")
    wanted = tuple(int(part) for part in minor.split("."))

    def distance(item: tuple[tuple[int, ...], Path]) -> tuple[int, int, tuple[int, ...]]:
        version = item[0]
        # Same minor first, then the closest minor, newer before older at the same distance; newest patch.
        return (abs(version[1] - wanted[1]), 0 if version[1] > wanted[1] else 1, tuple(-v for v in version))

    version, path = min(candidates, key=distance)
    return path, ".".join(map(str, version))


def _pythons(minor: str) -> list[tuple[tuple[int, ...], Path]]:
    found: dict[tuple[int, ...], Path] = {}
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
        for entry in sorted(Path(root, "versions").glob("3.*")) if root else []:
            match = re.fullmatch(r"3\.(\d+)\.(\d+)", entry.name)
            executable = entry / "bin" / "python3"
            if match and executable.is_file():
                found[(3, int(match.group(1)), int(match.group(2)))] = executable
    if any(f"{version[0]}.{version[1]}" == minor for version in found):
        return list(found.items())
    # Not in pyenv: ask the interpreters on PATH (pyenv's shims among them are slow, hence only now).
    for other in range(8, 20):
        executable_name = shutil.which(f"python3.{other}")
        if executable_name is None:
            continue
        version = _version_of(Path(executable_name))
        if version is not None:
            found.setdefault(version, Path(executable_name))
    return list(found.items())


def _version_of(python: Path) -> tuple[int, ...] | None:
    result = subprocess.run(  # noqa: S603
        [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return tuple(int(part) for part in result.stdout.strip().split("."))


# Environments ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Environment:
    """A built image environment."""

    image: FrameworkImage
    root: Path
    base_python: Path  # the interpreter the venv was made from (pyenv's)
    python_version: str  # X.Y.Z it runs

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        minor = ".".join(self.python_version.split(".")[:2])
        return self.root / "lib" / f"python{minor}" / "site-packages"

    @property
    def exact(self) -> bool:
        """Whether the interpreter has the image's Python minor version."""
        return self.python_version.startswith(self.image.python + ".")


def cache_root() -> Path:
    """Where image environments live: $CHALLENGER_ENV_CACHE, else `$XDG_CACHE_HOME/challenger/envs`."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "challenger" / "envs"


def ensure_environment(image: FrameworkImage, root: Path | None = None) -> Environment:
    """The image's environment, building it first if needed (under a lock: one build at a time per cache)."""
    root = root or cache_root()
    base_python, version = find_python(image.python)
    minor = ".".join(version.split(".")[:2])
    if minor != image.python:
        wanted = f"{image.name} wants Python {image.python}"
        logger.warning("%s, which is not installed: using the nearest, %s (%s)", wanted, version, base_python)
    # The pins' comments do not count: only what is installed and how.
    pins = [line for line in image.pins.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    digest = hashlib.sha256(
        "\n".join([BUILDER_VERSION, version, str(image.locked), repr(image.patches), *pins]).encode()
    ).hexdigest()[:12]
    env = Environment(image, root / f"{image.name}-py{minor}-{digest}", base_python, version)
    if (env.root / ".complete").is_file():
        return env
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if not (env.root / ".complete").is_file():
            _build(env)
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(env: Environment) -> None:
    image = env.image
    print(f"building the {image.name} environment (Python {env.python_version}) in {env.root}", file=sys.stderr)
    # A venv holds absolute paths, so it is built where it stays; `.complete`, written last, marks it usable.
    shutil.rmtree(env.root, ignore_errors=True)
    python = str(env.python)
    try:
        subprocess.run([str(env.base_python), "-m", "venv", str(env.root)], check=True)  # noqa: S603
        command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if image.locked:
            command.append("--no-deps")
        # No `pip check` afterwards: the image itself would fail it (its lock overrides sagemaker-containers'
        # flask==1.1.1 with 3.1.3), and the point is to be the image, not a consistent environment.
        subprocess.run([*command, "-r", str(image.pins)], check=True)  # noqa: S603
        for relative, old, new in image.patches:
            patched = env.site_packages / relative
            patched.write_text(patched.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(env.root, ignore_errors=True)
        raise ImageError(f"building the {image.name} environment failed: {exc}") from exc
    (env.root / ".complete").write_text(
        json.dumps({"image": image.name, "python": env.python_version, "base": str(env.base_python)}),
        encoding="utf-8",
    )


def overlay(env: Environment, directory: Path) -> Path:
    """A throw-away venv on top of the image environment; returns its python.

    Made by hand (pyvenv.cfg, a python symlink and a .pth file: about a millisecond) rather than with
    `python -m venv`. The .pth puts the image's site-packages after the overlay's own, so everything the image
    has is importable and counts as installed for pip, and whatever a job installs lands in the overlay.
    """
    minor = ".".join(env.python_version.split(".")[:2])
    site = directory / "lib" / f"python{minor}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    (directory / "bin").mkdir(exist_ok=True)
    python = directory / "bin" / "python"
    if not python.exists():
        python.symlink_to(env.base_python)
    (directory / "pyvenv.cfg").write_text(
        f"home = {env.base_python.parent}\ninclude-system-site-packages = false\nversion = {env.python_version}\n",
        encoding="utf-8",
    )
    (site / "_framework_image.pth").write_text(f"{env.site_packages}\n", encoding="utf-8")
    return python


def main(argv: Sequence[str] | None = None) -> int:
    """Build the environment of the image a recipe declares (or the default image); print its path."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--recipe", type=Path, action="append", default=[], help="a recipe directory (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images = {recipe_image(recipe) for recipe in args.recipe} or {get_image(DEFAULT_FRAMEWORK, DEFAULT_VERSION)}
    try:
        for image in sorted(images, key=lambda item: item.name):
            env = ensure_environment(image)
            note = "" if env.exact else f" (nearest to the image's Python {image.python})"
            print(f"{image.name}: {env.root} (Python {env.python_version}{note})")
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
