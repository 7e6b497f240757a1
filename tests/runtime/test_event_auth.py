"""Only their sources may fire the event functions: with EVENT_AUTH_* set, confirm, ship and
outbox_relay (each its own served process) take a CloudEvent only with a token of the right
issuer, key, audience and subject, as Knative Eventing's OIDC sources send them."""

import http.server
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.local.signing import LocalIssuer, event_function_env, source_subject
from tests.support import (
    binary_headers,
    created_event,
    free_port,
    order_body,
    served_function,
    unpublish,
)
from tests.system import LocalSystem

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "serving.knative.dev/service/orders/confirm"
RELAY_AUDIENCE = "serving.knative.dev/service/orders/outbox-relay"
SOURCE = source_subject("orders", "confirm-on-created", "KafkaSource")
PING = source_subject("orders", "outbox-relay-tick", "PingSource")


class ClusterIssuer:
    """A key pair standing in for the API server's service-account signing key."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def token(self, expires_in: float = 300, **claims: Any) -> str:
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": SOURCE,
            "exp": int(time.time() + expires_in),
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def cluster() -> ClusterIssuer:
    return ClusterIssuer("cluster-key")


@pytest.fixture(scope="module")
def jwks_file(cluster: ClusterIssuer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(cluster.jwks()))
    return path


def _checked(jwks: Path, audience: str, subject: str) -> dict[str, str]:
    return {
        "EVENT_AUTH_JWKS_FILE": str(jwks),
        "EVENT_AUTH_AUDIENCE": audience,
        "EVENT_AUTH_ISSUER": ISSUER,
        "EVENT_AUTH_SUBJECTS": subject,
        "EVENT_AUTH_LEEWAY_SECONDS": "0",
    }


@pytest.fixture(scope="module")
def served(database_url: str, broker: str, jwks_file: Path) -> Iterator[dict[str, str]]:
    """orders_http (no auth), and confirm and outbox_relay with the sender check on."""
    base = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "CONFIRM_DELAY_SECONDS": "0",
        "RELAY_MIN_AGE_SECONDS": "0",
    }
    with (
        served_function("orders_http", base) as http_url,
        served_function("confirm", {**base, **_checked(jwks_file, AUDIENCE, SOURCE)}) as confirm,
        served_function(
            "outbox_relay", {**base, **_checked(jwks_file, RELAY_AUDIENCE, PING)}
        ) as relay,
    ):
        yield {"orders_http": http_url, "confirm": confirm, "outbox_relay": relay}


def _status(served: dict[str, str], order_id: str) -> str:
    status: str = httpx.get(f"{served['orders_http']}/{order_id}").json()["status"]
    return status


async def _created_order(
    served: dict[str, str], db: asyncpg.Connection
) -> tuple[str, dict[str, str], bytes]:
    order_id = httpx.post(f"{served['orders_http']}/", json=order_body()).json()["id"]
    headers, body = await created_event(db, order_id)
    return order_id, headers, body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_routes_stay_open(served: dict[str, str]) -> None:
    for url in (served["confirm"], served["outbox_relay"]):
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200


async def test_an_event_without_a_token_is_refused_and_moves_nothing(
    served: dict[str, str], db: asyncpg.Connection
) -> None:
    order_id, headers, body = await _created_order(served, db)
    answer = httpx.post(f"{served['confirm']}/", content=body, headers=headers, timeout=30)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["status"] == 401
    assert _status(served, order_id) == "CREATED"


def _foreign_key(cluster: ClusterIssuer) -> str:
    # The same kid, another key: only the signature tells them apart.
    return ClusterIssuer(cluster.kid).token()


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("signed by another key", _foreign_key),
        ("another audience", lambda c: c.token(aud=RELAY_AUDIENCE)),
        ("expired", lambda c: c.token(expires_in=-5)),
        ("another issuer", lambda c: c.token(iss="https://evil.example")),
        ("another sender", lambda c: c.token(sub=PING)),
        (
            "no expiry",
            lambda c: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": SOURCE},
                c.key,
                algorithm="ES256",
                headers={"kid": c.kid},
            ),
        ),
        ("not a bearer token", lambda c: None),
        (
            "an RSA algorithm against the EC key",
            lambda c: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": SOURCE, "exp": int(time.time()) + 60},
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                algorithm="RS256",
                headers={"kid": c.kid},
            ),
        ),
    ],
)
async def test_a_bad_token_is_refused_and_moves_nothing(
    served: dict[str, str], db: asyncpg.Connection, cluster: ClusterIssuer, case: str, token: Any
) -> None:
    order_id, headers, body = await _created_order(served, db)
    made = token(cluster)
    authorization = {"Authorization": f"Basic {cluster.token()}"} if made is None else _bearer(made)
    answer = httpx.post(
        f"{served['confirm']}/", content=body, headers={**headers, **authorization}, timeout=30
    )
    assert answer.status_code == 401, case
    assert answer.headers["content-type"] == "application/problem+json"
    assert _status(served, order_id) == "CREATED"


async def test_the_source_token_fires_the_step(
    served: dict[str, str], db: asyncpg.Connection, cluster: ClusterIssuer
) -> None:
    order_id, headers, body = await _created_order(served, db)
    answer = httpx.post(
        f"{served['confirm']}/",
        content=body,
        headers={**headers, **_bearer(cluster.token())},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert _status(served, order_id) == "CONFIRMED"


def _ping_headers() -> dict[str, str]:
    return binary_headers(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/orders/pingsources/outbox-relay-tick",
        }
    )


async def _unpublished_row(served: dict[str, str], db: asyncpg.Connection) -> str:
    """An order whose created event missed its first publish (as if the broker had been down)."""
    order_id: str = httpx.post(f"{served['orders_http']}/", json=order_body()).json()["id"]
    await unpublish(db, order_id)
    return order_id


async def _published(db: asyncpg.Connection, order_id: str) -> bool:
    value = await db.fetchval(
        "SELECT published_at IS NOT NULL FROM outbox WHERE order_id = $1::uuid", order_id
    )
    return bool(value)


async def test_a_forged_ping_sweeps_nothing(
    served: dict[str, str], db: asyncpg.Connection, cluster: ClusterIssuer
) -> None:
    order_id = await _unpublished_row(served, db)
    relay = f"{served['outbox_relay']}/"
    body = b'{"reason": "outbox sweep"}'
    forged = httpx.post(relay, content=body, headers=_ping_headers(), timeout=30)
    assert forged.status_code == 401
    # A token for the confirm step does not fire the relay either.
    misdirected = {**_ping_headers(), **_bearer(cluster.token(sub=PING))}
    assert httpx.post(relay, content=body, headers=misdirected, timeout=30).status_code == 401
    assert not await _published(db, order_id)
    ping = {**_ping_headers(), **_bearer(cluster.token(aud=RELAY_AUDIENCE, sub=PING))}
    assert httpx.post(relay, content=body, headers=ping, timeout=60).status_code == 200
    assert await _published(db, order_id)


class _ApiServerKeys(http.server.BaseHTTPRequestHandler):
    """The API server's /openid/v1/jwks: served over TLS, only to a bearer of `token`."""

    document = b""
    token = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


