"""Issue 18: `local up` keeps the API key and the dashboard token off its output; `challenger local token` prints
them when asked, and `--rotate` replaces the token in the running cloud: the old one is refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.local_process import ROOT, local_up


def test_secrets_stay_off_the_output_and_rotation_refuses_the_old_token(tmp_path: Path) -> None:
    state = tmp_path / ".challenger"
    env = {**os.environ, "CHALLENGER_STATE_DIR": str(state)}
    with local_up(state, "--fresh") as (_, _, info):
        old = info["console_token"]
        outbox = info["dashboard_url"].partition("/#")[0] + "/_local/outbox"
        assert requests.get(outbox, headers={"Authorization": f"Bearer {old}"}, timeout=10).status_code == 200

        shown = subprocess.run(
            [sys.executable, "-m", "challenger", "local", "token"],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        rotated = subprocess.run(
            [sys.executable, "-m", "challenger", "local", "token", "--rotate"],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert rotated.returncode == 0, rotated.stderr
        new = (state / "local-token").read_text().strip()
        assert new != old
        assert requests.get(outbox, headers={"Authorization": f"Bearer {old}"}, timeout=10).status_code == 401
        assert requests.get(outbox, headers={"Authorization": f"Bearer {new}"}, timeout=10).status_code == 200

    output = (tmp_path / "local-up.log").read_text()
    assert info["api_key"] not in output
    assert old not in output
    assert new not in output
    assert "`challenger local token`" in output
    assert f"API key    {info['api_key']}" in shown.stdout
    assert f"#token={new}" in rotated.stdout
