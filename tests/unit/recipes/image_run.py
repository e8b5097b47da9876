"""Run the recipe tests inside the framework image environment(s) the recipes declare (`make test-recipes-image`).

A model must train and serve where AWS runs it, so the recipe tests also run on the image's own Python, numpy and
scikit-learn — the environments the local SageMaker builds (`challenger.local.sagemaker.images`). Each run gets a
throw-away overlay on the image environment with pytest added; nothing else from the dev venv is visible.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from challenger.local.sagemaker import images

ROOT = Path(__file__).resolve().parents[3]
# The tests that need only the recipes, numpy and scikit-learn (the scaffold test drives the CLI: dev venv only).
TEST_FILES = [
    "test_kit.py",
    "test_kit_columnar.py",
    "test_sentiment.py",
    "test_penguins_recipe.py",
    "test_penguins_data.py",
    "test_flights_recipe.py",
]


def pytest_pin() -> str:
    """The dev environment's pytest pin, so both runs use the same pytest."""
    for line in (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("pytest=="):
            return line.strip()
    raise SystemExit("requirements/dev.txt pins no pytest")


def main() -> int:
    """Run the tests once per distinct image; exit code non-zero if any run fails."""
    recipes = sorted(path.parent for path in (ROOT / "recipes").glob("*/recipe.json"))
    selected = [str(Path(__file__).with_name(name)) for name in TEST_FILES if Path(__file__).with_name(name).exists()]
    failed = 0
    for image in sorted({images.recipe_image(recipe) for recipe in recipes}, key=lambda item: item.name):
        env = images.ensure_environment(image)
        print(f"== {image.name}: Python {env.python_version} in {env.root}", flush=True)
        with tempfile.TemporaryDirectory(prefix="recipe-tests-") as tmp:
            python = str(images.overlay(env, Path(tmp)))
            install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", pytest_pin()]
            # Each recipe's requirements.txt, as the training toolkit installs it into a SageMaker job (the flights
            # recipe's LightGBM): the tests train there too.
            for recipe in recipes:
                if (recipe / "requirements.txt").is_file():
                    install += ["-r", str(recipe / "requirements.txt")]
            subprocess.run(install, check=True)
            command = [python, "-m", "pytest", *selected, "-q", "-p", "no:cacheprovider"]
            # Only tests/unit/recipes' conftest: the unit suite's own needs moto and the dev venv.
            command += ["--confcutdir", str(Path(__file__).parent), "-o", "addopts=--import-mode=importlib"]
            failed += subprocess.run(command, cwd=ROOT, check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
