"""Schemathesis against the served function's own /openapi.json: examples, coverage, fuzzing
and stateful runs along the document's links (create -> read / replace / delete).

No answer may be a 5xx, every answer must match the document (status codes, headers, bodies,
content types), bad input must be refused and good input accepted. FUZZ_EXAMPLES sets the
cases per operation (`make fuzz` raises it)."""

import os
import subprocess
import sys
from pathlib import Path

from tests.support import served_function

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))


def test_the_api_holds_to_its_document_under_fuzzing(
    database_url: str, broker: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker, "LOG_LEVEL": "ERROR"}
    schemathesis = Path(sys.executable).parent / "st"
    with served_function("orders_http", env) as url:
        run = subprocess.run(
            [
                str(schemathesis),
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                os.environ.get("FUZZ_SEED", "20261127"),
                "--generation-database",
                "none",
                "--workers",
                "2",
                "--request-timeout",
                "10",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            timeout=1800,
        )
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
