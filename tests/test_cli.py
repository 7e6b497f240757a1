"""The console script where shared/local is absent, as in the image: each dev-only command ends
in one line that says so, not a traceback, and the production commands do not need it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.fixture(scope="module")
def without_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's packages as the image has them: shared/ without shared/local."""
    copy = tmp_path_factory.mktemp("image")
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "shared", copy / "shared", ignore=skip)
    shutil.rmtree(copy / "shared" / "local")
    shutil.copytree(ROOT / "functions", copy / "functions", ignore=skip)
    return copy


def _run(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # `-c` puts the working folder first on the path: the copy, not the checkout, is imported.
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", ["dev", "dispatch", "watch"])
def test_a_dev_only_command_without_shared_local_ends_in_one_line(
    command: str, without_local: Path
) -> None:
    code = "import sys, shared.cli; sys.exit(shared.cli.main(sys.argv[1:]))"
    result = _run(code, command, cwd=without_local)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"orders {command}: a dev-only command, and this installation has no shared.local"
        " (run it from a checkout: make dev)"
    ]


def test_the_production_modules_import_without_shared_local(without_local: Path) -> None:
    code = (
        "import shared.cli, shared.runtime.serve, shared.store.migrate, shared.flows.relay\n"
        "import functions.orders_http.main, functions.confirm.main, functions.ship.main\n"
        "import functions.outbox_relay.main\n"
        "import shared\n"
        "assert shared.__file__.startswith(sys.argv[1]), shared.__file__\n"
    )
    result = _run("import sys\n" + code, str(without_local), cwd=without_local)
    assert result.returncode == 0, result.stderr
