"""Issue 19 from the CLI: the trusted evaluation set, a dataset's policy and an overruling deploy go to the
operator door with the comment; the CLI refuses them without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from challenger.cli import CliError, Target, build_parser, dispatch


class _Api(Target):
    def __init__(self) -> None:
        super().__init__("http://api", "key", "bucket", s3=None)
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        self.calls.append((method, path, body, kwargs))
        return {"version": 2, "rows": 3, "verdict": "the policy said KEEP (primary f1)"}


def run(argv: list[str]) -> _Api:
    api = _Api()
    dispatch(build_parser().parse_args(argv), api)
    return api


def test_policy_set_sends_only_the_fields_given_with_the_comment_to_the_operator_door() -> None:
    api = run(["policy", "set", "--dataset", "weather", "--primary-metric", "accuracy", "--guardrails", "none",
               "--comment", "accuracy matters"])  # fmt: skip
    method, path, body, kwargs = api.calls[0]
    assert (method, path) == ("POST", "/datasets/weather/policy")
    assert body == {"primary_metric": "accuracy", "guardrail_metrics": [], "comment": "accuracy matters"}
    assert kwargs == {"ok": (201,), "operator": True}


def test_data_push_trusted_sets_the_trusted_set_before_the_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed: list[tuple[Any, ...]] = []
    monkeypatch.setattr("challenger.cli.data_push", lambda *args: pushed.append(args))
    test = tmp_path / "test.csv"
    test.write_text("review_text,sentiment\na,1\nb,0\nc,1\n")
    api = run(["data", "push", str(tmp_path / "train.csv"), "--dataset", "reviews", "--test", str(test), "--trusted",
               "--comment", "labelled by the lab"])  # fmt: skip
    assert api.calls[0][:3] == (
        "POST",
        "/datasets/reviews/trusted-set",
        {"csv": test.read_text(), "comment": "labelled by the lab"},
    )
    assert pushed[0][3] is None  # the trusted rows are not also this upload's test.csv


def test_the_trusted_set_needs_a_comment(tmp_path: Path) -> None:
    test = tmp_path / "test.csv"
    test.write_text("review_text,sentiment\na,1\n")
    with pytest.raises(CliError, match="only with a reason"):
        run(["data", "push", str(test), "--dataset", "reviews", "--test", str(test), "--trusted"])


def test_deploy_against_the_verdict_needs_a_version_and_a_comment() -> None:
    api = run(["deploy", "v4", "--comment", "new labels are right"])
    assert api.calls[0][:3] == ("POST", "/deploy", {"version": 4, "comment": "new labels are right"})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["deploy", "v4"])
