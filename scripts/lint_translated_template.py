"""Translate template.yaml with the SAM translator (offline) and cfn-lint the result.

cfn-lint on a SAM template validates it against a schema without translating it, so it misses errors
that only exist after translation, such as circular dependencies (E3004) between generated resources.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
# Managed policies SAM attaches by name; resolving them would need IAM, so map them offline.
MANAGED = {
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
}


class _OfflinePolicies:
    def load(self) -> dict[str, str]:
        return MANAGED


def translated(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    template = yaml_parse(path.read_text())
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://bucket/{name}.zip"  # what `sam package` would put there
    return dict(transform(template, {}, _OfflinePolicies()))


def main() -> int:
    logging.disable(logging.WARNING)  # the translator's feature-toggle chatter
    if sys.argv[1:2] == ["--json"]:  # the translation itself, for the local cloud's IAM (challenger/local/iam.py)
        print(json.dumps(translated(Path(sys.argv[2]))))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "translated.json"
        out.write_text(json.dumps(translated(), indent=1))
        # W3005: redundant DependsOn on resources SAM itself generates; not ours to fix.
        cfn_lint = Path(sys.executable).with_name("cfn-lint")
        return subprocess.call([str(cfn_lint), "--ignore-checks", "W3005", "--", str(out)])  # noqa: S603 — our own paths


if __name__ == "__main__":
    sys.exit(main())