async def test_keys_come_from_the_api_server_with_its_ca_and_the_pod_token(
    database_url: str,
    broker: str,
    db: asyncpg.Connection,
    cluster: ClusterIssuer,
    tmp_path: Path,
) -> None:
    authority = trustme.CA()
    ca_file = tmp_path / "ca.crt"
    authority.cert_pem.write_to_path(str(ca_file))
    pod_token = tmp_path / "token"
    pod_token.write_text("pod-service-account-token\n")

    class Keys(_ApiServerKeys):
        document = json.dumps(cluster.jwks()).encode()
        token = "pod-service-account-token"

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker}
    checked = {
        **base,
        "CONFIRM_DELAY_SECONDS": "0",
        "EVENT_AUTH_JWKS_URL": f"https://127.0.0.1:{server.server_port}/openid/v1/jwks",
        "EVENT_AUTH_JWKS_CA_FILE": str(ca_file),
        "EVENT_AUTH_JWKS_TOKEN_FILE": str(pod_token),
        "EVENT_AUTH_AUDIENCE": AUDIENCE,
        "EVENT_AUTH_ISSUER": ISSUER,
    }
    try:
        with (
            served_function("orders_http", base) as http_url,
            served_function("confirm", checked) as confirm,
        ):
            order_id = httpx.post(f"{http_url}/", json=order_body()).json()["id"]
            headers, body = await created_event(db, order_id)
            refused = httpx.post(
                f"{confirm}/", content=body, headers={**headers, **_bearer(_foreign_key(cluster))}
            )
            assert refused.status_code == 401
            assert httpx.get(f"{http_url}/{order_id}").json()["status"] == "CREATED"
            answer = httpx.post(
                f"{confirm}/", content=body, headers={**headers, **_bearer(cluster.token())}
            )
            assert answer.status_code == 200, answer.text
            assert httpx.get(f"{http_url}/{order_id}").json()["status"] == "CONFIRMED"
    finally:
        server.shutdown()


