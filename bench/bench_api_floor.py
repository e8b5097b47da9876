"""The API's init against its floor: what Powertools' REST resolver with validation, pydantic and the core's
observability cost before any Challenger route exists (issue 20: API init ≤ 1.2× `import boto3`).

Interleaved rounds in fresh interpreters with the API's template environment, as bench_lambda_init.py does:
`import boto3`; the floor (a resolver with `enable_validation`, one Router with a Path/Query route and a pydantic
body, Logger/Metrics/Tracer from `challenger_core.observability`); the floor plus `challenger_core.models` (the
registry's models every route returns); and the API (`import app`). Medians, and each as a ratio of `import boto3`.

    python bench/bench_api_floor.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_lambda_init import lambda_environment, measure  # noqa: E402 — after the path above

from challenger.local.template import LocalTemplate  # noqa: E402

FLOOR_APP = """
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel

from challenger_core.observability import logger, metrics, tracer

router = Router()


class Body(BaseModel):
    name: str


@router.post("/things/<thing>")
def put(thing: Annotated[str, Path(pattern="^[a-z]+$")], body: Body, n: Annotated[int, Query(ge=1)] = 1) -> Body:
    return body


app = APIGatewayRestResolver(enable_validation=True)
app.include_router(router)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    api = next(f for f in LocalTemplate().functions() if f.code_dir.name == "api")
    environment = lambda_environment(api.environment)
    core = str(ROOT / "layers" / "core")
    with tempfile.TemporaryDirectory() as floor_dir:
        (Path(floor_dir) / "floor_app.py").write_text(FLOOR_APP)
        cases = {
            "import boto3": ("import boto3", [str(api.code_dir), core]),
            "floor": ("import floor_app", [floor_dir, core]),
            "floor + core models": ("import floor_app, challenger_core.models", [floor_dir, core]),
            "API": ("import app", [str(api.code_dir), core]),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (statement, paths) in cases.items():
                times[name].append(measure(statement, paths, environment)[0] * 1000)
    baseline = statistics.median(times["import boto3"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median:6.1f} ms  ×{median / baseline:4.2f}  (median of {args.rounds} interleaved rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
