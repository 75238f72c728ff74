"""Settings, read from the environment (prefix ``JOURNALLOFT_``) through :func:`get_settings`."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


def _source_checkout() -> Path:
    """The checkout this package runs from (holds ``schemas/``, ``migrations/``, ``tenants/``)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "schemas").is_dir() else Path.cwd()


def is_local_host(host: str) -> bool:
    """Whether a URL's host is this machine or its link: ``localhost``, or a loopback,
    link-local (e.g. 169.254.169.254, the cloud metadata service) or unspecified address,
    written in any form the resolver accepts (``127.1``, ``2130706433``, ``[::ffff:127.0.0.1]``).
    A name that resolves to such an address is not caught here."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or address.is_unspecified


def _is_https(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() == "https" and bool(parts.hostname)


class TrustedIssuer(BaseModel):
    """An external token issuer, e.g. HelseID: tokens signed by its keys are accepted."""

    issuer: str
    audience: str
    jwks_uri: str | None = None
    jwks_file: Path | None = None
    token_endpoint: str | None = None
    """Where its clients get tokens (HelseID's ``https://helseid-sts.nhn.no/connect/token``):
    the FHIR face's ``/.well-known/smart-configuration`` names the first trusted issuer's that
    is set, else the built-in issuer's."""
    token_endpoint_auth_signing_alg_values_supported: list[str] = Field(default_factory=list)
    """The client-assertion algorithms that token endpoint takes, as its own discovery document
    lists them; named beside it."""

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.jwks_uri is None) == (self.jwks_file is None):
            raise ValueError("a trusted issuer needs exactly one of jwks_uri or jwks_file")
        return self


