"""The guard in front of the local S3 (moto's server app): SDKs get through, web pages do not."""

from __future__ import annotations

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from challenger.local.serving import is_loopback_host, refuse_browsers

# boto3's headers for ListBuckets against http://127.0.0.1:<port> (the signature is not checked by moto).
SDK_HEADERS = {"Authorization": "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/s3/aws4_request, x"}


@pytest.fixture(scope="module")
def local_s3() -> Client:
    return Client(refuse_browsers(DomainDispatcherApplication(create_backend_app)))


def test_an_sdk_on_loopback_reaches_moto(local_s3: Client) -> None:
    response = local_s3.get("/", headers={**SDK_HEADERS, "Host": "127.0.0.1:5123"})

    assert response.status_code == 200
    assert b"ListAllMyBucketsResult" in response.data


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Host": "127.0.0.1:5123", "Origin": "http://evil.test"}, "Origin"),
        ({"Host": "127.0.0.1:5123", "Origin": "null"}, "Origin"),  # a sandboxed frame or a file:// page
        ({"Host": "127.0.0.1:5123", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Site": "cross-site"}, "Sec-Fetch"),
        ({"Host": "rebound.evil.test:5123"}, "rebound.evil.test:5123"),  # DNS rebinding: a name → 127.0.0.1
        ({"Host": "192.168.1.10:5123"}, "192.168.1.10:5123"),
        ({"Host": ""}, "Host"),
    ],
)
def test_browser_requests_are_refused_with_the_reason(local_s3: Client, headers: dict[str, str], reason: str) -> None:
    response = local_s3.get("/", headers={**SDK_HEADERS, **headers})

    assert response.status_code == 403
    assert reason in response.get_json()["message"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.0.0.1", True),
        ("127.1.2.3:80", True),
        ("localhost:5000", True),
        ("LOCALHOST", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("localhost.evil.test", False),
        ("127.0.0.1.nip.io:5000", False),
        ("0.0.0.0:5000", False),
        ("[::ffff:10.0.0.1]:80", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
