"""Run checkov on template.yaml and on its SAM translation; every failure must be fixed or skipped with a reason.

Runs with the SAM CLI's interpreter (.tools/sam: it has the translator) and calls checkov from its own virtualenv
(.tools/checkov: checkov pins an old boto3). A skip is declared in the template, on the resource, with its reason:

    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_117
            comment: why this check does not apply or is accepted

SAM does not carry a resource's Metadata to the resources it generates (the Lambda function, the API stage...),
so before checking the translation each generated resource inherits the skips of the SAM resource it came from
(the longest SAM logical id its own id starts with: `ApiFunction` -> `ApiFunctionRole`, `Api` -> `Apiv1Stage`).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lint_translated_template import ROOT, translated  # type: ignore[import-not-found]
from samtranslator.yaml_helper import yaml_parse

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def inherit_skips(source: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """Copy each SAM resource's `Metadata.checkov` to the resources SAM generated from it."""
    skips = {
        name: resource["Metadata"]["checkov"]
        for name, resource in source["Resources"].items()
        if str(resource.get("Type", "")).startswith("AWS::Serverless::")
        and isinstance(resource.get("Metadata"), dict)
        and "checkov" in resource["Metadata"]
    }
    for name, resource in output["Resources"].items():
        origins = [sam for sam in skips if name.startswith(sam)]
        if (name in source["Resources"] and name not in skips) or not origins:
            continue
        origin = max(origins, key=len)
        resource.setdefault("Metadata", {})["checkov"] = skips[origin]
    return output


def main() -> int:
    logging.disable(logging.WARNING)  # the translator's feature-toggle chatter
    source = yaml_parse((ROOT / "template.yaml").read_text())
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "translated.json"
        out.write_text(json.dumps(inherit_skips(source, translated()), indent=1))
        command = [
            str(CHECKOV),
            "--framework",
            "cloudformation",
            "--file",
            str(ROOT / "template.yaml"),
            "--file",
            str(out),
            "--compact",
            "--quiet",
            "--skip-download",  # no policy download from a platform: the checks shipped with the pinned version
        ]
        return subprocess.call(command, env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"})  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
