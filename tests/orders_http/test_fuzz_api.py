"""Schemathesis, every check, against the served function's own /openapi.json and the real
database: examples, coverage, fuzzing and stateful runs along the document's links (create ->
read / replace / delete, If-Match from the ETag).

No finding is allowed but those the README lists under "The HTTP API", each ruled by an RFC or
draft: the command excludes ensure_resource_availability, and schemathesis.toml lets
positive_data_acceptance take a 422 from createOrder and a 412 from replaceOrder and
deleteOrder. Those two are then held to their rulings here, from every exchange of the run: a
422 `validation-error` only for a body the document refuses, a 412 only for an If-Match that
does not name the order's version.

`make test` runs a few hundred cases at a fixed seed; `make fuzz` (FUZZ_SCHEMATHESIS=defaults)
runs the command as anyone would, schemathesis's defaults and a random seed: about a thousand.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs

from functions.orders_http.openapi import openapi_document
from shared.runtime.problems import PROBLEM_TYPE_BASE
from tests.orders_http.test_auth import AUDIENCE, Issuer
from tests.support import served_function

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The exclusion that cannot be made per operation (schemathesis.toml says why).
EXCLUDED_CHECKS = ("ensure_resource_availability",)
DEFAULTS = os.environ.get("FUZZ_SCHEMATHESIS") == "defaults"
EXAMPLES = 5
SEED = int(os.environ.get("FUZZ_SEED", "20261127"))


def schemathesis_command(url: str) -> list[str]:
    """The command the README gives, against `url`."""
    return [
        str(Path(sys.executable).parent / "st"),
        *("--config-file", str(CONFIG)),
        *("run", f"{url}/openapi.json", "--checks", "all"),
        *("--exclude-checks", ",".join(EXCLUDED_CHECKS)),
    ]


def _schemathesis(url: str, cwd: Path, seed: int, *options: str) -> list[dict[str, Any]]:
    """Run the command; every exchange it made (HAR entries)."""
    if not DEFAULTS:
        options = (*options, "--max-examples", str(EXAMPLES), "--seed", str(seed))
    reports = cwd / "reports"
    run = subprocess.run(
        [
            *schemathesis_command(url),
            *options,
            *("--report", "har", "--report-dir", str(reports), "--no-color"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=1800,
    )
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    (har,) = reports.glob("*.json")
    entries: list[dict[str, Any]] = json.loads(har.read_text())["log"]["entries"]
    return entries


def _header(message: dict[str, Any], name: str) -> str | None:
    return next((h["value"] for h in message["headers"] if h["name"].lower() == name), None)


def _problem_type(entry: dict[str, Any]) -> str:
    problem: dict[str, Any] = json.loads(entry["response"]["content"]["text"])
    return str(problem["type"]).removeprefix(PROBLEM_TYPE_BASE)


_AT_VERSION = re.compile(r"is at version (\d+)")
_TAG = re.compile(r'(W/)?"([^"]*)"')


def _misused_widenings(entries: list[dict[str, Any]]) -> list[str]:
    """The 422s and 412s the widened statuses let through that their rulings do not cover."""
    document = json.loads(openapi_document())
    order_in = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/OrderIn", "components": document["components"]}
    )
    wrong = []
    for entry in entries:
        request, status = entry["request"], entry["response"]["status"]
        said = f"{request['method']} {request['url']} -> {status}"
        if status == 422 and _problem_type(entry) == "validation-error":
            body = request.get("postData", {}).get("text", "")
            try:
                valid = order_in.is_valid(json.loads(body))
            except ValueError:
                valid = False
            if valid:
                wrong.append(f"{said}: a body the document allows was refused: {body[:500]}")
        if status == 412:
            at = _AT_VERSION.search(json.loads(entry["response"]["content"]["text"])["detail"])
            if_match = _header(request, "if-match") or ""
            strong = [tag for weak, tag in _TAG.findall(if_match) if not weak]
            if at is None or at.group(1) in strong:
                wrong.append(f"{said}: If-Match {if_match!r} names the order's version")
    return wrong


def _held_to_rulings(entries: list[dict[str, Any]]) -> None:
    statuses = {entry["response"]["status"] for entry in entries}
    print(f"{len(entries)} exchanges, statuses {sorted(statuses)}")
    assert not _misused_widenings(entries)


def test_the_api_holds_to_its_document_under_fuzzing(
    database_url: str, broker: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker, "LOG_LEVEL": "ERROR"}
    with served_function("orders_http", env) as url:
        _held_to_rulings(_schemathesis(url, tmp_path, SEED))


def test_with_authentication_on_too(database_url: str, broker: str, tmp_path: Path) -> None:
    """The same run through a bearer token; the `ignored_auth` check also sends none."""
    issuer = Issuer("fuzz")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(issuer.jwks()))
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "LOG_LEVEL": "ERROR",
        "AUTH_JWKS_FILE": str(keys),
        "AUTH_AUDIENCE": AUDIENCE,
    }
    token = issuer.token(expires_in=3600, scope="orders:all")
    with served_function("orders_http", env) as url:
        # Another seed: the same one would replay the first run's Idempotency-Keys, whose
        # orders that run may have deleted (a replay answers the first 201, as it should).
        entries = _schemathesis(
            url, tmp_path, SEED + 1, "--header", f"Authorization: Bearer {token}"
        )
        _held_to_rulings(entries)


def _exchange(method: str, status: int, problem: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {
        "request": {"method": method, "url": "http://orders/", "headers": [], **request},
        "response": {"status": status, "content": {"text": json.dumps(problem)}},
    }


def test_a_widened_status_is_held_to_its_ruling() -> None:
    valid = json.dumps(
        {"customer_id": "c", "items": [{"sku": "s", "quantity": 1, "unit_price_cents": 0}]}
    )
    refused = {"type": PROBLEM_TYPE_BASE + "validation-error"}
    stale = {
        "type": PROBLEM_TYPE_BASE + "version-mismatch",
        "detail": "order x is at version 3, ...",
    }
    if_match = [{"name": "If-Match", "value": 'W/"3", "3"'}]
    wrong = [
        _exchange("POST", 422, refused, postData={"text": valid}),
        _exchange("DELETE", 412, stale, headers=if_match),
    ]
    right = [
        _exchange("POST", 422, refused, postData={"text": valid.replace("0}", "-1}")}),
        _exchange("PUT", 422, refused, postData={"text": "{"}),
        _exchange("POST", 422, {"type": PROBLEM_TYPE_BASE + "idempotency-key-reused"}),
        _exchange("DELETE", 412, stale, headers=[{"name": "if-match", "value": 'W/"3", "4"'}]),
    ]
    assert len(_misused_widenings(wrong)) == 2
    assert _misused_widenings(right) == []
