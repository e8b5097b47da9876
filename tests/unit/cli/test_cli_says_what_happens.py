"""Issue 21: a CLI that says what is happening, for whatever recipe the stack runs.

`data push --wait` names the run it started or why none started; `runs wait` stops at the approval step with the
command to type and its own exit status; `approve`/`reject` take `vN` and `latest`; `models list`, `runs show` and
`predict` take their columns and class names from the recipe (GET /health); every subcommand has help; a reader that
stops early (`| head`) ends the CLI without a traceback.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import responses
from botocore.exceptions import ClientError

from challenger.cli import (
    EXIT_AWAITING_APPROVAL,
    EXIT_NOT_STARTED,
    BearerToken,
    CliError,
    Target,
    build_parser,
    decide,
    dispatch,
    models_list,
    predict,
    runs_show,
    subcommands,
)
from challenger_core.triggering import source_fingerprint

API = "http://127.0.0.1:9/v1"
REPO = Path(__file__).resolve().parents[3]

# A multiclass recipe's /health: nothing about it is the sentiment recipe's.
WEATHER = {
    "status": "ok",
    "champion_version": 2,
    "policy": {
        "recipe": "weather",
        "primary_metric": "log_loss",
        "directions": {"accuracy": "higher", "f1_macro": "higher", "log_loss": "lower"},
    },
    "prediction": {
        "fields": {"label": "str", "score": "float"},
        "score": "probability of the predicted class",
        "labels": {"sun": "sunny", "rain": "rainy", "snow": "snowy"},
    },
}


class Bucket:
    """The data bucket: uploads keep the file's MD5 as S3's ETag of a single-part upload."""

    def __init__(self) -> None:
        self.etags: dict[str, str] = {}

    def upload_file(self, source: str, bucket: str, key: str) -> None:
        self.etags[key] = hashlib.md5(Path(source).read_bytes()).hexdigest()

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.etags:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ETag": f'"{self.etags[Key]}"'}


def target() -> Target:
    return Target(API, "the-key", "data-bucket", Bucket(), operator_auth=BearerToken("op-token"))


def run_record(run_id: str, status: str = "RUNNING", **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "status": status, "dataset": "weather", "trigger": "S3", **extra}


def run_command(argv: list[str], destination: Target) -> int:
    return dispatch(build_parser().parse_args(argv), destination)


@responses.activate
def test_models_list_columns_are_the_recipes_metrics_primary_first(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{API}/health", json=WEATHER)
    model = {"version": 2, "status": "LIVE", "dataset": "weather", "created_at": "2026-12-07T20:00:00Z"}
    responses.get(f"{API}/models", json=[model | {"metrics": {"log_loss": 0.41, "accuracy": 0.8, "f1_macro": 0.7}}])
    models_list(target())
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["model", "status", "log_loss", "accuracy", "f1_macro", "dataset", "created"]
    assert row.split()[:5] == ["v2", "LIVE", "0.4100", "0.8000", "0.7000"]
    assert "nan" not in row


@responses.activate
def test_runs_wait_stops_at_the_approval_step_with_the_command_and_exit_status_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    steps = [{"name": "Notify", "status": "succeeded"}, {"name": "RequestApproval", "status": "entered"}]
    responses.get(f"{API}/runs/r7", json={"run": run_record("r7"), "steps": steps})
    responses.get(f"{API}/approvals?limit=500", json=[{"run_id": "r7", "version": 3, "approval_id": "a"}])
    assert run_command(["runs", "wait", "r7"], target()) == EXIT_AWAITING_APPROVAL == 3
    out = capsys.readouterr().out
    assert "  · RequestApproval" in out
    assert "waiting for approval: `challenger approve r7`" in out
    assert "approve v3" in out


@pytest.mark.parametrize(("ref", "run_id"), [("v3", "r-three"), ("latest", "r-four"), ("r-any", "r-any")])
@responses.activate
def test_approve_takes_a_version_or_latest_as_well_as_a_run_id(ref: str, run_id: str) -> None:
    pending = [{"run_id": "r-three", "version": 3}, {"run_id": "r-four", "version": 4}]
    responses.get(f"{API}/approvals?limit=500", json=pending)
    responses.post(f"{API}/operator/runs/{run_id}/approval", json={"version": 0, "decision": "APPROVED"})
    decide(target(), ref, "approve", "")
    assert responses.calls[-1].request.url == f"{API}/operator/runs/{run_id}/approval"


@responses.activate
def test_approve_a_version_that_waits_for_nothing_says_which_do() -> None:
    responses.get(f"{API}/approvals?limit=500", json=[{"run_id": "r-four", "version": 4}])
    with pytest.raises(CliError, match=r"v9 is not waiting for a decision; these are: v4 \(run r-four\)"):
        decide(target(), "v9", "approve", "")


@responses.activate
def test_data_push_wait_says_no_run_started_when_the_rows_are_a_trained_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = tmp_path / "train.csv"
    train.write_text("a,b\n1,2\n")
    etag = hashlib.md5(train.read_bytes()).hexdigest()
    trained = run_record("r3", "SUCCEEDED", version=3, source_fingerprint=source_fingerprint(etag, None))
    responses.get(f"{API}/health", json=WEATHER)
    responses.get(f"{API}/runs", json=[trained])
    assert run_command(["data", "push", str(train), "--wait"], target()) == EXIT_NOT_STARTED == 4
    out = capsys.readouterr().out
    assert "uploaded" in out
    assert "incoming/weather/train.csv" in out
    assert "no run started: same rows as v3's data" in out
    assert "`challenger runs start --dataset weather --force` to retrain" in out


@responses.activate
def test_data_push_wait_names_the_run_the_upload_started_and_follows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = tmp_path / "train.csv"
    train.write_text("a,b\n1,2\n")
    fingerprint = source_fingerprint(hashlib.md5(train.read_bytes()).hexdigest(), None)
    old = run_record("r1", "SUCCEEDED", version=1, source_fingerprint="f" * 64)
    new = run_record("r2", "RUNNING", source_fingerprint=fingerprint)
    responses.get(f"{API}/runs", json=[old])
    responses.get(f"{API}/runs", json=[new, old])
    done = {"run": new | {"status": "SUCCEEDED", "outcome": "DEPLOYED"}, "steps": [{"name": "Deploy", "status": "x"}]}
    responses.get(f"{API}/runs/r2", json=done)
    assert run_command(["data", "push", str(train), "--dataset", "weather", "--wait"], target()) == 0
    out = capsys.readouterr().out
    assert "run r2 started" in out
    assert "run r2: SUCCEEDED (DEPLOYED)" in out


@responses.activate
def test_predict_shows_every_prediction_field_with_class_names(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{API}/health", json=WEATHER)
    responses.post(f"{API}/predict", json={"predictions": [{"label": "rain", "score": 0.625}], "model_version": 2})
    predict(target(), ['{"temp": 4, "humidity": 90}'])
    header, _, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["model", "label", "score", "instance"]
    assert "rainy (rain)" in row
    assert "0.6250" in row
    assert '{"temp": 4, "humidity": 90}' in row
    body = responses.calls[-1].request.body
    assert isinstance(body, bytes | str)
    assert json.loads(body)["instances"] == [{"temp": 4, "humidity": 90}]


@responses.activate
def test_runs_show_prints_the_models_metrics_and_a_confusion_matrix_with_class_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_record("r2", "SUCCEEDED", version=2, outcome="DEPLOYED")
    responses.get(f"{API}/operator/runs/r2", json={"run": run, "steps": [], "audit": []})
    responses.get(f"{API}/health", json=WEATHER)
    matrix = [[5, 1, 0], [2, 7, 0], [0, 0, 3]]
    responses.get(f"{API}/models/2", json={"metrics": {"log_loss": 0.5, "accuracy": 0.83}, "confusion_matrix": matrix})
    runs_show(target(), "r2")
    out = capsys.readouterr().out
    assert "model v2: log_loss=0.5000  accuracy=0.8300  f1_macro=-" in out
    lines = out.splitlines()
    header = next(line for line in lines if "predicted" in line)
    assert header.split()[-3:] == ["sunny", "rainy", "snowy"]
    assert next(line for line in lines if line.strip().startswith("rainy")).split() == ["rainy", "2", "7", "0"]
    assert "true 0" not in out


def test_every_subcommand_has_help_text_in_its_own_help() -> None:
    found = subcommands(build_parser())
    assert {"data push", "runs wait", "models list", "approve", "recipe new", "batch score", "local up"} <= set(found)
    missing = sorted(name for name, (listed, parser) in found.items() if not listed or not parser.description)
    assert missing == []


def test_a_reader_that_stops_early_ends_the_cli_quietly(tmp_path: Path) -> None:
    # `challenger models list | head -1` on a long list: the pipe closes while the CLI still writes.
    script = tmp_path / "long_output.py"
    script.write_text(
        "import sys\n"
        "from challenger import cli\n"
        "cli.local_target = lambda *a, **k: None\n"
        "cli.models_list = lambda target: [cli.print(f'v{i}') for i in range(200000)]\n"
        "sys.exit(cli.main(['models', 'list']))\n"
    )
    pipeline = subprocess.run(
        f"{sys.executable} {script} | head -1",
        check=False,
        shell=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pipeline.stdout == "v0\n"
    assert "Traceback" not in pipeline.stderr
    assert "BrokenPipeError" not in pipeline.stderr
