"""Integration tests: the whole local cloud (moto server, local SageMaker, gateway, events, outbox) on loopback.

Each module brings one cloud up in-process and walks a scenario through it as a user would, through the
CLI's API client and real HTTP; the clouds live under pytest's tmp dirs, never the developer's .challenger/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from challenger.cli import Target, data_push, latest_run_id, local_target, runs_wait
from challenger.local.cloud import LocalCloud

DATA = Path(__file__).resolve().parents[2] / "recipes" / "sentiment" / "data"


def push_and_wait(
    target: Target, train: Path, *, test: Path | None = None, dataset: str = "reviews"
) -> dict[str, object]:
    """Drop a dataset like a user would and follow the run it starts to its end."""
    runs = target.call("GET", "/runs")
    before = str(runs[0]["run_id"]) if runs else ""
    data_push(target, train, dataset, test)
    return runs_wait(target, latest_run_id(target, newer_than=before), timeout=300, echo=lambda _: None)


@pytest.fixture(scope="module")
def cloud_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalCloud]]:
    clouds: list[LocalCloud] = []

    def start(**kwargs: object) -> LocalCloud:
        kwargs.setdefault("state_dir", tmp_path_factory.mktemp("challenger"))
        cloud = LocalCloud(progress=lambda _: None, **kwargs)  # type: ignore[arg-type]
        clouds.append(cloud)
        return cloud.start()

    yield start
    for cloud in clouds:
        cloud.stop()


def target_of(cloud: LocalCloud) -> Target:
    return local_target(cloud.state_dir)
