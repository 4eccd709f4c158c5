"""What one delivery sends and writes: its body, and its new row in the delivery log."""

from __future__ import annotations

import orjson

from hstgw.events.model import Event
from hstgw.ids import new_id
from hstgw.store import DeliveryRow, WebhookRow

__all__ = ["opened", "payload"]


def payload(event: Event) -> bytes:
    """The body: the event gateway's push, and ``time`` (when the event happened, ms)."""
    return orjson.dumps({**event.push(), "time": event.at_ms})


def opened(hook: WebhookRow, event: Event, now: int) -> DeliveryRow:
    """A new delivery of ``event``, pending, no attempt yet."""
    return DeliveryRow(
        new_id(), hook.webhook_id, event.app_id, event.version, int(event.id),
        "pending", 0, None, None, "", now, now,
    )  # fmt: skip
