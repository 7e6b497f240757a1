"""The image, checked without Docker: hadolint; its exact start command run here for every
function, answering its health routes; and what it holds: the files .dockerignore keeps (no
shared/local) and the production dependencies (not the dev-only aiohttp and pyyaml)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from shared.local.topology import FUNCTIONS
from tests.support import ROOT, free_port, wait_until_answering

DOCKERFILE = ROOT / "Dockerfile"
DEV_ONLY_PACKAGES = {"aiohttp", "pyyaml"}


def _final_stage() -> list[str]:
    stages = re.split(r"(?m)^FROM ", DOCKERFILE.read_text())
    return stages[-1].splitlines()


def start_command() -> list[str]:
    [cmd] = [line for line in _final_stage() if line.startswith("CMD ")]
    command: list[str] = json.loads(cmd.removeprefix("CMD "))
    return command


def image_env() -> dict[str, str]:
    text = "\n".join(_final_stage()).replace("\\\n", " ")
    [env] = [line for line in text.splitlines() if line.startswith("ENV ")]
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', env)}


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_stage_runs_as_non_root_without_uv() -> None:
    final = "\n".join(_final_stage())
    assert re.search(r"(?m)^USER 10001$", final)
    assert "uv" not in re.findall(r"(?m)^RUN .*", final)[0].split()
    assert image_env()["FUNCTION_TARGET"] == "orders_http"
    assert "PORT" in image_env()


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.target)
def test_the_image_start_command_serves_each_function(function: object, database_url: str) -> None:
    target = function.target  # type: ignore[attr-defined]
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **image_env(),
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
        "FUNCTION_TARGET": target,
        "PORT": str(port),
        "DATABASE_URL": database_url,
    }
    process = subprocess.Popen(start_command(), env=env, cwd=ROOT)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", process=process)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM), "SIGTERM must stop a function"


def test_the_migration_command_is_the_console_script() -> None:
    assert start_command()[0] == "orders"
    assert shutil.which("orders", path=str(Path(sys.executable).parent)) is not None


def _dockerignore_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore line as Docker reads it: relative to the context, `**` any number of
    folders, `*` and `?` within one; a match on a folder leaves out all it holds."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    body = "".join(wildcards.get(part, re.escape(part)) for part in parts)
    return re.compile(f"{body}(?:/.*)?")


def _tracked() -> list[str]:
    return subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def image_files() -> set[str]:
    """The files `COPY . /app` puts in the image: those of the checkout .dockerignore keeps."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    kept = set()
    for path in _tracked():
        left_out = False
        for rule in rules:  # the last rule that matches decides, as in Docker
            exception = rule.startswith("!")
            if _dockerignore_pattern(rule.removeprefix("!")).fullmatch(path):
                left_out = not exception
        if not left_out:
            kept.add(path)
    return kept


def test_the_image_leaves_out_the_dev_only_code() -> None:
    files = image_files()
    assert {"shared/cli.py", "shared/runtime/serve.py", "functions/confirm/main.py"} <= files
    assert {"alembic.ini", "alembic/env.py", "pyproject.toml", "uv.lock"} <= files
    assert "shared/local/dev.py" in _tracked(), "what the image must leave out is in the checkout"
    assert sorted(f for f in files if f.startswith("shared/local/")) == []
    assert sorted(f for f in files if f.startswith(("tests/", "knative/", "terraform/"))) == []


def test_the_production_dependencies_leave_out_the_dev_only_packages() -> None:
    """aiohttp (the eventing stand-in's client) and pyyaml (the manifests' reader) serve
    shared/local only: they belong to the `local` group, which the image does not install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[^A-Za-z0-9._-]", r, maxsplit=1)[0].lower() for r in requirements}

    assert names(project["project"]["dependencies"]) & DEV_ONLY_PACKAGES == set()
    local = [r for r in project["dependency-groups"]["local"] if isinstance(r, str)]
    assert names(local) >= DEV_ONLY_PACKAGES
