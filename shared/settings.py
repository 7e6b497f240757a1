"""One settings object, read from the environment (12-factor)."""

import logging
import os
from functools import lru_cache
from urllib.parse import quote

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: SecretStr | None = None
    postgres_server: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "orders"
    postgres_user: str = "orders"
    postgres_password: SecretStr = SecretStr("")

    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    # Short on purpose: a dead database must turn into a quick 503, not a hung request.
    db_connect_timeout_seconds: float = 2.0
    db_command_timeout_seconds: float = 10.0

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    # Strimzi supports the idempotent producer; the embedded tansu broker rejects it.
    kafka_enable_idempotence: bool = False
    kafka_request_timeout_ms: int = 5000

    confirm_delay_seconds: float = 10.0
    ship_delay_seconds: float = 10.0
    # The relay publishes events the first try missed once they are this old...
    relay_min_age_seconds: float = 5.0
    # ...and re-drives an order whose next step is this late (after its delay).
    relay_overdue_seconds: float = 300.0
    outbox_retention_seconds: float = 7 * 24 * 3600.0
    # How long a retried POST with the same Idempotency-Key gets the first answer back.
    idempotency_retention_seconds: float = 24 * 3600.0
    # Locally, how often the PingSource stand-in fires the relay (the cluster: every minute).
    relay_interval_seconds: float = 5.0

    # Where a served function listens (Knative sets PORT). All interfaces by default: in a
    # container the port is only reachable through the pod's network.
    host: str = "0.0.0.0"  # nosec B104
    port: int = 8080
    # HTTPS on a served function when both are set (`TLS=1 make dev` sets them for orders_http).
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    max_body_bytes: int = 64 * 1024
    # A CloudEvent larger than this is refused (400) before it is parsed.
    max_event_bytes: int = 256 * 1024
    # Request headers beyond this, all together, are refused (431; 400 for a CloudEvent).
    max_header_bytes: int = 16 * 1024
    # An HTTP request still unanswered after this is cut short with a 503 (Retry-After).
    request_timeout_seconds: float = 15.0
    # Requests in flight at once per process; beyond it a 503 problem with Retry-After.
    max_concurrency: int = 1000
    # Open connections per process (idle ones too); past it the longest idle one is closed.
    # Lowered at start-up to fit the open-file limit (shared/runtime/connections.py).
    max_connections: int = 2048
    # A connection's request headers must be in this soon after it opens or its last answer.
    header_timeout_seconds: float = 5.0
    # An idle connection is closed this long after its last answer (uvicorn's keep-alive).
    keep_alive_seconds: int = 5
    max_page_size: int = 100
    retry_after_seconds: int = 2
    log_level: str = "INFO"
    # The level of the line each order's steps log (created, confirmed, shipped...): DEBUG,
    # as a line per step costs a tenth of a step's CPU; `orders dev` raises it to INFO.
    order_log_level: str = "DEBUG"

    @property
    def order_log_levelno(self) -> int:
        return logging.getLevelNamesMapping().get(self.order_log_level.upper(), logging.DEBUG)

    # Bearer-token authentication of the HTTP API: on when a key set is named
    # (shared/runtime/auth.py).
    auth_jwks_url: str | None = None
    auth_jwks_file: str | None = None
    auth_audience: str | None = None
    auth_issuer: str | None = None
    auth_customer_claim: str = "customer_id"
    # The `scope` a token needs to act for every customer (and to read /metrics).
    auth_service_scope: str = "orders:all"
    auth_algorithms: str = "RS256,ES256"
    auth_leeway_seconds: int = 30

    # Who may fire the CloudEvent functions: on when a key set is named
    # (shared/runtime/event_auth.py). In a cluster the keys are the API server's, which issues the
    # sources' OIDC tokens.
    event_auth_jwks_url: str | None = None
    event_auth_jwks_file: str | None = None
    # The API server's JWKS needs both: its CA, and a service-account token (re-read per fetch,
    # since the kubelet rotates it).
    event_auth_jwks_ca_file: str | None = None
    event_auth_jwks_token_file: str | None = None
    event_auth_audience: str | None = None
    event_auth_issuer: str | None = None
    # Comma-separated `sub` claims accepted (a source's service account); empty: any subject.
    event_auth_subjects: str = ""
    event_auth_algorithms: str = "RS256,ES256"
    event_auth_leeway_seconds: int = 30
    # Locally only: the PEM key the eventing stand-in signs its tokens with (`make dev` makes it).
    event_auth_signing_key_file: str | None = None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_jwks_url or self.auth_jwks_file)

    @property
    def auth_algorithm_list(self) -> list[str]:
        return [name.strip() for name in self.auth_algorithms.split(",") if name.strip()]

    @property
    def event_auth_enabled(self) -> bool:
        return bool(self.event_auth_jwks_url or self.event_auth_jwks_file)

    @property
    def event_auth_algorithm_list(self) -> list[str]:
        return [name.strip() for name in self.event_auth_algorithms.split(",") if name.strip()]

    @property
    def event_auth_subject_set(self) -> frozenset[str]:
        return frozenset(
            name.strip() for name in self.event_auth_subjects.split(",") if name.strip()
        )

    @model_validator(mode="after")
    def _event_auth_needs_an_audience_and_issuer(self) -> "Settings":
        # Both are required: any service account can get a token of the cluster's issuer, so
        # only the audience (and the issuer, where several exist) tie one to this function.
        if self.event_auth_enabled and not (self.event_auth_audience and self.event_auth_issuer):
            raise ValueError(
                "EVENT_AUTH_AUDIENCE and EVENT_AUTH_ISSUER are required when a key set "
                "(EVENT_AUTH_JWKS_*) is set"
            )
        return self

    @model_validator(mode="after")
    def _auth_needs_an_audience(self) -> "Settings":
        if self.auth_enabled and not self.auth_audience:
            raise ValueError("AUTH_AUDIENCE is required when a key set (AUTH_JWKS_*) is set")
        return self

    @property
    def postgres_dsn(self) -> str:
        """A libpq URL (asyncpg's dialect) for the configured database."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            for prefix in ("postgresql+asyncpg://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql://" + url.removeprefix(prefix)
            return url
        password = quote(self.postgres_password.get_secret_value(), safe="")
        auth = (
            f"{quote(self.postgres_user, safe='')}:{password}" if password else self.postgres_user
        )
        return f"postgresql://{auth}@{self.postgres_server}:{self.postgres_port}/{self.postgres_db}"

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+asyncpg://" + self.postgres_dsn.removeprefix("postgresql://")


@lru_cache
def get_settings() -> Settings:
    """From the environment and, when SECRETS_DIR names a folder (a mounted Kubernetes Secret),
    from its files: one per setting, named as the setting (e.g. `database_url`)."""
    secrets = os.environ.get("SECRETS_DIR")
    if secrets:
        return Settings(_secrets_dir=secrets)
    return Settings()
