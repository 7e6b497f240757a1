"""bandit on the project's code, as `make audit` runs it: no finding left unexplained."""

import subprocess
import sys

from tests.support import ROOT


def test_bandit_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-r", "shared", "functions", "-c", "pyproject.toml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
