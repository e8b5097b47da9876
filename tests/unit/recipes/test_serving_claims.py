"""What the recipes and their docs say about a serving cold start matches the image (issue 16).

The scikit-learn image's serving stack runs `pip install .` of `code/` at every container start (sagemaker-containers
`_modules.import_module`), so no text may claim that a cold start installs nothing.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TEXTS = ("recipes", "challenger/scaffold_templates", "docs")


def test_no_text_claims_a_cold_start_installs_nothing() -> None:
    claims = [
        str(path.relative_to(ROOT))
        for folder in TEXTS
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".txt", ".md", ".py", ".tmpl", ".json"}
        and "installs nothing" in " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    ]
    assert claims == []
