"""Verifying bearer JWTs against a key set (PyJWT): loaded only when authentication is on.

Both checks use it: the API's (`Authenticator`, shared/runtime/auth.py) and the CloudEvent
functions' (shared/runtime/event_auth.py); each brings its own key set and rules.
"""

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from shared.runtime.auth import Caller, Unauthenticated, caller_from
from shared.settings import Settings

log = logging.getLogger("orders.auth")


class KeysUnavailable(Unauthenticated):
    """The key set cannot be fetched right now: a failure of ours, not the caller's token."""


class _JWKClient(jwt.PyJWKClient):
    """PyJWKClient that presents a bearer token read from a file at every fetch (the API
    server's JWKS wants the pod's service-account token, which the kubelet rotates)."""

    def __init__(self, url: str, ca_file: str | None, token_file: str | None) -> None:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        super().__init__(url, cache_keys=True, timeout=5, ssl_context=context)
        self._token_file = token_file

    def fetch_data(self) -> Any:
        if self._token_file:
            token = Path(self._token_file).read_text().strip()
            self.headers = {"Authorization": f"Bearer {token}"}
        return super().fetch_data()


class KeySet:
    """Signing keys from a JWKS file (read once) or URL (fetched, then cached by PyJWT)."""

    def __init__(
        self,
        jwks_file: str | None,
        jwks_url: str | None,
        *,
        ca_file: str | None = None,
        token_file: str | None = None,
    ) -> None:
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if jwks_file:
            self._keys = jwt.PyJWKSet.from_json(Path(jwks_file).read_text())
        elif jwks_url:
            self._client = _JWKClient(jwks_url, ca_file, token_file)

    async def key_for(self, token: str) -> Any:
        try:
            if self._client is not None:
                # PyJWKClient fetches with urllib: off the event loop, once per key lifespan.
                found = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
                return found.key
            kid = jwt.get_unverified_header(token).get("kid")
            keys = self._keys.keys if self._keys is not None else []
            matching = [k for k in keys if kid is None or k.key_id == kid]
        except (jwt.PyJWKClientConnectionError, OSError) as exc:
            log.warning("the key set cannot be fetched: %s", exc)
            raise KeysUnavailable("the signing keys cannot be fetched right now") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"unusable token: {exc}") from None
        if not matching:
            raise Unauthenticated("no key matches the token's kid")
        return matching[0].key


@dataclass(frozen=True)
class TokenRules:
    """What a token must hold beyond a good signature: `exp` and `aud` always."""

    algorithms: list[str]
    audience: str | None
    issuer: str | None
    leeway_seconds: int


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or Unauthenticated."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a bearer token is required")
    return token.strip()


async def verified_claims(token: str, keys: KeySet, rules: TokenRules) -> dict[str, Any]:
    """The token's claims once signature, `exp`, `aud` and (when set) `iss` hold."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            await keys.key_for(token),
            algorithms=rules.algorithms,
            audience=rules.audience,
            issuer=rules.issuer,
            options={"require": ["exp", "aud"]},
            leeway=rules.leeway_seconds,
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from None
    except (TypeError, ValueError):
        # An allowed algorithm of another key type than the key set's (an RS256 token against
        # an EC key): the crypto backend refuses the key itself, not through PyJWT's errors.
        raise Unauthenticated("invalid token: its algorithm does not fit the signing key") from None
    return claims


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeySet(settings.auth_jwks_file, settings.auth_jwks_url)

    async def caller_of(self, authorization: str | None) -> Caller:
        """Who the token acts for, or Unauthenticated, or Forbidden."""
        token = bearer_token(authorization)
        s = self.settings
        rules = TokenRules(
            s.auth_algorithm_list, s.auth_audience, s.auth_issuer, s.auth_leeway_seconds
        )
        return caller_from(await verified_claims(token, self.keys, rules), s)
