"""Verifying bearer JWTs against a key set (PyJWT): loaded only when authentication is on."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import jwt

from shared.auth import Caller, Forbidden, Unauthenticated
from shared.schemas import MAX_IDENTIFIER_LENGTH, is_identifier
from shared.settings import Settings

log = logging.getLogger("orders.auth")


class KeySet:
    """Signing keys from a JWKS file (read once) or URL (fetched, then cached by PyJWT)."""

    def __init__(self, settings: Settings) -> None:
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if settings.auth_jwks_file:
            self._keys = jwt.PyJWKSet.from_json(Path(settings.auth_jwks_file).read_text())
        elif settings.auth_jwks_url:
            self._client = jwt.PyJWKClient(settings.auth_jwks_url, cache_keys=True, timeout=5)

    async def key_for(self, token: str) -> Any:
        try:
            if self._client is not None:
                # PyJWKClient fetches with urllib: off the event loop, once per key lifespan.
                found = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
                return found.key
            kid = jwt.get_unverified_header(token).get("kid")
            keys = self._keys.keys if self._keys is not None else []
            matching = [k for k in keys if kid is None or k.key_id == kid]
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("the key set cannot be fetched: %s", exc)
            raise Unauthenticated("the signing keys cannot be fetched right now") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"unusable token: {exc}") from None
        if not matching:
            raise Unauthenticated("no key matches the token's kid")
        return matching[0].key


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeySet(settings)

    async def caller_of(self, authorization: str | None) -> Caller:
        """Who the token acts for, or Unauthenticated, or Forbidden."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("a bearer token is required")
        token = token.strip()
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                await self.keys.key_for(token),
                algorithms=s.auth_algorithm_list,
                audience=s.auth_audience,
                issuer=s.auth_issuer,
                options={"require": ["exp", "aud"]},
                leeway=s.auth_leeway_seconds,
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        return caller_from(claims, s)


def _scopes(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: RFC 9068's space-separated `scope`, or a list as some issuers send."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list):
        return [item for item in scope if isinstance(item, str)]
    return []


def caller_from(claims: dict[str, Any], settings: Settings) -> Caller:
    """The service grant, else exactly one well-formed customer; anything else acts for no one."""
    if settings.auth_service_scope in _scopes(claims):
        subject = claims.get("sub")
        return Caller(None, subject if isinstance(subject, str) else "")
    customer = claims.get(settings.auth_customer_claim)
    if is_identifier(customer):
        return Caller(customer)
    raise Forbidden(
        f"the token names no valid customer (claim {settings.auth_customer_claim}: 1 to "
        f"{MAX_IDENTIFIER_LENGTH} of A-Z a-z 0-9 . _ : @ -) and lacks the "
        f"{settings.auth_service_scope!r} scope"
    )
