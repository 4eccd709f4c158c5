"""What the SDK returns: plain typed dataclasses built from the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AccessToken", "App", "Service", "TerminalState", "TransCmdResult"]


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
    app_id: str
    app_secret: str
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
