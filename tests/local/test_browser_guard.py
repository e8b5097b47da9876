"""Issue 18 F5: every local server refuses what a web page could send it (an ``Origin`` or ``Sec-Fetch-*`` header,
a non-loopback ``Host`` after DNS rebinding). The local S3 and SageMaker: test_local_up.py and
sagemaker/test_api.py; here the Runtime API each Lambda worker polls, which hands out invocation events, and the
gateway (which browsers use: it refuses only a rebound Host, its routes have their own credentials)."""

from __future__ import annotations

import threading
from typing import Any

import requests

from challenger.local.gateway import LocalApiGateway
from challenger.local.lambda_runtime import _WorkerServer
from challenger.local.template import LocalTemplate


def test_a_workers_runtime_api_refuses_browsers_before_any_invocation() -> None:
    server = _WorkerServer(worker=Any)  # type: ignore[arg-type]  # a refused request never reaches the worker
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/2018-06-01/runtime/invocation/next"
    try:
        browsers = ({"Origin": "http://evil.test"}, {"Sec-Fetch-Site": "cross-site"}, {"Host": "rebound.evil.test"})
        for headers in browsers:
            refused = requests.get(url, headers=headers, timeout=5)
            assert refused.status_code == 403, headers
            assert "the local cloud refuses this request" in refused.json()["message"]
        unknown = requests.post(url.replace("invocation/next", "nothing"), data=b"{}", timeout=5)
        assert unknown.status_code == 404  # the runtime's own client is let through to the API
    finally:
        server.shutdown()
        server.server_close()


def test_the_gateway_refuses_a_rebound_host_but_serves_its_own_dashboards_requests(template: LocalTemplate) -> None:
    def integration(logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": "{}"}

    with LocalApiGateway(template, integration, api_key="k") as gateway:
        port = gateway.url.rpartition(":")[2]
        rebound = requests.get(f"{gateway.url}/config.json", headers={"Host": f"rebound.evil.test:{port}"}, timeout=5)
        own = requests.get(f"{gateway.api_url}/health", headers={"Origin": gateway.url, "x-api-key": "k"}, timeout=5)

    assert rebound.status_code == 403
    assert "not a loopback name" in rebound.json()["message"]
    assert own.status_code == 200  # the dashboard's page sends Origin on its calls: that is welcome here
