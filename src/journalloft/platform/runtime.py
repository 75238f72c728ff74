"""Everything a running platform holds, built once per process in the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from journalloft.platform.auth.issuer import BuiltinIssuer, load_signing_key
from journalloft.platform.auth.scopes import Scopes
from journalloft.platform.auth.tokens import IssuerKeys, TokenVerifier
from journalloft.platform.core.jsonschemas import Schemas
from journalloft.platform.core.settings import Settings
from journalloft.platform.core.stopping import bounded
from journalloft.platform.live.changes import Change, ChangeFeed, connect_change_feed
from journalloft.platform.live.hub import Hub
from journalloft.platform.live.outbox import OutboxRelay
from journalloft.platform.live.subscription_store import SubscriptionStore, connect_subscriptions
from journalloft.platform.plugins.registry import ServiceRegistry, load_services
from journalloft.platform.storage.directory import TenantDirectory
from journalloft.platform.storage.engines import Stores
from journalloft.platform.storage.kv import KeyValue, connect_key_value
from journalloft.platform.storage.query_path import QueryPath, connect_query_path
from journalloft.platform.storage.redis_clients import PoolLimits

log = logging.getLogger("journalloft.runtime")


@dataclass
class Runtime:
    settings: Settings
    stores: Stores
    schemas: Schemas
    services: ServiceRegistry
    tenants: TenantDirectory
    kv: KeyValue
    verifier: TokenVerifier
    issuer: BuiltinIssuer | None
    query_path: QueryPath
    changes: ChangeFeed
    subscriptions: SubscriptionStore
    outbox: OutboxRelay | None = None
    """With Redis: committed changes go to the feed through each municipality's outbox (see
    :mod:`.outbox`); the embedded default publishes to its in-process feed directly."""
    hub: Hub = field(default_factory=Hub)
    scopes: Scopes = field(default_factory=Scopes)
    """The scopes tokens may carry besides the native ones: the vocabularies of the app's faces
    (SMART's system scopes), set by the app factory."""
    stuck_on_stop: list[str] = field(default_factory=list)
    """What did not stop within its bound when the app stopped (with the tasks' stacks)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def open_async(self) -> None:
        """Open what lives on the event loop (the query path's pools); the app's lifespan calls
        this on start and :meth:`close_async` on stop."""
        await self.query_path.open()
        try:
            self.hub.position = await self.changes.start(self.hub.dispatch, lost=self.hub.reset)
            if self.outbox is not None:
                await self.outbox.start()
        except BaseException:
            # the start failed (Redis away, say): close what did open, so that no pool's
            # background tasks outlive the failed start and keep the event loop from closing
            await self.query_path.close()
            raise

    def committed(
        self, kommunenummer: str, outbox_id: int | None, changes: Sequence[Change]
    ) -> None:
        """After a unit of work committed ``changes`` (and, with Redis, their outbox row): hand
        them to the feed; what the feed refuses is left to the outbox's relay."""
        if self.outbox is not None:
            self.outbox.deliver(kommunenummer, outbox_id, changes)
        else:
            self.notify(changes)

    def notify(self, changes: Sequence[Change]) -> None:
        """Tell every process's event streams of changes kept outside the municipalities' stores
        (subscriptions): call after the change. If this fails it is logged; a stream whose
        subscription ended finds it gone at its next heartbeat."""
        try:
            self.changes.publish(changes)
        except Exception:
            log.exception("changes committed but not published to event streams")

    async def close_async(self) -> None:
        """Each part within a bound (:mod:`.stopping`): what did not finish is in the log and in
        :attr:`stuck_on_stop`, and the others still stop."""
        steps: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("the change outbox's relay", self._stop_outbox),
            ("the change feed's reader", self.changes.stop),
            ("the query path (writes in flight, pools)", self.query_path.close),
            ("the key-value store's event-loop client", self.kv.close_async),
        )
        for what, step in steps:
            report = await bounded(what, step())
            if report is not None:
                self.stuck_on_stop.append(report)

    async def _stop_outbox(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()

    def close(self) -> None:
        self.kv.close()
        self.changes.close()
        self.subscriptions.close()
        self.stores.dispose()


def build_runtime(
    settings: Settings,
    *,
    stores: Stores | None = None,
    loaded: tuple[Schemas, ServiceRegistry] | None = None,
) -> Runtime:
    """Everything a process holds. ``loaded``: the schemas and services the caller already
    loaded (the app factory has, to build its routes), so they are not loaded twice."""
    schemas, services = loaded or load_services(settings)
    stores = stores or Stores(settings)
    tenants = TenantDirectory(
        stores,
        schemas=schemas,
        services=services.settings_schemas(),
        ttl_seconds=settings.tenant_cache_seconds,
    )
    limits = PoolLimits(settings.redis_pool_size, settings.redis_pool_wait_seconds)
    kv = connect_key_value(settings.redis_url, limits=limits)
    issuer = None
    trusted = [
        IssuerKeys(issuer=t.issuer, audience=t.audience, jwks_uri=t.jwks_uri, jwks_file=t.jwks_file)
        for t in settings.trusted_issuers
    ]
    if settings.builtin_issuer:
        issuer = BuiltinIssuer(
            settings=settings,
            stores=stores,
            tenants=tenants,
            replay=kv,
            key=load_signing_key(settings),
        )
        trusted.append(issuer.issuer_keys())
    changes = connect_change_feed(settings.redis_url, settings.replay_window_seconds, limits=limits)
    outbox = None
    if settings.redis_url:
        outbox = OutboxRelay(
            stores=stores,
            feed=changes,
            municipalities=lambda: [t.kommunenummer for t in tenants.all()],
            sweep_seconds=settings.change_outbox_sweep_seconds,
        )
    return Runtime(
        settings=settings,
        stores=stores,
        schemas=schemas,
        services=services,
        tenants=tenants,
        kv=kv,
        verifier=TokenVerifier(trusted),
        issuer=issuer,
        query_path=connect_query_path(stores),
        changes=changes,
        outbox=outbox,
        subscriptions=connect_subscriptions(settings.redis_url, limits=limits),
    )
