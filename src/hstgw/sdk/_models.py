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