class Settings(BaseSettings):
    """Everything the platform reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="JOURNALLOFT_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = "development"
    home: Path = Field(default_factory=_source_checkout)
    data_dir: Path = Path("var")
    database_url: str | None = None
    tenant_database_urls: dict[str, str] = Field(default_factory=dict)
    query_pool_size: int = Field(default=5, ge=1, le=100)
    """PostgreSQL connections per process for queries (the async pool, shared by all tenants).
    A lookup holds one for a round trip, so a few keep a worker busy; each connection prepares
    every tenant's statements once, so more connections cost PostgreSQL memory (357 tenants,
    2 workers: ~750 MB at 5, ~1.5 GB at 10) for no more throughput."""
    query_prepared_statements: int = Field(default=2048, ge=0, le=100_000)
    """Prepared statements each query connection keeps: about five per tenant on its server
    (PostgreSQL holds some 40 kB for each in the connection's backend); 0 prepares none, for a
    connection pooler in front of PostgreSQL that cannot keep them."""
    query_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long a lookup waits for a connection to a tenant's database server before that
    municipality is reported unavailable (``refused``, or 503 when named)."""
    redis_url: str | None = None
    redis_pool_size: int = Field(default=16, ge=2, le=1000)
    """The most connections each of a process's Redis clients holds (five clients: the key-value
    store's and the change feed's, each one for threads and one for the event loop, and the
    subscriptions'). Open streams hold none while they wait (one reader per process feeds them);
    a command that finds all in use waits ``redis_pool_wait_seconds`` for one, then the request
    gets 503 with ``Retry-After`` (``journalloft_overloaded``, not a Redis error)."""
    redis_pool_wait_seconds: float = Field(default=2.0, gt=0, le=60)
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    audience: str = "journalloft"
    builtin_issuer: bool | None = None
    issuer_key_file: Path | None = None
    trusted_issuers: list[TrustedIssuer] = Field(default_factory=list)
    allow_bearer: bool | None = None
    allow_synthetic_ids: bool | None = None
    okt_person_in_path: bool = True
    """NHN's OKT prototype puts the person's id in the path (``/okt/okt-events/{pid}``); the
    same calls take it in a ``person-id`` header. Production can turn the path form off."""
    fhir_person_ids_in_urls: Literal["allow", "refuse"] = "allow"
    """``refuse``: the FHIR face refuses (400) a person's id in a URL (a GET search's
    ``patient:identifier``), for a deployment whose proxies log URLs; searches are then POST
    ``_search`` with the person in the body. ``allow`` (the default) lets stock FHIR clients
    search with GET; the platform's own access log writes route templates only either way."""
    fhir_key_file: Path | None = None
    """A file of at least 32 random bytes from which the FHIR face derives its keys: logical ids
    (which hide the person) and page tokens. Without it they are derived from the audit seal key.
    Replacing it makes every logical id and ``next`` link given out before stop resolving."""
    fhir_page_seconds: int = Field(default=900, ge=10, le=86_400)
    """How long a FHIR searchset's ``next``/``previous`` links work."""
    allow_insecure_issuer_urls: bool = False
    """Production only: accept a ``PUBLIC_URL`` and trusted issuers' ``jwks_uri`` that are not
    https, and a JWKS host that is a loopback or link-local address, for a closed network that
    has nothing better. Elsewhere they are refused at start-up."""
    access_token_lifetime_seconds: int = Field(default=600, ge=60, le=3600)
    max_body_bytes: int = 5 * 1024 * 1024
    purge_interval_seconds: int = Field(default=3600, ge=0)
    audit_seal_interval_seconds: int = Field(default=60, ge=0)
    """How often each serving process seals its tenants' settled audit events (0: never; then
    run ``journalloft audit seal`` from a timer)."""
    audit_seal_key_file: Path | None = None
    """The Ed25519 private key (PEM, PKCS#8) that signs audit seals; without it a development
    key is made at ``<data dir>/audit-seal-dev-key.pem``."""
    export_signing_key_file: Path | None = None
    """The Ed25519 private key (PEM, PKCS#8) that signs ``journalloft tenants export`` files, the
    operator's; without it a development key is made at ``<data dir>/export-signing-dev-key.pem``
    (production refuses to export without it)."""
    tenant_cache_seconds: float = Field(default=5.0, ge=0)
    lookup_records_per_person: int = Field(default=1000, ge=1, le=100_000)
    """The most records of one person, service and municipality one lookup answer holds: the
    newest (in the service's own order); an entry with more says ``"truncated": true``."""
    lookup_records_per_answer: int = Field(default=20_000, ge=1, le=1_000_000)
    """The most records one municipality's part of a lookup answer holds, shared among the
    people asked: each person's newest first, then their next, and so on."""
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object a line (time, level, event, correlation id, client, municipality,
    route template, status, duration). ``journalloft serve`` also reads ``LOG_FORMAT``."""
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """PostgreSQL: how long a new connection may take before the request fails with 503."""
    database_statement_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    """PostgreSQL: the longest a statement may run (or wait for a lock) before it is cancelled
    and the request fails with 503; also the longest a request waits for a pooled connection."""
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=600)
    """On SIGTERM: how long requests in flight may take to finish while new ones are refused
    with 503; then the process stops whatever is left."""
    otlp_endpoint: str | None = None
    """An OTLP/HTTP endpoint (e.g. ``http://collector:4318/v1/traces``): a span per request,
    with its database and Redis calls inside. Nothing is traced when unset."""
    replay_window_seconds: int = Field(default=900, ge=10, le=86_400)
    """How long the change feed keeps changes: a board away for less gets every event it missed
    when it reconnects with ``Last-Event-ID``; away longer, a ``reset`` and a fresh snapshot."""
    change_outbox_sweep_seconds: float = Field(default=60.0, gt=0, le=3600)
    """With Redis: how often each process looks in every municipality's change outbox for
    changes another process committed and did not hand to the change feed (it was killed
    mid-way); also done at each process's start. A change the feed refused in this process is
    retried every second."""
    subscription_lifetime_seconds: int = Field(default=12 * 3600, ge=60, le=7 * 86_400)
    """A subscription expires this long after it was made or last replaced (``PUT``)."""
    heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    """A comment line on an idle event stream this often, so proxies keep it open."""
    stream_queue_limit: int = Field(default=1000, ge=1, le=1_000_000)
    """Changes waiting for one stream before it is ended as too slow (it reconnects and
    replays from its last id: nothing is lost)."""
    stream_read_window_ms: float = Field(default=50.0, ge=0, le=1000)
    """How long a change's reads for the streams it wakes are gathered before they are made: the
    streams of one service and municipality woken within it read their people in one round trip
    and commit their audit events in one write, instead of one lookup each. 0 reads at once
    (still together with whatever is already waiting)."""
    subscriptions_per_client: int = Field(default=2000, ge=1, le=1_000_000)
    """The most live subscriptions one client may hold at once; one more is refused with 409.
    Each open stream holds memory in a server process: a client that never ends its
    subscriptions must not be able to fill the servers."""
    streams_per_client: int = Field(default=1000, ge=1, le=1_000_000)
    """The most event streams one client may have open in one server process; one more is
    refused with 429 (``Retry-After``) until one closes. Subscriptions are counted across the
    platform; streams, which hold a process's memory and connections, per process."""
    stream_send_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """A stream whose client has not taken what was sent for this long is ended: its connection
    is closed (a slow or stalled reader holds no memory or connection longer)."""
    service_plugins: list[str] = Field(default_factory=list)
    """Sharing services beyond the installed ones (``module:attribute``), e.g. a test plugin."""

    @model_validator(mode="after")
    def _production_is_strict(self) -> Self:
        production = self.environment == "production"
        if self.builtin_issuer is None:
            self.builtin_issuer = not production
        if self.allow_bearer is None:
            self.allow_bearer = not production
        if self.allow_synthetic_ids is None:
            self.allow_synthetic_ids = not production
        if production:
            if self.builtin_issuer and self.issuer_key_file is None:
                raise ValueError(
                    "production refuses the built-in issuer's development key: "
                    "set JOURNALLOFT_ISSUER_KEY_FILE or turn the built-in issuer off"
                )
            if self.audit_seal_interval_seconds and self.audit_seal_key_file is None:
                raise ValueError(
                    "production refuses the audit seal's development key (each server would "
                    "make its own): set JOURNALLOFT_AUDIT_SEAL_KEY_FILE, the same on every server"
                )
            if self.fhir_key_file is None and self.audit_seal_key_file is None:
                raise ValueError(
                    "production needs JOURNALLOFT_FHIR_KEY_FILE (or the audit seal key file the "
                    "FHIR keys are then derived from), the same on every server"
                )
            if self.database_url is None:
                raise ValueError("production needs JOURNALLOFT_DATABASE_URL (PostgreSQL)")
            if self.redis_url is None:
                raise ValueError(
                    "production needs JOURNALLOFT_REDIS_URL: without it each server process "
                    "keeps its own DPoP replay cache, rate counts, subscriptions and change feed"
                )
            if not self.builtin_issuer and not self.trusted_issuers:
                raise ValueError("production needs at least one trusted issuer (HelseID)")
            if not self.allow_insecure_issuer_urls:
                self._refuse_insecure_urls()
        return self

    def _refuse_insecure_urls(self) -> None:
        problems = []
        if self.public_url is None:
            problems.append("JOURNALLOFT_PUBLIC_URL is not set (the https URL clients use)")
        elif not _is_https(self.public_url):
            problems.append(f"JOURNALLOFT_PUBLIC_URL must be an https URL, not {self.public_url}")
        for trusted in self.trusted_issuers:
            endpoint = trusted.token_endpoint
            if endpoint is not None and not _is_https(endpoint):
                # named to clients as where they send their client assertions
                problems.append(
                    f"trusted issuer {trusted.issuer}: token_endpoint must be an https URL"
                )
            uri = trusted.jwks_uri
            if uri is None:
                continue
            host = urlsplit(uri).hostname
            if not _is_https(uri):
                problems.append(f"trusted issuer {trusted.issuer}: jwks_uri must be an https URL")
            elif host and is_local_host(host):
                problems.append(
                    f"trusted issuer {trusted.issuer}: jwks_uri's host {host} is a loopback or "
                    "link-local address"
                )
        if problems:
            raise ValueError(
                "production refuses insecure issuer URLs: "
                + "; ".join(problems)
                + " (JOURNALLOFT_ALLOW_INSECURE_ISSUER_URLS=true allows them on a closed network)"
            )

    @property
    def data_path(self) -> Path:
        return self.data_dir if self.data_dir.is_absolute() else self.home / self.data_dir

    @property
    def issuer_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once on first use."""
    return Settings()
