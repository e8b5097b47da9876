"""The publish script's pure parts: what it uploads, with which headers, and the config it writes (no AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.publish_dashboard import (
    IMMUTABLE,
    REVALIDATE,
    cache_control,
    content_type,
    dashboard_config,
    outputs_of,
    plan,
    site_dir,
)

OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
    "UserPoolId": "eu-west-1_Example",
    "UserPoolClientId": "1example23456789",
    "UserPoolDomain": "https://challenger-123456789012.auth.eu-west-1.amazoncognito.com",
    "FrontendBucketName": "challenger-frontendbucket-1",
    "DistributionId": "E2EXAMPLE",
    "DashboardUrl": "https://d111111abcdef8.cloudfront.net/",
}


def test_config_points_the_dashboard_at_the_console_door_and_cognito() -> None:
    assert dashboard_config(OUTPUTS, "eu-west-1") == {
        "apiBase": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/console",
        "auth": {
            "mode": "cognito",
            "region": "eu-west-1",
            "userPoolId": "eu-west-1_Example",
            "clientId": "1example23456789",
            "domain": "https://challenger-123456789012.auth.eu-west-1.amazoncognito.com",
        },
    }


def test_a_stack_without_the_dashboard_outputs_is_refused() -> None:
    with pytest.raises(SystemExit, match="UserPoolId"):
        dashboard_config({**OUTPUTS, "UserPoolId": ""}, "eu-west-1")


@pytest.mark.parametrize(
    ("key", "expected_type", "expected_cache"),
    [
        ("index.html", "text/html; charset=utf-8", REVALIDATE),
        ("assets/index-3f9a1c2e.js", "text/javascript; charset=utf-8", IMMUTABLE),
        ("assets/index.B7xQ_9kd.css", "text/css; charset=utf-8", IMMUTABLE),
        ("app.js", "text/javascript; charset=utf-8", REVALIDATE),  # unhashed: may change under the same name
        ("favicon.svg", "image/svg+xml", REVALIDATE),
        ("fonts/inter-4f2d1c0b.woff2", "font/woff2", IMMUTABLE),
        ("data.bin", "application/octet-stream", REVALIDATE),
    ],
)
def test_content_types_and_cache_headers(key: str, expected_type: str, expected_cache: str) -> None:
    assert (content_type(key), cache_control(key)) == (expected_type, expected_cache)


def test_plan_uploads_the_site_and_a_generated_config(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "assets" / "app-0123abcd.js").write_text("")
    (tmp_path / "config.json").write_text('{"apiBase": "/v1/console"}')  # the local one: replaced
    (tmp_path / ".DS_Store").write_text("")
    config = dashboard_config(OUTPUTS, "eu-west-1")

    uploads = {upload.key: upload for upload in plan(tmp_path, config)}

    assert set(uploads) == {"index.html", "assets/app-0123abcd.js", "config.json"}
    assert uploads["assets/app-0123abcd.js"].cache_control == IMMUTABLE
    assert uploads["config.json"].source is None
    assert json.loads(uploads["config.json"].body) == config
    assert uploads["config.json"].cache_control == REVALIDATE


def test_site_dir_prefers_the_build(tmp_path: Path) -> None:
    (tmp_path / "frontend").mkdir()
    assert site_dir(tmp_path) == tmp_path / "frontend"
    (tmp_path / "frontend" / "dist").mkdir()
    assert site_dir(tmp_path) == tmp_path / "frontend" / "dist"


def test_outputs_are_read_from_the_stack() -> None:
    class FakeCloudFormation:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            assert StackName == "challenger"
            return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()]}]}

    assert outputs_of(FakeCloudFormation(), "challenger") == OUTPUTS
