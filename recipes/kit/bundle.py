"""The recipe source bundle (``sourcedir.tar.gz``): one definition shared by the publisher and the local cloud.

A recipe's bundle is its directory minus ``data/``, ``tests/`` and caches, plus ``recipes/kit/challenger_kit.py`` at
the top level (next to ``train.py``, so the training script imports it as a plain module). A ``requirements.txt``
that names nothing (comments and blank lines only) stays out: the training toolkit runs ``pip install -r`` whenever
the file exists (``sagemaker_training.entry_point``), ~1.5 s of every training job spent installing nothing.
The archive is deterministic — members sorted, mtime 0, uid/gid 0, fixed modes, gzip header without a timestamp —
so the same recipe always yields the same bytes and the same digest.

Standard library only; imported by the core-side recipe publisher and by ``challenger.local``.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

KIT_DIR = Path(__file__).resolve().parent
KIT_MODULE = "challenger_kit.py"
# The kit's ONNX format (issue 21): shipped with recipes whose recipe.json says "model": {"format": "onnx"}.
ONNX_MODULE = "challenger_onnx.py"
# Never shipped: sample data, the recipe's tests, and what tools leave behind.
EXCLUDED_DIRS = frozenset(
    {"data", "tests", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "model", "output"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
REQUIREMENTS_FILE = "requirements.txt"


def names_requirements(path: Path) -> bool:
    """Whether a requirements.txt lists anything (the kit's ``requirement_lines`` rule: ``#`` starts a comment)."""
    return any(line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())


def bundle_files(recipe_dir: str | Path) -> dict[str, Path]:
    """Archive name → file on disk for a recipe's source bundle, sorted by archive name."""
    root = Path(recipe_dir).resolve()
    if not (root / "recipe.json").is_file() or not (root / "train.py").is_file():
        raise FileNotFoundError(f"{root} is not a recipe: it needs recipe.json and train.py")
    files: dict[str, Path] = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part in EXCLUDED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if relative.as_posix() == REQUIREMENTS_FILE and path.is_file() and not names_requirements(path):
            continue
        if path.is_file() and not path.name.endswith(EXCLUDED_SUFFIXES):
            files[relative.as_posix()] = path
    files[KIT_MODULE] = KIT_DIR / KIT_MODULE
    model = json.loads((root / "recipe.json").read_text(encoding="utf-8")).get("model") or {}
    if isinstance(model, dict) and model.get("format") == "onnx":
        files[ONNX_MODULE] = KIT_DIR / ONNX_MODULE
    return dict(sorted(files.items()))


def build_source_bundle(recipe_dir: str | Path) -> bytes:
    """The deterministic ``sourcedir.tar.gz`` bytes of a recipe (see the module docstring for what is in it)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in bundle_files(recipe_dir).items():
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    # mtime=0 and no file name keep the gzip header constant.
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()
