"""Bearer-token authentication of the served HTTP function, with keys the tests generate."""

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import order_body, served_function

AUDIENCE = "orders-api"
SERVICE: dict[str, Any] = {
    "scope": "openid orders:all"
}  # the default AUTH_SERVICE_SCOPE grants every customer


class Issuer:
    """A key pair and the JWKS that publishes its public half."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, expires_in: float = 300, **claims: Any) -> str:
        body = {"aud": AUDIENCE, "exp": int(time.time() + expires_in), "sub": "tester", **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer("test-key")


@pytest.fixture(scope="module")
def served(
    issuer: Issuer, database_url: str, broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    keys = tmp_path_factory.mktemp("jwks") / "jwks.json"
    keys.write_text(json.dumps(issuer.jwks()))
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "AUTH_JWKS_FILE": str(keys),
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_LEEWAY_SECONDS": "0",
    }
    with served_function("orders_http", env) as url:
        yield url


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/asyncapi.json",
        "/docs",
        "/docs/events",
        "/docs/static/swagger-ui.css",
    ],
)
def test_probes_and_the_api_description_need_no_token(served: str, path: str) -> None:
    assert httpx.get(f"{served}{path}").status_code == 200


@pytest.mark.parametrize("path", ["/", "/metrics", "/00000000-0000-0000-0000-000000000000"])
def test_every_other_route_needs_a_token(served: str, path: str) -> None:
    answer = httpx.get(f"{served}{path}")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_document_declares_the_bearer_scheme(served: str, issuer: Issuer) -> None:
    document = httpx.get(f"{served}/openapi.json", headers=_bearer(issuer.token(**SERVICE))).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "401" in document["paths"]["/{order_id}"]["get"]["responses"]
    assert "403" in document["paths"]["/"]["post"]["responses"]
    assert document["paths"]["/healthz"]["get"]["security"] == []


def test_the_documents_are_served_to_a_token_too(served: str, issuer: Issuer) -> None:
    headers = _bearer(issuer.token(customer_id="alice"))
    for path in ("/openapi.json", "/asyncapi.json"):
        answer = httpx.get(f"{served}{path}", headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"] == "application/json"
    assert answer.json()["asyncapi"] == "3.0.0"
    assert httpx.head(f"{served}/asyncapi.json", headers=headers).status_code == 200


def test_a_valid_token_is_let_in(served: str, issuer: Issuer) -> None:
    answer = httpx.post(
        f"{served}/", json=order_body("svc"), headers=_bearer(issuer.token(**SERVICE))
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"customer_id": ""},
        {"customer_id": None},
        {"customer_id": 7},
        {"customer_id": ["alice"]},
        {"customer_id": "alice bob"},
        {"customer_id": "a" * 65},
        {"scope": "orders:allx"},
        {"scope": ["orders"]},
        {"scope": "x\u2003orders:all"},  # scopes are separated by spaces only (RFC 6749 3.3)
        {"scope": "x\torders:all"},
        {"scope": "orders:all", "sub": ""},  # the grant needs a subject to own its keys
    ],
)
def test_a_token_without_a_customer_or_the_service_grant_acts_for_no_one(
    served: str, issuer: Issuer, claims: dict[str, Any]
) -> None:
    headers = _bearer(issuer.token(**claims))
    for answer in (
        httpx.get(f"{served}/?limit=100", headers=headers),
        httpx.get(f"{served}/00000000-0000-0000-0000-000000000000", headers=headers),
        httpx.post(f"{served}/", json=order_body("alice"), headers=headers),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_token_for_another_kind_of_key_is_refused_not_a_500(served: str, issuer: Issuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = jwt.encode(
        {"aud": AUDIENCE, "exp": int(time.time()) + 60, "scope": "orders:all", "sub": "x"},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": issuer.kid},
    )
    answer = httpx.get(f"{served}/?limit=1", headers=_bearer(other))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_two_authorization_headers_are_refused(served: str, issuer: Issuer) -> None:
    good = f"Bearer {issuer.token(**SERVICE)}"
    for pair in ((good, "Bearer nonsense"), ("Bearer nonsense", good), (good, good)):
        headers = [("Authorization", value) for value in pair]
        answer = httpx.get(f"{served}/?limit=1", headers=headers)
        assert answer.status_code == 401, pair


def test_metrics_need_the_service_grant(served: str, issuer: Issuer) -> None:
    customer = httpx.get(f"{served}/metrics", headers=_bearer(issuer.token(customer_id="alice")))
    assert customer.status_code == 403
    service = httpx.get(f"{served}/metrics", headers=_bearer(issuer.token(**SERVICE)))
    assert service.status_code == 200
    assert service.text.startswith("# HELP")


def test_idempotency_keys_belong_to_their_caller(served: str, issuer: Issuer) -> None:
    alice = _bearer(issuer.token(customer_id="alice"))
    bob = _bearer(issuer.token(customer_id="bob"))
    service = _bearer(issuer.token(**SERVICE))
    key = {"Idempotency-Key": "shared-key-1"}
    first = httpx.post(f"{served}/", json=order_body("alice"), headers={**alice, **key})
    # Bob's key is his own: another body is no reuse, and he learns nothing of Alice's.
    other = httpx.post(f"{served}/", json=order_body("bob"), headers={**bob, **key})
    by_service = httpx.post(f"{served}/", json=order_body("carol"), headers={**service, **key})
    assert (first.status_code, other.status_code, by_service.status_code) == (201, 201, 201)
    assert len({first.json()["id"], other.json()["id"], by_service.json()["id"]}) == 3
    again = httpx.post(f"{served}/", json=order_body("alice"), headers={**alice, **key})
    assert (again.status_code, again.json()) == (201, first.json())
    changed = order_body("bob", items=[{"sku": "X", "quantity": 1, "unit_price_cents": 1}])
    reused = httpx.post(f"{served}/", json=changed, headers={**bob, **key})
    assert reused.json()["type"] == "urn:orders:problem:idempotency-key-reused"


@pytest.mark.parametrize(
    "problem",
    ["expired", "wrong audience", "other key", "no expiry", "not a jwt", "basic scheme"],
)
def test_bad_tokens_are_refused(served: str, issuer: Issuer, problem: str) -> None:
    stranger = Issuer(issuer.kid)  # same kid, another key: the signature cannot verify
    tokens = {
        "expired": issuer.token(expires_in=-60),
        "wrong audience": issuer.token(aud="someone-else"),
        "other key": stranger.token(),
        "no expiry": jwt.encode(
            {"aud": AUDIENCE}, issuer.key, "RS256", headers={"kid": issuer.kid}
        ),
        "not a jwt": "abc.def.ghi",
    }
    headers = (
        {"Authorization": "Basic dTpw"} if problem == "basic scheme" else _bearer(tokens[problem])
    )
    answer = httpx.post(f"{served}/", json=order_body("svc"), headers=headers)
    assert answer.status_code == 401, answer.text
    assert "Bearer" in answer.headers["www-authenticate"]


def test_a_customer_token_sees_and_changes_only_its_own_orders(served: str, issuer: Issuer) -> None:
    alice, bob = (
        _bearer(issuer.token(customer_id="alice")),
        _bearer(issuer.token(customer_id="bob")),
    )
    service = _bearer(issuer.token(**SERVICE))
    mine = httpx.post(f"{served}/", json=order_body("alice"), headers=alice).json()
    assert httpx.post(f"{served}/", json=order_body("bob"), headers=alice).status_code == 403
    theirs = httpx.post(f"{served}/", json=order_body("bob"), headers=bob).json()

    assert httpx.get(f"{served}/{mine['id']}", headers=alice).status_code == 200
    assert httpx.get(f"{served}/{theirs['id']}", headers=alice).status_code == 404
    assert (
        httpx.put(f"{served}/{theirs['id']}", json=order_body("alice"), headers=alice).status_code
        == 404
    )
    assert (
        httpx.put(f"{served}/{mine['id']}", json=order_body("bob"), headers=alice).status_code
        == 403
    )
    assert httpx.delete(f"{served}/{theirs['id']}", headers=alice).status_code == 404
    listed = httpx.get(f"{served}/?limit=100", headers=alice).json()["items"]
    assert {order["customer_id"] for order in listed} == {"alice"}
    assert httpx.get(f"{served}/?customer_id=bob", headers=alice).status_code == 403

    # Bob's order is untouched, and a service token (no customer) sees it.
    assert httpx.get(f"{served}/{theirs['id']}", headers=service).json() == theirs
    assert httpx.delete(f"{served}/{mine['id']}", headers=alice).status_code == 204


def test_keys_can_come_from_a_jwks_url(issuer: Issuer, database_url: str, broker: str) -> None:
    document = json.dumps(issuer.jwks()).encode()

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "AUTH_JWKS_URL": f"http://127.0.0.1:{server.server_port}/jwks.json",
        "AUTH_AUDIENCE": AUDIENCE,
    }
    try:
        with served_function("orders_http", env) as url:
            ok = httpx.get(f"{url}/?limit=1", headers=_bearer(issuer.token(**SERVICE)))
            other = Issuer("other").token(**SERVICE)
            refused = httpx.get(f"{url}/?limit=1", headers=_bearer(other))
    finally:
        server.shutdown()
    assert ok.status_code == 200
    assert refused.status_code == 401


def test_auth_without_an_audience_is_refused_at_start() -> None:
    from pydantic import ValidationError

    from shared.settings import Settings

    with pytest.raises(ValidationError, match="AUTH_AUDIENCE"):
        Settings(auth_jwks_file=str(Path("/nonexistent")))
