"""Settings from environment variables, with the defaults documented in README.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

SERVICES = ("orders", "insights", "reports")

# The development value of SECRETS_ENCRYPTION_KEYS: derived from a public phrase (published, like every
# development secret here); shared/secrets.py re-exports it, production refuses it.
DEVELOPMENT_SECRETS_KEY = "vMvFam8sdwvwlWh4r_-pOxf2glwOPZJ-ngEspGg2IXc="


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    environment: str = field(default_factory=lambda: _env("APP_ENV", "development"))
    # Admin connection to the PostgreSQL server; used only to bootstrap databases and roles.
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    db_app_password: str = field(default_factory=lambda: _env("DB_APP_PASSWORD", "app-dev-password"))
    # The owner roles bypass row-level security: their password is never the services' one.
    db_owner_password: str = field(default_factory=lambda: _env("DB_OWNER_PASSWORD", "owner-dev-password"))
    # Prefix for database and role names, so tests can share a server with a dev platform.
    db_prefix: str = field(default_factory=lambda: _env("DB_PREFIX", ""))
    db_pool_max: int = field(default_factory=lambda: _int("DB_POOL_MAX", 10))
    service_token_secret: str = field(
        default_factory=lambda: _env("SERVICE_TOKEN_SECRET", "dev-service-secret-change-me-in-production")
    )
    export_token_secret: str = field(
        default_factory=lambda: _env("EXPORT_TOKEN_SECRET", "dev-export-secret-change-me-in-production!")
    )
    # Fernet keys for credentials at rest (shared/secrets.py), comma-separated: the first encrypts, all
    # decrypt (rotation). The database never holds them; the default is a published development key.
    secrets_encryption_keys: str = field(
        default_factory=lambda: _env("SECRETS_ENCRYPTION_KEYS", DEVELOPMENT_SECRETS_KEY), repr=False
    )
    oidc_issuer: str = field(default_factory=lambda: _env("OIDC_ISSUER", "http://127.0.0.1:8090/"))
    oidc_audience: str = field(default_factory=lambda: _env("OIDC_AUDIENCE", "partner-platform"))
    oidc_jwks_url: str = field(
        default_factory=lambda: _env("OIDC_JWKS_URL", "http://127.0.0.1:8090/.well-known/jwks.json")
    )
    jwks_min_refresh_seconds: int = field(default_factory=lambda: _int("JWKS_MIN_REFRESH_SECONDS", 30))
    auth_cache_seconds: int = field(default_factory=lambda: _int("AUTH_CACHE_SECONDS", 5))
    jwt_leeway_seconds: int = field(default_factory=lambda: _int("JWT_LEEWAY_SECONDS", 30))
    orders_api_url: str = field(default_factory=lambda: _env("ORDERS_API_URL", "http://127.0.0.1:8101"))
    insights_api_url: str = field(default_factory=lambda: _env("INSIGHTS_API_URL", "http://127.0.0.1:8102"))
    reports_api_url: str = field(default_factory=lambda: _env("REPORTS_API_URL", "http://127.0.0.1:8103"))
    gateway_public_url: str = field(default_factory=lambda: _env("GATEWAY_PUBLIC_URL", "http://127.0.0.1:8000"))
    max_page_size: int = field(default_factory=lambda: _int("MAX_PAGE_SIZE", 100))
    # Admission control at the gateway (services/gateway/admission.py), per gateway process; 0 turns a limit off.
    # Requests in flight in this process (health, metrics and export downloads excepted): over it, 503 OVERLOADED.
    gateway_max_in_flight: int = field(default_factory=lambda: _int("GATEWAY_MAX_IN_FLIGHT", 64))
    # GraphQL requests of one user / one organisation running at once, and their token buckets (per second, burst).
    graphql_user_concurrency: int = field(default_factory=lambda: _int("GRAPHQL_USER_CONCURRENCY", 4))
    graphql_org_concurrency: int = field(default_factory=lambda: _int("GRAPHQL_ORG_CONCURRENCY", 8))
    graphql_user_rate: float = field(default_factory=lambda: _float("GRAPHQL_USER_RATE", 20))
    graphql_user_burst: int = field(default_factory=lambda: _int("GRAPHQL_USER_BURST", 40))
    graphql_org_rate: float = field(default_factory=lambda: _float("GRAPHQL_ORG_RATE", 25))
    graphql_org_burst: int = field(default_factory=lambda: _int("GRAPHQL_ORG_BURST", 50))
    # REST /v1 calls per integration API key (as presented; the orders service verifies it).
    integration_concurrency: int = field(default_factory=lambda: _int("INTEGRATION_CONCURRENCY", 16))
    integration_rate: float = field(default_factory=lambda: _float("INTEGRATION_RATE", 100))
    integration_burst: int = field(default_factory=lambda: _int("INTEGRATION_BURST", 200))
    # Provider webhooks, per provider path (admitted before the provider is looked up).
    webhook_provider_concurrency: int = field(default_factory=lambda: _int("WEBHOOK_PROVIDER_CONCURRENCY", 64))
    webhook_provider_rate: float = field(default_factory=lambda: _float("WEBHOOK_PROVIDER_RATE", 500))
    webhook_provider_burst: int = field(default_factory=lambda: _int("WEBHOOK_PROVIDER_BURST", 1000))
    # Routes anyone may call (webhooks, export links), per client address, before any lookup.
    source_concurrency: int = field(default_factory=lambda: _int("SOURCE_CONCURRENCY", 128))
    source_rate: float = field(default_factory=lambda: _float("SOURCE_RATE", 1000))
    source_burst: int = field(default_factory=lambda: _int("SOURCE_BURST", 2000))
    # The integration-key and provider-path RATES are shared by every gateway replica through Redis (one token bucket
    # per caller, shared/rate_limit.py); 0 keeps them in each process. Concurrency caps are always per process.
    rate_limit_shared: bool = field(default_factory=lambda: _int("RATE_LIMIT_SHARED", 1) != 0)
    # The Redis holding the shared buckets; empty: REDIS_URL.
    rate_limit_redis_url: str = field(default_factory=lambda: _env("RATE_LIMIT_REDIS_URL", ""), repr=False)
    # Deadline of one shared check (connection, pool wait and command). Missed or failed: the process's own bucket
    # decides (fail open to the local limit), and Redis is not tried again for RATE_LIMIT_REDIS_RETRY_MS.
    rate_limit_redis_timeout_ms: int = field(default_factory=lambda: _int("RATE_LIMIT_REDIS_TIMEOUT_MS", 50))
    rate_limit_redis_retry_ms: int = field(default_factory=lambda: _int("RATE_LIMIT_REDIS_RETRY_MS", 1000))
    # Insights ingestion: property keys never stored (lower-case, comma-separated), on top of the values that look
    # like journey data (card numbers, IBANs, National Insurance numbers, dates of birth).
    insights_forbidden_property_keys: frozenset[str] = field(
        default_factory=lambda: frozenset(
            k.strip().lower()
            for k in _env(
                "INSIGHTS_FORBIDDEN_PROPERTY_KEYS",
                "password,pin,cvv,cvc,card_number,account_number,sort_code,iban,ssn,passport,national_insurance",
            ).split(",")
            if k.strip()
        )
    )
    # Exports in a service API process: their own small pool, a cap per organisation, short batch transactions.
    export_db_pool_max: int = field(default_factory=lambda: _int("EXPORT_DB_POOL_MAX", 4))
    export_org_concurrency: int = field(default_factory=lambda: _int("EXPORT_ORG_CONCURRENCY", 2))
    # Rows per batch transaction: XLSX rows are fetched (Python writes them), CSV rows are COPYed by PostgreSQL,
    # whose per-batch cost (joins set up again) wants larger batches; memory stays a few batches either way.
    export_batch_rows: int = field(default_factory=lambda: _int("EXPORT_BATCH_ROWS", 5000))
    export_csv_batch_rows: int = field(default_factory=lambda: _int("EXPORT_CSV_BATCH_ROWS", 50_000))
    export_idle_in_transaction_ms: int = field(default_factory=lambda: _int("EXPORT_IDLE_IN_TRANSACTION_MS", 5000))
    # Every HTTP server (shared/service/server.py, run by `python -m shared.service.serve`): what one client may
    # hold of a process before any route runs. 0 turns a limit off.
    # Request line and headers, in bytes. The largest legitimate head (a bearer token of 1-2 KiB, the webhook
    # signature headers, a proxy's forwarding headers) stays under 8 KiB; 32 KiB is what nginx admits by
    # default (`large_client_header_buffers 4 8k`), so the proxy and the process agree. Past it: 431, closed.
    http_max_header_bytes: int = field(default_factory=lambda: _int("HTTP_MAX_HEADER_BYTES", 32 * 1024))
    # The whole head must arrive within this many seconds of the connection (or of the first byte after an idle
    # keep-alive): one deadline, not a timer reset by each byte, so half a header line every 5 s is cut. A real
    # client sends its head in one packet; 10 s leaves room for a slow mobile link's retransmissions.
    http_header_timeout_seconds: float = field(default_factory=lambda: _float("HTTP_HEADER_TIMEOUT_SECONDS", 10))
    # The whole body must arrive within this many seconds of the head: the largest body any route takes (1 MiB,
    # internal APIs) at 35 KiB/s; the public ones (64-256 KiB) at 2-9 KiB/s. Past it: 408, closed.
    http_body_timeout_seconds: float = field(default_factory=lambda: _float("HTTP_BODY_TIMEOUT_SECONDS", 30))
    # An idle keep-alive connection is closed after this many seconds (uvicorn's timeout_keep_alive): long
    # enough for a dashboard's next request, short enough that idle sockets do not pile up. The proxy in front
    # keeps its own upstream connections for less (infra/nginx.conf: 4 s), so it never reuses one being closed.
    http_idle_timeout_seconds: int = field(default_factory=lambda: _int("HTTP_IDLE_TIMEOUT_SECONDS", 5))
    # Connections (and requests) one process holds at once. A new connection beyond it closes the oldest idle
    # one (no request in progress: a slow or silent head, or an idle keep-alive); a request beyond it, when
    # every connection is busy, gets 503 (probes and /metrics excepted). 2,048 is 32 times the gateway's 64
    # requests in flight and fits the default open-files limit once raised (the runner raises it).
    http_max_concurrency: int = field(default_factory=lambda: _int("HTTP_MAX_CONCURRENCY", 2048))
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's --forwarded-allow-ips): the
    # proxy in front, so per-address limits see the client's address, not the proxy's. "*" trusts any peer: only
    # where nothing but the proxy can reach the process (infra/compose.yaml).
    forwarded_allow_ips: str = field(default_factory=lambda: _env("FORWARDED_ALLOW_IPS", "127.0.0.1"))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    # Accepted provider webhooks are retried for at least this long while a store is down (actors' retry budget).
    webhook_retry_horizon_seconds: int = field(default_factory=lambda: _int("WEBHOOK_RETRY_HORIZON_SECONDS", 1800))
    # Store timeouts (shared/db.py): an interactive statement, waiting for a pooled connection, and a
    # transaction left idle (a request that hangs holds no connection for long). Exports run longer.
    db_statement_timeout_ms: int = field(default_factory=lambda: _int("DB_STATEMENT_TIMEOUT_MS", 5000))
    db_acquire_timeout_ms: int = field(default_factory=lambda: _int("DB_ACQUIRE_TIMEOUT_MS", 2000))
    db_idle_in_transaction_timeout_ms: int = field(
        default_factory=lambda: _int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000)
    )
    export_statement_timeout_ms: int = field(default_factory=lambda: _int("EXPORT_STATEMENT_TIMEOUT_MS", 600_000))
    # /readyz answers within this bound, from the process's own state (shared/health.py).
    readiness_timeout_ms: int = field(default_factory=lambda: _int("READINESS_TIMEOUT_MS", 1000))
    # An unavailable dependency is logged once per this interval (shared/logging.py), not once per request.
    dependency_warning_seconds: int = field(default_factory=lambda: _int("DEPENDENCY_WARNING_SECONDS", 10))
    # Published outbox rows are deleted by the relay after this many hours.
    outbox_retention_hours: int = field(default_factory=lambda: _int("OUTBOX_RETENTION_HOURS", 72))
    # Mail (shared/mail.py): `smtp://user:pass@host:port` (STARTTLS whenever the server offers it) or `smtps://`
    # (implicit TLS). Unset, mail cannot be sent; `./platform up` points it at its development mailbox.
    smtp_url: str = field(default_factory=lambda: _env("SMTP_URL", ""), repr=False)
    mail_from: str = field(default_factory=lambda: _env("MAIL_FROM", "no-reply@partner-platform.local"))
    smtp_timeout_seconds: float = field(default_factory=lambda: _float("SMTP_TIMEOUT_SECONDS", 30))
    # Mail that cannot reach the SMTP server is retried for at least this long (the mail actors' retry budget).
    mail_retry_horizon_seconds: int = field(default_factory=lambda: _int("MAIL_RETRY_HORIZON_SECONDS", 6 * 3600))
    # Mixpanel per data residency: ingestion (/import, /engage) and query (/api/query/engage) hosts.
    mixpanel_ingest_url_us: str = field(
        default_factory=lambda: _env("MIXPANEL_INGEST_URL_US", "https://api.mixpanel.com")
    )
    mixpanel_ingest_url_eu: str = field(
        default_factory=lambda: _env("MIXPANEL_INGEST_URL_EU", "https://api-eu.mixpanel.com")
    )
    mixpanel_query_url_us: str = field(default_factory=lambda: _env("MIXPANEL_QUERY_URL_US", "https://mixpanel.com"))
    mixpanel_query_url_eu: str = field(default_factory=lambda: _env("MIXPANEL_QUERY_URL_EU", "https://eu.mixpanel.com"))

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def service_api_url(self, service: str) -> str:
        """Where the gateway (or another service) reaches `service`'s internal API."""
        urls = {"orders": self.orders_api_url, "insights": self.insights_api_url, "reports": self.reports_api_url}
        return urls[service]

    def service_database_url(self, service: str, role: str = "app") -> str:
        """The URL a service connects with: its own database, as its own non-owner role.

        `<SERVICE>_DATABASE_URL` overrides the derived URL (e.g. a managed database).
        """
        override = os.environ.get(f"{service.upper()}_DATABASE_URL") if role == "app" else None
        if override:
            return override
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (the admin URL of the PostgreSQL server)")
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.database_url)
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        if role == "admin":
            netloc = parts.netloc
        else:
            password = self.db_owner_password if role == "owner" else self.db_app_password
            netloc = f"{self.role_name(service, role)}:{password}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, f"/{self.database_name(service)}", parts.query, ""))

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"

    def role_name(self, service: str, role: str) -> str:
        return f"{self.db_prefix}{service}_{role}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


