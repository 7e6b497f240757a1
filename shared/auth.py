"""Optional bearer-token authentication for the HTTP API.

On when AUTH_JWKS_URL or AUTH_JWKS_FILE is set. Every request but the health routes then needs
`Authorization: Bearer <JWT>` whose signature verifies against the key set, and whose `exp`,
`aud` (AUTH_AUDIENCE) and, when set, `iss` (AUTH_ISSUER) hold (`shared/tokens.py`). A token that
names a customer (claim AUTH_CUSTOMER_CLAIM) scopes the caller to that customer's orders; one
that names none is a service's token and sees every order. This module stays free of the JWT
library, so a function without authentication never imports it.
"""

from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.problems import problem

OPEN_PATHS = ("/healthz", "/readyz")
CUSTOMER = "orders.customer"  # the scope key handlers read the caller's customer from


class Unauthenticated(Exception):
    """The request carries no token this service accepts (the reason is safe to show)."""


class TokenCheck(Protocol):
    async def customer_of(self, authorization: str | None) -> str | None:
        """The customer the token is scoped to (None: all), or Unauthenticated."""


class RequireToken:
    """ASGI middleware: answers 401 unless the request carries a valid token."""

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
            customer = await self.authenticator.customer_of(authorization)
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
        scope[CUSTOMER] = customer
        await self.app(scope, receive, send)
