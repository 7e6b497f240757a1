"""No secret reaches the logs: a full run at DEBUG, with a database password, a Kafka SASL
password and bearer tokens in play, through errors and a database outage, leaves none of them
in the output of any process."""

import json
import time
from pathlib import Path

import httpx

from shared.local.postgres import EmbeddedPostgres
from tests.orders_http.test_auth import AUDIENCE, Issuer
from tests.support import migrated_postgres, order_body
from tests.system import LocalSystem

SASL_PASSWORD = "sasl-SECRET-0815"


def test_a_full_run_logs_no_secret(tmp_path: Path, broker: str) -> None:
    with migrated_postgres() as postgres:
        _full_run(postgres, tmp_path, broker)


def _full_run(postgres: EmbeddedPostgres, tmp_path: Path, broker: str) -> None:
    # The embedded database's superuser password, generated for its data folder, is in its URL.
    dsn = postgres.dsn("orders")
    issuer = Issuer("log-scan")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(issuer.jwks()))
    log = tmp_path / "run.log"
    settings = {
        "LOG_LEVEL": "DEBUG",
        "CONFIRM_DELAY_SECONDS": "0",
        "SHIP_DELAY_SECONDS": "0",
        "KAFKA_SASL_PASSWORD": SASL_PASSWORD,
        "AUTH_JWKS_FILE": str(keys),
        "AUTH_AUDIENCE": AUDIENCE,
    }
    token = issuer.token(customer_id="c-1")
    forged = Issuer("log-scan").token(customer_id="c-1")
    bearer = {"Authorization": f"Bearer {token}"}
    system = LocalSystem(dsn, broker, **settings)
    system.log = log
    with system as running:
        url = running.url("orders_http")
        order = httpx.post(f"{url}/", json=order_body(), headers=bearer).json()
        running.wait_for_status_with(bearer, [order["id"]], "SHIPPED")
        assert httpx.post(f"{url}/", json={"x": 1}, headers=bearer).status_code == 422
        assert (
            httpx.get(f"{url}/", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        )
        postgres.stop()
        assert httpx.get(f"{url}/{order['id']}", headers=bearer).status_code == 503
        assert httpx.get(f"{running.url('confirm')}/readyz").status_code == 503
        postgres.start()
        time.sleep(1)
        assert httpx.get(f"{url}/{order['id']}", headers=bearer).status_code == 200
    output = log.read_text(errors="replace")
    assert '"level":"DEBUG"' in output, "the run did not log at DEBUG: the scan proves little"
    for secret in (postgres.password, SASL_PASSWORD, token, forged):
        assert secret not in output
