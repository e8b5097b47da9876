"""Issue 18 F5: every local server refuses what a web page could send it (an ``Origin`` or ``Sec-Fetch-*`` header,
a non-loopback ``Host`` after DNS rebinding). The local S3 and SageMaker: test_local_up.py and
sagemaker/test_api.py; here the Runtime API each Lambda worker polls, which hands out invocation events."""

from __future__ import annotations

import threading
from typing import Any

import requests

from challenger.local.lambda_runtime import _WorkerServer


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