# Secrets whose development values are published in this repository. Production refuses to start while
# any of them is unset, equal to such a value, or too short (OWASP ASVS V6.4.1, V14.1.3).
SECRET_MIN_LENGTH = {
    "SERVICE_TOKEN_SECRET": 32,
    "EXPORT_TOKEN_SECRET": 32,
    "DB_APP_PASSWORD": 16,
    "DB_OWNER_PASSWORD": 16,
    "SECRETS_ENCRYPTION_KEYS": 44,  # one Fernet key
}
PUBLISHED_SECRETS = frozenset(
    {
        "dev-service-secret-change-me-in-production",
        "dev-export-secret-change-me-in-production!",
        "app-dev-password",
        "owner-dev-password",
        "dev-only-service-token-secret",
        "dev-only-export-token-secret",
        "dev-only-app-password",
        "dev-only-owner-password",
        "change-me",
        "change-me-service-token-secret",
        "change-me-export-token-secret",
        "change-me-app-password",
        "change-me-owner-password",
        DEVELOPMENT_SECRETS_KEY,
    }
)


class InsecureConfiguration(RuntimeError):
    """Production was started with a secret that is missing, published or too short."""


def check_production_secrets(settings: Settings, names: tuple[str, ...]) -> None:
    """In production, refuses `names` unset, equal to a published development value, or too short.

    Raised at start-up (app factories, workers, relays, bootstrap), naming the variable, so that a
    deployment that forgot a secret fails loudly instead of signing export links with a public key.
    """
    if not settings.production:
        return
    for name in names:
        value = str(getattr(settings, name.lower()))
        if not value:
            raise InsecureConfiguration(f"{name} is not set (required when APP_ENV=production)")
        if value in PUBLISHED_SECRETS:
            raise InsecureConfiguration(f"{name} is a development value published in the repository")
        if len(value) < SECRET_MIN_LENGTH.get(name, 16):
            raise InsecureConfiguration(f"{name} must be at least {SECRET_MIN_LENGTH.get(name, 16)} characters")


def database_secrets(service: str) -> tuple[str, ...]:
    """The stored-data secrets a service process needs: its database password (none when its URL is given
    outright) and, for the orders service, the key its provider secrets are encrypted with at rest."""
    keys = ("SECRETS_ENCRYPTION_KEYS",) if service == "orders" else ()
    return (*(() if os.environ.get(f"{service.upper()}_DATABASE_URL") else ("DB_APP_PASSWORD",)), *keys)
