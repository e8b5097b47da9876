"""Publish the dashboard to a deployed stack: `python scripts/publish_dashboard.py --stack NAME`.

Reads the stack's outputs, uploads `frontend/dist/` (else `frontend/`) to FrontendBucket with the right content
types and cache headers, writes `config.json` (where the API is, how to sign in), and invalidates CloudFront.

Cache policy: files whose names carry a content hash (`assets/app.3f9a1c2e.js`, as bundlers emit them) are
immutable for a year; everything else (index.html, config.json, unhashed files) is `no-cache`, so a publish is
visible at the next load and an old index.html never points at deleted assets.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_OUTPUTS = (
    "ApiUrl",
    "UserPoolId",
    "UserPoolClientId",
    "UserPoolDomain",
    "FrontendBucketName",
    "DistributionId",
)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_HASHED = re.compile(r"[.-][0-9a-zA-Z_-]{8,}\.(js|mjs|css|woff2?|png|jpe?g|svg|webp|ico|map)$")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Upload:
    """One object to put: its key, where its bytes come from, and the headers CloudFront will serve."""

    key: str
    source: Path | None  # None: `body` (the generated config.json)
    content_type: str
    cache_control: str
    body: bytes = b""


def site_dir(root: Path = ROOT) -> Path:
    """The build if there is one (frontend/dist), else the plain sources (frontend/)."""
    dist = root / "frontend" / "dist"
    return dist if dist.is_dir() else root / "frontend"


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    return IMMUTABLE if _HASHED.search(key) else REVALIDATE


def dashboard_config(outputs: dict[str, str], region: str) -> dict[str, Any]:
    """config.json for the dashboard on AWS: the console door of the API and the Cognito client to sign in with."""
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SystemExit(f"the stack has no output(s) {', '.join(missing)}: deploy the current template.yaml first")
    return {
        "apiBase": outputs["ApiUrl"].rstrip("/") + "/console",
        "auth": {
            "mode": "cognito",
            "region": region,
            "userPoolId": outputs["UserPoolId"],
            "clientId": outputs["UserPoolClientId"],
            "domain": outputs["UserPoolDomain"],
        },
    }


def plan(site: Path, config: dict[str, Any]) -> list[Upload]:
    """Every object to upload, config.json last-written (generated; it replaces any file of that name)."""
    uploads = [
        Upload(key, path, content_type(key), cache_control(key))
        for key, path in _files(site)
        if key != "config.json" and not key.startswith(".")
    ]
    body = (json.dumps(config, indent=2) + "\n").encode()
    uploads.append(Upload("config.json", None, content_type("config.json"), REVALIDATE, body))
    return uploads


def _files(site: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(site.rglob("*")):
        if path.is_file():
            yield path.relative_to(site).as_posix(), path


def outputs_of(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def publish(stack: str, *, region: str | None = None, site: Path | None = None) -> str:  # pragma: no cover — AWS
    import boto3  # noqa: PLC0415 — only this path talks to AWS

    session = boto3.session.Session(region_name=region)
    outputs = outputs_of(session.client("cloudformation"), stack)
    uploads = plan(site or site_dir(), dashboard_config(outputs, session.region_name))
    s3 = session.client("s3")
    bucket = outputs["FrontendBucketName"]
    for upload in uploads:
        body = upload.source.read_bytes() if upload.source is not None else upload.body
        s3.put_object(
            Bucket=bucket, Key=upload.key, Body=body, ContentType=upload.content_type, CacheControl=upload.cache_control
        )
        print(f"  s3://{bucket}/{upload.key}  ({upload.content_type}; {upload.cache_control})")
    invalidation = session.client("cloudfront").create_invalidation(
        DistributionId=outputs["DistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"publish-{time.time_ns()}"},
    )
    print(f"invalidation {invalidation['Invalidation']['Id']} started; the dashboard: {outputs.get('DashboardUrl')}")
    return str(invalidation["Invalidation"]["Id"])


def main(argv: list[str] | None = None) -> int:  # pragma: no cover — AWS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--region", help="default: the AWS CLI's configured region")
    args = parser.parse_args(argv)
    publish(args.stack, region=args.region)
    return 0


if __name__ == "__main__":
    sys.exit(main())
