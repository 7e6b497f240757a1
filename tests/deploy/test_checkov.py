"""checkov on the deploy files: no failed check (an accepted one is suppressed inline, with its reason)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

TARGETS = [["-d", "terraform"], ["-d", "knative"], ["-f", "Dockerfile"]]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t[1])
def test_checkov_finds_nothing_unexplained(target: list[str]) -> None:
    checkov = Path(sys.executable).parent / "checkov"
    result = subprocess.run(
        [str(checkov), *target, "--skip-download", "--quiet", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            "PATH": str(checkov.parent),
            "HOME": str(ROOT),
            "BC_SKIP_MAPPING": "TRUE",
            "LOG_LEVEL": "ERROR",
        },
    )
    reports = json.loads(result.stdout)
    for report in reports if isinstance(reports, list) else [reports]:
        summary = report["summary"]
        failed = [
            (c["check_id"], c["resource"], c["file_path"])
            for c in report["results"]["failed_checks"]
        ]
        assert failed == []
        assert summary["parsing_errors"] == 0
        assert summary["passed"] > 0
