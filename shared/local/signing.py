"""Locally, the cluster's OIDC issuer: a key pair made at each start, its public JWKS for the
event functions, and tokens the eventing stand-in presents as Knative's sources would.

Knative mints a source's token for the service account it makes per source and for the
audience in the source's `spec.sink.audience`; the stand-in signs the same claims.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

LOCAL_ISSUER = "https://eventing.orders.localhost"
ALGORITHM = "ES256"
TOKEN_LIFETIME_SECONDS = 600
SOURCES_GROUP = "sources.knative.dev"


def source_subject(namespace: str, name: str, kind: str) -> str:
    """The `sub` of a source's token: the service account Knative (1.20) makes per source,
    `<name>-oidc-<group>-<kind>` (names too long for that are hashed there; not needed here)."""
    account = f"{name}-oidc-{SOURCES_GROUP}-{kind}".lower()
    return f"system:serviceaccount:{namespace}:{account}"


def _kid(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class LocalIssuer:
    """Where `make dev` keeps the key pair: the private key (owner-only) and the public JWKS."""

    key_file: Path
    jwks_file: Path

    @classmethod
    def create(cls, directory: Path) -> "LocalIssuer":
        """A fresh key pair: nothing signed by an earlier run stays valid."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)
        issuer = cls(directory / "signing-key.pem", directory / "jwks.json")
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        issuer.key_file.unlink(missing_ok=True)
        # Created owner-only, never readable by others even for a moment.
        fd = os.open(issuer.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        jwk = {**public, "kid": _kid(private.public_key()), "use": "sig", "alg": ALGORITHM}
        issuer.jwks_file.write_text(json.dumps({"keys": [jwk]}))
        return issuer

    def function_env(self, audience: str, subjects: list[str]) -> dict[str, str]:
        """The settings that turn the check on in one event function."""
        return {
            "EVENT_AUTH_JWKS_FILE": str(self.jwks_file),
            "EVENT_AUTH_ISSUER": LOCAL_ISSUER,
            "EVENT_AUTH_AUDIENCE": audience,
            "EVENT_AUTH_SUBJECTS": ",".join(subjects),
        }

    def dispatcher_env(self) -> dict[str, str]:
        """The settings that have the eventing stand-in sign its deliveries."""
        return {
            "EVENT_AUTH_SIGNING_KEY_FILE": str(self.key_file),
            "EVENT_AUTH_ISSUER": LOCAL_ISSUER,
        }


class TokenMinter:
    """Signs source tokens, each reused until a minute before it expires (as Knative caches)."""

    def __init__(self, key_file: str, issuer: str) -> None:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an EC private key")
        self._key = key
        self._kid = _kid(key.public_key())
        self._issuer = issuer
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}

    def token(self, audience: str, subject: str) -> str:
        now = time.time()
        cached = self._cache.get((audience, subject))
        if cached is not None and cached[1] - 60 > now:
            return cached[0]
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": audience,
            "sub": subject,
            "iat": int(now),
            "exp": int(now + TOKEN_LIFETIME_SECONDS),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        self._cache[(audience, subject)] = (token, now + TOKEN_LIFETIME_SECONDS)
        return token


def event_function_env(issuer: LocalIssuer) -> dict[str, dict[str, str]]:
    """Function target -> the settings that turn its check on, read from the manifests: the
    audience its Knative Service verifies, and the service accounts of the sources firing it."""
    from shared.local.manifests import kafka_sources, ping_sources, service_env
    from shared.local.topology import FUNCTIONS

    senders = [
        (s.sink_service, source_subject(s.namespace, s.name, "KafkaSource"))
        for s in kafka_sources()
    ]
    senders += [
        (s.sink_service, source_subject(s.namespace, s.name, "PingSource")) for s in ping_sources()
    ]
    envs = service_env()
    found: dict[str, dict[str, str]] = {}
    for function in FUNCTIONS:
        audience = envs.get(function.service_name, {}).get("EVENT_AUTH_AUDIENCE")
        if audience:
            subjects = [sub for sink, sub in senders if sink == function.service_name]
            found[function.target] = issuer.function_env(audience, subjects)
    return found
