"""What the SDK returns: plain typed dataclasses built from the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "AccessToken",
    "App",
    "AppTotal",
    "Record",
    "Service",
    "Summary",
    "TermTotal",
    "TerminalState",
    "TransCmdResult",
    "Webhook",
    "WebhookDelivery",
    "WebhookRedelivery",
]


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    timeout: int


@dataclass(frozen=True, slots=True)
class Service:
    service_id: int
    service_name: str
    use_limit: int | None = None


@dataclass(frozen=True, slots=True)
class App:
    """An app; its repr leaves ``app_secret`` out (it ends up in logs and tracebacks)."""

    app_id: str
    app_secret: str = field(repr=False)
    app_name: str
    status: str
    consumption_limit: int | None
    service: tuple[Service, ...]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> App:
        return cls(
            app_id=data["app_id"],
            app_secret=data["app_secret"],
            app_name=data["app_name"],
            status=data["status"],
            consumption_limit=data.get("consumption_limit"),
            service=tuple(
                Service(s["service_id"], s.get("service_name", ""), s.get("use_limit"))
                for s in data.get("service", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class TerminalState:
    """One terminal in ``online.user_state``: ``state`` 1 online, 0 offline."""

    state: int
    user_id: str
    terminal_seq_num: str
    mutex_type: str


@dataclass(frozen=True, slots=True)
class TransCmdResult:
    """``result``: 0 delivered, 1 failed, 2 not online."""

    result: int
    user_id: str
    terminal_seq_num: str
    mutex_type: str


@dataclass(frozen=True, slots=True)
class Record:
    """A billing record; money in yuan as exact decimals."""

    record_id: int
    event_id: str
    app_id: str
    app_name: str
    product_id: int
    product_name: str
    amount: Decimal
    price: Decimal
    charge_term: int
    start_time: str
    end_time: str
    total_time: int
    group_id: str
    user_id: str
    resolution: str
    total_sig_num: int
    stream_id: str
    client_id: str
    transfer_type: int
    quantity: Decimal
    parties: int

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Record:
        values = dict(data)
        for key in ("amount", "price", "quantity"):
            values[key] = Decimal(str(values[key]))
        return cls(**{f: values[f] for f in cls.__slots__})


@dataclass(frozen=True, slots=True)
class TermTotal:
    charge_term: int
    records: int
    amount: Decimal
    total_time: int
    total_sig_num: int
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class AppTotal:
    app_id: str
    app_name: str
    amount: Decimal
    terms: tuple[TermTotal, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    month: str
    amount: Decimal
    apps: tuple[AppTotal, ...]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Summary:
        return cls(
            data["month"],
            Decimal(str(data["amount"])),
            tuple(
                AppTotal(
                    a["app_id"],
                    a["app_name"],
                    Decimal(str(a["amount"])),
                    tuple(
                        TermTotal(
                            t["charge_term"],
                            t["records"],
                            Decimal(str(t["amount"])),
                            t["total_time"],
                            t["total_sig_num"],
                            Decimal(str(t["quantity"])),
                        )
                        for t in a["terms"]
                    ),
                )
                for a in data["apps"]
            ),
        )


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook endpoint. ``secret`` is given only by ``create`` and ``rotate_secret``
    (None otherwise), and left out of the repr."""

    webhook_id: str
    url: str
    app_id: str | None
    event_ids: tuple[int, ...]
    status: str
    created_at: str
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Webhook:
        return cls(
            data["webhook_id"],
            data["url"],
            data.get("app_id"),
            tuple(data.get("event_ids", ())),
            data["status"],
            data["created_at"],
            data.get("secret"),
        )


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event's delivery to an endpoint: ``status`` pending, delivered or failed."""

    delivery_id: str
    app_id: str
    version: int
    event_id: int
    status: str
    attempts: int
    latency_ms: int | None
    response_code: int | None
    last_error: str
    created_at: str
    updated_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> WebhookDelivery:
        values: dict[str, Any] = {f: data.get(f) for f in cls.__slots__}
        return cls(**values)


@dataclass(frozen=True, slots=True)
class WebhookRedelivery:
    webhook_id: str
    app_id: str | None
    from_version: int | None
    status: str