async def test_keys_out_of_reach_are_a_503_the_source_retries(
    database_url: str, broker: str, db: asyncpg.Connection, cluster: ClusterIssuer
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "EVENT_AUTH_JWKS_URL": f"http://127.0.0.1:{free_port()}/openid/v1/jwks",
        "EVENT_AUTH_AUDIENCE": AUDIENCE,
        "EVENT_AUTH_ISSUER": ISSUER,
        "RETRY_AFTER_SECONDS": "3",
    }
    with served_function("confirm", env) as confirm:
        answer = httpx.post(
            f"{confirm}/", content=b"{}", headers={**_ping_headers(), **_bearer(cluster.token())}
        )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "3"


def test_the_check_needs_an_audience_and_an_issuer() -> None:
    from pydantic import ValidationError

    from shared.settings import Settings

    with pytest.raises(ValidationError, match="EVENT_AUTH_AUDIENCE and EVENT_AUTH_ISSUER"):
        Settings(event_auth_jwks_file="jwks.json", event_auth_audience=AUDIENCE)
    with pytest.raises(ValidationError, match="EVENT_AUTH_AUDIENCE and EVENT_AUTH_ISSUER"):
        Settings(event_auth_jwks_url="https://kubernetes.default.svc/openid/v1/jwks")
    assert not Settings().event_auth_enabled


async def test_the_local_sources_sign_every_delivery_end_to_end(
    database_url: str, broker: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """orders_http -> confirm -> ship with both checks on, fed by the local KafkaSources, and
    an outbox row the local PingSource's relay sweep publishes: every delivery carried a token
    the functions accepted, while an unsigned event is still refused."""
    issuer = LocalIssuer.create(tmp_path / "eventing")
    checks = event_function_env(issuer)
    assert set(checks) == {"confirm", "ship", "outbox_relay"}
    system = LocalSystem(database_url, broker, CONFIRM_DELAY_SECONDS="0", SHIP_DELAY_SECONDS="0")
    system.function_env = checks
    system.dispatcher_env = issuer.dispatcher_env()
    with system:
        [order_id] = [
            httpx.post(f"{system.url('orders_http')}/", json=order_body(), timeout=30).json()["id"]
        ]
        system.wait_for_status([order_id], "SHIPPED", within=60)
        headers, body = await created_event(db, order_id)
        unsigned = httpx.post(f"{system.url('confirm')}/", content=body, headers=headers)
        assert unsigned.status_code == 401
        await db.execute(
            "UPDATE outbox SET published_at = NULL WHERE order_id = $1::uuid", order_id
        )
        deadline = time.monotonic() + 30
        while not await _all_published(db, order_id):
            assert time.monotonic() < deadline, "the relay never published the row"
            time.sleep(0.2)


async def _all_published(db: asyncpg.Connection, order_id: str) -> bool:
    value = await db.fetchval(
        "SELECT bool_and(published_at IS NOT NULL) FROM outbox WHERE order_id = $1::uuid",
        order_id,
    )
    return bool(value)
