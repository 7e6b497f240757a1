"""Who may fire a CloudEvent function: only a sender the platform vouches for.

On when EVENT_AUTH_JWKS_URL or EVENT_AUTH_JWKS_FILE is set. Knative Eventing (feature
`authentication-oidc`) then has each source present a service-account token of the cluster's
OIDC issuer, minted for the audience its manifest names in `spec.sink.audience`. Every request
but the health routes and metrics must carry such a token: a good signature, `exp`, `aud`
(EVENT_AUTH_AUDIENCE), `iss` (EVENT_AUTH_ISSUER) and, when EVENT_AUTH_SUBJECTS is set, a `sub`
among them. Anything else is a 401, which a source does not retry; keys that cannot be fetched
are a 503, which it does. The check sits around the function runtime, not inside a function.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.runtime.auth import OPEN_PATHS, Unauthenticated, authorization_of, refusal
from shared.runtime.problems import service_unavailable
from shared.runtime.tokens import KeySet, KeysUnavailable, TokenRules, bearer_token, verified_claims
from shared.settings import Settings


class SenderCheck:
    """Verifies the bearer token of one CloudEvent request against the event-auth settings."""

    def __init__(self, settings: Settings) -> None:
        self.keys = KeySet(
            settings.event_auth_jwks_file,
            settings.event_auth_jwks_url,
            ca_file=settings.event_auth_jwks_ca_file,
            token_file=settings.event_auth_jwks_token_file,
        )
        self.rules = TokenRules(
            settings.event_auth_algorithm_list,
            settings.event_auth_audience,
            settings.event_auth_issuer,
            settings.event_auth_leeway_seconds,
        )
        self.subjects = settings.event_auth_subject_set

    async def check(self, authorization: str | None) -> None:
        """Returns when the sender may fire this function; raises Unauthenticated otherwise."""
        claims = await verified_claims(bearer_token(authorization), self.keys, self.rules)
        if self.subjects and claims.get("sub") not in self.subjects:
            raise Unauthenticated("this sender may not fire this function")


class RequireSender:
    """ASGI middleware: a request reaches the function only with a token SenderCheck accepts."""

    def __init__(self, app: ASGIApp, sender_check: SenderCheck, retry_after_seconds: int) -> None:
        self.app = app
        self.sender_check = sender_check
        self.retry_after_seconds = retry_after_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = None
        try:
            authorization = authorization_of(scope)
            await self.sender_check.check(authorization)
        except KeysUnavailable as exc:
            busy = service_unavailable("keys-unavailable", str(exc), self.retry_after_seconds)
            await busy(scope, receive, send)
            return
        except Unauthenticated as exc:
            await refusal(exc, authorization)(scope, receive, send)
            return
        await self.app(scope, receive, send)
