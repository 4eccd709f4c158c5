"""The webhook parts of a node, put together from the settings (for ``hstgw.gateway``)."""

from __future__ import annotations

from collections.abc import Callable

from hstgw.events.model import EventFeed
from hstgw.settings import Settings
from hstgw.store import Store
from hstgw.webhooks.delivery import DeliveryConfig, DeliveryWorkers
from hstgw.webhooks.leases import Leases, LocalLeases
from hstgw.webhooks.sender import Sender
from hstgw.webhooks.service import Webhooks
from hstgw.webhooks.targets import Targets

__all__ = ["build_webhooks"]


def build_webhooks(
    settings: Settings, store: Store, feed: EventFeed, clock: Callable[[], int], cluster: bool
) -> tuple[Webhooks, DeliveryWorkers]:
    """The service and this node's workers; in a cluster, leases between the nodes."""
    leases: Leases
    if cluster:
        from hstgw.store.postgres.leases import PostgresLeases

        leases = PostgresLeases(settings.database_url, settings.database_schema)
    else:
        leases = LocalLeases()
    targets = Targets(settings.webhook_allow_private)
    workers = DeliveryWorkers(
        store,
        feed,
        leases,
        Sender(targets, settings.webhook_timeout),
        DeliveryConfig(
            retry_for_s=settings.webhook_retry_for,
            retry_first_s=settings.webhook_retry_first,
            sweep_s=settings.webhook_sweep_interval,
            log_retention_s=settings.webhook_log_retention,
            per_developer=settings.webhook_concurrency_per_developer,
        ),
        clock,
    )
    service = Webhooks(
        store,
        feed,
        targets,
        clock,
        settings.zone,
        max_hooks=settings.limit_webhooks_per_developer,
        secret_grace_s=settings.webhook_secret_grace,
        on_change=workers.changed,
        on_resume=workers.poke,
    )
    return service, workers
