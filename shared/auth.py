"""Optional bearer-token authentication for the HTTP API.

On when AUTH_JWKS_URL or AUTH_JWKS_FILE is set. Every request but the health routes then needs
`Authorization: Bearer <JWT>` whose signature verifies against the key set, and whose `exp`,
`aud` (AUTH_AUDIENCE) and, when set, `iss` (AUTH_ISSUER) hold (`shared/tokens.py`). Tenancy is
by explicit grant: a token acts for every customer only when its `scope` claim carries
AUTH_SERVICE_SCOPE; any other token must name one customer (claim AUTH_CUSTOMER_CLAIM) and acts
for that customer alone, and a token that does neither is refused. `/metrics` needs the grant.
This module stays free of the JWT library, so a function without authentication never imports it.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.problems import problem
from shared.schemas import MAX_IDENTIFIER_LENGTH, is_identifier
from shared.settings import Settings

OPEN_PATHS = ("/healthz", "/readyz")
SERVICE_PATHS = ("/metrics",)
CALLER = "orders.caller"  # the scope key handlers read the caller from


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a verified token acts for: one customer, or (with the service grant) all of them."""

    customer: str | None
    subject: str = ""

    @property
    def is_service(self) -> bool:
        return self.customer is None

    def own_key(self, key: str) -> str:
        """`key` in this caller's own namespace: one tenant can neither see nor claim another's
        keys. A JSON pair, so no choice of key or subject can spell another caller's."""
        owner = f"service:{self.subject}" if self.customer is None else f"customer:{self.customer}"
        return orjson.dumps([owner, key]).decode()


class Unauthenticated(Exception):
    """The request carries no token this service accepts (the reason is safe to show)."""


class Forbidden(Exception):
    """A valid token that grants nothing here (the reason is safe to show)."""


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


class TokenCheck(Protocol):
    async def caller_of(self, authorization: str | None) -> Caller:
        """Who the token acts for, or Unauthenticated, or Forbidden."""


class RequireToken:
    """ASGI middleware: answers 401 unless the request carries a valid token, and 403 when the
    token grants nothing or the route needs the service grant."""

    def __init__(self, app: ASGIApp, authenticator: TokenCheck) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        try:
            caller = await self.authenticator.caller_of(authorization)
            if scope["path"] in SERVICE_PATHS and not caller.is_service:
                raise Forbidden(f"{scope['path']} is for service tokens only")
        except Unauthenticated as exc:
            challenge = 'Bearer error="invalid_token"' if authorization else "Bearer"
            response = problem(
                401,
                "unauthenticated",
                "Unauthorized",
                str(exc),
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        except Forbidden as exc:
            await problem(403, "forbidden", "Forbidden", str(exc))(scope, receive, send)
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)
