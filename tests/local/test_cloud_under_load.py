"""The whole local cloud's API under 200 concurrent clients: every one answered, by the real API function."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from challenger.local.cloud import LocalCloud

CLIENTS = 200


def test_200_concurrent_clients_of_the_local_api_are_all_answered(tmp_path: Path) -> None:
    cloud = LocalCloud(state_dir=tmp_path / ".challenger", progress=lambda _: None).start()
    try:
        barrier = threading.Barrier(CLIENTS)

        def one_client(_: int) -> int | str:
            with requests.Session() as session:  # a connection of its own
                barrier.wait(30)
                try:
                    url = f"{cloud.gateway.api_url}/health"
                    return session.get(url, headers={"x-api-key": cloud.api_key}, timeout=60).status_code
                except requests.ConnectionError as error:  # a reset or refused connection
                    return type(error).__name__

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            statuses = list(pool.map(one_client, range(CLIENTS)))
    finally:
        cloud.stop(save=False)

    assert statuses == [200] * CLIENTS
