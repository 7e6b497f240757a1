"""Optional bearer-token authentication for the HTTP API.

On when AUTH_JWKS_URL or AUTH_JWKS_FILE is set. Every request but the health routes then needs
`Authorization: Bearer <JWT>` whose signature verifies against the key set, and whose `exp`,
`aud` (AUTH_AUDIENCE) and, when set, `iss` (AUTH_ISSUER) hold (`shared/runtime/tokens.py`).
Tenancy is by explicit grant: a token acts for every customer only when its `scope` claim carries
AUTH_SERVICE_SCOPE; any other token must name one customer (claim AUTH_CUSTOMER_CLAIM) and acts
for that customer alone, and a token that does neither is refused. `/metrics` needs the grant.
This module stays free of the JWT library, so a function without authentication never imports it.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.domain.schemas import MAX_IDENTIFIER_LENGTH, is_identifier
from shared.runtime.problems import problem
from shared.settings import Settings

# The probes, and the API's description: the documents and the page to browse them (what the
# API is, not what it holds).
OPEN_PATHS = ("/healthz", "/readyz", "/openapi.json", "/asyncapi.json", "/docs", "/docs/events")
OPEN_PREFIXES = ("/docs/static/",)
SERVICE_PATHS = ("/metrics",)
CALLER = "orders.caller"  # the scope key handlers read the caller from


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a verified token acts for: one customer, or (with the service grant) all of them."""

    customer: str | None
    subject: str = ""  # a service's `sub`

    @property
    def is_service(self) -> bool:
        return self.customer is None


def owned_key(caller: Caller | None, key: str) -> str:
    """`key` in its caller's own namespace (`anyone` without authentication): one tenant can
    neither see nor claim another's keys. A JSON pair, so no key or subject spells another's."""
    if caller is None:
        owner = "anyone"
    elif caller.customer is None:
        owner = f"service:{caller.subject}"
    else:
        owner = f"customer:{caller.customer}"
    return orjson.dumps([owner, key]).decode()


class Unauthenticated(Exception):
    """The request carries no token this service accepts (the reason is safe to show)."""


class Forbidden(Exception):
    """A valid token that grants nothing here (the reason is safe to show)."""


def _scopes(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: RFC 9068's `scope`, separated by spaces (%x20 only: RFC 6749 3.3),
    or a list as some issuers send."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split(" ")
    if isinstance(scope, list):
        return [item for item in scope if isinstance(item, str)]
    return []


def caller_from(claims: dict[str, Any], settings: Settings) -> Caller:
    """The service grant, else exactly one well-formed customer; anything else acts for no one."""
    subject = claims.get("sub")
    if settings.auth_service_scope in _scopes(claims):
        # The subject names the service's own Idempotency-Keys: one without is refused.
        if isinstance(subject, str) and subject:
            return Caller(None, subject)
        raise Forbidden(f"a token with the {settings.auth_service_scope!r} scope needs a sub")
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


def authorization_of(scope: Scope) -> str | None:
    """The request's one `Authorization` header: with two, a proxy in front and this service
    could each read a different one."""
    values = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
    if len(values) > 1:
        raise Unauthenticated("a request carries one Authorization header, not several")
    return (values[0].decode("latin-1") or None) if values else None


def refusal(reason: Unauthenticated, authorization: str | None) -> Response:
    """401 with the challenge RFC 6750 asks for: `invalid_token` once a token was sent."""
    challenge = 'Bearer error="invalid_token"' if authorization else "Bearer"
    headers = {"WWW-Authenticate": challenge}
    return problem(401, "unauthenticated", "Unauthorized", str(reason), headers=headers)


class RequireToken:
    """ASGI middleware: answers 401 unless the request carries a valid token, and 403 when the
    token grants nothing or the route needs the service grant."""

    def __init__(self, app: ASGIApp, authenticator: TokenCheck) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        authorization = None
        try:
            authorization = authorization_of(scope)
            caller = await self.authenticator.caller_of(authorization)
            if scope["path"] in SERVICE_PATHS and not caller.is_service:
                raise Forbidden(f"{scope['path']} is for service tokens only")
        except Unauthenticated as exc:
            await refusal(exc, authorization)(scope, receive, send)
            return
        except Forbidden as exc:
            await problem(403, "forbidden", "Forbidden", str(exc))(scope, receive, send)
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)
